//! Integrity: "if some process delivers a transaction, then some process has broadcast it"
//! (Zab DSN 2011, III). A transaction is broadcast when a leader first puts it in its history
//! under its own epoch; the checker records those, and every delivered zxid must be one.

use crate::protocols::zab::{Role, Zab, Zxid};
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeSet;

#[derive(Default)]
pub struct Integrity {
    broadcast: BTreeSet<Zxid>,
    /// Per node, deliveries already checked.
    checked: Vec<usize>,
}

impl Invariant<Zab> for Integrity {
    fn name(&self) -> &'static str {
        "Integrity"
    }
    fn statement(&self) -> &'static str {
        "A node delivers only transactions that a leader broadcast."
    }
    fn check(&mut self, w: &World<Zab>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        if self.checked.len() < w.states.len() {
            self.checked.resize(w.states.len(), 0);
        }
        if let Role::Leading(l) = &s.role {
            let mine = s.durable.history.iter().rev();
            for t in mine.take_while(|t| t.zxid.epoch == l.epoch) {
                if !self.broadcast.insert(t.zxid) {
                    break;
                }
            }
        }
        if s.delivered.len() < self.checked[n] {
            self.checked[n] = 0;
        }
        for z in &s.delivered[self.checked[n]..] {
            if !self.broadcast.contains(z) {
                return Err(Failure::new(
                    format!("delivered {z}, which no leader broadcast"),
                    vec![n],
                ));
            }
        }
        self.checked[n] = s.delivered.len();
        Ok(())
    }
}
