//! Primary order, as a follower sees it: a node delivers transactions in zxid order, each
//! epoch's transactions in the order its leader proposed them, with no gaps in between
//! ("Local primary order" and "Global primary order", Zab DSN 2011, III).
//!
//! Checked on each node's own delivery sequence: zxids strictly increase, and within one epoch
//! the counters are consecutive (a leader numbers its proposals 1, 2, 3... so a skipped counter
//! is a transaction delivered out of order or lost).

use crate::protocols::zab::Zab;
use crate::sim::{Failure, Invariant, World};

pub struct PrimaryOrder {
    /// How much of each node's delivery sequence has been checked.
    checked: Vec<usize>,
}

impl PrimaryOrder {
    pub fn new(nodes: usize) -> Self {
        PrimaryOrder {
            checked: vec![0; nodes],
        }
    }
}

impl Invariant<Zab> for PrimaryOrder {
    fn name(&self) -> &'static str {
        "Primary Order"
    }
    fn statement(&self) -> &'static str {
        "A node delivers transactions in zxid order, with no gap inside an epoch."
    }
    fn check(&mut self, w: &World<Zab>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        let d = &s.delivered;
        if d.len() < self.checked[n] {
            self.checked[n] = 0; // restarted: delivering again from the start
        }
        for i in self.checked[n].max(1)..d.len() {
            let (a, b) = (d[i - 1], d[i]);
            let gap = a.epoch == b.epoch && b.counter != a.counter + 1;
            if b <= a || gap {
                return Err(Failure::new(
                    format!("delivered {b} right after {a}"),
                    vec![n],
                ));
            }
        }
        self.checked[n] = d.len();
        Ok(())
    }
}
