//! No Double Charge: the promise of idempotency keys. The guide: retries make a step run more
//! than once, so "use idempotency keys so retries don't double-charge". Every `Charge` carries
//! the order id; the payment service answers a key it has seen from its row.
//!
//! Stated on the payment store's journal: no order is charged twice. A payment service that
//! ignores the key (`bug_no_idempotency`) charges a retried or duplicated request again, and
//! the checker names the order.

use crate::protocols::saga::{Row, Saga, Service};
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeMap;

pub struct NoDoubleCharge {
    /// Per node: how much of its journal has been read.
    read: Vec<usize>,
    /// Charges per order so far.
    charges: BTreeMap<u64, u32>,
}

impl NoDoubleCharge {
    pub fn new(nodes: usize) -> Self {
        NoDoubleCharge {
            read: vec![0; nodes],
            charges: BTreeMap::new(),
        }
    }
}

impl Invariant<Saga> for NoDoubleCharge {
    fn name(&self) -> &'static str {
        "No Double Charge"
    }
    fn statement(&self) -> &'static str {
        "no order's card is charged more than once"
    }
    fn check(&mut self, w: &World<Saga>) -> Result<(), Failure> {
        for n in w.changed() {
            let store = &w.durable[n].store;
            if store.service != Some(Service::Payment) {
                continue;
            }
            let from = self.read[n].min(store.journal.len());
            self.read[n] = store.journal.len();
            for c in &store.journal[from..] {
                if c.row != Row::Done {
                    continue;
                }
                let k = self.charges.entry(c.order).or_default();
                *k += 1;
                if *k > 1 {
                    return Err(Failure::new(
                        format!(
                            "o{} was charged {} times: a retried Charge ran again instead of \
                             being answered from its idempotency key",
                            c.order, k
                        ),
                        vec![n],
                    ));
                }
            }
        }
        Ok(())
    }
}
