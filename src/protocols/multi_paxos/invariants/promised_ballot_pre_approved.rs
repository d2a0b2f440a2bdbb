//! Promised Ballot Pre-Approved (`pre_prepare`): every ballot an acceptor promises was first
//! approved by a majority's `PrePromise`.
//!
//! That is what keeps a stray node from deposing a healthy leader: its ballot never reaches an
//! acceptor unless a majority had stopped hearing the leader. The checker records each
//! ballot it sees in a `Candidate` role (which carries the pre-promises that let it start:
//! a candidate promises its own ballot in the same event, so the two are seen together) and
//! fails when some acceptor's promise is a ballot it never recorded with a majority.

use crate::protocols::multi_paxos::{MultiPaxos, Role};
use crate::protocols::paxos::Ballot;
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeSet;

pub struct PromisedBallotPreApproved {
    approved: BTreeSet<Ballot>,
}

impl PromisedBallotPreApproved {
    pub fn new() -> Self {
        PromisedBallotPreApproved {
            approved: BTreeSet::from([Ballot::ZERO]),
        }
    }
}

impl Default for PromisedBallotPreApproved {
    fn default() -> Self {
        Self::new()
    }
}

impl Invariant<MultiPaxos> for PromisedBallotPreApproved {
    fn name(&self) -> &'static str {
        "Promised Ballot Pre-Approved"
    }
    fn statement(&self) -> &'static str {
        "An acceptor promises only ballots whose candidate had a majority of pre-promises."
    }
    fn check(&mut self, w: &World<MultiPaxos>) -> Result<(), Failure> {
        let majority = w.states.len() / 2 + 1;
        for n in w.changed() {
            if let Some(s) = &w.states[n]
                && let Role::Candidate { pre_grants, .. } = &s.role
                && pre_grants.len() >= majority
            {
                self.approved.insert(s.ballot);
            }
        }
        for n in w.changed() {
            let promised = w.durable[n].promised;
            if !self.approved.contains(&promised) {
                return Err(Failure::new(
                    format!(
                        "n{} promised ballot {promised}, which no majority pre-approved",
                        n + 1
                    ),
                    vec![n, promised.node],
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::multi_paxos::invariants::test_world::Cluster;
    use std::collections::BTreeMap;

    #[test]
    fn a_promise_of_a_pre_approved_ballot_passes_and_of_another_fails() {
        let mut c = Cluster::new(3);
        let mut inv = PromisedBallotPreApproved::new();
        let b = Ballot::new(1, 0);
        let s = c.states[0].as_mut().unwrap();
        s.ballot = b;
        s.role = Role::Candidate {
            promises: BTreeMap::new(),
            pre_grants: BTreeSet::from([0, 1]),
        };
        c.promise(0, b);
        assert_eq!(c.check(&mut inv, None), Ok(()));
        // n3 runs Phase 1 with a ballot nobody pre-approved; n2 promises it.
        c.promise(1, Ballot::new(2, 2));
        let f = c.check(&mut inv, Some(1)).expect_err("not pre-approved");
        assert!(f.explanation.contains("n2 promised"), "{}", f.explanation);
    }
}
