//! A message queue with acknowledgements, after RabbitMQ (AMQP 0-9-1): the "smart broker"
//! of "Messaging Systems: A Visual Reference" and the RabbitMQ tutorials ("Work Queues",
//! <https://www.rabbitmq.com/tutorials/tutorial-two-python>), with the reliability guide's
//! publisher confirms and consumer acknowledgements
//! (<https://www.rabbitmq.com/docs/confirms>) and quorum queues' delivery limit with a
//! dead-letter queue (<https://www.rabbitmq.com/docs/dlx>).
//!
//! `producer` nodes turn user requests into `Publish`es. The `broker` appends each to its
//! queue, writes it to disk (a durable queue) and confirms it. It pushes ready messages to
//! the `consumer` nodes round robin (competing consumers), each holding at most `prefetch`
//! unacknowledged deliveries. A consumer processes a delivery (its service model is the
//! processing time), records the effect and acknowledges it; a failure is `Nack`ed and the
//! message is retried, after a back-off if configured, until `max_deliveries`, then
//! dead-lettered. A consumer that stops sending heartbeats is declared dead after
//! `consumer_timeout`, and its unacknowledged messages are delivered again.
//!
//! ```text
//!   user ─► producer ──Publish──► broker [ready│unacked│delayed│dead] ──Deliver──► consumer
//!              ▲                     │  ▲  ▲                                      │
//!              └──────Confirm────────┘  │  └────────────Ack / Nack────────────────┤
//!                                       └────────────Subscribe, Heartbeat─────────┘
//! ```
//!
//! With `queues`, the broker is an exchange (`exchange.rs`): `Direct`, `Fanout` (publish/
//! subscribe: every queue gets a copy) or `Topic` (bindings such as `orders.*.eu`), each queue
//! consumed by its own consumers; the Exchange Routing checker holds it to its bindings.
//!
//! The delivery guarantee is a configuration promise (`delivery`): `AtMostOnce` is auto-ack
//! without publish retries; `AtLeastOnce` is manual ack after processing with publish
//! retries. Each promise has its checker (`invariants/`), and each checker has a bug variant
//! that breaks the promise and is caught.

mod broker;
mod config;
mod consumer;
pub mod exchange;
pub mod invariants;
mod message;
mod producer;

pub use broker::{Broker, Disk, Routed, Stored, Unacked};
pub use config::{Delivery, MAX_COUNT, QueueConfig};
pub use consumer::Consumer;
pub use exchange::{Exchange, QueueSpec, RoutingKey};
pub use message::{MsgId, QueueMsg, Tag};
pub use producer::{Producer, ProducerLog, unique_id};

use crate::sim::{
    ClientRequest, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Protocol, RoleSpec, Tone,
};
use std::collections::{BTreeMap, BTreeSet};

/// The timers of all three roles.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QueueTimer {
    /// Producer: no confirm for this message yet.
    ConfirmTimeout(MsgId),
    /// Consumer: time to tell the broker it is alive.
    Heartbeat,
    /// Broker: look for consumers silent for `consumer_timeout`.
    ConsumerCheck,
    /// Broker: a `Nack`ed message's back-off is over.
    Retry,
    /// Broker, `bug_confirm_before_persist` only: write the queue to disk.
    Flush,
}

/// What survives a crash; each role uses its own part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueDurable {
    /// Broker: the queue (durable queues only).
    pub disk: Disk,
    /// Producer: its id counter and the confirmed ids.
    pub log: ProducerLog,
    /// Consumer: the ids it processed (the effects in its database).
    pub processed: Vec<MsgId>,
}

impl QueueDurable {
    pub fn broker(disk: Disk) -> Self {
        QueueDurable {
            disk,
            ..Default::default()
        }
    }
    pub fn producer(log: ProducerLog) -> Self {
        QueueDurable {
            log,
            ..Default::default()
        }
    }
    pub fn consumer(processed: Vec<MsgId>) -> Self {
        QueueDurable {
            processed,
            ..Default::default()
        }
    }
}

/// One node's part: its role decides which handlers it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Producer(Producer),
    Broker(Broker),
    Consumer(Consumer),
}

/// One node: the options (handlers need them) and its role's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Queue {
    pub cfg: QueueConfig,
    /// This node's name (`consumer2`), for checkers' explanations.
    pub name: String,
    pub part: Part,
}

/// A node's name as `Roles([...])` gives it: its role and its rank in that role (`consumer2`).
/// Generic over the protocol: the `stream` protocol names its nodes the same way.
pub fn name<P: Protocol>(ctx: &Ctx<P>, n: NodeId) -> String {
    let role = ctx.role(n);
    let rank = ctx.nodes_of(role).iter().position(|&m| m == n).unwrap_or(0);
    format!("{role}{}", rank + 1)
}

/// The queue consumer `c` consumes: consumer `k` (1-based, in id order) takes queue
/// `(k-1) mod queues`.
pub fn consumer_queue(cfg: &QueueConfig, ctx: &Ctx<Queue>, c: NodeId) -> usize {
    let rank = ctx
        .nodes_of("consumer")
        .iter()
        .position(|&m| m == c)
        .unwrap_or(0);
    cfg.queue_of_consumer(rank)
}

impl Queue {
    fn start(cfg: &QueueConfig, durable: &QueueDurable, ctx: &mut Ctx<Self>) -> Self {
        let part = match ctx.role(ctx.id) {
            "producer" => Part::Producer(Producer::start(durable.log.clone())),
            "broker" => Part::Broker(Broker::start(cfg, durable.disk.clone(), ctx)),
            _ => Part::Consumer(Consumer::start(cfg, durable.processed.clone(), ctx)),
        };
        Queue {
            cfg: cfg.clone(),
            name: name(ctx, ctx.id),
            part,
        }
    }
}

impl Protocol for Queue {
    type Msg = QueueMsg;
    type Timer = QueueTimer;
    type Durable = QueueDurable;
    type Config = QueueConfig;

    const NAME: &'static str = "queue";
    const SUMMARY: &'static str = "RabbitMQ-like queue: exchanges, confirms, prefetch, acks, redelivery, retries, dead letters";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "Publish",
        "Confirm",
        "Deliver",
        "Ack",
        "Nack",
        "Subscribe",
        "Heartbeat",
    ];
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new(
            "producer",
            1,
            usize::MAX,
            "publishes the workload's requests",
        ),
        RoleSpec::new("broker", 1, 1, "holds the queue and pushes it to consumers"),
        RoleSpec::new(
            "consumer",
            1,
            usize::MAX,
            "processes and acknowledges messages",
        ),
    ];

    fn validate_config(cfg: &QueueConfig, _nodes: usize) -> Result<(), String> {
        cfg.validate()
    }

    fn init(cfg: &QueueConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, &QueueDurable::default(), ctx)
    }

    /// The broker restarts from its disk (empty for a transient queue), producers from their
    /// log (pending publishes are lost: their users time out), consumers from their processed
    /// log (their unprocessed deliveries are lost: the broker delivers them again).
    fn on_restart(cfg: &QueueConfig, durable: &QueueDurable, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, durable, ctx)
    }

    fn on_message(&mut self, from: NodeId, msg: QueueMsg, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Producer(p) => p.on_message(msg, ctx),
            Part::Broker(b) => b.on_message(from, msg, &self.cfg, ctx),
            Part::Consumer(c) => c.on_message(from, msg, &self.cfg, ctx),
        }
    }

    fn on_timer(&mut self, timer: QueueTimer, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Producer(p) => p.on_timer(timer, &self.cfg, ctx),
            Part::Broker(b) => b.on_timer(timer, &self.cfg, ctx),
            Part::Consumer(c) => c.on_timer(timer, &self.cfg, ctx),
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Producer(p) => p.on_client_request(req, &self.cfg, ctx),
            // Users publish through producers; a request sent elsewhere is not answered.
            _ => ctx.count("misrouted", 1),
        }
    }

    fn view(&self) -> NodeView {
        match &self.part {
            Part::Producer(p) => NodeView::new("producer", Tone::Neutral)
                .field("pending", p.pending.len())
                .field("confirmed", p.log.confirmed.len())
                .field("failed", p.failed),
            Part::Broker(b) => {
                let d = &b.disk;
                let mut v = NodeView::new("broker", Tone::Leader)
                    .field("ready", d.ready.len())
                    .field("unacked", d.unacked.len())
                    .field("delayed", d.delayed.len())
                    .field("dead-lettered", d.dead.len())
                    .field("consumers", b.consumers.len());
                // The queue as a row of cells: unacknowledged (solid) then ready, head first;
                // the term is the delivery count, so redeliveries stand out.
                let cells = d
                    .unacked
                    .values()
                    .map(|u| (&u.msg, true))
                    .chain(d.ready.iter().map(|m| (m, false)))
                    .take(MAX_CELLS);
                v.entries = cells
                    .enumerate()
                    .map(|(i, (m, committed))| EntryView {
                        index: i as u64 + 1,
                        term: m.deliveries as u64,
                        label: if self.cfg.queues.is_empty() {
                            format!("m{}", m.id)
                        } else {
                            format!("m{}@{}", m.id, self.cfg.queue_name(m.queue))
                        },
                        committed,
                    })
                    .collect();
                v
            }
            Part::Consumer(c) => {
                let v = NodeView::new("consumer", Tone::Follower);
                let v = if self.cfg.queues.is_empty() {
                    v
                } else {
                    v.field("queue", self.cfg.queue_name(c.queue))
                };
                v.field("processed", c.processed.len())
                    .field("failures", c.failures)
                    .field("redeliveries", c.redeliveries)
                    .field(
                        "last",
                        c.processed
                            .last()
                            .map_or_else(|| "-".to_string(), |id| format!("m{id}")),
                    )
            }
        }
    }

    fn invariants(cfg: &QueueConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        invariants::all(cfg, nodes)
    }

    /// Per broker: `depth` (ready and delayed), `unacked`, `dead_lettered`. Per consumer, with
    /// declared queues: `processed`. Over all nodes: `processed` (effects recorded by live
    /// consumers), `duplicates` (effects beyond the first of a message in one queue) and
    /// `lost` (copies of confirmed messages, one per queue the bindings route them to, that
    /// the broker no longer holds and no consumer of that queue processed: exact once
    /// deliveries stop; under auto-ack it also counts messages on their way to a consumer).
    /// These three need every node's log, so they are computed only while every node is up (a
    /// gap in the plot while one is down).
    fn gauges(cfg: &QueueConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        let all_up = states.iter().all(Option::is_some);
        // (queue, id) -> times processed by a consumer of that queue.
        let mut seen: BTreeMap<(usize, MsgId), u32> = BTreeMap::new();
        let mut confirmed: BTreeSet<MsgId> = BTreeSet::new();
        let mut held: Option<BTreeSet<(usize, MsgId)>> = None;
        for (n, s) in states.iter().enumerate() {
            let Some(s) = s else { continue };
            match &s.part {
                Part::Broker(b) => {
                    let d = &b.disk;
                    out.push(Gauge {
                        name: "depth",
                        node: Some(n),
                        value: d.depth() as f64,
                    });
                    out.push(Gauge {
                        name: "unacked",
                        node: Some(n),
                        value: d.unacked.len() as f64,
                    });
                    out.push(Gauge {
                        name: "dead_lettered",
                        node: Some(n),
                        value: d.dead.len() as f64,
                    });
                    held = Some(d.stored().map(|m| (m.queue, m.id)).collect());
                }
                Part::Producer(p) => confirmed.extend(p.log.confirmed.iter().copied()),
                Part::Consumer(c) => {
                    if !cfg.queues.is_empty() {
                        out.push(Gauge {
                            name: "processed",
                            node: Some(n),
                            value: c.processed.len() as f64,
                        });
                    }
                    for &id in &c.processed {
                        *seen.entry((c.queue, id)).or_default() += 1;
                    }
                }
            }
        }
        if !all_up {
            return;
        }
        let processed: u32 = seen.values().sum();
        out.push(Gauge {
            name: "processed",
            node: None,
            value: processed as f64,
        });
        out.push(Gauge {
            name: "duplicates",
            node: None,
            value: (processed as usize - seen.len()) as f64,
        });
        if let Some(held) = held {
            let lost = confirmed
                .iter()
                .flat_map(|&id| {
                    cfg.bound_queues(cfg.routing_key(id))
                        .into_iter()
                        .map(move |q| (q, id))
                })
                .filter(|c| !held.contains(c) && !seen.contains_key(c))
                .count();
            out.push(Gauge {
                name: "lost",
                node: None,
                value: lost as f64,
            });
        }
    }
}

/// Cells drawn for the broker's queue.
const MAX_CELLS: usize = 40;

#[cfg(test)]
mod tests;
