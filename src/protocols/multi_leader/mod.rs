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
//! Checkers: Lost Updates (a violation only with synchronised clocks under last-writer-wins,
//! where it cannot happen unless the bug switch `bug_cached_clock` is on) and the shared Fresh
//! Reads (counted: asynchronous replication promises no fresh read).

use crate::protocols::storage::{FreshReads, LostUpdates, Version};
use crate::sim::{
    ClientReply, ClientRequest, Ctx, EntryView, Gauge, Invariant, Message, NodeId, NodeView, Op,
    Protocol, SimTime, Tone,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How concurrent writes to the same key are resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Conflicts {
    #[default]
    LastWriterWins,
    VersionVectors,
}

/// `config: (conflicts: VersionVectors, clock_offsets_ms: [0, -200])`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlConfig {
    pub conflicts: Conflicts,
    /// How far each node's clock is from true time, in milliseconds, by position (missing:
    /// 0). Only the stamps of `LastWriterWins` read the clock.
    pub clock_offsets_ms: Vec<i64>,
    /// BUG: a node stamps writes with a clock reading cached when it last heard from another
    /// leader, instead of reading its clock: later writes can get older stamps.
    pub bug_cached_clock: bool,
}

/// Largest clock offset accepted: an hour.
const MAX_OFFSET_MS: i64 = 3_600_000;

impl MlConfig {
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        crate::protocols::check_all_to_all_nodes("multi_leader", nodes)?;
        if self.clock_offsets_ms.len() > nodes {
            return Err(format!(
                "`clock_offsets_ms` has {} entries for {nodes} nodes",
                self.clock_offsets_ms.len()
            ));
        }
        if let Some(o) = self
            .clock_offsets_ms
            .iter()
            .find(|o| o.abs() > MAX_OFFSET_MS)
        {
            return Err(format!(
                "clock offsets are at most {MAX_OFFSET_MS} ms either way, got {o}"
            ));
        }
        Ok(())
    }
    fn offset_us(&self, node: NodeId) -> i64 {
        self.clock_offsets_ms.get(node).copied().unwrap_or(0) * 1000
    }
    /// Last-writer-wins with every clock on true time orders writes as real time does: no
    /// update can be lost, so a lost one is a violation.
    pub fn promises_no_lost_update(&self) -> bool {
        self.conflicts == Conflicts::LastWriterWins && self.clock_offsets_ms.iter().all(|&o| o == 0)
    }
}

/// One value of a key, with what orders it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sibling {
    pub value: String,
    /// Last-writer-wins stamp: the writer's clock in microseconds, then a per-write tiebreak.
    pub stamp: Version,
    /// Version vector (`VersionVectors` only): writes seen from each leader.
    pub vv: Vec<u64>,
}

/// `a` has seen everything `b` has.
fn dominates(a: &[u64], b: &[u64]) -> bool {
    (0..a.len().max(b.len()))
        .all(|i| a.get(i).copied().unwrap_or(0) >= b.get(i).copied().unwrap_or(0))
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MlMsg {
    /// Leader → every other leader: a write it accepted.
    Replicate { key: String, sibling: Sibling },
}

impl Message for MlMsg {
    fn kind(&self) -> &'static str {
        "Replicate"
    }
    fn label(&self) -> String {
        let MlMsg::Replicate { key, sibling } = self;
        format!("{key}={}@{}", sibling.value, sibling.stamp)
    }
}

/// One leader.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiLeader {
    id: NodeId,
    nodes: usize,
    cfg: MlConfig,
    /// Per key, its values: one, or several siblings (version vectors).
    store: BTreeMap<String, Vec<Sibling>>,
    /// Writes stamped here, for unique stamps.
    stamped: u64,
    /// `bug_cached_clock`: the clock reading taken when a Replicate last arrived.
    cached_clock_us: u64,
}

impl MultiLeader {
    pub fn store(&self) -> &BTreeMap<String, Vec<Sibling>> {
        &self.store
    }

    /// This node's clock, in microseconds.
    fn clock_us(&self, now: SimTime) -> u64 {
        if self.cfg.bug_cached_clock {
            return self.cached_clock_us;
        }
        (now.0 as i64 + self.cfg.offset_us(self.id)).max(0) as u64
    }

    fn write(&mut self, key: String, value: String, ctx: &mut Ctx<Self>) -> Sibling {
        self.stamped += 1;
        let stamp = Version::new(
            self.clock_us(ctx.now),
            self.stamped * self.nodes as u64 + self.id as u64 + 1,
        );
        let mut vv = Vec::new();
        if self.cfg.conflicts == Conflicts::VersionVectors {
            // The new value has seen every sibling here: it replaces (merges) them all.
            vv = vec![0; self.nodes];
            for s in self.store.get(&key).into_iter().flatten() {
                for (i, c) in s.vv.iter().enumerate() {
                    vv[i] = vv[i].max(*c);
                }
            }
            vv[self.id] += 1;
        }
        let sibling = Sibling { value, stamp, vv };
        self.store.insert(key.clone(), vec![sibling.clone()]);
        ctx.persist(self.store.clone());
        for to in (0..self.nodes).filter(|&n| n != self.id) {
            ctx.send(
                to,
                MlMsg::Replicate {
                    key: key.clone(),
                    sibling: sibling.clone(),
                },
            );
        }
        sibling
    }

    fn on_replicate(&mut self, key: String, incoming: Sibling, ctx: &mut Ctx<Self>) {
        let now = (ctx.now.0 as i64 + self.cfg.offset_us(self.id)).max(0) as u64;
        self.cached_clock_us = now;
        let mine = self.store.entry(key).or_default();
        match self.cfg.conflicts {
            Conflicts::LastWriterWins => match mine.first() {
                Some(s) if s.stamp > incoming.stamp => {
                    ctx.count("lww_discarded", 1);
                    return;
                }
                Some(s) if s.stamp == incoming.stamp => return,
                _ => *mine = vec![incoming],
            },
            Conflicts::VersionVectors => {
                if mine.iter().any(|s| dominates(&s.vv, &incoming.vv)) {
                    return; // already seen
                }
                mine.retain(|s| !dominates(&incoming.vv, &s.vv));
                if !mine.is_empty() {
                    ctx.count("conflicts", 1);
                }
                mine.push(incoming);
            }
        }
        ctx.persist(self.store.clone());
    }
}

impl Protocol for MultiLeader {
    type Msg = MlMsg;
    type Timer = ();
    type Durable = BTreeMap<String, Vec<Sibling>>;
    type Config = MlConfig;

    const NAME: &'static str = "multi_leader";
    const SUMMARY: &'static str =
        "every node a leader, async replication; conflicts by last-writer-wins or version vectors";
    const MESSAGE_KINDS: &'static [&'static str] = &["Replicate"];

    fn validate_config(cfg: &MlConfig, nodes: usize) -> Result<(), String> {
        cfg.validate(nodes)
    }
    fn init(cfg: &MlConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::on_restart(cfg, &BTreeMap::new(), ctx)
    }
    /// The store survives a crash.
    fn on_restart(cfg: &MlConfig, durable: &Self::Durable, ctx: &mut Ctx<Self>) -> Self {
        MultiLeader {
            id: ctx.id,
            nodes: ctx.nodes,
            cfg: cfg.clone(),
            store: durable.clone(),
            stamped: 0,
            cached_clock_us: 0,
        }
    }
    fn on_message(&mut self, _from: NodeId, msg: MlMsg, ctx: &mut Ctx<Self>) {
        let MlMsg::Replicate { key, sibling } = msg;
        self.on_replicate(key, sibling, ctx);
    }
    fn on_timer(&mut self, _timer: (), _ctx: &mut Ctx<Self>) {}
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
    /// `siblings`: per node, the keys holding more than one value.
    fn gauges(_cfg: &MlConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        for s in states.iter().flatten() {
            out.push(Gauge {
                name: "siblings",
                node: Some(s.id),
                value: s.store.values().filter(|v| v.len() > 1).count() as f64,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_vector_dominates_another_when_it_has_seen_everything_it_has() {
        assert!(dominates(&[2, 1], &[1, 1]));
        assert!(dominates(&[1, 1], &[1, 1]));
        assert!(!dominates(&[2, 0], &[1, 1]));
        assert!(!dominates(&[1, 1], &[2, 0]));
        assert!(dominates(&[1, 0, 3], &[1]));
    }
}
