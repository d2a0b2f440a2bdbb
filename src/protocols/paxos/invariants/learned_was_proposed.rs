//! "Only a value that has been proposed may be chosen" and a learner "never learns that a
//! value has been chosen unless it actually has been" (Paxos Made Simple, 2.1), checked on what
//! learners learn: a learned value must be one some proposer sent in an `Accept`.
//!
//! Proposals are read from each proposer's `last_proposal`, not from its `phase`: a phase can
//! begin and end inside one event (one node is a majority of a one-node cluster, so its
//! proposer's `Accept` is accepted and learned in the same handler), and a checker that runs
//! after the event would never see it.

use crate::protocols::paxos::Paxos;
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeSet;

#[derive(Default)]
pub struct LearnedWasProposed {
    /// Every value a proposer has put in Phase 2.
    proposed: BTreeSet<String>,
}

impl Invariant<Paxos> for LearnedWasProposed {
    fn name(&self) -> &'static str {
        "Learned Value Was Proposed"
    }
    fn statement(&self) -> &'static str {
        "A learner learns only a value that some proposer proposed in Phase 2."
    }
    fn check(&mut self, w: &World<Paxos>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        if let Some((_, value)) = &s.last_proposal {
            self.proposed.insert(value.clone());
        }
        match &s.learned {
            Some(v) if !self.proposed.contains(v) => Err(Failure::new(
                format!("learned {v}, which no proposer proposed"),
                vec![n],
            )),
            _ => Ok(()),
        }
    }
}
