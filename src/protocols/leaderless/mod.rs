//! Leaderless replication with quorums, after G. DeCandia et al., "Dynamo: Amazon's Highly
//! Available Key-value Store" (SOSP 2007, §4.5 "Execution of get() and put() operations",
//! §4.8 read repair), and M. Kleppmann, *Designing Data-Intensive Applications* (2017), ch. 5
//! "Leaderless Replication" and "Quorums for reading and writing".
//!
//! Every key is stored on N nodes, its *preference list*: N consecutive nodes of the ring,
//! starting at the key's number modulo the cluster size. A client may send any request to any
//! node, which acts as the *coordinator*: for a `put` it stamps a new version (its clock, and
//! a per-node counter to break ties) and sends `Write` to the N replicas; it answers the client
//! once W have acknowledged. For a `get` it sends `Read` to the N replicas and answers, once
//! R have replied, with the newest version among the replies. With `read_repair`, replicas
//! that replied with an older version are sent the newest one (`Repair`). A coordinator that
//! gets fewer than R or W answers within `request_timeout` fails the request. Each replica
//! keeps, per key, the value with the highest version (last writer wins).
//!
//! ```text
//!              ┌─Write/Read─► replica 1 ─┐
//!   client ─► coordinator ─Write/Read─► replica 2 ─┼─► W acks / R replies ─► client
//!              └─Write/Read─► replica 3 ─┘     (newest of R; Repair to the stale ones)
//! ```
//!
//! If R + W > N, every read quorum overlaps every write quorum: a read sees every write that
//! was acknowledged before it started. Fresh Reads and Read Your Writes
//! (`protocols::storage`) are then violations when broken; otherwise they are counted. A
//! partition shows the difference: with R = W = 1 both sides keep answering and reads on the
//! far side are stale; with R = W = 2 the minority side fails instead; with W = N every
//! write fails while a replica is unreachable. Monotonic reads are never promised: a write
//! that reached one replica and then failed may be read once and missed the next time.
//!
//! With `sloppy_quorum` (Dynamo §4.6), a write that has not reached W replicas halfway through
//! its timeout is also sent to the next nodes of the ring, which store it as a *hint* for the
//! replica it was meant for, acknowledge it, and hand it off (`Handoff`) once that replica
//! answers again. Writes stay available across a partition; reads of the preference list miss
//! them until the handoff, so R + W > N no longer promises fresh reads.
//!
//! With `anti_entropy_interval`, replicas also compare Merkle trees of the keys they share,
//! periodically, and copy only the differing ranges (`anti_entropy.rs`, Dynamo §4.7): a replica
//! that missed writes converges even if nothing reads them.
//!
//! Not modelled yet: vector clocks (versions are totally ordered timestamps).

mod anti_entropy;
mod config;
mod coordinator;
mod message;

pub use anti_entropy::MerkleTree;
pub use config::LlConfig;
pub use message::LlMsg;

use crate::protocols::storage::{FreshReads, MonotonicReads, ReadYourWrites, Version};
use crate::sim::{
    ClientRequest, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Protocol, Tone,
};
use std::collections::BTreeMap;

/// The preference list of `key`: `n` consecutive nodes of a ring of `nodes`, starting at the
/// key's number (`k17`: 17) modulo `nodes`.
pub fn replicas(key: &str, nodes: usize, n: usize) -> Vec<NodeId> {
    let number: usize = key
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or_else(|_| key.bytes().map(usize::from).sum());
    (0..n.min(nodes)).map(|j| (number + j) % nodes).collect()
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LlTimer {
    /// The coordinator's deadline for request `id`.
    Request(u64),
    /// Sloppy quorum: halfway to the deadline, a write short of W acks asks stand-ins.
    Sloppy(u64),
    /// Stand-ins: time to try handing the hints off again.
    Handoff,
    /// Anti-entropy: time to compare trees with the next node.
    AntiEntropy,
}

/// What survives a crash: the replica's data and the hints it holds for others.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LlDurable {
    pub store: BTreeMap<String, Stored>,
    pub hints: BTreeMap<(NodeId, String), Stored>,
}

/// A key's stored value and its version.
pub type Stored = (String, Version);

/// One node: a replica of the keys whose preference list holds it, and a coordinator of
/// whatever clients send it.
#[derive(Clone, Debug, PartialEq)]
pub struct Leaderless {
    id: NodeId,
    nodes: usize,
    cfg: LlConfig,
    /// The replica's data, persisted on every change.
    store: BTreeMap<String, Stored>,
    /// Hinted writes held for other replicas (sloppy quorum), by (replica, key).
    hints: BTreeMap<(NodeId, String), Stored>,
    /// Requests this node coordinates, by id.
    pending: BTreeMap<u64, coordinator::Pending>,
    /// Next request id. Restarts begin at the restart time in microseconds, so a reply to a
    /// request from before the crash never matches a new one.
    next_id: u64,
    /// Versions stamped so far: with the clock and the node id, it makes each version unique.
    stamped: u64,
    /// Anti-entropy: the node compared with last (the next one is compared next).
    ae_next: NodeId,
}

impl Leaderless {
    fn new(cfg: &LlConfig, d: &LlDurable, ctx: &mut Ctx<Self>) -> Self {
        if cfg.sloppy_quorum {
            ctx.set_timer(LlTimer::Handoff, cfg.handoff_interval);
        }
        if let Some(every) = cfg.anti_entropy_interval {
            ctx.set_timer(LlTimer::AntiEntropy, every);
        }
        Leaderless {
            id: ctx.id,
            nodes: ctx.nodes,
            cfg: cfg.clone(),
            store: d.store.clone(),
            hints: d.hints.clone(),
            pending: BTreeMap::new(),
            next_id: ctx.now.0 + 1,
            stamped: 0,
            ae_next: ctx.id,
        }
    }
    pub fn store(&self) -> &BTreeMap<String, Stored> {
        &self.store
    }
    pub fn hints(&self) -> &BTreeMap<(NodeId, String), Stored> {
        &self.hints
    }
    fn persist(&self, ctx: &mut Ctx<Self>) {
        ctx.persist(LlDurable {
            store: self.store.clone(),
            hints: self.hints.clone(),
        });
    }
    /// Replica: keeps `version` of `key` if it is newer than what it has (last writer wins).
    fn apply(&mut self, key: String, value: String, version: Version, ctx: &mut Ctx<Self>) {
        if self.store.get(&key).is_none_or(|(_, v)| *v < version) {
            self.store.insert(key, (value, version));
            self.persist(ctx);
        }
    }

    /// Stand-in: keeps a write for `replica` until it can be handed off.
    fn keep_hint(
        &mut self,
        replica: NodeId,
        key: String,
        value: String,
        version: Version,
        ctx: &mut Ctx<Self>,
    ) {
        let slot = (replica, key);
        if self.hints.get(&slot).is_none_or(|(_, v)| *v < version) {
            self.hints.insert(slot, (value, version));
            self.persist(ctx);
        }
    }

    /// Stand-in: offers every hint to its replica (again, until acknowledged).
    fn on_handoff_timer(&mut self, ctx: &mut Ctx<Self>) {
        for ((replica, key), (value, version)) in &self.hints {
            ctx.send(
                *replica,
                LlMsg::Handoff {
                    key: key.clone(),
                    value: value.clone(),
                    version: *version,
                },
            );
        }
        ctx.set_timer(LlTimer::Handoff, self.cfg.handoff_interval);
    }

    fn on_replica_message(&mut self, from: NodeId, msg: LlMsg, ctx: &mut Ctx<Self>) {
        match msg {
            LlMsg::Write {
                id,
                key,
                value,
                version,
                hint,
            } => {
                match hint {
                    Some(replica) => self.keep_hint(replica, key, value, version, ctx),
                    None => self.apply(key, value, version, ctx),
                }
                ctx.send(from, LlMsg::WriteAck { id });
            }
            LlMsg::Handoff {
                key,
                value,
                version,
            } => {
                ctx.count("handoffs", 1);
                self.apply(key.clone(), value, version, ctx);
                ctx.send(from, LlMsg::HandoffAck { key, version });
            }
            LlMsg::HandoffAck { key, version } => {
                let slot = (from, key);
                if self.hints.get(&slot).is_some_and(|(_, v)| *v <= version) {
                    self.hints.remove(&slot);
                    self.persist(ctx);
                }
            }
            LlMsg::Repair {
                key,
                value,
                version,
            } => {
                ctx.count("repairs_applied", 1);
                self.apply(key, value, version, ctx);
            }
            LlMsg::Read { id, key } => {
                let value = self.store.get(&key).cloned();
                ctx.send(from, LlMsg::ReadReply { id, value });
            }
            LlMsg::TreeHashes { level, hashes } => self.on_tree_hashes(from, level, hashes, ctx),
            LlMsg::SyncLeaves {
                leaves,
                entries,
                last,
            } => self.on_sync_leaves(from, leaves, entries, last, ctx),
            LlMsg::WriteAck { id } => self.on_write_ack(from, id, ctx),
            LlMsg::ReadReply { id, value } => self.on_read_reply(from, id, value, ctx),
        }
    }
}

impl Protocol for Leaderless {
    type Msg = LlMsg;
    type Timer = LlTimer;
    type Durable = LlDurable;
    type Config = LlConfig;

    const NAME: &'static str = "leaderless";
    const SUMMARY: &'static str =
        "Dynamo-style quorums: any node coordinates, N replicas, R and W, read repair";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "Write",
        "WriteAck",
        "Read",
        "ReadReply",
        "Repair",
        "Handoff",
        "HandoffAck",
        "TreeHashes",
        "SyncLeaves",
    ];

    fn validate_config(cfg: &LlConfig, nodes: usize) -> Result<(), String> {
        cfg.validate(nodes)
    }
    fn init(cfg: &LlConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::new(cfg, &LlDurable::default(), ctx)
    }
    /// The store and the hints survive; requests being coordinated are forgotten (their
    /// clients time out).
    fn on_restart(cfg: &LlConfig, durable: &LlDurable, ctx: &mut Ctx<Self>) -> Self {
        Self::new(cfg, durable, ctx)
    }
    fn on_message(&mut self, from: NodeId, msg: LlMsg, ctx: &mut Ctx<Self>) {
        self.on_replica_message(from, msg, ctx);
    }
    fn on_timer(&mut self, timer: LlTimer, ctx: &mut Ctx<Self>) {
        match timer {
            LlTimer::Request(id) => self.on_request_timeout(id, ctx),
            LlTimer::Sloppy(id) => self.on_sloppy_timer(id, ctx),
            LlTimer::Handoff => self.on_handoff_timer(ctx),
            LlTimer::AntiEntropy => self.on_anti_entropy_timer(ctx),
        }
    }
    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        self.coordinate(req, ctx);
    }
    fn view(&self) -> NodeView {
        let mut v = NodeView::new("replica", Tone::Follower)
            .field("keys", self.store.len())
            .field("coordinating", self.pending.len())
            .field("hints", self.hints.len());
        v.entries = self
            .store
            .iter()
            .enumerate()
            .take(8)
            .map(|(i, (k, (val, ver)))| EntryView {
                index: i as u64 + 1,
                term: ver.epoch,
                label: format!("{k}={val}"),
                committed: true,
            })
            .collect();
        v
    }
    fn invariants(cfg: &LlConfig, _nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        let promised = cfg.promises_fresh_reads();
        vec![
            Box::new(FreshReads::new(promised)),
            Box::new(ReadYourWrites::new(promised)),
            Box::new(MonotonicReads::new(false)),
        ]
    }
    /// `divergent_keys`: keys whose live replicas do not all hold the same version (read
    /// repair, hinted handoff and anti-entropy bring it down); `hints`: hinted writes held by
    /// stand-ins.
    fn gauges(cfg: &LlConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        let mut keys: BTreeMap<&str, ()> = BTreeMap::new();
        for s in states.iter().flatten() {
            for k in s.store.keys() {
                keys.insert(k, ());
            }
        }
        let divergent = keys
            .keys()
            .filter(|k| {
                let mut seen = replicas(k, states.len(), cfg.n)
                    .into_iter()
                    .filter_map(|r| states[r].as_ref())
                    .map(|s| s.store.get(**k).map(|(_, v)| *v));
                let first = seen.next();
                seen.any(|v| Some(v) != first)
            })
            .count();
        out.push(Gauge {
            name: "divergent_keys",
            node: None,
            value: divergent as f64,
        });
        if cfg.sloppy_quorum {
            let hints: usize = states.iter().flatten().map(|s| s.hints.len()).sum();
            out.push(Gauge {
                name: "hints",
                node: None,
                value: hints as f64,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preference_list_is_n_consecutive_nodes_of_the_ring() {
        assert_eq!(replicas("k4", 5, 3), vec![4, 0, 1]);
        assert_eq!(replicas("k0", 3, 3), vec![0, 1, 2]);
        assert_eq!(replicas("k1", 3, 5), vec![1, 2, 0]);
    }
}
