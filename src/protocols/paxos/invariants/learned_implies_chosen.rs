//! "A learner never learns that a value has been chosen unless it actually has been" (Paxos
//! Made Simple, 2.1), where a value is chosen when "a single proposal with that value has been
//! accepted by a majority of the acceptors" (2.2).
//!
//! The learner's own tally (`accepted_by`) is not trusted: the checker builds its own record,
//! per ballot, of the acceptors that accepted in it, from every acceptor's volatile state (what
//! it answered) and durable state (what survives a crash) after every event. When a learner's
//! `learned` appears, some ballot must already hold that value with a majority of acceptors.
//! An acceptor accepts at most once per event, so watching the changed nodes sees every
//! acceptance.

use crate::protocols::paxos::{Ballot, Paxos};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

pub struct LearnedImpliesChosen {
    majority: usize,
    /// Acceptors that ever accepted in each ballot, with the ballot's value.
    votes: BTreeMap<Ballot, (String, BTreeSet<NodeId>)>,
    /// Values accepted by a majority in one ballot.
    chosen: BTreeSet<String>,
    /// Whether each learner's current `learned` was already checked.
    checked: Vec<bool>,
}

impl LearnedImpliesChosen {
    pub fn new(nodes: usize) -> Self {
        LearnedImpliesChosen {
            majority: nodes / 2 + 1,
            votes: BTreeMap::new(),
            chosen: BTreeSet::new(),
            checked: vec![false; nodes],
        }
    }

    fn record(&mut self, n: NodeId, accepted: &Option<(Ballot, String)>) {
        let Some((b, v)) = accepted else { return };
        let (value, by) = self
            .votes
            .entry(*b)
            .or_insert_with(|| (v.clone(), BTreeSet::new()));
        if value == v && by.insert(n) && by.len() >= self.majority {
            self.chosen.insert(v.clone());
        }
    }
}

impl Invariant<Paxos> for LearnedImpliesChosen {
    fn name(&self) -> &'static str {
        "Learned Implies Chosen"
    }
    fn statement(&self) -> &'static str {
        "A learner learns a value only once a majority of acceptors accepted it in one ballot."
    }
    fn check(&mut self, w: &World<Paxos>) -> Result<(), Failure> {
        for n in w.changed() {
            self.record(n, &w.durable[n].accepted);
            if let Some(s) = &w.states[n] {
                self.record(n, &s.durable.accepted);
            }
        }
        for n in w.changed() {
            let learned = w.states[n].as_ref().and_then(|s| s.learned.as_ref());
            let Some(v) = learned else {
                self.checked[n] = false; // crashed or not yet learned: check the next one
                continue;
            };
            if std::mem::replace(&mut self.checked[n], true) {
                continue;
            }
            if !self.chosen.contains(v) {
                let best = self
                    .votes
                    .iter()
                    .filter(|(_, (value, _))| value == v)
                    .map(|(b, (_, by))| format!("{} in ballot {b}", by.len()))
                    .collect::<Vec<_>>();
                let seen = if best.is_empty() {
                    "no acceptor accepted it".to_string()
                } else {
                    format!("accepted by {}", best.join(", "))
                };
                return Err(Failure::new(
                    format!(
                        "n{} learned {v}, which no majority of acceptors accepted ({seen}; a majority is {})",
                        n + 1,
                        self.majority
                    ),
                    vec![n],
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::paxos::invariants::test_world::{Cluster, accepted, learned};

    #[test]
    fn learning_after_a_majority_accepted_in_one_ballot_passes() {
        let mut c = Cluster::new(3);
        let mut inv = LearnedImpliesChosen::new(3);
        let b = Ballot::new(1, 0);
        accepted(&mut c, 0, b, "apple");
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
        accepted(&mut c, 1, b, "apple");
        assert_eq!(c.check(&mut inv, Some(1)), Ok(()));
        // n1 moves on to a later ballot: the earlier majority still chose apple.
        accepted(&mut c, 1, Ballot::new(2, 2), "apple");
        assert_eq!(c.check(&mut inv, Some(1)), Ok(()));
        learned(&mut c, 2, "apple");
        assert_eq!(c.check(&mut inv, Some(2)), Ok(()));
    }

    #[test]
    fn learning_on_one_acceptance_fails() {
        let mut c = Cluster::new(3);
        let mut inv = LearnedImpliesChosen::new(3);
        accepted(&mut c, 0, Ballot::new(1, 0), "apple");
        learned(&mut c, 0, "apple");
        let f = c.check(&mut inv, Some(0)).expect_err("not chosen");
        assert!(
            f.explanation.contains("1 in ballot 1.n1"),
            "{}",
            f.explanation
        );
    }

    #[test]
    fn a_majority_split_over_two_ballots_is_not_a_choice() {
        let mut c = Cluster::new(3);
        let mut inv = LearnedImpliesChosen::new(3);
        accepted(&mut c, 0, Ballot::new(1, 0), "apple");
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
        accepted(&mut c, 1, Ballot::new(2, 1), "apple");
        learned(&mut c, 1, "apple");
        assert!(c.check(&mut inv, Some(1)).is_err());
    }
}
