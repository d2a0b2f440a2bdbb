//! The microservices' promise, checked after every event on durable state (the two stores
//! and the bus log), so what a crashed node wrote still counts.
//!
//! | checker | promise | broken by |
//! |---|---|---|
//! | No Orphan Note | once the system is quiet, no note belongs to a deleted user | `bug_ack_before_apply` and a crash of the notes service |
//!
//! While events are still on their way the stores may disagree (eventual consistency): that
//! window is measured by the `orphan_notes` and `orphan_age_ms` series, not asserted.

mod no_orphan_note;

pub use no_orphan_note::NoOrphanNote;

use super::Microservices;
use crate::sim::Invariant;

pub fn all(_nodes: usize) -> Vec<Box<dyn Invariant<Microservices>>> {
    vec![Box::new(NoOrphanNote::default())]
}
