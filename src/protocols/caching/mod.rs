//! Caching strategies, the whole table of "Caching Strategies: A Visual Guide": cache-aside,
//! read-through, write-through, write-behind and write-around, with LRU / LFU / FIFO / TTL
//! eviction, refresh-ahead, request coalescing, several cache nodes placed by modulo or
//! consistent hashing, and an in-process L1 in front of the shared cache.
//!
//! ```text
//!   user ─► client ─Request─► app ──Get──────► cache ──DbRead──► db
//!              ▲               │ ◄──Hit/Miss──┘ ◄───Row──────┘ (read-through: the cache loads)
//!              └──Response─────┤ ──DbRead/DbWrite──────────────► db (cache-aside: the app does)
//!                              └─ Set / Invalidate / Update / Write ─► cache
//! ```
//!
//! | strategy       | read path                                 | write path (`put`)                         |
//! |----------------|-------------------------------------------|--------------------------------------------|
//! | `CacheAside`   | app: cache `Get`; on a miss `DbRead`, then `Set` | app: `DbWrite`, then `on_write` (default `Delete`) |
//! | `ReadThrough`  | cache: loads from the db on a miss         | app: `DbWrite`, then `on_write` (default `Delete`) |
//! | `WriteThrough` | cache: loads                               | cache: `DbWrite`, store, then ack         |
//! | `WriteBehind`  | cache: loads                               | cache: store and ack; flush in batches later |
//! | `WriteAround`  | cache: loads                               | app: `DbWrite` only; the cache keeps the old value until evicted (`on_write` to invalidate) |
//!
//! Sources: the guide's table; Nishtala et al., "Scaling Memcache at Facebook", NSDI 2013 (the
//! cache-aside fill race and leases, §3.2.1; thundering herds); Karger et al. 1997 (consistent
//! hashing); Che, Tung and Wang, JSAC 2002 (the LRU hit-ratio approximation tested in
//! `tests/caching.rs`).
//!
//! Checkers, on every event: [`checkers::ReadsAreFresh`] (registered only when the
//! configuration promises fresh reads: write-through, or invalidation with leases or a
//! read-through cache, one cache node, no L1) and [`checkers::NoAcknowledgedWriteLost`] (always;
//! write-behind breaks it when a cache crashes with unflushed writes). Stale reads, their
//! worst staleness, hit ratios and database load are time series for every configuration.

mod app;
pub mod checkers;
mod client;
pub mod db;
mod message;
pub mod placement;
pub mod store;

pub use message::{CacheMsg, DbWriteRow};
pub use placement::{Placement, Ring};
pub use store::{Eviction, Store};

use crate::sim::{
    ClientRequest, Ctx, Gauge, NodeId, NodeView, Op, Protocol, RoleSpec, SimTime, Tone,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Hit ratios, database load and staleness are measured over this sliding window.
pub const WINDOW: SimTime = SimTime::from_millis(1000);

/// A value and the write that put it there (`wid`: the writing request's id).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Item {
    pub value: String,
    pub wid: u64,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (w{})", self.value, self.wid)
    }
}

/// `strategy:` in the config.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    #[default]
    CacheAside,
    ReadThrough,
    WriteThrough,
    /// Acknowledge after the cache write; flush dirty entries `delay` later, `batch` at a time.
    WriteBehind {
        delay: SimTime,
        batch: usize,
    },
    WriteAround,
}

impl Strategy {
    /// Whether the cache loads misses itself (every strategy but cache-aside).
    pub fn cache_loads(self) -> bool {
        self != Strategy::CacheAside
    }
    /// Whether writes go through the cache.
    pub fn writes_via_cache(self) -> bool {
        matches!(self, Strategy::WriteThrough | Strategy::WriteBehind { .. })
    }
}

/// `on_write:` what the app server tells the cache after writing the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnWrite {
    /// Delete the entry; the next read misses and loads the new value.
    Delete,
    /// Store the new value in the cache (racy with a concurrent writer).
    Update,
    /// Leave the cache alone (stale until evicted or expired).
    Nothing,
}

/// An in-process cache in each app server, in front of the shared one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L1 {
    pub capacity: usize,
    pub ttl: SimTime,
}

/// Options of `protocol: "caching"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CachingConfig {
    pub strategy: Strategy,
    /// After a database write (cache-aside, read-through, write-around); the default is
    /// `Delete`, or `Nothing` for write-around.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_write: Option<OnWrite>,
    /// Memcache leases (cache-aside): a miss hands out a token, an invalidation revokes it,
    /// and only a `Set` with a valid token fills the cache. Cures the fill race.
    pub leases: bool,
    pub eviction: Eviction,
    /// Entries per cache node.
    pub capacity: usize,
    /// Refresh-ahead (TTL eviction, a loading strategy): a hit on an entry older than this
    /// fraction of its TTL reloads it in the background.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_ahead: Option<f64>,
    /// Request coalescing: concurrent misses on one key wait for one database read (in the
    /// cache for loading strategies, in each app server for cache-aside).
    pub coalesce: bool,
    pub placement: Placement,
    /// Only the first this many cache nodes hold keys at the start; the others join when sent
    /// a `Request("join")` (a timeline `ClientRequest`), and `Request("leave")` removes one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_caches: Option<usize>,
    /// Keys `k0..key_space`: the database starts with each of them (value `0`) when
    /// `preload` is set, and membership changes count the fraction of them that moves.
    pub key_space: u32,
    pub preload: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l1: Option<L1>,
    /// How long an app server waits for a cache-aside lookup before reading the database
    /// instead.
    pub cache_timeout: SimTime,
    /// The same for a loading cache, which may itself be waiting for the database.
    pub load_timeout: SimTime,
    /// How long a database write, invalidation or load waits before it is sent again.
    pub retry: SimTime,
    /// Work an app server does per response on top of its service model.
    pub app_work: SimTime,
    /// Bug switch: delete the cache entry *before* writing the database (the wrong order):
    /// a read in between misses, reads the old row and puts it back, with a valid lease.
    pub bug_invalidate_before_write: bool,
}

impl Default for CachingConfig {
    fn default() -> Self {
        CachingConfig {
            strategy: Strategy::CacheAside,
            on_write: None,
            leases: false,
            eviction: Eviction::Lru,
            capacity: 100,
            refresh_ahead: None,
            coalesce: false,
            placement: Placement::Modulo,
            initial_caches: None,
            key_space: 1000,
            preload: true,
            l1: None,
            cache_timeout: SimTime::from_millis(100),
            load_timeout: SimTime::from_secs(2),
            retry: SimTime::from_millis(1000),
            app_work: SimTime::ZERO,
            bug_invalidate_before_write: false,
        }
    }
}

impl CachingConfig {
    pub fn on_write(&self) -> OnWrite {
        self.on_write.unwrap_or(match self.strategy {
            Strategy::WriteAround => OnWrite::Nothing,
            _ => OnWrite::Delete,
        })
    }

    /// Whether every read should return the newest committed value: one cache node (so no
    /// membership change can strand an entry), no L1 (which no one invalidates), and a write
    /// path that keeps the cache in step with the database.
    pub fn promises_fresh_reads(&self, caches: usize) -> bool {
        if caches != 1 || self.l1.is_some() || self.initial_caches == Some(0) {
            return false;
        }
        match self.strategy {
            Strategy::WriteThrough => true,
            Strategy::CacheAside => self.on_write() == OnWrite::Delete && self.leases,
            Strategy::ReadThrough => self.on_write() == OnWrite::Delete,
            Strategy::WriteBehind { .. } | Strategy::WriteAround => false,
        }
    }
}

/// One node: its role decides which handlers it runs.
#[derive(Clone, Debug)]
pub enum Caching {
    Client(client::ClientNode),
    App(app::AppServer),
    Cache(cache::CacheNode),
    Db(db::Database),
}

mod cache;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CacheTimer {
    /// App server: the cache did not answer request `id` in time.
    CacheTimeout(u64),
    /// Send request `id`'s database write, invalidation or load again if still pending.
    Retry(u64),
    /// Cache: flush dirty entries (write-behind).
    Flush,
}

impl Caching {
    fn fresh(cfg: &CachingConfig, ctx: &Ctx<Self>) -> Self {
        match ctx.role(ctx.id) {
            "client" => Caching::Client(client::ClientNode::new(ctx)),
            "app" => Caching::App(app::AppServer::new(cfg, ctx)),
            "cache" => Caching::Cache(cache::CacheNode::new(cfg, ctx)),
            _ => Caching::Db(db::Database::default()),
        }
    }
}

impl Protocol for Caching {
    type Msg = CacheMsg;
    type Timer = CacheTimer;
    type Durable = db::Wal;
    type Config = CachingConfig;

    const NAME: &'static str = "caching";
    const SUMMARY: &'static str =
        "cache-aside, read/write-through, write-behind, eviction, stampedes, consistent hashing";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "Request",
        "Response",
        "Get",
        "Hit",
        "Miss",
        "Set",
        "Invalidate",
        "Update",
        "Write",
        "Written",
        "DbRead",
        "Row",
        "DbWrite",
        "DbWritten",
        "Join",
        "Leave",
    ];
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new("client", 1, usize::MAX, "where requests are born"),
        RoleSpec::new(
            "app",
            1,
            usize::MAX,
            "app servers (with an L1 if configured)",
        ),
        RoleSpec::new("cache", 0, usize::MAX, "cache nodes, keys placed on them"),
        RoleSpec::new("db", 1, usize::MAX, "the database, the source of truth"),
    ];

    fn validate_config(cfg: &CachingConfig, _nodes: usize) -> Result<(), String> {
        if cfg.capacity > 10_000_000 {
            return Err(format!(
                "capacity must be at most 10000000 entries, got {}",
                cfg.capacity
            ));
        }
        if let Some(f) = cfg.refresh_ahead {
            if !(f > 0.0 && f < 1.0) {
                return Err(format!(
                    "refresh_ahead is a fraction of the TTL in (0, 1), got {f}"
                ));
            }
            if !matches!(cfg.eviction, Eviction::Ttl(_)) || !cfg.strategy.cache_loads() {
                return Err(
                    "refresh_ahead needs `eviction: Ttl(..)` and a strategy whose \
                            cache loads (ReadThrough, WriteThrough, WriteBehind, WriteAround)"
                        .into(),
                );
            }
        }
        if let Eviction::Ttl(t) = cfg.eviction
            && t == SimTime::ZERO
        {
            return Err("Ttl must be longer than 0".into());
        }
        if let Strategy::WriteBehind { delay, batch } = cfg.strategy
            && (batch == 0 || batch > 100_000 || delay == SimTime::ZERO)
        {
            return Err(format!(
                "WriteBehind needs a delay above 0 and a batch of 1 to 100000 entries, got \
                 delay {delay} and batch {batch}"
            ));
        }
        if let Placement::ConsistentHash { vnodes } = cfg.placement
            && !(1..=10_000).contains(&vnodes)
        {
            return Err(format!("vnodes must be 1 to 10000, got {vnodes}"));
        }
        if cfg.key_space == 0 || cfg.key_space > 1_000_000 {
            return Err(format!(
                "key_space must be 1 to 1000000, got {}",
                cfg.key_space
            ));
        }
        if let Some(l1) = cfg.l1
            && (l1.capacity > 10_000_000 || l1.ttl == SimTime::ZERO)
        {
            return Err("l1 needs a capacity of at most 10000000 and a ttl above 0".into());
        }
        if cfg.retry == SimTime::ZERO
            || cfg.cache_timeout == SimTime::ZERO
            || cfg.load_timeout == SimTime::ZERO
        {
            return Err("retry, cache_timeout and load_timeout must be longer than 0".into());
        }
        if cfg.leases && cfg.strategy != Strategy::CacheAside {
            return Err("leases belong to CacheAside (loading caches fill themselves)".into());
        }
        Ok(())
    }

    fn init(cfg: &CachingConfig, ctx: &mut Ctx<Self>) -> Self {
        match Self::fresh(cfg, ctx) {
            Caching::Db(_) if cfg.preload => {
                Caching::Db(db::Database::preloaded(cfg.key_space, ctx))
            }
            other => other,
        }
    }

    /// Caches restart cold (and lose unflushed write-behind entries); the database replays its
    /// write-ahead log; clients and app servers lose their requests in flight.
    fn on_restart(cfg: &CachingConfig, wal: &db::Wal, ctx: &mut Ctx<Self>) -> Self {
        match Self::fresh(cfg, ctx) {
            Caching::Db(_) => Caching::Db(db::Database::recover(wal)),
            other => other,
        }
    }

    fn on_message(&mut self, from: NodeId, msg: CacheMsg, ctx: &mut Ctx<Self>) {
        match self {
            Caching::Client(c) => c.on_message(msg, ctx),
            Caching::App(a) => a.on_message(from, msg, ctx),
            Caching::Cache(c) => c.on_message(from, msg, ctx),
            Caching::Db(d) => d.on_message(from, msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: CacheTimer, ctx: &mut Ctx<Self>) {
        match self {
            Caching::App(a) => a.on_timer(timer, ctx),
            Caching::Cache(c) => c.on_timer(timer, ctx),
            Caching::Client(_) | Caching::Db(_) => {}
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        match self {
            Caching::Client(c) => c.on_client_request(req, ctx),
            Caching::Cache(c) => c.on_admin(req, ctx),
            // Users reach the system through the client nodes.
            Caching::App(_) | Caching::Db(_) => ctx.count("misrouted", 1),
        }
    }

    fn view(&self) -> NodeView {
        match self {
            Caching::Client(c) => NodeView::new("client", Tone::Neutral)
                .field("waiting", c.waiting.len())
                .field("reads", c.reads.len()),
            Caching::App(a) => a.view(),
            Caching::Cache(c) => c.view(),
            Caching::Db(d) => NodeView::new("db", Tone::Leader)
                .field("keys", d.table.len())
                .field("reads", d.reads)
                .field("writes", d.writes),
        }
    }

    fn invariants(cfg: &CachingConfig, _nodes: usize) -> Vec<Box<dyn crate::sim::Invariant<Self>>> {
        checkers::all(cfg)
    }

    fn gauges_at(cfg: &CachingConfig, at: SimTime, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        checkers::gauges(cfg, at, states, out);
    }
}

/// The operation's key and, for a put, its value (`None` for a get).
pub fn key_of(op: &Op) -> Option<(&str, Option<&str>)> {
    match op {
        Op::Get { key } => Some((key, None)),
        Op::Put { key, value } => Some((key, Some(value))),
        Op::Cas { .. } | Op::Request(_) => None,
    }
}
