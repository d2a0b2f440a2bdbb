//! The saga's promises, one checker per file, checked after every event. Both read durable
//! state only (the stores' journals and the saga logs' ends), incrementally with a cursor
//! per node, so what a node wrote is seen even while it is down.
//!
//! | checker | promise | broken by |
//! |---|---|---|
//! | Completed or Compensated | a finished saga ran T1…Tn, or T1…Tj then Cj…C1 | `mode: Direct`, `bug_skip_compensation` |
//! | No Double Charge | a card is charged at most once per order | `bug_no_idempotency` |
//!
//! The first is asserted for sagas that have ended, and again whenever a store changes an
//! ended saga's order later (a late retry). Sagas in flight are measured, not checked: the
//! `unsettled` and `in_flight` series must reach 0 at quiescence, which the scenarios assert.

mod completed_or_compensated;
mod no_double_charge;

pub use completed_or_compensated::CompletedOrCompensated;
pub use no_double_charge::NoDoubleCharge;

use super::Saga;
use crate::sim::Invariant;

pub fn all(nodes: usize) -> Vec<Box<dyn Invariant<Saga>>> {
    vec![
        Box::new(CompletedOrCompensated::new(nodes)),
        Box::new(NoDoubleCharge::new(nodes)),
    ]
}
