//! Leader Append-Only (Figure 3): "a leader never overwrites or deletes entries in its log; it
//! only appends new entries" (§5.3).
//!
//! Keeps a copy of each leader's log as last seen during its term and checks that the new log
//! extends it.

use super::name;
use crate::protocols::raft::{LogEntry, Raft, Role, Term};
use crate::sim::{Failure, Invariant, World};

pub struct LeaderAppendOnly {
    /// Per node: (term, log) as last seen while it led that term.
    seen: Vec<Option<(Term, Vec<LogEntry>)>>,
}

impl LeaderAppendOnly {
    pub fn new(nodes: usize) -> Self {
        LeaderAppendOnly {
            seen: vec![None; nodes],
        }
    }
}

impl Invariant<Raft> for LeaderAppendOnly {
    fn name(&self) -> &'static str {
        "Leader Append-Only"
    }
    fn statement(&self) -> &'static str {
        "a leader never overwrites or deletes entries in its log; it only appends new entries"
    }
    fn check(&mut self, w: &World<Raft>) -> Result<(), Failure> {
        for n in w.changed() {
            let leading = w.states[n].as_ref().filter(|s| s.role() == Role::Leader);
            let Some(s) = leading else {
                self.seen[n] = None;
                continue;
            };
            let log = s.log();
            if let Some((term, old)) = &self.seen[n]
                && *term == s.current_term()
            {
                if log.len() < old.len() {
                    return Err(Failure::new(
                        format!(
                            "leader {} of term {term} shortened its log from {} to {} entries",
                            name(n),
                            old.len(),
                            log.len()
                        ),
                        vec![n],
                    ));
                }
                if let Some(i) = (0..old.len()).find(|&i| old[i] != log[i]) {
                    return Err(Failure::new(
                        format!(
                            "leader {} of term {term} overwrote entry {} ({} of term {}) with {} of term {}",
                            name(n),
                            i + 1,
                            old[i].command.label(),
                            old[i].term,
                            log[i].command.label(),
                            log[i].term
                        ),
                        vec![n],
                    ));
                }
                if log.len() == old.len() {
                    continue;
                }
            }
            self.seen[n] = Some((s.current_term(), log.to_vec()));
        }
        Ok(())
    }
}
