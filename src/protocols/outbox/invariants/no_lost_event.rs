//! No Lost Event: the outbox's promise, "the event is published if and only if the
//! transaction commits" (microservices.io, *Transactional outbox*). Stated on what exists
//! after every event: each committed order's `OrderPlaced` is in the outbox table (durable,
//! the relay will publish it), on the bus, or being published by the live order service.
//!
//! The dual write breaks it: the order row is committed, the event is only in the service's
//! memory until its broker call completes, and a crash in between leaves the order with no
//! event anywhere and no process that will ever send one. The checker reports that order at
//! the crash. An event that had already left when its sender crashed may still be on the wire:
//! it is not counted as lost here (it may arrive); if it never does, `unapplied` stays above 0.

use crate::protocols::outbox::{Outbox, Part};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::BTreeSet;

pub struct NoLostEvent {
    /// Highest order id read from the orders table.
    orders_read: u64,
    /// Per node: how much of its bus log has been read.
    bus_read: Vec<usize>,
    /// Committed orders whose event is not on the bus yet.
    pending: BTreeSet<u64>,
    /// Events seen on the bus.
    on_bus: BTreeSet<u64>,
    /// Events seen leaving the order service (sent, maybe still on the wire).
    left: BTreeSet<u64>,
    order_node: Option<NodeId>,
}

impl NoLostEvent {
    pub fn new(nodes: usize) -> Self {
        NoLostEvent {
            orders_read: 0,
            bus_read: vec![0; nodes],
            pending: BTreeSet::new(),
            on_bus: BTreeSet::new(),
            left: BTreeSet::new(),
            order_node: None,
        }
    }

    fn read(&mut self, w: &World<Outbox>, n: NodeId) {
        let d = &w.durable[n];
        if let Some((&last, _)) = d.orders.orders.last_key_value() {
            self.order_node = Some(n);
            for o in self.orders_read + 1..=last {
                if !self.on_bus.contains(&o) {
                    self.pending.insert(o);
                }
            }
            self.orders_read = self.orders_read.max(last);
        }
        let from = self.bus_read[n].min(d.bus.events.len());
        self.bus_read[n] = d.bus.events.len();
        for &o in &d.bus.events[from..] {
            self.on_bus.insert(o);
            self.pending.remove(&o);
        }
        if let Some(Part::Order(s)) = w.states[n].as_ref().map(|s| &s.part) {
            self.left.extend(s.unconfirmed.keys());
        }
    }
}

impl Invariant<Outbox> for NoLostEvent {
    fn name(&self) -> &'static str {
        "No Lost Event"
    }
    fn statement(&self) -> &'static str {
        "every committed change's event is in the outbox, on the bus, or being published"
    }
    fn check(&mut self, w: &World<Outbox>) -> Result<(), Failure> {
        for n in w.changed() {
            self.read(w, n);
        }
        let Some(n) = self.order_node else {
            return Ok(());
        };
        let db = &w.durable[n].orders;
        let live = match w.states[n].as_ref().map(|s| &s.part) {
            Some(Part::Order(s)) => Some(s),
            _ => None,
        };
        for &o in &self.pending {
            if db.outbox.get(&o) == Some(&true) {
                return Err(Failure::new(
                    format!("o{o}'s outbox row is marked published, but the bus never had it"),
                    vec![n],
                ));
            }
            let held = db.outbox.contains_key(&o)
                || self.left.contains(&o)
                || live.is_some_and(|s| s.calling.contains(&o));
            if !held {
                return Err(Failure::new(
                    format!(
                        "o{o} was committed at {} but its OrderPlaced event is in no outbox, \
                         not on the bus, and no live process will publish it: the crash between \
                         the database write and the publish lost it",
                        db.orders[&o]
                    ),
                    vec![n],
                ));
            }
        }
        Ok(())
    }
}
