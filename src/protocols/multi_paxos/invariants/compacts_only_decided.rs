//! Compacts Only Decided (`compact_decided`): an acceptor drops the accepted proposal of a
//! slot only once it holds that slot's decision, with the same value or a later ballot's.
//!
//! Dropping an undecided slot's proposal would lose a vote Phase 1 may need: the value could
//! be chosen by a majority that this acceptor belonged to, and a later leader would no longer
//! hear of it. The checker keeps a copy of each acceptor's accepted proposals (small, since
//! decided ones are dropped) and, at every change of the touched node's durable state, checks
//! that every slot that disappeared is decided there.

use crate::protocols::multi_paxos::{MultiPaxos, Slot, Value};
use crate::protocols::paxos::Ballot;
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeMap;

pub struct CompactsOnlyDecided {
    accepted: Vec<BTreeMap<Slot, (Ballot, Value)>>,
}

impl CompactsOnlyDecided {
    pub fn new(nodes: usize) -> Self {
        CompactsOnlyDecided {
            accepted: vec![BTreeMap::new(); nodes],
        }
    }
}

impl Invariant<MultiPaxos> for CompactsOnlyDecided {
    fn name(&self) -> &'static str {
        "Compacts Only Decided"
    }
    fn statement(&self) -> &'static str {
        "An acceptor drops a slot's accepted proposal only after it has learned the slot's decision."
    }
    fn check(&mut self, w: &World<MultiPaxos>) -> Result<(), Failure> {
        for n in w.changed() {
            let d = &w.durable[n];
            if d.accepted == self.accepted[n] {
                continue;
            }
            let lost = self.accepted[n]
                .keys()
                .find(|s| !d.accepted.contains_key(s) && !d.decided.contains_key(s));
            if let Some(slot) = lost {
                let (b, v) = &self.accepted[n][slot];
                return Err(Failure::new(
                    format!(
                        "n{} dropped its accepted proposal {} @{b} for slot {slot}, which it has not seen decided",
                        n + 1,
                        v.label()
                    ),
                    vec![n],
                ));
            }
            self.accepted[n] = d.accepted.clone();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::multi_paxos::invariants::test_world::Cluster;

    #[test]
    fn dropping_a_decided_slot_passes_and_an_undecided_one_fails() {
        let mut c = Cluster::new(3);
        let mut inv = CompactsOnlyDecided::new(3);
        let b = Ballot::new(1, 0);
        c.accept(1, 1, b);
        c.accept(1, 2, b);
        assert_eq!(c.check(&mut inv, Some(1)), Ok(()));
        // Slot 1 decided, then compacted: fine.
        c.durable[1].decided.insert(1, Value::NoOp);
        c.durable[1].accepted.remove(&1);
        assert_eq!(c.check(&mut inv, Some(1)), Ok(()));
        // Slot 2 dropped without a decision: a vote lost.
        c.durable[1].accepted.remove(&2);
        let f = c
            .check(&mut inv, Some(1))
            .expect_err("undecided slot dropped");
        assert!(f.explanation.contains("slot 2"), "{}", f.explanation);
    }
}
