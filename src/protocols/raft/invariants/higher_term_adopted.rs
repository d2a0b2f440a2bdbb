//! Higher Term Adopted (Figure 2, "Rules for Servers — All Servers"): "If RPC request or
//! response contains term T > currentTerm: set currentTerm = T, convert to follower (§5.1)."
//!
//! Not one of Figure 3's properties but the rule that keeps a deposed leader from leading on:
//! a leader that ignores the newer term carried by a response keeps sending AppendEntries in
//! its old term, and only liveness suffers, so no safety property notices. Each server keeps a
//! ghost variable, the highest term a message it handled obliged it to adopt (PreVotes
//! excepted, §9.6); after every event its `currentTerm` must have reached it.

use super::name;
use crate::protocols::raft::Raft;
use crate::sim::{Failure, Invariant, World};

pub struct HigherTermAdopted;

impl Invariant<Raft> for HigherTermAdopted {
    fn name(&self) -> &'static str {
        "Higher Term Adopted"
    }
    fn statement(&self) -> &'static str {
        "a server that handled a message of a newer term has adopted that term"
    }
    fn check(&mut self, w: &World<Raft>) -> Result<(), Failure> {
        for n in w.changed() {
            let Some(s) = &w.states[n] else { continue };
            if s.current_term() < s.term_heard() {
                return Err(Failure::new(
                    format!(
                        "{} handled a message of term {} but is still in term {} ({:?})",
                        name(n),
                        s.term_heard(),
                        s.current_term(),
                        s.role()
                    ),
                    vec![n],
                ));
            }
        }
        Ok(())
    }
}
