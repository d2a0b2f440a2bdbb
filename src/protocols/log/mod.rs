//! A partitioned, append-only log with consumer groups, after Apache Kafka (the design
//! documentation, <https://kafka.apache.org/documentation/#design>, and "Building Real-World
//! Event Streaming Systems with Go and Kafka"): topics split into partitions, each an
//! append-only log; producers choosing the partition by key; consumers pulling from an offset;
//! a group coordinator that assigns partitions and rebalances when members join or die;
//! offsets committed before or after processing; a replay from an old offset.
//!
//! `producer` nodes turn user requests into records and send each to the broker holding the
//! partition of its key (`p = key mod partitions`, so one key's records stay in order). The
//! broker appends it to the partition's log on disk and acknowledges it with its offset. The
//! first `broker` is also the group coordinator: `consumer`s join it with heartbeats; each
//! change of membership (a join, a restart, a member silent for `session_timeout`) starts a
//! new *generation* in which partitions are dealt round robin over the members, each with its
//! committed offset. A consumer fetches a batch from its offset, processes it, and commits
//! the next offset; commits of an older generation, or for a partition that is not the
//! sender's, are refused (fencing).
//!
//! ```text
//!   user ─► producer ──Produce(p by key)──► broker: p0 [r0 r3 r6 …]  p1 [r1 r4 …] …
//!              ▲                               │  ▲            │
//!              └──────ProduceAck(offset)───────┘  │Fetch(p, o) │Records(p, o, …)
//!                                                 │            ▼
//!   coordinator ◄──JoinGroup / Commit(gen, p, o)── consumer (group member)
//!        └───────────Assignment(gen, [(p, committed)])──────►
//! ```
//!
//! What is promised depends on `commit`: after processing, at-least-once (a crash between
//! processing and commit makes the next owner process the batch again); before processing,
//! at-most-once (a crash between commit and processing skips the batch). Consumer lag per
//! partition (log end − committed offset) is a time series.
//!
//! With `replication_factor > 1` each partition is on several brokers (`replica.rs`): the
//! first broker is also the controller (`controller.rs`), which picks each partition's leader
//! from its in-sync replicas (ISR) in a new leader epoch when a broker dies; followers pull
//! from the leader; the leader's high watermark (the smallest log end over the ISR) bounds
//! what consumers read; a diverging follower truncates to its epoch's end on the leader
//! (KIP-101). `acks` (0, 1, all) says when a producer is answered, and so whether a leader
//! crash may lose an acknowledged record: under `acks: All` Acknowledged Records Kept checks
//! it never does. Not modelled: several topics or groups, a controller quorum.

mod broker;
mod config;
mod consumer;
mod controller;
pub mod invariants;
mod message;
mod producer;
mod replica;

pub use broker::{Broker, BrokerDisk, GroupDisk, broker_of, replicas_of};
pub use config::{Acks, CommitMode, LogConfig, OffsetReset, Replay};
pub use consumer::{Consumer, Processed, Reset};
pub use controller::{Controller, ControllerDisk, on_broker_back, on_broker_dead};
pub use message::{Epoch, LogMsg, Offset, Partition, PartitionState, Record, RecordId};
pub use producer::{Acked, Producer, partition_of};
pub use replica::{Progress, Replica};

use crate::sim::{
    ClientRequest, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Protocol, RoleSpec, Tone,
};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogTimer {
    /// Producer: no ack for this record yet.
    ProduceTimeout(RecordId),
    /// Consumer: heartbeat to the coordinator.
    Heartbeat,
    /// Consumer: fetch this partition (again).
    Poll(Partition),
    /// Consumer: the batch of this partition from this offset is processed.
    Process(Partition, Offset),
    /// Coordinator: look for silent members.
    GroupCheck,
    /// Coordinator: the configured replay is due.
    Replay,
    /// Broker: look for segments past retention.
    Retention,
    /// Broker (replicated, not the controller): heartbeat to the controller.
    BrokerHeartbeat,
    /// Follower: fetch this partition from its leader (again).
    ReplicaFetch(Partition),
    /// Leader: look for followers out of sync.
    IsrCheck,
}

/// What survives a crash; each role uses its part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogDurable {
    pub broker: BrokerDisk,
    /// Producer: records produced so far (for unique ids).
    pub produced: u64,
    /// Producer (replicated): the records acknowledged to it, where the ack said they are.
    pub acked: Vec<Acked>,
    /// Consumer: records processed.
    pub processed: Vec<Processed>,
    /// Consumer: offset resets after `OffsetOutOfRange`, with the offsets they skipped.
    pub resets: Vec<Reset>,
}

impl LogDurable {
    pub fn broker(broker: BrokerDisk) -> Self {
        LogDurable {
            broker,
            ..Default::default()
        }
    }
    pub fn producer(produced: u64, acked: Vec<Acked>) -> Self {
        LogDurable {
            produced,
            acked,
            ..Default::default()
        }
    }
    pub fn consumer(processed: Vec<Processed>, resets: Vec<Reset>) -> Self {
        LogDurable {
            processed,
            resets,
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
pub struct Log {
    pub cfg: LogConfig,
    pub name: String,
    pub part: Part,
}

/// A node's name as `Roles([...])` gives it.
pub fn name(ctx: &Ctx<Log>, n: NodeId) -> String {
    let role = ctx.role(n);
    let rank = ctx.nodes_of(role).iter().position(|&m| m == n).unwrap_or(0);
    format!("{role}{}", rank + 1)
}

impl Log {
    fn start(cfg: &LogConfig, durable: &LogDurable, ctx: &mut Ctx<Self>) -> Self {
        let part = match ctx.role(ctx.id) {
            "producer" => Part::Producer(Producer::start(durable.produced, durable.acked.clone())),
            "broker" => Part::Broker(Broker::start(cfg, durable.broker.clone(), ctx)),
            _ => Part::Consumer(Consumer::start(
                cfg,
                durable.processed.clone(),
                durable.resets.clone(),
                ctx,
            )),
        };
        Log {
            cfg: cfg.clone(),
            name: name(ctx, ctx.id),
            part,
        }
    }
}

/// Names of the per-partition lag series (gauge names are static); partitions past the
/// table are in `lag` only.
const LAG_NAMES: [&str; 16] = [
    "p0.lag", "p1.lag", "p2.lag", "p3.lag", "p4.lag", "p5.lag", "p6.lag", "p7.lag", "p8.lag",
    "p9.lag", "p10.lag", "p11.lag", "p12.lag", "p13.lag", "p14.lag", "p15.lag",
];

/// Records drawn per partition in a broker's view.
const MAX_CELLS: usize = 24;

impl Protocol for Log {
    type Msg = LogMsg;
    type Timer = LogTimer;
    type Durable = LogDurable;
    type Config = LogConfig;

    const NAME: &'static str = "log";
    const SUMMARY: &'static str = "Kafka-like partitioned log: keys, offsets, consumer groups, rebalancing, replay, replication";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "Produce",
        "ProduceAck",
        "Fetch",
        "Records",
        "Commit",
        "JoinGroup",
        "Assignment",
        "OffsetOutOfRange",
        "NotLeader",
        "NotEnoughReplicas",
        "BrokerHeartbeat",
        "LeaderAndIsr",
        "AlterIsr",
        "ReplicaFetch",
        "ReplicaRecords",
    ];
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new("producer", 1, usize::MAX, "appends the workload's requests"),
        RoleSpec::new(
            "broker",
            1,
            usize::MAX,
            "holds partitions; the first coordinates the group (and, replicated, is the controller)",
        ),
        RoleSpec::new(
            "consumer",
            1,
            usize::MAX,
            "group members reading partitions",
        ),
    ];

    fn validate_config(cfg: &LogConfig, _nodes: usize) -> Result<(), String> {
        cfg.validate()
    }

    fn init(cfg: &LogConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, &LogDurable::default(), ctx)
    }

    /// Brokers restart from their logs and the group's offsets (members rejoin); producers
    /// lose their pending records (users time out); consumers rejoin with a new session.
    fn on_restart(cfg: &LogConfig, durable: &LogDurable, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, durable, ctx)
    }

    fn on_message(&mut self, from: NodeId, msg: LogMsg, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Producer(p) => p.on_message(msg, &self.cfg, ctx),
            Part::Broker(b) => b.on_message(from, msg, &self.cfg, ctx),
            Part::Consumer(c) => c.on_message(msg, &self.cfg, ctx),
        }
    }

    fn on_timer(&mut self, timer: LogTimer, ctx: &mut Ctx<Self>) {
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
                .field("produced", p.next),
            Part::Broker(b) => {
                let g = &b.disk.group;
                let mut v = NodeView::new(
                    if b.coordinator {
                        "coordinator"
                    } else {
                        "broker"
                    },
                    Tone::Leader,
                );
                for (p, log) in &b.disk.logs {
                    let start = b.disk.start_of(*p);
                    let text = if let Some(r) = b.replicas.get(p) {
                        let role = match r.state.leader {
                            Some(l) if l == b.id => "leader",
                            Some(_) => "follower",
                            None => "offline",
                        };
                        format!(
                            "{role} e{}, {} records, hw {}, isr {}",
                            r.state.leader_epoch,
                            log.len(),
                            r.hw,
                            message::nodes_label(&r.state.isr, &|n| {
                                b.names
                                    .get(&n)
                                    .cloned()
                                    .unwrap_or_else(|| message::node_label(n))
                            })
                        )
                    } else if start > 0 {
                        format!("{} records from offset {start}", log.len())
                    } else {
                        format!("{} records", log.len())
                    };
                    v = v.field(&format!("p{p}"), text);
                }
                if b.coordinator {
                    v = v.field("generation", g.generation).field(
                        "committed",
                        g.committed
                            .iter()
                            .map(|(p, o)| format!("p{p}@{o}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                }
                // Each partition as a row of cells with offsets; committed ones solid (the
                // coordinator knows), the term is the partition so rows differ in colour.
                v.entries = b
                    .disk
                    .logs
                    .iter()
                    .flat_map(|(p, log)| {
                        let c = g.committed.get(p).copied().unwrap_or(0);
                        let start = b.disk.start_of(*p) as usize;
                        let skip = log.len().saturating_sub(MAX_CELLS);
                        log.iter()
                            .enumerate()
                            .skip(skip)
                            .map(move |(i, r)| (i + start, r))
                            .map(move |(o, r)| EntryView {
                                index: o as u64,
                                term: *p as u64,
                                label: format!("p{p}@{o} r{}", r.id),
                                committed: match b.replicas.get(p) {
                                    Some(r) => (o as u64) < r.hw,
                                    None => b.coordinator && (o as u64) < c,
                                },
                            })
                    })
                    .collect();
                v
            }
            Part::Consumer(c) => NodeView::new("consumer", Tone::Follower)
                .field("generation", c.generation)
                .field(
                    "partitions",
                    c.next
                        .iter()
                        .map(|(p, o)| format!("p{p}@{o}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                )
                .field("processed", c.processed.len()),
        }
    }

    fn invariants(cfg: &LogConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        invariants::all(cfg, nodes)
    }

    /// `p0.lag`, `p1.lag`, … and `lag` (all partitions): log end offset (replicated: the
    /// leader's high watermark) − committed offset, while the partition's broker (leader) and
    /// the coordinator are up. While every node is up:
    /// `processed` (records processed), `duplicates` (processings of an offset beyond the
    /// first) and `skipped` (offsets below the committed offset that nobody processed: what
    /// at-most-once loses); with retention, `reset_skipped` (offsets consumers jumped over
    /// on `OffsetOutOfRange`: records lost to retention, or skipped by `Latest`).
    ///
    /// Replicated, while the controller is up: `under_replicated` (partitions whose ISR is
    /// smaller than their replicas), `offline` (partitions without a leader), and `lost`: the
    /// records acknowledged to the producers that are up which are no longer at their offset
    /// in the log of their partition's leader, when it is up (what `acks=1` or an unclean
    /// election loses).
    fn gauges(cfg: &LogConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        if cfg.replicated() {
            replication_gauges(states, out);
        }
        let mut ends: BTreeMap<Partition, Offset> = BTreeMap::new();
        let mut committed: Option<&BTreeMap<Partition, Offset>> = None;
        let mut seen: BTreeMap<(Partition, Offset), u32> = BTreeMap::new();
        let mut reset_skipped: Offset = 0;
        for s in states.iter().flatten() {
            match &s.part {
                Part::Broker(b) => {
                    for p in b.disk.logs.keys() {
                        // Replicated: the leader's high watermark, the end consumers can read.
                        match b.replicas.get(p) {
                            Some(r) if r.leads(b.id) => ends.insert(*p, r.hw),
                            Some(_) => None,
                            None => ends.insert(*p, b.disk.end_of(*p)),
                        };
                    }
                    if b.coordinator {
                        committed = Some(&b.disk.group.committed);
                    }
                }
                Part::Consumer(c) => {
                    for r in &c.processed {
                        *seen.entry((r.partition, r.offset)).or_default() += 1;
                    }
                    reset_skipped += c.resets.iter().map(|r| r.to - r.from).sum::<Offset>();
                }
                Part::Producer(_) => {}
            }
        }
        if let Some(committed) = committed {
            let mut total = 0.0;
            let mut all = true;
            for p in 0..cfg.partitions {
                let Some(end) = ends.get(&p) else {
                    all = false;
                    continue;
                };
                let lag = end.saturating_sub(committed.get(&p).copied().unwrap_or(0)) as f64;
                total += lag;
                if let Some(name) = LAG_NAMES.get(p as usize) {
                    out.push(Gauge {
                        name,
                        node: None,
                        value: lag,
                    });
                }
            }
            if all {
                out.push(Gauge {
                    name: "lag",
                    node: None,
                    value: total,
                });
            }
            if states.iter().all(Option::is_some) {
                let processed: u32 = seen.values().sum();
                let skipped: usize = committed
                    .iter()
                    .map(|(p, c)| (0..*c).filter(|o| !seen.contains_key(&(*p, *o))).count())
                    .sum();
                let distinct: BTreeSet<_> = seen.keys().collect();
                out.push(Gauge {
                    name: "processed",
                    node: None,
                    value: processed as f64,
                });
                out.push(Gauge {
                    name: "duplicates",
                    node: None,
                    value: (processed as usize - distinct.len()) as f64,
                });
                out.push(Gauge {
                    name: "skipped",
                    node: None,
                    value: skipped as f64,
                });
                if cfg.retains() {
                    out.push(Gauge {
                        name: "reset_skipped",
                        node: None,
                        value: reset_skipped as f64,
                    });
                }
            }
        }
    }
}

/// The gauges of replication (see `gauges`).
fn replication_gauges(states: &[Option<Log>], out: &mut Vec<Gauge>) {
    let Some(c) = states.iter().flatten().find_map(|s| match &s.part {
        Part::Broker(b) if b.controller.is_some() => Some(&b.disk.controller),
        _ => None,
    }) else {
        return;
    };
    let parts = &c.partitions;
    let under = parts.values().filter(|s| s.isr.len() < s.replicas.len());
    let offline = parts.values().filter(|s| s.leader.is_none());
    let mut push = |name, value: usize| {
        out.push(Gauge {
            name,
            node: None,
            value: value as f64,
        })
    };
    push("under_replicated", under.count());
    push("offline", offline.count());
    let log_of = |p: &Partition| {
        let leader = parts.get(p).and_then(|s| s.leader)?;
        match &states[leader].as_ref()?.part {
            Part::Broker(b) => b.disk.logs.get(p),
            _ => None,
        }
    };
    let mut lost = 0;
    for s in states.iter().flatten() {
        let Part::Producer(p) = &s.part else {
            continue;
        };
        for a in &p.acked {
            // An offline partition or a leader that is down is not counted as a loss.
            let there = log_of(&a.partition).map(|l| l.get(a.offset as usize).map(|r| r.id));
            lost += usize::from(there.is_some_and(|id| id != Some(a.id)));
        }
    }
    push("lost", lost);
}

#[cfg(test)]
mod replication_tests;
#[cfg(test)]
mod tests;
