//! Sagas: a transaction across services that each own their database, after Garcia-Molina
//! and Salem, *Sagas* (SIGMOD 1987, <https://dl.acm.org/doi/10.1145/38713.38742>): a long
//! transaction is a sequence of local transactions T1…Tn, each with a compensation Ci, and
//! the system guarantees that either T1…Tn runs, or T1…Tj, Cj…C1 does. The order problem,
//! the two coordination styles and their vocabulary follow "Distributed Transactions: A
//! Visual Guide" (the seed guide: "Saga Choreography", "Saga Orchestration") and Chris
//! Richardson's pattern (<https://microservices.io/patterns/data/saga.html>).
//!
//! Roles: `client` nodes place orders; the `order`, `payment` and `inventory` services each
//! keep their own store (drawn as the node's list); an `orchestrator` runs the sagas in
//! `Orchestration` mode. The saga of an order:
//!
//! ```text
//!  T1 CreateOrder (order) ─► T2 Charge (payment) ─► T3 Reserve (inventory) ─► ApproveOrder
//!  C1 CancelOrder          ◄─ C2 Refund           ◄─ C3 Release        (reverse order)
//! ```
//!
//! `mode` decides who drives it: `Direct` (no saga: the client calls each step and undoes
//! nothing, the guide's first picture), `Orchestration` (`orchestrator.rs`: a coordinator
//! with a persisted saga log) or `Choreography` (`service.rs`: each service reacts to the
//! previous one's event; a failure's event makes the earlier ones compensate).
//!
//! What makes it work under faults: every request carries the order id as its idempotency key
//! (`store.rs`: a retried `Charge` is answered, not run again; a compensation that overtakes
//! its step leaves a tombstone); callers retry with exponential back-off after a transient
//! error or a `step_timeout`; compensations are retried until they succeed.
//!
//! Checkers (`invariants/`, after every event): Completed or Compensated (every finished saga
//! ran all its steps or compensated all it ran, re-checked whenever a store changes later)
//! and No Double Charge. At quiescence, the `unsettled` series (orders whose stores disagree)
//! and `in_flight` must be 0: the scenarios assert it at their end. Bug switches:
//! `bug_no_idempotency`, `bug_skip_compensation`.

mod client;
mod config;
pub mod invariants;
mod message;
mod orchestrator;
mod service;
mod store;

pub use client::{Client, Waiting};
pub use config::{MAX_ATTEMPTS, Mode, SagaConfig};
pub use message::{Event, OrderId, Outcome, SagaEnd, SagaMsg, Service, Step};
pub use orchestrator::{Coordinator, Ended, Run, SagaLog};
pub use service::Participant;
pub use store::{Change, Row, Store};

use crate::sim::{
    ClientRequest, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Protocol, RoleSpec, SimTime,
    Tone,
};
use std::collections::BTreeSet;

/// The timers of every role.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SagaTimer {
    /// Coordinator: no reply to the current command of this saga yet.
    Step(OrderId),
    /// Coordinator: the back-off before sending the command again is over.
    Retry(OrderId),
    /// Client: no `OrderResult` yet; send `PlaceOrder` again.
    Resend(OrderId),
    /// Choreography: this outbox event is not acknowledged yet; publish it again.
    Redeliver(OrderId, Event),
}

/// What survives a crash: a service's store, a coordinator's saga log (a client's order
/// counter, the order service's saga ends in choreography).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SagaDurable {
    pub store: Store,
    pub log: SagaLog,
}

/// One node's part: its role decides which handlers it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Client(Client),
    Orchestrator(Coordinator),
    Service(Participant),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Saga {
    pub cfg: SagaConfig,
    pub part: Part,
}

impl Saga {
    fn start(cfg: &SagaConfig, durable: &SagaDurable, ctx: &mut Ctx<Self>) -> Self {
        let part = match ctx.role(ctx.id) {
            "client" => Part::Client(Client::start(durable.log.clone(), cfg, ctx)),
            "orchestrator" => {
                Part::Orchestrator(Coordinator::new(durable.log.clone(), true, true, ctx, cfg))
            }
            "order" => Part::Service(Participant::start(Service::Order, durable, cfg, ctx)),
            "payment" => Part::Service(Participant::start(Service::Payment, durable, cfg, ctx)),
            _ => Part::Service(Participant::start(Service::Inventory, durable, cfg, ctx)),
        };
        Saga {
            cfg: cfg.clone(),
            part,
        }
    }
}

/// Entries drawn per node (the most recent ones).
const MAX_ENTRIES: usize = 40;

impl Protocol for Saga {
    type Msg = SagaMsg;
    type Timer = SagaTimer;
    type Durable = SagaDurable;
    type Config = SagaConfig;

    const NAME: &'static str = "saga";
    const SUMMARY: &'static str = "sagas: orders across order/payment/inventory services, orchestrated or choreographed, with compensations";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "PlaceOrder",
        "OrderResult",
        "CreateOrder",
        "Charge",
        "Reserve",
        "ApproveOrder",
        "CancelOrder",
        "Refund",
        "Release",
        "Reply",
        "OrderCreated",
        "PaymentCharged",
        "PaymentDeclined",
        "StockReserved",
        "StockRefused",
        "PaymentRefunded",
        "Ack",
    ];
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new("client", 1, usize::MAX, "places the workload's orders"),
        RoleSpec::new(
            "orchestrator",
            0,
            1,
            "runs each saga from its saga log (mode: Orchestration)",
        ),
        RoleSpec::new("order", 1, 1, "the order service and its orders table"),
        RoleSpec::new("payment", 1, 1, "the payment service and its charges"),
        RoleSpec::new("inventory", 1, 1, "the inventory service and its stock"),
    ];

    fn validate_config(cfg: &SagaConfig, _nodes: usize) -> Result<(), String> {
        cfg.validate()
    }

    fn init(cfg: &SagaConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, &SagaDurable::default(), ctx)
    }

    /// Services restart from their store (and publish their outbox again), the orchestrator
    /// from its saga log (resuming every saga in flight), clients from their order counter
    /// (their waiting users are lost and time out).
    fn on_restart(cfg: &SagaConfig, durable: &SagaDurable, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, durable, ctx)
    }

    fn on_message(&mut self, from: NodeId, msg: SagaMsg, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Client(c) => c.on_message(msg, &self.cfg, ctx),
            Part::Orchestrator(o) => match msg {
                SagaMsg::PlaceOrder { order } => o.start(order, Some(from), &self.cfg, ctx),
                SagaMsg::Reply {
                    order,
                    step,
                    undo,
                    outcome,
                } => o.on_reply(order, step, undo, outcome, &self.cfg, ctx),
                _ => {}
            },
            Part::Service(s) => s.on_message(from, msg, &self.cfg, ctx),
        }
        if let Part::Orchestrator(o) = &mut self.part {
            o.just_ended.clear();
        }
    }

    fn on_timer(&mut self, timer: SagaTimer, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Client(c) => c.on_timer(timer, &self.cfg, ctx),
            Part::Orchestrator(o) => {
                o.on_timer(timer, &self.cfg, ctx);
                o.just_ended.clear();
            }
            Part::Service(s) => s.on_timer(timer, &self.cfg, ctx),
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Client(c) => c.on_client_request(req, &self.cfg, ctx),
            // Orders are placed through client nodes; a request sent elsewhere is not answered.
            _ => ctx.count("misrouted", 1),
        }
    }

    fn view(&self) -> NodeView {
        match &self.part {
            Part::Client(c) => {
                let log = &c.coordinator.log;
                let count = |e| log.ended.iter().filter(|x| x.end == e).count();
                let mut v = NodeView::new("client", Tone::Neutral)
                    .field("waiting", c.waiting.len())
                    .field("orders", log.next)
                    .field("gave up", c.gave_up);
                if !log.ended.is_empty() || !log.runs.is_empty() {
                    v = v
                        .field("completed", count(SagaEnd::Completed))
                        .field("failed", count(SagaEnd::Failed));
                    v.entries = log_entries(log);
                }
                v
            }
            Part::Orchestrator(o) => {
                let log = &o.log;
                let count = |e| log.ended.iter().filter(|x| x.end == e).count();
                let mut v = NodeView::new("orchestrator", Tone::Leader)
                    .field("in flight", log.runs.len())
                    .field("completed", count(SagaEnd::Completed))
                    .field("compensated", count(SagaEnd::Compensated));
                v.entries = log_entries(log);
                v
            }
            Part::Service(p) => {
                let s = &p.store;
                let service = s.service.expect("a participant's store knows its service");
                let mut v = NodeView::new(service.role(), Tone::Follower);
                let count = |r: Row| s.rows.values().filter(|&&x| x == r).count();
                v = match service {
                    Service::Order => v
                        .field("pending", count(Row::Done))
                        .field("approved", count(Row::Approved))
                        .field("cancelled", count(Row::Undone)),
                    Service::Payment => v
                        .field("balance", format!("${}", s.balance))
                        .field("charged", count(Row::Done))
                        .field("refunded", count(Row::Undone))
                        .field("declined", count(Row::Refused)),
                    Service::Inventory => v
                        .field("stock", s.stock)
                        .field("reserved", count(Row::Done))
                        .field("released", count(Row::Undone))
                        .field("out of stock", count(Row::Refused)),
                };
                if !s.outbox.is_empty() {
                    v = v.field("outbox", s.outbox.len());
                }
                // The store's rows, most recent orders last.
                let skip = s.rows.len().saturating_sub(MAX_ENTRIES);
                v.entries = s
                    .rows
                    .iter()
                    .skip(skip)
                    .enumerate()
                    .map(|(i, (&order, &row))| EntryView {
                        index: i as u64 + 1,
                        term: row as u64 + 1,
                        label: format!("o{order} {}", row.word(service)),
                        committed: row.holds_effect(),
                    })
                    .collect();
                v
            }
        }
    }

    fn invariants(_cfg: &SagaConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        invariants::all(nodes)
    }

    fn gauges(cfg: &SagaConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        Self::gauges_at(cfg, SimTime::ZERO, states, out)
    }

    /// `in_flight` (sagas started and not ended), `completed`, `compensated` (so far),
    /// `compensations` (sagas compensated in the last second), per service its stock or
    /// balance, and `unsettled`: orders some store holds an effect of without the saga having
    /// completed them all (the approved order, the charge and the reservation), measured while
    /// the three stores are up. At quiescence it must be 0.
    fn gauges_at(cfg: &SagaConfig, at: SimTime, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        let mut in_flight = 0usize;
        let (mut completed, mut compensated, mut recent) = (0usize, 0usize, 0usize);
        let mut stores: Vec<&Store> = Vec::new();
        let window = SimTime::from_secs(1);
        let mut tally = |log: &SagaLog| {
            for e in &log.ended {
                match e.end {
                    SagaEnd::Completed => completed += 1,
                    SagaEnd::Compensated => {
                        compensated += 1;
                        if e.at.saturating_add(window) > at && e.at <= at {
                            recent += 1;
                        }
                    }
                    SagaEnd::Failed => {}
                }
            }
        };
        for (n, s) in states.iter().enumerate() {
            let Some(s) = s else { continue };
            match &s.part {
                Part::Client(c) => {
                    in_flight += c.coordinator.log.runs.len();
                    tally(&c.coordinator.log);
                }
                Part::Orchestrator(o) => {
                    in_flight += o.log.runs.len();
                    tally(&o.log);
                }
                Part::Service(p) => {
                    tally(&p.log);
                    let st = &p.store;
                    match st.service {
                        Some(Service::Order) if cfg.mode == Mode::Choreography => {
                            in_flight += st.rows.values().filter(|&&r| r == Row::Done).count();
                        }
                        Some(Service::Payment) => out.push(Gauge {
                            name: "balance",
                            node: Some(n),
                            value: st.balance as f64,
                        }),
                        Some(Service::Inventory) => out.push(Gauge {
                            name: "stock",
                            node: Some(n),
                            value: st.stock as f64,
                        }),
                        _ => {}
                    }
                    stores.push(st);
                }
            }
        }
        for (name, value) in [
            ("in_flight", in_flight),
            ("completed", completed),
            ("compensated", compensated),
            ("compensations", recent),
        ] {
            out.push(Gauge {
                name,
                node: None,
                value: value as f64,
            });
        }
        if stores.len() == 3 {
            out.push(Gauge {
                name: "unsettled",
                node: None,
                value: unsettled(&stores).len() as f64,
            });
        }
    }
}

/// Orders whose stores disagree: some store holds an effect, yet not all three hold the
/// completed saga's (approved order, charge, reservation).
pub fn unsettled(stores: &[&Store]) -> Vec<OrderId> {
    let orders: BTreeSet<OrderId> = stores.iter().flat_map(|s| s.rows.keys().copied()).collect();
    orders
        .into_iter()
        .filter(|o| {
            let rows: Vec<Option<Row>> = stores.iter().map(|s| s.rows.get(o).copied()).collect();
            let any = rows.iter().any(|r| r.is_some_and(Row::holds_effect));
            let all = stores.iter().zip(&rows).all(|(s, r)| match s.service {
                Some(Service::Order) => *r == Some(Row::Approved),
                _ => r.is_some_and(Row::holds_effect),
            });
            any && !all
        })
        .collect()
}

/// A saga log as a list: sagas in flight (term 2, or 3 while compensating) after the most
/// recent ended ones (term 1 completed, 4 compensated, 5 failed).
fn log_entries(log: &SagaLog) -> Vec<EntryView> {
    let running: Vec<EntryView> = log
        .runs
        .iter()
        .map(|(&order, r)| EntryView {
            index: 0,
            term: if r.undo { 3 } else { 2 },
            label: if r.undo {
                format!("o{order} {}", r.step.compensation())
            } else {
                format!("o{order} {}", r.step.command())
            },
            committed: false,
        })
        .collect();
    let room = MAX_ENTRIES.saturating_sub(running.len().min(MAX_ENTRIES));
    let skip = log.ended.len().saturating_sub(room);
    let mut v: Vec<EntryView> = log.ended[skip..]
        .iter()
        .map(|e| EntryView {
            index: 0,
            term: match e.end {
                SagaEnd::Completed => 1,
                SagaEnd::Compensated => 4,
                SagaEnd::Failed => 5,
            },
            label: format!("o{} {}", e.order, e.end.word()),
            committed: true,
        })
        .collect();
    v.extend(running.into_iter().take(MAX_ENTRIES));
    for (i, e) in v.iter_mut().enumerate() {
        e.index = i as u64 + 1;
    }
    v
}

#[cfg(test)]
mod tests;
