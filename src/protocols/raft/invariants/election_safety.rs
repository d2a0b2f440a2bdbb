//! Election Safety (Figure 3): "at most one leader can be elected in a given term" (§5.2).
//!
//! Remembers, for every term, the first server seen leading it — across crashes, so a leader
//! that crashed and a second one elected later in the same term are both counted.

use super::name;
use crate::protocols::raft::{Raft, Role, Term};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct ElectionSafety {
    /// Term -> the server that led it.
    leaders: BTreeMap<Term, NodeId>,
}

impl Invariant<Raft> for ElectionSafety {
    fn name(&self) -> &'static str {
        "Election Safety"
    }
    fn statement(&self) -> &'static str {
        "at most one leader can be elected in a given term"
    }
    fn check(&mut self, w: &World<Raft>) -> Result<(), Failure> {
        for n in w.changed() {
            let Some(s) = &w.states[n] else { continue };
            if s.role() != Role::Leader {
                continue;
            }
            let term = s.current_term();
            match self.leaders.get(&term) {
                Some(&other) if other != n => {
                    return Err(Failure::new(
                        format!(
                            "{} and {} were both elected leader in term {term}",
                            name(other),
                            name(n)
                        ),
                        vec![other, n],
                    ));
                }
                Some(_) => {}
                None => {
                    self.leaders.insert(term, n);
                }
            }
        }
        Ok(())
    }
}
