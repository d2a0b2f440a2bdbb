//! A persisted stream with a dedup window and durable consumers, after NATS JetStream
//! (<https://docs.nats.io/nats-concepts/jetstream>): the "lightweight persistence with
//! built-in dedup" of "Messaging Systems: A Visual Reference". Same roles and conventions as
//! the `queue` protocol, whose naming, ids and back-off it reuses.
//!
//! `producer` nodes turn user requests into `Publish`es, each with a message id (the
//! `Nats-Msg-Id` header) that its retries keep. The `broker` appends a message to the stream
//! (append-only, sequence numbers from 1), writes it to disk and answers `PubAck` with its
//! sequence. A publish whose id it stored less than `duplicate_window` ago is stored no
//! second time: the `PubAck` carries the first sequence and `duplicate: true`. Each
//! `consumer` node has a durable consumer on the broker (its delivered sequence and pending
//! acks live with the stream, on disk) that reads the whole stream; deliveries are
//! acknowledged under the ack policy (`Explicit`, `All`, `None`) and delivered again after
//! `ack_wait`, up to `max_deliver`. Consumers apply each sequence once (they remember what
//! they applied), so duplicates are delivered, and counted, but not applied twice.
//!
//! ```text
//!   user ─► producer ──Publish(Nats-Msg-Id)──► broker: dedup window ─► stream [s1 s2 … sN]
//!              ▲                                  │                       │ durable consumers
//!              └──PubAck(seq, duplicate?)─────────┘                       ▼
//!                               consumer ◄──Deliver(seq)── ack_wait redelivery ◄──Ack(seq)──┘
//! ```
//!
//! Checkers (`invariants/`): Published Once (a retried publish within the window is stored
//! once, and every acknowledged sequence holds its id) and Effectively Once (no consumer
//! applies a sequence twice), each with a bug switch that breaks it.

mod broker;
mod config;
mod consumer;
pub mod invariants;
mod message;
mod producer;

pub use broker::{Broker, DurableConsumer, Pending, Stored, StreamDisk, ack_check};
pub use config::{AckPolicy, StreamConfig};
pub use consumer::Consumer;
pub use message::{Seq, StreamMsg};
pub use producer::{Producer, PubLog};

use crate::protocols::queue::{MsgId, name};
use crate::sim::{
    ClientRequest, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Protocol, RoleSpec, Tone,
};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamTimer {
    /// Producer: no `PubAck` for this message id yet.
    PubAckTimeout(MsgId),
    /// Consumer: subscribe again.
    Heartbeat,
    /// Broker: look for deliveries past `ack_wait`.
    AckCheck,
}

/// What survives a crash; each role uses its part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamDurable {
    /// Broker: the stream and the durable consumers.
    pub disk: StreamDisk,
    /// Producer: its id counter and acknowledged publishes.
    pub log: PubLog,
    /// Consumer: what it applied, (sequence, message id) in order.
    pub applied: Vec<(Seq, MsgId)>,
}

impl StreamDurable {
    pub fn broker(disk: StreamDisk) -> Self {
        StreamDurable {
            disk,
            ..Default::default()
        }
    }
    pub fn producer(log: PubLog) -> Self {
        StreamDurable {
            log,
            ..Default::default()
        }
    }
    pub fn consumer(applied: Vec<(Seq, MsgId)>) -> Self {
        StreamDurable {
            applied,
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Producer(Producer),
    Broker(Broker),
    Consumer(Consumer),
}

/// One node: the options, its name (`consumer2`) and its role's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    pub cfg: StreamConfig,
    pub name: String,
    pub part: Part,
}

impl Stream {
    fn start(cfg: &StreamConfig, durable: &StreamDurable, ctx: &mut Ctx<Self>) -> Self {
        let part = match ctx.role(ctx.id) {
            "producer" => Part::Producer(Producer::start(durable.log.clone())),
            "broker" => Part::Broker(Broker::start(cfg, durable.disk.clone(), ctx)),
            _ => Part::Consumer(Consumer::start(cfg, durable.applied.clone(), ctx)),
        };
        Stream {
            cfg: cfg.clone(),
            name: name(ctx, ctx.id),
            part,
        }
    }
}

/// Stream cells drawn in the broker's view (the newest ones).
const MAX_CELLS: usize = 40;

impl Protocol for Stream {
    type Msg = StreamMsg;
    type Timer = StreamTimer;
    type Durable = StreamDurable;
    type Config = StreamConfig;

    const NAME: &'static str = "stream";
    const SUMMARY: &'static str =
        "JetStream-like stream: dedup window on message ids, durable consumers, ack policies";
    const MESSAGE_KINDS: &'static [&'static str] =
        &["Publish", "PubAck", "Subscribe", "Deliver", "Ack"];
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new(
            "producer",
            1,
            usize::MAX,
            "publishes the workload's requests with message ids",
        ),
        RoleSpec::new("broker", 1, 1, "holds the stream and the durable consumers"),
        RoleSpec::new(
            "consumer",
            1,
            usize::MAX,
            "each reads the whole stream through its durable consumer",
        ),
    ];

    fn validate_config(cfg: &StreamConfig, _nodes: usize) -> Result<(), String> {
        cfg.validate()
    }

    fn init(cfg: &StreamConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, &StreamDurable::default(), ctx)
    }

    /// The broker restarts from its stream and durable consumers (the dedup state is rebuilt
    /// from the stored ids); producers from their log (pending publishes are lost: their
    /// users time out); consumers from what they applied.
    fn on_restart(cfg: &StreamConfig, durable: &StreamDurable, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, durable, ctx)
    }

    fn on_message(&mut self, from: NodeId, msg: StreamMsg, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Producer(p) => p.on_message(msg, ctx),
            Part::Broker(b) => b.on_message(from, msg, &self.cfg, ctx),
            Part::Consumer(c) => c.on_message(from, msg, &self.cfg, ctx),
        }
    }

    fn on_timer(&mut self, timer: StreamTimer, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Producer(p) => p.on_timer(timer, &self.cfg, ctx),
            Part::Broker(b) => b.on_timer(timer, &self.cfg, ctx),
            Part::Consumer(c) => c.on_timer(timer, &self.cfg, ctx),
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Producer(p) => p.on_client_request(req, &self.cfg, ctx),
            _ => ctx.count("misrouted", 1),
        }
    }

    fn view(&self) -> NodeView {
        match &self.part {
            Part::Producer(p) => NodeView::new("producer", Tone::Neutral)
                .field("pending", p.pending.len())
                .field("acked", p.log.acked.len())
                .field("duplicate acks", p.duplicate_acks)
                .field("failed", p.failed),
            Part::Broker(b) => {
                let d = &b.disk;
                let floor = d.consumers.values().map(|c| c.ack_floor).min().unwrap_or(0);
                let pending: usize = d.consumers.values().map(|c| c.pending.len()).sum();
                let mut v = NodeView::new("broker", Tone::Leader)
                    .field("last seq", d.last_seq())
                    .field("consumers", d.consumers.len())
                    .field("pending acks", pending)
                    .field("duplicates stored", d.duplicates_stored());
                // The newest messages as a row of cells, labelled with their id; solid once
                // every durable consumer has acknowledged them; the colour marks an id stored
                // a second time.
                let mut seen = BTreeSet::new();
                let dup: Vec<bool> = d.messages.iter().map(|m| !seen.insert(m.msg_id)).collect();
                let from = d.messages.len().saturating_sub(MAX_CELLS);
                v.entries = d.messages[from..]
                    .iter()
                    .zip(&dup[from..])
                    .map(|(m, &again)| EntryView {
                        index: m.seq,
                        term: u64::from(again),
                        label: format!("m{}", m.msg_id),
                        committed: m.seq <= floor && !d.consumers.is_empty(),
                    })
                    .collect();
                v
            }
            Part::Consumer(c) => NodeView::new("consumer", Tone::Follower)
                .field("applied", c.applied.len())
                .field("duplicates", c.duplicates)
                .field(
                    "last",
                    c.applied
                        .last()
                        .map_or_else(|| "-".to_string(), |(s, id)| format!("s{s} m{id}")),
                ),
        }
    }

    fn invariants(cfg: &StreamConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        invariants::all(cfg, nodes)
    }

    /// Per broker: `messages` (the stream's length), `pending` (deliveries awaiting an ack,
    /// over all durable consumers), `lag` (messages not yet acknowledged, summed over the
    /// durable consumers) and `duplicates_stored` (messages whose id was stored before).
    /// While every node is up: `applied` (over all consumers) and `unapplied` (stream
    /// sequences some consumer has not applied yet, summed over consumers).
    fn gauges(_cfg: &StreamConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        let mut last = None;
        let mut applied: Vec<usize> = Vec::new();
        for (n, s) in states.iter().enumerate() {
            let Some(s) = s else { continue };
            match &s.part {
                Part::Broker(b) => {
                    let d = &b.disk;
                    let per = |name: &'static str, value: f64| Gauge {
                        name,
                        node: Some(n),
                        value,
                    };
                    out.push(per("messages", d.last_seq() as f64));
                    let pending: usize = d.consumers.values().map(|c| c.pending.len()).sum();
                    out.push(per("pending", pending as f64));
                    let lag: u64 = d
                        .consumers
                        .values()
                        .map(|c| d.last_seq() - c.ack_floor)
                        .sum();
                    out.push(per("lag", lag as f64));
                    out.push(per("duplicates_stored", d.duplicates_stored() as f64));
                    last = Some(d.last_seq());
                }
                Part::Consumer(c) => applied.push(c.seen.len()),
                Part::Producer(_) => {}
            }
        }
        if !states.iter().all(Option::is_some) {
            return;
        }
        out.push(Gauge {
            name: "applied",
            node: None,
            value: applied.iter().sum::<usize>() as f64,
        });
        if let Some(last) = last {
            let unapplied: u64 = applied.iter().map(|&a| last.saturating_sub(a as u64)).sum();
            out.push(Gauge {
                name: "unapplied",
                node: None,
                value: unapplied as f64,
            });
        }
    }
}

#[cfg(test)]
mod tests;
