//! The outbox's promises, one checker per file, checked after every event. Both read the
//! durable tables (the orders and outbox tables, the bus log, the shipments journal) with a
//! cursor, and No Lost Event also the order service's volatile publishes while it is up.
//!
//! | checker | promise | broken by |
//! |---|---|---|
//! | No Lost Event | every committed order's event is in the outbox, on the bus, or being published by a live process | `bug_dual_write` and a crash between commit and publish |
//! | Applied At Most Once | the consumer ships no order twice | `bug_no_dedup` |
//!
//! "Published at least once and applied" is measured, not asserted per event: the
//! `unapplied` series must reach 0 at quiescence, which the scenarios assert.

mod applied_at_most_once;
mod no_lost_event;

pub use applied_at_most_once::AppliedAtMostOnce;
pub use no_lost_event::NoLostEvent;

use super::Outbox;
use crate::sim::Invariant;

pub fn all(nodes: usize) -> Vec<Box<dyn Invariant<Outbox>>> {
    vec![
        Box::new(NoLostEvent::new(nodes)),
        Box::new(AppliedAtMostOnce::new(nodes)),
    ]
}
