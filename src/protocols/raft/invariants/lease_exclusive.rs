//! Lease Exclusivity (thesis §6.4.1), with `reads: Lease`: at most one server believes it
//! holds a read lease at any instant.
//!
//! A leader answers a get from its own state machine while it believes it holds the lease
//! ([`Raft::holds_lease`]); two believers at once means one of them may answer with a value
//! the other's term has already overwritten. The belief rests on clocks: the lease is shorter
//! than the minimum election timeout by the drift bound, and servers ignore RequestVote for
//! that timeout after hearing a leader. A clock drifting more than the bound, or one stopped
//! by a pause, breaks it; the client history's Linearizability check then shows what a client
//! saw.

use super::name;
use crate::protocols::raft::Raft;
use crate::sim::{Failure, Invariant, World};

#[derive(Default)]
pub struct LeaseExclusive;

impl Invariant<Raft> for LeaseExclusive {
    fn name(&self) -> &'static str {
        "Lease Exclusivity"
    }
    fn statement(&self) -> &'static str {
        "at most one server believes it holds a read lease at any instant"
    }
    fn check(&mut self, w: &World<Raft>) -> Result<(), Failure> {
        // A belief can start on the touched node only, but the other holders are anywhere.
        if w.changed()
            .all(|n| !w.states[n].as_ref().is_some_and(|s| s.holds_lease()))
        {
            return Ok(());
        }
        let holders: Vec<_> = w
            .live()
            .filter(|(_, s)| s.holds_lease())
            .map(|(n, s)| (n, s.current_term()))
            .collect();
        if let [(a, ta), (b, tb), ..] = holders.as_slice() {
            return Err(Failure::new(
                format!(
                    "{} (term {ta}) and {} (term {tb}) both hold a read lease",
                    name(*a),
                    name(*b)
                ),
                holders.iter().map(|(n, _)| *n).collect(),
            ));
        }
        Ok(())
    }
}
