//! The consumer: a shipping service that creates one shipment per `OrderPlaced` event. It is
//! an idempotent consumer: its processed-ids table (keyed by the event's order id) is written
//! in the same local transaction as the shipment, so an event delivered again (the bus
//! redelivers, the relay republishes) is recognised and only acknowledged.

use super::config::OutboxConfig;
use super::message::{OrderId, OutboxMsg};
use super::{Outbox, OutboxDurable};
use crate::sim::{Ctx, NodeId};
use std::collections::BTreeSet;

/// The shipping service's database (durable).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShippingDb {
    /// The processed-ids table: events already applied.
    pub processed: BTreeSet<OrderId>,
    /// Every shipment created, in order (the journal the checkers read).
    pub shipments: Vec<OrderId>,
    /// Deliveries recognised as duplicates and skipped.
    pub duplicates: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Shipping {
    pub db: ShippingDb,
}

impl Shipping {
    /// The bus delivered `OrderPlaced(order)` at `offset`: apply it once, acknowledge it.
    pub fn on_deliver(
        &mut self,
        bus: NodeId,
        offset: u64,
        order: OrderId,
        cfg: &OutboxConfig,
        ctx: &mut Ctx<Outbox>,
    ) {
        if self.db.processed.contains(&order) && !cfg.bug_no_dedup {
            self.db.duplicates += 1;
            ctx.count("duplicates_skipped", 1);
        } else {
            self.db.processed.insert(order);
            self.db.shipments.push(order);
            ctx.count("applied", 1);
        }
        ctx.persist(OutboxDurable {
            shipping: self.db.clone(),
            ..Default::default()
        });
        ctx.send(bus, OutboxMsg::Ack { offset });
    }
}
