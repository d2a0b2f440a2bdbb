//! Applied At Most Once: the idempotent consumer's promise. Delivery is at least once (the
//! bus redelivers, the relay republishes after a crash), so the consumer records each event's
//! id in its processed-ids table with the effect, in one local transaction, and skips ids it
//! has seen. Stated on the shipping service's journal: no order is shipped twice.

use crate::protocols::outbox::Outbox;
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeSet;

pub struct AppliedAtMostOnce {
    /// Per node: how much of its shipments journal has been read.
    read: Vec<usize>,
    shipped: BTreeSet<u64>,
}

impl AppliedAtMostOnce {
    pub fn new(nodes: usize) -> Self {
        AppliedAtMostOnce {
            read: vec![0; nodes],
            shipped: BTreeSet::new(),
        }
    }
}

impl Invariant<Outbox> for AppliedAtMostOnce {
    fn name(&self) -> &'static str {
        "Applied At Most Once"
    }
    fn statement(&self) -> &'static str {
        "the consumer applies each event once, however often it is delivered"
    }
    fn check(&mut self, w: &World<Outbox>) -> Result<(), Failure> {
        for n in w.changed() {
            let journal = &w.durable[n].shipping.shipments;
            let from = self.read[n].min(journal.len());
            self.read[n] = journal.len();
            for &o in &journal[from..] {
                if !self.shipped.insert(o) {
                    return Err(Failure::new(
                        format!(
                            "o{o} was shipped twice: its OrderPlaced event was delivered again \
                             and applied again (no processed-ids lookup)"
                        ),
                        vec![n],
                    ));
                }
            }
        }
        Ok(())
    }
}
