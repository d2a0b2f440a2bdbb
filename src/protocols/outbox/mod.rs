//! The transactional outbox, after "Distributed Transactions: A Visual Guide" (the seed
//! guide's table: "Outbox Pattern | Local TX + relay | At-least-once | Event publishing
//! guarantee") and Chris Richardson's *Transactional outbox* pattern
//! (<https://microservices.io/patterns/data/transactional-outbox.html>): a service that must
//! both change its database and publish an event writes the event to an `outbox` table in the
//! same local transaction; a message relay publishes the table's rows to the broker, at least
//! once; consumers deduplicate.
//!
//! Roles (one node each): `order` (the order service: `orders` and `outbox` tables, and the
//! relay as one of its tasks), `bus` (the event bus, [`crate::protocols::event_bus`]) and
//! `shipping` (the consumer, with its processed-ids table). Orders come from the workload
//! (`target: Role("order")`).
//!
//! ```text
//!  client ─► order service ── one local TX: orders row + outbox row ──► (durable)
//!                 relay (every poll_interval) ──Publish──► bus ──Confirm──► relay: row published
//!                                                          │
//!                                         Deliver(k) ──────┴──► shipping: processed? skip : ship
//!                                         ◄────────────── Ack(k)   (one local TX)
//!
//!  bug_dual_write:  client ─► order service: orders row (commit) ··· publish_delay ··· Publish
//!                                               crash here ─► the event is lost
//! ```
//!
//! Checkers (`invariants/`, after every event): No Lost Event (every committed order is in
//! the outbox, on the bus, or in the hands of a live publisher) and Applied At Most Once. At
//! quiescence the `unapplied` series (committed orders not yet shipped) must be 0: applied at
//! least once. Bug switches: `bug_dual_write`, `bug_no_dedup`.

mod config;
pub mod invariants;
mod message;
mod order;
mod relay;
mod shipping;

pub use config::OutboxConfig;
pub use message::{OrderId, OutboxMsg};
pub use order::{OrderDb, OrderService};
pub use relay::Relay;
pub use shipping::{Shipping, ShippingDb};

use crate::protocols::event_bus::{Bus, BusLog, BusOut};
use crate::sim::{
    ClientReply, ClientRequest, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Protocol,
    RoleSpec, Tone,
};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutboxTimer {
    /// Relay: read the outbox table.
    Poll,
    /// Dual write: the broker call of this order's event is done; the event leaves.
    BrokerCall(OrderId),
    /// Dual write: no `Confirm` yet; publish again.
    Republish(OrderId),
    /// Bus: no `Ack` from `to` for `offset` yet; deliver again.
    Redeliver { to: NodeId, offset: u64 },
}

/// What survives a crash; each node uses its own part.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutboxDurable {
    pub orders: OrderDb,
    pub bus: BusLog<OrderId>,
    pub shipping: ShippingDb,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Order(OrderService),
    Bus(Bus<OrderId>),
    Shipping(Shipping),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outbox {
    pub cfg: OutboxConfig,
    pub part: Part,
}

impl Outbox {
    fn start(cfg: &OutboxConfig, d: &OutboxDurable, ctx: &mut Ctx<Self>) -> Self {
        let part = match ctx.role(ctx.id) {
            "order" => Part::Order(OrderService::start(d.orders.clone(), cfg, ctx)),
            "bus" => {
                let subs = ctx.nodes_of("shipping");
                let (bus, out) = Bus::start(d.bus.clone(), subs, cfg.redeliver_after);
                carry(&bus, out, ctx);
                Part::Bus(bus)
            }
            _ => Part::Shipping(Shipping {
                db: d.shipping.clone(),
            }),
        };
        Outbox {
            cfg: cfg.clone(),
            part,
        }
    }
}

/// Carries out the bus's outputs as this protocol's messages, timers and writes.
fn carry(bus: &Bus<OrderId>, out: Vec<BusOut<OrderId>>, ctx: &mut Ctx<Outbox>) {
    let mut persist = false;
    for o in out {
        match o {
            BusOut::Confirm { to, event } => ctx.send(to, OutboxMsg::Confirm { order: event }),
            BusOut::Deliver { to, offset, event } => ctx.send(
                to,
                OutboxMsg::Deliver {
                    offset,
                    order: event,
                },
            ),
            BusOut::Redeliver { to, offset, after } => {
                ctx.set_timer(OutboxTimer::Redeliver { to, offset }, after)
            }
            BusOut::Cancel { to, offset } => {
                ctx.cancel_timer(OutboxTimer::Redeliver { to, offset })
            }
            BusOut::Persist => persist = true,
        }
    }
    if persist {
        ctx.persist(OutboxDurable {
            bus: bus.log.clone(),
            ..Default::default()
        });
    }
}

/// Entries drawn per node (the most recent ones).
const MAX_ENTRIES: usize = 40;

impl Protocol for Outbox {
    type Msg = OutboxMsg;
    type Timer = OutboxTimer;
    type Durable = OutboxDurable;
    type Config = OutboxConfig;

    const NAME: &'static str = "outbox";
    const SUMMARY: &'static str = "transactional outbox: order + outbox row in one local transaction, a relay publishing at least once, an idempotent consumer";
    const MESSAGE_KINDS: &'static [&'static str] = &["Publish", "Confirm", "Deliver", "Ack"];
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new(
            "order",
            1,
            1,
            "the order service: orders and outbox tables, and its relay task",
        ),
        RoleSpec::new(
            "bus",
            1,
            1,
            "the event bus: a durable log, at-least-once delivery",
        ),
        RoleSpec::new(
            "shipping",
            1,
            1,
            "the consumer: ships each order once (processed-ids table)",
        ),
    ];

    fn validate_config(cfg: &OutboxConfig, _nodes: usize) -> Result<(), String> {
        cfg.validate()
    }

    fn init(cfg: &OutboxConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, &OutboxDurable::default(), ctx)
    }

    /// Every node restarts from its database: the relay from the outbox table (and publishes
    /// what is not marked published), the bus from its log (and delivers what is not
    /// acknowledged). The dual writer's pending publishes were volatile: they are gone.
    fn on_restart(cfg: &OutboxConfig, d: &OutboxDurable, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, d, ctx)
    }

    fn on_message(&mut self, from: NodeId, msg: OutboxMsg, ctx: &mut Ctx<Self>) {
        match (&mut self.part, msg) {
            (Part::Order(s), OutboxMsg::Confirm { order }) => s.on_confirm(order, ctx),
            (Part::Bus(b), OutboxMsg::Publish { order }) => {
                let out = b.publish(from, order);
                carry(b, out, ctx);
            }
            (Part::Bus(b), OutboxMsg::Ack { offset }) => {
                let out = b.ack(from, offset);
                carry(b, out, ctx);
            }
            (Part::Shipping(s), OutboxMsg::Deliver { offset, order }) => {
                s.on_deliver(from, offset, order, &self.cfg, ctx)
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, timer: OutboxTimer, ctx: &mut Ctx<Self>) {
        match (&mut self.part, timer) {
            (Part::Bus(b), OutboxTimer::Redeliver { to, offset }) => {
                let out = b.redeliver(to, offset);
                if !out.is_empty() {
                    ctx.count("redeliveries", 1);
                }
                carry(b, out, ctx);
            }
            (Part::Order(s), t) => s.on_timer(t, &self.cfg, ctx),
            _ => {}
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Order(s) => s.place(req, &self.cfg, ctx),
            _ => ctx.reply_to_client(
                req.from,
                ClientReply::Fail {
                    reason: "orders are placed at the order service (target: Role(\"order\"))"
                        .into(),
                },
            ),
        }
    }

    fn view(&self) -> NodeView {
        match &self.part {
            Part::Order(s) => order_view(s, &self.cfg),
            Part::Bus(b) => {
                let mut v = NodeView::new("bus", Tone::Leader)
                    .field("events", b.log.events.len())
                    .field("unacked", b.log.unacked());
                let skip = b.log.events.len().saturating_sub(MAX_ENTRIES);
                v.entries = (skip..b.log.events.len())
                    .map(|k| EntryView {
                        index: k as u64,
                        term: 1,
                        label: format!("#{k} o{}", b.log.events[k]),
                        committed: b.log.acked.values().all(|a| a.contains(&(k as u64))),
                    })
                    .collect();
                v
            }
            Part::Shipping(s) => {
                let mut v = NodeView::new("shipping", Tone::Follower)
                    .field("shipped", s.db.shipments.len())
                    .field("duplicates skipped", s.db.duplicates);
                let skip = s.db.shipments.len().saturating_sub(MAX_ENTRIES);
                v.entries = s.db.shipments[skip..]
                    .iter()
                    .enumerate()
                    .map(|(i, o)| EntryView {
                        index: (skip + i) as u64 + 1,
                        term: 1,
                        label: format!("o{o} shipped"),
                        committed: true,
                    })
                    .collect();
                v
            }
        }
    }

    fn invariants(_cfg: &OutboxConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        invariants::all(nodes)
    }

    /// `outbox_backlog` (rows not yet published), `unconfirmed` (dual write: events sent and
    /// not confirmed), `published` (events on the bus, duplicates included) and `unapplied`:
    /// committed orders the shipping service has not shipped, measured while both are up. At
    /// quiescence it must be 0.
    fn gauges(_cfg: &OutboxConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        let (mut order, mut shipping) = (None, None);
        for s in states.iter().flatten() {
            match &s.part {
                Part::Order(o) => order = Some(o),
                Part::Shipping(sh) => shipping = Some(sh),
                Part::Bus(b) => out.push(gauge("published", b.log.events.len())),
            }
        }
        if let Some(o) = order {
            out.push(gauge("outbox_backlog", o.db.backlog()));
            out.push(gauge("unconfirmed", o.unconfirmed.len() + o.calling.len()));
            if let Some(sh) = shipping {
                let missing = o.db.orders.keys().filter(|k| !sh.db.processed.contains(k));
                out.push(gauge("unapplied", missing.count()));
            }
        }
    }
}

fn gauge(name: &'static str, value: usize) -> Gauge {
    Gauge {
        name,
        node: None,
        value: value as f64,
    }
}

/// The order service: its outbox rows (or, with the dual write, its orders table).
fn order_view(s: &OrderService, cfg: &OutboxConfig) -> NodeView {
    let mut v = NodeView::new("order service", Tone::Leader).field("orders", s.db.orders.len());
    if cfg.bug_dual_write {
        v = v
            .field("publishing", s.calling.len())
            .field("unconfirmed", s.unconfirmed.len());
        let skip = s.db.orders.len().saturating_sub(MAX_ENTRIES);
        v.entries =
            s.db.orders
                .keys()
                .skip(skip)
                .map(|&o| EntryView {
                    index: o,
                    term: if s.calling.contains(&o) { 2 } else { 1 },
                    label: format!("o{o} placed"),
                    committed: !s.calling.contains(&o) && !s.unconfirmed.contains_key(&o),
                })
                .collect();
        return v;
    }
    v = v.field("outbox unpublished", s.db.backlog());
    let skip = s.db.outbox.len().saturating_sub(MAX_ENTRIES);
    v.entries =
        s.db.outbox
            .iter()
            .skip(skip)
            .map(|(&o, &published)| EntryView {
                index: o,
                term: if published { 1 } else { 2 },
                label: format!("o{o} OrderPlaced"),
                committed: published,
            })
            .collect();
    v
}

#[cfg(test)]
mod tests;
