//! Multi-leader replication, after M. Kleppmann, *Designing Data-Intensive Applications*
//! (2017), ch. 5 "Multi-Leader Replication" and "Handling Write Conflicts", with version
//! vectors from D. S. Parker et al., "Detection of Mutual Inconsistency in Distributed
//! Systems" (IEEE TSE 1983) and Dynamo's sibling handling (SOSP 2007, §4.4).
//!
//! Every node is a leader (think of one per data centre): it accepts reads and writes from
//! its clients, acknowledges a write at once, and sends it to every other leader with
//! `Replicate` (asynchronously: the inter-leader links are slow). Two clients writing the same
//! key at two leaders at nearly the same time produce a *conflict*, resolved per
//! `conflicts`:
//!
//! - `LastWriterWins`: each write is stamped with the writing node's clock (`clock_offsets_ms`
//!   skews them) and every replica keeps the highest stamp. Replicas converge, but a write
//!   whose clock ran behind is silently discarded even when it happened later in real time
//!   (the *lost update*, counted by the `Lost Updates` checker from the client history).
//! - `VersionVectors`: each value carries a version vector (a counter per leader). A write
//!   replaces what its leader had seen; an incoming value that neither dominates nor is
//!   dominated by a local one is kept next to it as a *sibling*. Reads return every sibling
//!   (`{3|5}`), and the next write at that leader merges them (its vector dominates both).
//!
//! ```text
//!   client ─put k=3─► n1 ──ok──►            n1: k=3 ─Replicate─► n2
//!   client ─put k=5─► n2 ──ok──►            n2: k=5 ─Replicate─► n1
//!        LWW: both keep the higher stamp (one write lost) · VV: both keep {3|5}
//! ```
//!
//! Replication is asynchronous but reliable: each leader keeps a durable replication log of
//! the writes it accepted and sends every other leader what it has not acknowledged, again and
//! again, so after crashes, partitions and lost messages the leaders converge (the
//! `divergent_keys` series falls back to 0; `replication.rs`).
//!
//! Files: `config.rs` (options), `message.rs`, `conflicts.rs` (the two rules),
//! `replication.rs` (the log, its shipping and acknowledgement), this file (client requests,
//! the view and the series).
//!
//! Checkers (shared, in `protocols/storage/`): Lost Updates (a violation only with
//! synchronised clocks under last-writer-wins, where it cannot happen unless the bug switch
//! `bug_cached_clock` is on) and Fresh Reads (counted: asynchronous replication promises no
//! fresh read). Convergence is measured by the `divergent_keys` series (the bug switch
//! `bug_fire_and_forget` keeps it above 0).

mod config;
mod conflicts;
mod message;
mod replication;

pub use config::{Conflicts, MlConfig};
pub use conflicts::{Applied, Sibling, apply, canonical, dominates};
pub use message::MlMsg;

use crate::protocols::storage::{FreshReads, LostUpdates};
use crate::sim::{
    ClientReply, ClientRequest, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Op, Protocol,
    Tone,
};
use std::collections::{BTreeMap, BTreeSet};

/// The one timer: ship unacknowledged log entries again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    Resend,
}

/// What survives a crash: the store, this leader's replication log, and how much of each
/// other leader's log has been applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MlDurable {
    pub store: BTreeMap<String, Vec<Sibling>>,
    pub log: Vec<(String, Sibling)>,
    pub applied: Vec<u64>,
}

/// One leader.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiLeader {
    id: NodeId,
    nodes: usize,
    cfg: MlConfig,
    /// Per key, its values: one, or several siblings (version vectors).
    store: BTreeMap<String, Vec<Sibling>>,
    /// This leader's replication log: its own writes in the order it accepted them (entry
    /// `seq` is `log[seq - 1]`), kept to ship them until every peer has them.
    log: Vec<(String, Sibling)>,
    /// Per peer: the prefix of `log` it has acknowledged. Volatile: after a restart the
    /// whole log is offered again, and receivers skip what they have.
    acked: Vec<u64>,
    /// Per origin: the prefix of its log applied here, so a resent entry is applied once.
    applied: Vec<u64>,
    /// Per origin: entries applied beyond that prefix (they arrived out of order).
    ahead: Vec<BTreeSet<u64>>,
    /// Writes stamped here, for unique stamps.
    stamped: u64,
    /// `bug_cached_clock`: the clock reading taken when a Replicate last arrived.
    cached_clock_us: u64,
}

impl MultiLeader {
    pub fn store(&self) -> &BTreeMap<String, Vec<Sibling>> {
        &self.store
    }

    fn persist(&self, ctx: &mut Ctx<Self>) {
        ctx.persist(MlDurable {
            store: self.store.clone(),
            log: self.log.clone(),
            applied: self.applied.clone(),
        });
    }

    /// Keys whose values differ between live leaders (missing counts as different).
    pub fn divergent_keys(states: &[Option<Self>]) -> usize {
        let live: Vec<&Self> = states.iter().flatten().collect();
        let keys: BTreeSet<&String> = live.iter().flat_map(|s| s.store.keys()).collect();
        keys.into_iter()
            .filter(|k| {
                let mut values = live
                    .iter()
                    .map(|s| s.store.get(*k).map(|v| canonical(v)).unwrap_or_default());
                let first = values.next();
                values.any(|v| Some(v) != first)
            })
            .count()
    }
}

impl Protocol for MultiLeader {
    type Msg = MlMsg;
    type Timer = Timer;
    type Durable = MlDurable;
    type Config = MlConfig;

    const NAME: &'static str = "multi_leader";
    const SUMMARY: &'static str =
        "every node a leader, async replication; conflicts by last-writer-wins or version vectors";
    const MESSAGE_KINDS: &'static [&'static str] = &["Replicate", "ReplicateAck"];

    fn validate_config(cfg: &MlConfig, nodes: usize) -> Result<(), String> {
        cfg.validate(nodes)
    }
    fn init(cfg: &MlConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::on_restart(cfg, &MlDurable::default(), ctx)
    }
    /// The store, the log and the applied prefixes survive a crash.
    fn on_restart(cfg: &MlConfig, durable: &MlDurable, ctx: &mut Ctx<Self>) -> Self {
        let mut applied = durable.applied.clone();
        applied.resize(ctx.nodes, 0);
        let node = MultiLeader {
            id: ctx.id,
            nodes: ctx.nodes,
            cfg: cfg.clone(),
            store: durable.store.clone(),
            log: durable.log.clone(),
            acked: vec![0; ctx.nodes],
            applied,
            ahead: vec![BTreeSet::new(); ctx.nodes],
            stamped: 0,
            cached_clock_us: 0,
        };
        node.arm_resend(ctx);
        node
    }
    fn on_message(&mut self, from: NodeId, msg: MlMsg, ctx: &mut Ctx<Self>) {
        match msg {
            MlMsg::Replicate { seq, key, sibling } => {
                self.on_replicate(from, seq, key, sibling, ctx)
            }
            MlMsg::ReplicateAck { upto } => self.on_ack(from, upto),
        }
    }
    fn on_timer(&mut self, timer: Timer, ctx: &mut Ctx<Self>) {
        match timer {
            Timer::Resend => self.on_resend(ctx),
        }
    }
    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        let reply = match req.op {
            Op::Put { key, value } => {
                let s = self.write(key, value, ctx);
                ctx.count("writes_acked", 1);
                ClientReply::Ok {
                    // Versions are only comparable under last-writer-wins.
                    value: match self.cfg.conflicts {
                        Conflicts::LastWriterWins => Some(s.stamp.tag("")),
                        Conflicts::VersionVectors => None,
                    },
                }
            }
            Op::Get { key } => {
                ctx.count("reads", 1);
                let value = match self.store.get(&key).map(Vec::as_slice) {
                    None | Some([]) => None,
                    Some([one]) => Some(match self.cfg.conflicts {
                        Conflicts::LastWriterWins => one.stamp.tag(&one.value),
                        Conflicts::VersionVectors => one.value.clone(),
                    }),
                    Some(many) => {
                        ctx.count("sibling_reads", 1);
                        let values: Vec<&str> = many.iter().map(|s| s.value.as_str()).collect();
                        Some(format!("{{{}}}", values.join("|")))
                    }
                };
                ClientReply::Ok { value }
            }
            Op::Cas { .. } | Op::Request(_) => ClientReply::Fail {
                reason: "multi_leader serves get and put".into(),
            },
        };
        ctx.reply_to_client(req.from, reply);
    }
    fn view(&self) -> NodeView {
        let conflicted = self.store.values().filter(|s| s.len() > 1).count();
        let mut v = NodeView::new("leader", Tone::Leader)
            .field("keys", self.store.len())
            .field("log", self.log.len())
            .field("unacknowledged", self.backlog())
            .field("keys with siblings", conflicted);
        v.entries = self
            .store
            .iter()
            .take(8)
            .enumerate()
            .map(|(i, (k, sibs))| EntryView {
                index: i as u64 + 1,
                term: 0,
                label: match sibs.as_slice() {
                    [one] => format!("{k}={}", one.value),
                    many => format!(
                        "{k}={{{}}}",
                        many.iter()
                            .map(|s| s.value.as_str())
                            .collect::<Vec<_>>()
                            .join("|")
                    ),
                },
                committed: sibs.len() == 1,
            })
            .collect();
        v
    }
    fn invariants(cfg: &MlConfig, _nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![
            Box::new(LostUpdates::new(cfg.promises_no_lost_update())),
            Box::new(FreshReads::new(false)),
        ]
    }
    /// `siblings`: per node, the keys holding more than one value. `backlog`: per node, the
    /// entries of its log some peer has not acknowledged. `divergent_keys`: keys on which the
    /// live leaders disagree (0 once they have converged).
    fn gauges(_cfg: &MlConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        for s in states.iter().flatten() {
            out.push(Gauge {
                name: "siblings",
                node: Some(s.id),
                value: s.store.values().filter(|v| v.len() > 1).count() as f64,
            });
            out.push(Gauge {
                name: "backlog",
                node: Some(s.id),
                value: s.backlog() as f64,
            });
        }
        out.push(Gauge {
            name: "divergent_keys",
            node: None,
            value: Self::divergent_keys(states) as f64,
        });
    }
}
