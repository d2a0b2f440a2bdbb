//! Partitioning (sharding) of a key-value store, after M. Kleppmann, *Designing
//! Data-Intensive Applications* (2017), ch. 6 "Partitioning": "Partitioning by Key Range",
//! "Partitioning by Hash of Key", "Rebalancing Partitions" (why not hash mod N), and Karger et
//! al., "Consistent Hashing and Random Trees" (STOC 1997).
//!
//! ```text
//!   client ─► router ──Get/Put──► store (the key's owner) ──Value/Written──► router ─► client
//!               │ rebalancing: MoveOut ─► old owner ─Transfer─► new owner ─Moved─► router
//!               └──────────────── Release ─► old owner (drops its copies)
//! ```
//!
//! Roles: one `router` (the coordinator: the partition map, request routing, version stamps,
//! rebalancing) and any number of `store` nodes. `partitioning:` places keys:
//!
//! - `Range`: key ranges by the key's number; a range above `split_at` keys splits at its
//!   median and its lower half moves to the store holding the fewest keys. Sequential keys
//!   (`keys: (count: N, pick: Sequential)`) all land in the last range: one node takes every
//!   write however often the ranges split (the hot spot).
//! - `Hash`: `hash(key) mod n`. A node joining changes n: about n/(n+1) of the keys move.
//! - `ConsistentHash(vnodes: V)`: a ring with V points per node; a join moves about 1/(n+1).
//!
//! A store told `Request("join")` (a timeline `ClientRequest`) asks the router to add it, and
//! one told `Request("leave")` asks to be removed (decommissioned); either way the keys whose
//! owner changes move as messages (see [`router`]), so a leaving node hands every key over
//! before it is released. Range partitioning also merges: two adjacent ranges holding fewer
//! than `merge_below` keys together become one (DDIA ch. 6, "Dynamic partitioning": "if lots
//! of data is deleted and a partition shrinks below some threshold, it can be merged with an
//! adjacent partition"). Time series: `load` (requests
//! per second) and `keys` per store, `keys_moved` (so far) and `moved_fraction` (of the keys,
//! at the last join).
//!
//! Checkers, on every event: **No Key Lost** (`no_key_lost.rs`: every acknowledged write is
//! held by the node the router routes its key to, or is in flight in a transfer to it) and
//! **Fresh Reads** (the storage family's `storage/fresh_reads.rs`: a read returns every
//! write acknowledged before it started). Both are promised by every configuration; the bug
//! switch `bug_route_before_transfer` breaks Fresh Reads during rebalancing.
//!
//! Replicated partitions (`replication_factor` above 1): each partition's copies are its
//! owner, which leads it, and the next stores after it (`replication.rs`), with router-driven
//! failover to the next live copy (`failover.rs`); the sweep scenario is
//! `scenarios/storage/partition-replicated-chaos.ron`.
//!
//! Rebalancing replicated partitions (joins, leaves, range splits and merges with R > 1) moves
//! keys as copies to their new replicas before the map switches (`rebalance.rs`). Range
//! partitioning adds series per range: `range[0..250).keys` and `.load`.
//!
//! Not modelled: more than one router, deleting keys.

mod failover;
mod map;
mod message;
pub mod no_key_lost;
mod rebalance;
pub mod replication;
pub mod router;
pub mod store;

pub use map::{Layout, PartitionMap, key_number};
pub use message::{PartMsg, Stored};
pub use no_key_lost::NoKeyLost;

pub use crate::protocols::leader_follower::Replication;
use crate::protocols::storage::FreshReads;
use crate::sim::{
    ClientRequest, Ctx, Gauge, Invariant, NodeId, NodeView, PartGauge, Protocol, RoleSpec, SimTime,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Load per node is measured over this sliding window.
pub const WINDOW: SimTime = SimTime::from_millis(1000);

/// `partitioning:` in the config.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Partitioning {
    Range,
    #[default]
    Hash,
    ConsistentHash {
        vnodes: u32,
    },
}

/// Options of `protocol: "partitioned"`; every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartConfig {
    pub partitioning: Partitioning,
    /// Only the first this many storage nodes hold keys at the start; the others join when
    /// sent `Request("join")`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_stores: Option<usize>,
    /// Range partitioning: the initial ranges split key numbers `0..key_space` evenly.
    pub key_space: u64,
    /// Range partitioning: a range holding more keys than this splits in two.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_at: Option<usize>,
    /// Range partitioning: how many ranges the key space starts in, dealt to the initial
    /// stores in turn (default: one per store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_ranges: Option<usize>,
    /// Range partitioning: two adjacent ranges holding fewer keys than this together merge
    /// into one (the smaller one's keys move to the other's owner). Checked every
    /// `merge_interval` and after each rebalancing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_below: Option<usize>,
    /// How often the router looks for ranges to merge.
    pub merge_interval: SimTime,
    /// The router fails a request its owner has not answered within this time.
    pub request_timeout: SimTime,
    /// How often unconfirmed moves and transfers are sent again.
    pub retry: SimTime,
    /// BUG: the router routes a moving key to its new owner as soon as the move starts,
    /// before the transfer has arrived: reads there miss acknowledged writes.
    pub bug_route_before_transfer: bool,
    /// Copies of each partition, on distinct stores: its owner (the partition's first
    /// replica) and the stores after it. 1: one copy, no replication.
    pub replication_factor: usize,
    /// When a partition's leader acknowledges a write (leader-follower's vocabulary): `Sync`
    /// after every follower holds it, `SemiSync(k)` after k do, `Async` at once.
    pub replication: Replication,
    /// How often a leader ships its followers what they have not confirmed (under `Async`,
    /// every write waits for it; otherwise it is a resend).
    pub ship_interval: SimTime,
}

impl Default for PartConfig {
    fn default() -> Self {
        PartConfig {
            partitioning: Partitioning::Hash,
            initial_stores: None,
            key_space: 1000,
            split_at: None,
            initial_ranges: None,
            merge_below: None,
            merge_interval: SimTime::from_millis(500),
            request_timeout: SimTime::from_millis(300),
            retry: SimTime::from_millis(200),
            bug_route_before_transfer: false,
            replication_factor: 1,
            replication: Replication::Sync,
            ship_interval: SimTime::from_millis(50),
        }
    }
}

impl PartConfig {
    /// Whether each partition has more than one copy.
    pub fn replicated(&self) -> bool {
        self.replication_factor > 1
    }

    /// Whether the configuration promises that no acknowledged write is lost and every read
    /// is fresh (and so linearizability, see [`Partitioned::linearizable`]): one copy per
    /// partition, or every copy written before the write is acknowledged (`Sync`).
    pub fn promises_consistency(&self) -> bool {
        !self.replicated() || self.replication == Replication::Sync
    }

    /// Followers that must hold a write before its leader acknowledges it.
    pub fn acks_needed(&self, followers: usize) -> usize {
        match self.replication {
            Replication::Sync => followers,
            Replication::SemiSync(k) => k.min(followers),
            Replication::Async => 0,
        }
    }
}

/// The router's durable state: what survives its crash.
#[derive(Clone, Debug, PartialEq)]
pub struct RouterDurable {
    /// The partition map requests are routed by (outside a rebalancing).
    pub map: PartitionMap,
    /// Every key ever written (the keys a rebalancing may have to move).
    pub keys: BTreeSet<String>,
    pub rebalance: Option<router::Rebalance>,
    pub next_move: u64,
    /// Storage nodes waiting to join.
    pub queued: Vec<NodeId>,
    /// Storage nodes waiting to leave (after the joins).
    pub leaving: Vec<NodeId>,
    pub keys_moved: u64,
    /// The fraction of the keys the last join or leave moved.
    pub moved_fraction: Option<f64>,
    /// Replicated partitions: the stores the router suspects (a request to them timed out);
    /// their partitions are led by their next live replica until they answer a `Ping`.
    pub down: BTreeSet<NodeId>,
    /// Replicated partitions: copies that left their replica set at a switch, not yet
    /// confirmed dropped ((store, move id) → keys), released again every `retry`.
    pub releases: BTreeMap<(NodeId, u64), Vec<String>>,
}

impl RouterDurable {
    /// Where the router sends requests for `key` now, with `r` replicas per partition: the
    /// owner (the old one while the key moves) when `r` is 1, else the partition's leader.
    pub fn route(&self, key: &str, bug: bool, r: usize) -> Option<NodeId> {
        if r > 1 {
            return failover::leader(self.replica_map(key), &self.down, key, r);
        }
        router::route(&self.map, self.rebalance.as_ref(), key, bug)
    }

    /// Replicated partitions: the map that names `key`'s replica set now. During a
    /// rebalancing a moving key keeps its old set until the switch; every other key has the
    /// same set in both maps, except a key first written during it, which is placed by the
    /// target at once (so the switch needs no copy of it).
    pub fn replica_map(&self, key: &str) -> &PartitionMap {
        match &self.rebalance {
            Some(r) if !r.moving(key) => &r.target,
            _ => &self.map,
        }
    }
}

/// A storage node's durable state: its keys and its unreleased outgoing moves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreDurable {
    pub data: BTreeMap<String, Stored>,
    pub outgoing: BTreeMap<u64, (NodeId, Vec<String>)>,
    pub last_move: u64,
    /// Replicated partitions: per key, the last move that copied it here or released it
    /// (id, released), so that a late `Transfer` or `Release` of an older move is ignored.
    pub epochs: BTreeMap<String, (u64, bool)>,
    /// Replicated partitions: a `Join` (false) or `Leave` (true) the router has not
    /// confirmed (`Queued`), resent every `retry`.
    pub admin: Option<bool>,
}

/// What survives a crash, by role.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum PartDurable {
    /// Nothing persisted yet.
    #[default]
    Fresh,
    Router(Box<RouterDurable>),
    Store(StoreDurable),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartTimer {
    /// Router: request `id` got no answer in time.
    Request(u64),
    /// Router: resend unconfirmed `MoveOut`s; store: resend unreleased `Transfer`s.
    Resend,
    /// Router: look for adjacent small ranges to merge.
    Merge,
    /// Replicated partitions, leader: ship followers what they have not confirmed.
    Ship,
    /// Replicated partitions, router: ping the stores it suspects.
    Probe,
}

/// One node: the router or a storage node.
#[derive(Clone, Debug, PartialEq)]
pub enum Partitioned {
    Router(Box<router::RouterNode>),
    Store(store::StoreNode),
}

impl Partitioned {
    fn start(cfg: &PartConfig, d: &PartDurable, ctx: &mut Ctx<Self>) -> Self {
        if ctx.role(ctx.id) == "router" {
            let d = match d {
                PartDurable::Router(r) => (**r).clone(),
                _ => router::RouterNode::initial(cfg, ctx),
            };
            Partitioned::Router(Box::new(router::RouterNode::new(cfg, d, ctx)))
        } else {
            let d = match d {
                PartDurable::Store(s) => s.clone(),
                _ => StoreDurable::default(),
            };
            Partitioned::Store(store::StoreNode::new(cfg, &d, ctx))
        }
    }
}

/// The replication options: 1 to 10 copies, no more than the stores (every node but the
/// router); `SemiSync(k)` waits for 1 to R-1 followers.
fn validate_replication(cfg: &PartConfig, nodes: usize) -> Result<(), String> {
    let r = cfg.replication_factor;
    let stores = nodes.saturating_sub(1);
    if r == 0 || r > 10 || r > stores.max(1) {
        return Err(format!(
            "replication_factor must be 1 to 10 and at most the number of stores ({stores}), got {r}"
        ));
    }
    if let Replication::SemiSync(k) = cfg.replication
        && (k == 0 || k >= r)
    {
        return Err(format!(
            "SemiSync(k) waits for k followers: expected 1 <= k <= {} (the followers of {r} copies), got {k}",
            r.saturating_sub(1)
        ));
    }
    if cfg.ship_interval == SimTime::ZERO {
        return Err("ship_interval must be longer than 0".into());
    }
    Ok(())
}

impl Protocol for Partitioned {
    type Msg = PartMsg;
    type Timer = PartTimer;
    type Durable = PartDurable;
    type Config = PartConfig;

    const NAME: &'static str = "partitioned";
    const SUMMARY: &'static str =
        "a sharded key-value store: range, hash mod N, consistent hashing, rebalancing as messages";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "Get", "Put", "Value", "Written", "Join", "Leave", "MoveOut", "Transfer", "Moved",
        "Release",
    ];
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new(
            "router",
            1,
            1,
            "routes requests by the partition map, runs rebalancing",
        ),
        RoleSpec::new(
            "store",
            1,
            usize::MAX,
            "storage nodes, each owning partitions",
        ),
    ];

    fn validate_config(cfg: &PartConfig, nodes: usize) -> Result<(), String> {
        validate_replication(cfg, nodes)?;
        if let Partitioning::ConsistentHash { vnodes } = cfg.partitioning
            && !(1..=10_000).contains(&vnodes)
        {
            return Err(format!("vnodes must be 1 to 10000, got {vnodes}"));
        }
        if cfg.key_space == 0 || cfg.key_space > 1_000_000_000 {
            return Err(format!(
                "key_space must be 1 to 1000000000, got {}",
                cfg.key_space
            ));
        }
        if cfg.split_at == Some(0) || cfg.split_at.is_some_and(|s| s > 1_000_000) {
            return Err("split_at must be 1 to 1000000 keys".into());
        }
        if cfg.split_at.is_some() && cfg.partitioning != Partitioning::Range {
            return Err("split_at belongs to `partitioning: Range`".into());
        }
        if (cfg.merge_below.is_some() || cfg.initial_ranges.is_some())
            && cfg.partitioning != Partitioning::Range
        {
            return Err("merge_below and initial_ranges belong to `partitioning: Range`".into());
        }
        if cfg.initial_ranges == Some(0) || cfg.initial_ranges.is_some_and(|r| r > 10_000) {
            return Err("initial_ranges must be 1 to 10000".into());
        }
        if let Some(m) = cfg.merge_below {
            if m == 0 {
                return Err("merge_below must be at least 1 key".into());
            }
            // Halves of a split hold split_at / 2 keys each: merging them again would undo
            // the split, and the two would alternate for ever.
            if let Some(s) = cfg.split_at
                && m > s / 2
            {
                return Err(format!(
                    "merge_below ({m}) must be at most half of split_at ({s}), or a split's \
                     halves would merge again"
                ));
            }
            if cfg.merge_interval == SimTime::ZERO {
                return Err("merge_interval must be longer than 0".into());
            }
        }
        if cfg.request_timeout == SimTime::ZERO || cfg.retry == SimTime::ZERO {
            return Err("request_timeout and retry must be longer than 0".into());
        }
        Ok(())
    }

    fn init(cfg: &PartConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, &PartDurable::Fresh, ctx)
    }

    /// Storage nodes keep their keys and their unreleased moves; the router keeps its map,
    /// its key set and the rebalancing in progress, and forgets requests in flight (their
    /// clients time out).
    fn on_restart(cfg: &PartConfig, durable: &PartDurable, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, durable, ctx)
    }

    fn on_message(&mut self, from: NodeId, msg: PartMsg, ctx: &mut Ctx<Self>) {
        match self {
            Partitioned::Router(r) => r.on_message(from, msg, ctx),
            Partitioned::Store(s) => s.on_message(from, msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: PartTimer, ctx: &mut Ctx<Self>) {
        match (self, timer) {
            (Partitioned::Router(r), PartTimer::Request(id)) => r.on_request_timeout(id, ctx),
            (Partitioned::Router(r), PartTimer::Resend) => r.on_resend(ctx),
            (Partitioned::Router(r), PartTimer::Merge) => r.on_merge_timer(ctx),
            (Partitioned::Router(r), PartTimer::Probe) => r.on_probe(ctx),
            (Partitioned::Store(s), PartTimer::Resend) => s.on_resend(ctx),
            (Partitioned::Store(s), PartTimer::Ship) => s.on_ship(ctx),
            (
                Partitioned::Store(_),
                PartTimer::Request(_) | PartTimer::Merge | PartTimer::Probe,
            )
            | (Partitioned::Router(_), PartTimer::Ship) => {}
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        match self {
            Partitioned::Router(r) => r.on_client_request(req, ctx),
            Partitioned::Store(s) => s.on_admin(req, ctx),
        }
    }

    fn view(&self) -> NodeView {
        match self {
            Partitioned::Router(r) => r.view(),
            Partitioned::Store(s) => s.view(),
        }
    }

    /// Where the configuration promises consistency ([`PartConfig::promises_consistency`]:
    /// one copy, or `Sync` copies): the router is the one place that stamps versions and picks
    /// the replica a key is read from, a write is acknowledged once every copy holds it, and a
    /// `Sync` leader answers a read only with a version every copy holds, so any later leader
    /// answers it or a newer one. The bug switch keeps the claim (and breaks it).
    fn linearizable(cfg: &PartConfig) -> bool {
        cfg.promises_consistency()
    }

    /// A read answers `value@version`: the register's value is the part before the version.
    fn register_value(answer: &str) -> &str {
        answer.rsplit_once('@').map_or(answer, |(v, _)| v)
    }

    fn invariants(cfg: &PartConfig, _nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![
            Box::new(NoKeyLost::new(cfg)),
            Box::new(FreshReads::new(cfg.promises_consistency())),
        ]
    }

    /// `load` and `keys` per storage node; `partitions` (ranges, or members for the hash
    /// placements), `keys_moved` so far and the `moved_fraction` of the last join or leave,
    /// from the router.
    ///
    /// Replicated partitions add `lag` per store (the keys its leaders have not had
    /// confirmed by it) and `leading` per store (the keys whose partition it leads, by the
    /// router's failover state).
    /// Range partitioning: `keys` and `load` per range, from the router (see
    /// [`router::RouterNode::range_gauges`]): `range[0..250).keys`, `range[250..).load`.
    fn partition_gauges_at(
        _cfg: &PartConfig,
        at: SimTime,
        states: &[Option<Self>],
        out: &mut Vec<PartGauge>,
    ) {
        for s in states.iter().flatten() {
            if let Partitioned::Router(r) = s {
                r.range_gauges(at, out);
            }
        }
    }

    fn gauges_at(cfg: &PartConfig, at: SimTime, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        if cfg.replicated() {
            replication_gauges(cfg, states, out);
        }
        for (node, s) in states.iter().enumerate() {
            match s {
                Some(Partitioned::Store(s)) => {
                    out.push(Gauge {
                        name: "load",
                        node: Some(node),
                        value: s.load(at),
                    });
                    out.push(Gauge {
                        name: "keys",
                        node: Some(node),
                        value: s.data.len() as f64,
                    });
                }
                Some(Partitioned::Router(r)) => {
                    out.push(Gauge {
                        name: "partitions",
                        node: None,
                        value: r.d.map.partitions() as f64,
                    });
                    out.push(Gauge {
                        name: "keys_moved",
                        node: None,
                        value: r.d.keys_moved as f64,
                    });
                    if let Some(f) = r.d.moved_fraction {
                        out.push(Gauge {
                            name: "moved_fraction",
                            node: None,
                            value: f,
                        });
                    }
                }
                None => {}
            }
        }
    }
}

/// `lag` and `leading` per store (replicated partitions).
fn replication_gauges(cfg: &PartConfig, states: &[Option<Partitioned>], out: &mut Vec<Gauge>) {
    let mut lag: BTreeMap<NodeId, usize> = BTreeMap::new();
    for s in states.iter().flatten() {
        if let Partitioned::Store(s) = s {
            for (f, n) in s.rep.lag() {
                *lag.entry(f).or_default() += n;
            }
        }
    }
    let mut leading: BTreeMap<NodeId, usize> = BTreeMap::new();
    for s in states.iter().flatten() {
        if let Partitioned::Router(r) = s {
            for k in &r.d.keys {
                if let Some(l) = r.d.route(k, false, cfg.replication_factor) {
                    *leading.entry(l).or_default() += 1;
                }
            }
        }
    }
    for (node, s) in states.iter().enumerate() {
        if let Some(Partitioned::Store(_)) = s {
            let lag = lag.get(&node).copied().unwrap_or(0);
            let leads = leading.get(&node).copied().unwrap_or(0);
            out.push(Gauge {
                name: "lag",
                node: Some(node),
                value: lag as f64,
            });
            out.push(Gauge {
                name: "leading",
                node: Some(node),
                value: leads as f64,
            });
        }
    }
}
