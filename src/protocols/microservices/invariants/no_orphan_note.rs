//! No Orphan Note: the guide's cascade ("when a user is deleted, their notes are deleted
//! too", through a `UserDeleted` event rather than a shared database) holds eventually. Stated
//! at quiet moments: when the user service's outbox is empty (every event it wrote is on the
//! bus) and the bus has every delivery acknowledged (nothing is on its way to the notes
//! service), every event has been handled, so the two stores must agree: no note of a
//! deleted user may exist. Between such moments they may disagree; that is the window the
//! `orphan_notes` series plots.
//!
//! Quiet also needs the notes service's memory empty: with `bug_ack_before_apply` it holds
//! acknowledged events not yet applied. A crash loses them, the bus will not deliver them
//! again (they are acknowledged), and the system becomes quiet with the notes still there.

use crate::protocols::microservices::{Microservices, Part, orphans};
use crate::sim::{Failure, Invariant, NodeId, World};

#[derive(Default)]
pub struct NoOrphanNote {
    users_node: Option<NodeId>,
    notes_node: Option<NodeId>,
    bus_node: Option<NodeId>,
}

impl NoOrphanNote {
    fn locate(&mut self, w: &World<Microservices>) {
        for n in w.changed() {
            let d = &w.durable[n];
            if d.users.events > 0 {
                self.users_node = Some(n);
            }
            if !d.notes.processed.is_empty() {
                self.notes_node = Some(n);
            }
            if !d.bus.acked.is_empty() {
                self.bus_node = Some(n);
            }
        }
    }
}

impl Invariant<Microservices> for NoOrphanNote {
    fn name(&self) -> &'static str {
        "No Orphan Note"
    }
    fn statement(&self) -> &'static str {
        "once every event is delivered and acknowledged, no note belongs to a deleted user"
    }
    fn check(&mut self, w: &World<Microservices>) -> Result<(), Failure> {
        self.locate(w);
        let (Some(u), Some(n), Some(b)) = (self.users_node, self.notes_node, self.bus_node) else {
            return Ok(());
        };
        let (users, notes, bus) = (&w.durable[u].users, &w.durable[n].notes, &w.durable[b].bus);
        let buffered = match w.states[n].as_ref().map(|s| &s.part) {
            Some(Part::Notes(s)) => !s.buffer.is_empty(),
            _ => false,
        };
        if !users.outbox.is_empty() || bus.unacked() > 0 || buffered {
            return Ok(());
        }
        let Some(o) = orphans(users, notes).into_iter().next() else {
            return Ok(());
        };
        let list: Vec<String> = o.notes.iter().map(|x| format!("n{x}")).collect();
        Err(Failure::new(
            format!(
                "u{} was deleted at {} and every event is published and acknowledged, yet its \
                 notes {} still exist: the UserDeleted event was acknowledged but never applied",
                o.user,
                o.deleted_at,
                list.join(", ")
            ),
            vec![u, n, b],
        ))
    }
}
