//! Per-slot agreement: each slot is one instance of Paxos, so "only a single value is chosen"
//! becomes: no two nodes ever decide different values for the same slot.
//!
//! The checker keeps the first value decided for each slot by anyone (read from durable state,
//! so crashed nodes count) and compares every node's new decisions against it. A node's
//! decisions only grow, so it rescans a node only when its count of decided slots changed.

use crate::protocols::multi_paxos::{MultiPaxos, Slot, Value};
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeMap;

pub struct SlotAgreement {
    /// The value each slot was first decided with, and by whom.
    decided: BTreeMap<Slot, (Value, usize)>,
    /// Decided slots per node at the last check.
    seen: Vec<usize>,
}

impl SlotAgreement {
    pub fn new(nodes: usize) -> Self {
        SlotAgreement {
            decided: BTreeMap::new(),
            seen: vec![0; nodes],
        }
    }
}

impl Invariant<MultiPaxos> for SlotAgreement {
    fn name(&self) -> &'static str {
        "Slot Agreement"
    }
    fn statement(&self) -> &'static str {
        "No two nodes decide different values for the same slot."
    }
    fn check(&mut self, w: &World<MultiPaxos>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let mine = &w.durable[n].decided;
        if mine.len() == self.seen[n] {
            return Ok(());
        }
        self.seen[n] = mine.len();
        for (slot, v) in mine {
            match self.decided.get(slot) {
                None => {
                    self.decided.insert(*slot, (v.clone(), n));
                }
                Some((first, by)) if first != v => {
                    return Err(Failure::new(
                        format!(
                            "slot {slot}: n{} decided {}, n{} decided {}",
                            by + 1,
                            first.label(),
                            n + 1,
                            v.label()
                        ),
                        vec![*by, n],
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
