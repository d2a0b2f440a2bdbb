//! The order service and its database: the `orders` table and the `outbox` table, both
//! durable. Placing an order is one local transaction that writes the order row and its
//! `OrderPlaced` outbox row together (one `persist`); the relay (`relay.rs`, a task of this
//! node) publishes the row later.
//!
//! With `bug_dual_write` there is no outbox: the service commits the order, then publishes
//! the event itself `publish_delay` later (the broker client's call) and again until the bus
//! confirms. Those two steps are not atomic: a crash between them loses the event.

use super::config::OutboxConfig;
use super::message::{OrderId, OutboxMsg};
use super::relay::Relay;
use super::{Outbox, OutboxDurable, OutboxTimer};
use crate::sim::{ClientReply, ClientRequest, Ctx, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// The order service's database (all of it survives a crash).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderDb {
    /// The orders table: each order and when it was committed. Ids are 1, 2, 3…
    pub orders: BTreeMap<OrderId, SimTime>,
    /// The outbox table: one `OrderPlaced` row per order, `true` once the bus confirmed it.
    pub outbox: BTreeMap<OrderId, bool>,
}

impl OrderDb {
    /// Rows the relay still has to publish.
    pub fn backlog(&self) -> usize {
        self.outbox.values().filter(|&&p| !p).count()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderService {
    pub db: OrderDb,
    pub relay: Relay,
    /// Dual write: orders committed whose event has not left yet (the broker call is under
    /// way). Volatile: a crash loses them.
    pub calling: BTreeSet<OrderId>,
    /// Dual write: events sent to the bus and not confirmed yet, with when they were sent.
    pub unconfirmed: BTreeMap<OrderId, SimTime>,
}

impl OrderService {
    /// A fresh service, or one restarted from its database; the relay starts polling.
    pub fn start(db: OrderDb, cfg: &OutboxConfig, ctx: &mut Ctx<Outbox>) -> Self {
        if !cfg.bug_dual_write {
            ctx.set_timer(OutboxTimer::Poll, cfg.poll_interval);
        }
        OrderService {
            db,
            relay: Relay::default(),
            calling: BTreeSet::new(),
            unconfirmed: BTreeMap::new(),
        }
    }

    pub fn persist(&self, ctx: &mut Ctx<Outbox>) {
        ctx.persist(OutboxDurable {
            orders: self.db.clone(),
            ..Default::default()
        });
    }

    /// A client places an order: the order row and its outbox row in one local transaction.
    pub fn place(&mut self, req: ClientRequest, cfg: &OutboxConfig, ctx: &mut Ctx<Outbox>) {
        let order = self.db.orders.len() as OrderId + 1;
        self.db.orders.insert(order, ctx.now);
        if cfg.bug_dual_write {
            self.persist(ctx);
            self.calling.insert(order);
            ctx.set_timer(OutboxTimer::BrokerCall(order), cfg.publish_delay);
        } else {
            self.db.outbox.insert(order, false);
            self.persist(ctx);
        }
        ctx.count("orders", 1);
        ctx.reply_to_client(
            req.from,
            ClientReply::Ok {
                value: Some(format!("o{order}")),
            },
        );
    }

    pub fn on_timer(&mut self, timer: OutboxTimer, cfg: &OutboxConfig, ctx: &mut Ctx<Outbox>) {
        match timer {
            OutboxTimer::Poll => self.relay.poll(&self.db, cfg, ctx),
            OutboxTimer::BrokerCall(order) if self.calling.remove(&order) => {
                self.publish_direct(order, cfg, ctx)
            }
            OutboxTimer::Republish(order) if self.unconfirmed.contains_key(&order) => {
                ctx.count("republished", 1);
                self.publish_direct(order, cfg, ctx)
            }
            _ => {}
        }
    }

    /// Dual write: the service itself sends the event and waits for the bus's `Confirm`.
    fn publish_direct(&mut self, order: OrderId, cfg: &OutboxConfig, ctx: &mut Ctx<Outbox>) {
        let Some(&bus) = ctx.nodes_of("bus").first() else {
            return;
        };
        self.unconfirmed.insert(order, ctx.now);
        ctx.send(bus, OutboxMsg::Publish { order });
        ctx.set_timer(OutboxTimer::Republish(order), cfg.confirm_timeout);
    }

    /// The bus has the event: the relay marks its row published (a durable write); the dual
    /// writer stops retrying.
    pub fn on_confirm(&mut self, order: OrderId, ctx: &mut Ctx<Outbox>) {
        if self.unconfirmed.remove(&order).is_some() {
            ctx.cancel_timer(OutboxTimer::Republish(order));
        }
        if self.db.outbox.get(&order) == Some(&false) {
            self.db.outbox.insert(order, true);
            self.relay.sent_at.remove(&order);
            self.persist(ctx);
        }
    }
}
