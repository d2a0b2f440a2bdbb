//! A cache node: its store with the eviction policy, and, for the strategies where the cache
//! does the work, loading on a miss (read-through), writing through to the database, or
//! buffering dirty entries and flushing them later (write-behind).
//!
//! A load that an invalidation or a write overtakes is marked superseded: its (older) row is
//! not stored, and its waiters get the newer entry instead. Without that, a read-through cache
//! would have the cache-aside fill race.

use super::message::{CacheMsg, DbWriteRow};
use super::store::Lookup;
use super::{CacheTimer, Caching, CachingConfig, Eviction, Item, Store, Strategy, WINDOW};
use crate::sim::{ClientReply, ClientRequest, Ctx, EntryView, NodeId, NodeView, Op, SimTime, Tone};
use std::collections::{BTreeMap, VecDeque};

const MAX_LOAD_ATTEMPTS: u32 = 20;

#[derive(Clone, Debug)]
struct Load {
    key: String,
    /// (app server, request id) waiting for the row; empty for a refresh-ahead load.
    waiters: Vec<(NodeId, u64)>,
    superseded: bool,
    attempts: u32,
}

#[derive(Clone, Debug)]
struct QueuedWrite {
    app: NodeId,
    id: u64,
    item: Item,
}

/// An acknowledged write-behind entry not yet in the database.
#[derive(Clone, Debug)]
pub struct Dirty {
    pub item: Item,
    /// Earlier acknowledged writes of the key that `item` overwrote before the flush.
    pub absorbed: Vec<u64>,
}

#[derive(Clone, Debug)]
pub struct CacheNode {
    pub store: Store,
    strategy: Strategy,
    coalesce: bool,
    leases: bool,
    refresh_ahead: Option<f64>,
    retry: SimTime,
    lease_of: BTreeMap<String, u64>,
    next_lease: u64,
    loads: BTreeMap<u64, Load>,
    /// The load in flight per key.
    loading: BTreeMap<String, u64>,
    /// Write-through: per key, the writes in arrival order; the first is at the database.
    writing: BTreeMap<String, VecDeque<QueuedWrite>>,
    /// Write-behind: acknowledged entries waiting for a flush, and the batches in flight.
    pub dirty: BTreeMap<String, Dirty>,
    pub flushing: BTreeMap<u64, (NodeId, Vec<DbWriteRow>)>,
    flush_armed: bool,
    /// Lookups in the last [`WINDOW`]: (when, hit).
    pub recent: VecDeque<(SimTime, bool)>,
    pub hits: u64,
    pub misses: u64,
    next_id: u64,
}

impl CacheNode {
    pub fn new(cfg: &CachingConfig, ctx: &Ctx<Caching>) -> Self {
        CacheNode {
            store: Store::new(cfg.eviction, cfg.capacity),
            strategy: cfg.strategy,
            coalesce: cfg.coalesce,
            leases: cfg.leases,
            refresh_ahead: cfg.refresh_ahead,
            retry: cfg.retry,
            lease_of: BTreeMap::new(),
            next_lease: 1,
            loads: BTreeMap::new(),
            loading: BTreeMap::new(),
            writing: BTreeMap::new(),
            dirty: BTreeMap::new(),
            flushing: BTreeMap::new(),
            flush_armed: false,
            recent: VecDeque::new(),
            hits: 0,
            misses: 0,
            // Load and flush ids must not repeat across a restart, or a row for a load of the
            // previous life would answer a new one: continue from the clock (see the client).
            next_id: ctx.now.as_micros(),
        }
    }

    /// Whether acknowledged write `wid` of `key` is still held here, waiting for the database.
    pub fn holds_unflushed(&self, key: &str, wid: u64) -> bool {
        let has = |i: &Item, absorbed: &[u64]| i.wid == wid || absorbed.contains(&wid);
        self.dirty
            .get(key)
            .is_some_and(|d| has(&d.item, &d.absorbed))
            || self.flushing.values().any(|(_, rows)| {
                rows.iter()
                    .any(|r| r.key == key && has(&r.item, &r.absorbed))
            })
    }

    fn db_of(key: &str, ctx: &Ctx<Caching>) -> Option<NodeId> {
        crate::protocols::three_tier::owner(key, ctx.nodes_of("db"))
    }

    fn fresh_id(&mut self, ctx: &Ctx<Caching>) -> u64 {
        self.next_id += 1;
        self.next_id * ctx.nodes as u64 + ctx.id as u64
    }

    fn record(&mut self, hit: bool, ctx: &mut Ctx<Caching>) {
        if hit {
            self.hits += 1;
            ctx.count("cache_hits", 1);
        } else {
            self.misses += 1;
            ctx.count("cache_misses", 1);
        }
        self.recent.push_back((ctx.now, hit));
        while self
            .recent
            .front()
            .is_some_and(|&(t, _)| t + WINDOW <= ctx.now)
        {
            self.recent.pop_front();
        }
    }

    /// Hits over lookups in the [`WINDOW`] before `at` (`None` without lookups).
    pub fn hit_ratio(&self, at: SimTime) -> Option<(usize, usize)> {
        let recent = self.recent.iter().filter(|&&(t, _)| t + WINDOW > at);
        let (mut hits, mut all) = (0, 0);
        for &(_, h) in recent {
            all += 1;
            hits += usize::from(h);
        }
        (all > 0).then_some((hits, all))
    }

    pub fn on_message(&mut self, from: NodeId, msg: CacheMsg, ctx: &mut Ctx<Caching>) {
        match msg {
            CacheMsg::Get { id, key } => self.get(from, id, key, ctx),
            CacheMsg::Set { key, item, lease } => {
                if !self.leases || (lease.is_some() && self.lease_of.get(&key) == lease.as_ref()) {
                    self.lease_of.remove(&key);
                    self.store.put(&key, item, ctx.now);
                } else {
                    ctx.count("sets_refused", 1);
                }
            }
            CacheMsg::Invalidate { id, key } => {
                self.store.remove(&key);
                self.lease_of.remove(&key);
                self.supersede(&key);
                ctx.send(from, CacheMsg::Written { id });
            }
            CacheMsg::Update { id, key, item } => {
                self.lease_of.remove(&key);
                self.supersede(&key);
                self.store.put(&key, item, ctx.now);
                ctx.send(from, CacheMsg::Written { id });
            }
            CacheMsg::Write { id, key, item } => match self.strategy {
                Strategy::WriteBehind { delay, .. } => {
                    self.write_behind(from, id, key, item, delay, ctx)
                }
                _ => self.write_through(from, id, key, item, ctx),
            },
            CacheMsg::Row { id, key, item } => self.on_row(id, key, item, ctx),
            CacheMsg::DbWritten { id, current } => self.on_db_written(id, current, ctx),
            _ => {}
        }
    }

    fn get(&mut self, app: NodeId, id: u64, key: String, ctx: &mut Ctx<Caching>) {
        let found = match self.store.get(&key, ctx.now) {
            Lookup::Hit { item, stored_at } => {
                self.maybe_refresh(&key, stored_at, ctx);
                Some(item)
            }
            Lookup::Miss { expired } => {
                if expired {
                    ctx.count("expired", 1);
                }
                self.unflushed(&key)
            }
        };
        self.record(found.is_some(), ctx);
        if found.is_some() {
            let msg = CacheMsg::Value {
                id,
                key,
                hit: true,
                item: found,
                lease: None,
            };
            return ctx.send(app, msg);
        }
        if self.strategy.cache_loads() {
            return self.load(key, Some((app, id)), ctx);
        }
        let lease = (self.leases && !self.lease_of.contains_key(&key)).then(|| {
            self.next_lease += 1;
            self.lease_of.insert(key.clone(), self.next_lease);
            self.next_lease
        });
        let msg = CacheMsg::Value {
            id,
            key,
            hit: false,
            item: None,
            lease,
        };
        ctx.send(app, msg);
    }

    /// A write-behind entry evicted before its flush is still this cache's to serve.
    fn unflushed(&self, key: &str) -> Option<Item> {
        if let Some(d) = self.dirty.get(key) {
            return Some(d.item.clone());
        }
        self.flushing
            .values()
            .flat_map(|(_, rows)| rows.iter())
            .rfind(|r| r.key == key)
            .map(|r| r.item.clone())
    }

    fn maybe_refresh(&mut self, key: &str, stored_at: SimTime, ctx: &mut Ctx<Caching>) {
        let (Some(f), Eviction::Ttl(ttl)) = (self.refresh_ahead, self.store.policy) else {
            return;
        };
        let due = stored_at + SimTime((ttl.as_micros() as f64 * f) as u64);
        if ctx.now >= due && !self.loading.contains_key(key) {
            ctx.count("refreshes", 1);
            self.load(key.to_string(), None, ctx);
        }
    }

    /// Reads `key` from the database for `waiter` (or for a refresh-ahead), joining a load in
    /// flight when coalescing.
    fn load(&mut self, key: String, waiter: Option<(NodeId, u64)>, ctx: &mut Ctx<Caching>) {
        if let Some(load) = self.loading.get(&key).and_then(|id| self.loads.get_mut(id))
            && (self.coalesce || waiter.is_none())
            && !load.superseded
        {
            if let Some(w) = waiter {
                ctx.count("coalesced", 1);
                load.waiters.push(w);
            }
            return;
        }
        let id = self.fresh_id(ctx);
        let Some(db) = Self::db_of(&key, ctx) else {
            return;
        };
        self.loading.insert(key.clone(), id);
        let load = Load {
            key: key.clone(),
            waiters: waiter.into_iter().collect(),
            superseded: false,
            attempts: 0,
        };
        self.loads.insert(id, load);
        ctx.send(db, CacheMsg::DbRead { id, key });
        ctx.set_timer(CacheTimer::Retry(id), self.retry);
    }

    /// Loads of `key` in flight will bring a value older than the write just seen.
    fn supersede(&mut self, key: &str) {
        for load in self.loads.values_mut().filter(|l| l.key == key) {
            load.superseded = true;
        }
    }

    fn on_row(&mut self, id: u64, key: String, item: Option<Item>, ctx: &mut Ctx<Caching>) {
        if self.loads.get(&id).is_none_or(|l| l.key != key) {
            return;
        }
        let load = self.loads.remove(&id).expect("checked");
        ctx.cancel_timer(CacheTimer::Retry(id));
        if self.loading.get(&key) == Some(&id) {
            self.loading.remove(&key);
        }
        let item = if load.superseded {
            match self.store.get(&key, ctx.now) {
                Lookup::Hit { item, .. } => Some(item),
                Lookup::Miss { .. } => match self.unflushed(&key) {
                    Some(i) => Some(i),
                    None => {
                        // Invalidated while loading: load again for the same waiters.
                        for w in load.waiters {
                            self.load(key.clone(), Some(w), ctx);
                        }
                        return;
                    }
                },
            }
        } else {
            if let Some(i) = &item {
                self.store.put(&key, i.clone(), ctx.now);
            }
            item
        };
        for (app, wid) in load.waiters {
            let msg = CacheMsg::Value {
                id: wid,
                key: key.clone(),
                hit: false,
                item: item.clone(),
                lease: None,
            };
            ctx.send(app, msg);
        }
    }

    fn write_through(
        &mut self,
        app: NodeId,
        id: u64,
        key: String,
        item: Item,
        ctx: &mut Ctx<Caching>,
    ) {
        let queue = self.writing.entry(key.clone()).or_default();
        if queue.iter().any(|w| w.id == id) {
            return; // a retry of a write already queued
        }
        queue.push_back(QueuedWrite { app, id, item });
        self.supersede(&key);
        if self.writing[&key].len() == 1 {
            self.send_head(&key, ctx);
        }
    }

    fn send_head(&mut self, key: &str, ctx: &mut Ctx<Caching>) {
        let Some(w) = self.writing.get(key).and_then(|q| q.front()) else {
            return;
        };
        let Some(db) = Self::db_of(key, ctx) else {
            return;
        };
        let row = DbWriteRow {
            key: key.to_string(),
            item: w.item.clone(),
            absorbed: Vec::new(),
        };
        let id = w.id;
        ctx.send(
            db,
            CacheMsg::DbWrite {
                id,
                writes: vec![row],
            },
        );
        ctx.set_timer(CacheTimer::Retry(id), self.retry);
    }

    fn write_behind(
        &mut self,
        app: NodeId,
        id: u64,
        key: String,
        item: Item,
        delay: SimTime,
        ctx: &mut Ctx<Caching>,
    ) {
        self.supersede(&key);
        if !self.holds_unflushed(&key, item.wid) {
            match self.dirty.get_mut(&key) {
                Some(d) => {
                    let old = std::mem::replace(&mut d.item, item.clone());
                    d.absorbed.push(old.wid);
                }
                None => {
                    let d = Dirty {
                        item: item.clone(),
                        absorbed: Vec::new(),
                    };
                    self.dirty.insert(key.clone(), d);
                }
            }
            self.store.put(&key, item, ctx.now);
        }
        ctx.send(app, CacheMsg::Written { id });
        if !self.flush_armed {
            self.flush_armed = true;
            ctx.set_timer(CacheTimer::Flush, delay);
        }
    }

    fn flush(&mut self, ctx: &mut Ctx<Caching>) {
        self.flush_armed = false;
        let Strategy::WriteBehind { delay, batch } = self.strategy else {
            return;
        };
        if self.flushing.is_empty() {
            let keys: Vec<String> = self.dirty.keys().take(batch).cloned().collect();
            let mut per_db: BTreeMap<NodeId, Vec<DbWriteRow>> = BTreeMap::new();
            for key in keys {
                let d = self.dirty.remove(&key).expect("listed");
                let Some(db) = Self::db_of(&key, ctx) else {
                    continue;
                };
                per_db.entry(db).or_default().push(DbWriteRow {
                    key,
                    item: d.item,
                    absorbed: d.absorbed,
                });
            }
            for (db, rows) in per_db {
                let id = self.fresh_id(ctx);
                ctx.send(
                    db,
                    CacheMsg::DbWrite {
                        id,
                        writes: rows.clone(),
                    },
                );
                ctx.set_timer(CacheTimer::Retry(id), self.retry);
                self.flushing.insert(id, (db, rows));
            }
        }
        if !self.dirty.is_empty() && self.flushing.is_empty() {
            self.flush_armed = true;
            ctx.set_timer(CacheTimer::Flush, delay);
        }
    }

    fn on_db_written(&mut self, id: u64, current: Option<Item>, ctx: &mut Ctx<Caching>) {
        ctx.cancel_timer(CacheTimer::Retry(id));
        if self.flushing.remove(&id).is_some() {
            if self.flushing.is_empty() && !self.dirty.is_empty() && !self.flush_armed {
                self.flush_armed = true;
                ctx.set_timer(CacheTimer::Flush, SimTime::ZERO);
            }
            return;
        }
        let Some(key) = self
            .writing
            .iter()
            .find(|(_, q)| q.front().is_some_and(|w| w.id == id))
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        let queue = self.writing.get_mut(&key).expect("found");
        let w = queue.pop_front().expect("head");
        if queue.is_empty() {
            self.writing.remove(&key);
        }
        // A load that read the database before this commit must not overwrite it.
        self.supersede(&key);
        // The database's row, not necessarily ours: a retried write that was already
        // committed may have been overtaken since.
        self.store.put(&key, current.unwrap_or(w.item), ctx.now);
        ctx.send(w.app, CacheMsg::Written { id });
        self.send_head(&key, ctx);
    }

    pub fn on_timer(&mut self, timer: CacheTimer, ctx: &mut Ctx<Caching>) {
        match timer {
            CacheTimer::Flush => self.flush(ctx),
            CacheTimer::Retry(id) => self.retry(id, ctx),
            CacheTimer::CacheTimeout(_) => {}
        }
    }

    fn retry(&mut self, id: u64, ctx: &mut Ctx<Caching>) {
        if let Some(load) = self.loads.get_mut(&id) {
            load.attempts += 1;
            let key = load.key.clone();
            if load.attempts >= MAX_LOAD_ATTEMPTS {
                self.loads.remove(&id);
                if self.loading.get(&key) == Some(&id) {
                    self.loading.remove(&key);
                }
                return;
            }
            if let Some(db) = Self::db_of(&key, ctx) {
                ctx.send(db, CacheMsg::DbRead { id, key });
                ctx.set_timer(CacheTimer::Retry(id), self.retry);
            }
        } else if let Some((db, rows)) = self.flushing.get(&id) {
            let msg = CacheMsg::DbWrite {
                id,
                writes: rows.clone(),
            };
            ctx.send(*db, msg);
            ctx.set_timer(CacheTimer::Retry(id), self.retry);
        } else if let Some(key) = self
            .writing
            .iter()
            .find(|(_, q)| q.front().is_some_and(|w| w.id == id))
            .map(|(k, _)| k.clone())
        {
            self.send_head(&key, ctx);
        }
    }

    /// `Request("join")` / `Request("leave")`: this node joins or leaves the set of cache
    /// nodes keys are placed on; every app server is told.
    pub fn on_admin(&mut self, req: ClientRequest, ctx: &mut Ctx<Caching>) {
        let member = match &req.op {
            Op::Request(a) if a == "join" => true,
            Op::Request(a) if a == "leave" => false,
            _ => {
                let reason = "a cache node takes Request(\"join\") or Request(\"leave\")";
                ctx.reply_to_client(
                    req.from,
                    ClientReply::Fail {
                        reason: reason.to_string(),
                    },
                );
                return;
            }
        };
        for &app in ctx.nodes_of("app") {
            ctx.send(app, CacheMsg::Join { member });
        }
        ctx.reply_to_client(req.from, ClientReply::Ok { value: None });
    }

    pub fn view(&self) -> NodeView {
        let mut v = NodeView::new("cache", Tone::Good).field("entries", self.store.len());
        let lookups = self.hits + self.misses;
        if lookups > 0 {
            v = v.field(
                "hit ratio",
                format!("{:.0}%", 100.0 * self.hits as f64 / lookups as f64),
            );
        }
        if !self.dirty.is_empty() || !self.flushing.is_empty() {
            let unflushed =
                self.dirty.len() + self.flushing.values().map(|(_, r)| r.len()).sum::<usize>();
            v = v.field("dirty", unflushed);
        }
        // The next victims first, as the eviction policy sees them.
        v.entries = self
            .store
            .keys_by_rank()
            .take(8)
            .enumerate()
            .map(|(i, k)| EntryView {
                index: i as u64 + 1,
                // The box shows (and is coloured by) the key's number: k7 is a 7.
                term: k.trim_start_matches('k').parse().unwrap_or(0),
                label: k.to_string(),
                committed: !self.dirty.contains_key(k),
            })
            .collect();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Command, RoleTable};
    use rand::SeedableRng;

    fn roles() -> RoleTable {
        RoleTable::new(
            &["client", "app", "cache", "db"],
            &["client", "app", "cache", "db"].map(String::from),
        )
    }

    /// Runs `f` as node 2 (the cache) of client, app, cache, db; returns what `f` returned
    /// and the messages sent.
    fn run<T>(f: impl FnOnce(&mut Ctx<Caching>) -> T) -> (T, Vec<(NodeId, CacheMsg)>) {
        let roles = roles();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut out = Vec::new();
        let t = f(&mut Ctx::new(2, 4, SimTime::ZERO, &mut rng, &mut out).with_roles(&roles));
        let sent = out
            .into_iter()
            .filter_map(|c| match c {
                Command::Send { to, msg } => Some((to, msg)),
                _ => None,
            })
            .collect();
        (t, sent)
    }

    fn with_ctx(
        c: &mut CacheNode,
        f: impl FnOnce(&mut CacheNode, &mut Ctx<Caching>),
    ) -> Vec<(NodeId, CacheMsg)> {
        run(|ctx| f(c, ctx)).1
    }

    fn item(v: &str, wid: u64) -> Item {
        Item {
            value: v.into(),
            wid,
        }
    }

    fn cache(cfg: CachingConfig) -> CacheNode {
        run(|ctx| CacheNode::new(&cfg, ctx)).0
    }

    #[test]
    fn a_set_whose_lease_an_invalidation_revoked_is_refused() {
        // NSDI 2013, 3.2.1: "a lease token ... the client provides [it] when setting the
        // value ... memcached [verifies it and] will invalidate lease tokens if it has
        // received a delete request for that item since issuing that token."
        let mut c = cache(CachingConfig {
            leases: true,
            ..Default::default()
        });
        let sent = with_ctx(&mut c, |c, ctx| {
            c.on_message(
                1,
                CacheMsg::Get {
                    id: 5,
                    key: "k1".into(),
                },
                ctx,
            )
        });
        let Some((
            _,
            CacheMsg::Value {
                lease: Some(token),
                hit: false,
                ..
            },
        )) = sent.first().cloned()
        else {
            panic!("a miss hands out a lease: {sent:?}");
        };
        with_ctx(&mut c, |c, ctx| {
            c.on_message(
                1,
                CacheMsg::Invalidate {
                    id: 6,
                    key: "k1".into(),
                },
                ctx,
            );
            let set = CacheMsg::Set {
                key: "k1".into(),
                item: item("old", 0),
                lease: Some(token),
            };
            c.on_message(1, set, ctx);
        });
        assert!(
            !c.store.contains("k1"),
            "the revoked lease's Set was stored"
        );
    }

    #[test]
    fn a_load_overtaken_by_an_invalidation_is_not_stored() {
        let mut c = cache(CachingConfig {
            strategy: Strategy::ReadThrough,
            ..Default::default()
        });
        let sent = with_ctx(&mut c, |c, ctx| {
            c.on_message(
                1,
                CacheMsg::Get {
                    id: 5,
                    key: "k1".into(),
                },
                ctx,
            )
        });
        let Some((3, CacheMsg::DbRead { id: load, .. })) = sent.first().cloned() else {
            panic!("a read-through miss reads the database: {sent:?}");
        };
        let sent = with_ctx(&mut c, |c, ctx| {
            c.on_message(
                1,
                CacheMsg::Invalidate {
                    id: 6,
                    key: "k1".into(),
                },
                ctx,
            );
            let row = CacheMsg::Row {
                id: load,
                key: "k1".into(),
                item: Some(item("old", 0)),
            };
            c.on_message(3, row, ctx);
        });
        assert!(!c.store.contains("k1"));
        assert!(
            sent.iter()
                .any(|(to, m)| *to == 3 && matches!(m, CacheMsg::DbRead { .. })),
            "the waiting reader's load starts again: {sent:?}"
        );
    }

    #[test]
    fn write_behind_acks_at_once_and_absorbs_a_second_write_until_the_flush() {
        let mut c = cache(CachingConfig {
            strategy: Strategy::WriteBehind {
                delay: SimTime::from_millis(100),
                batch: 10,
            },
            ..Default::default()
        });
        let sent = with_ctx(&mut c, |c, ctx| {
            for (id, v) in [(7, "a"), (11, "b")] {
                let w = CacheMsg::Write {
                    id,
                    key: "k1".into(),
                    item: item(v, id),
                };
                c.on_message(1, w, ctx);
            }
        });
        assert_eq!(
            sent,
            vec![
                (1, CacheMsg::Written { id: 7 }),
                (1, CacheMsg::Written { id: 11 })
            ]
        );
        assert!(c.holds_unflushed("k1", 7) && c.holds_unflushed("k1", 11));
        let sent = with_ctx(&mut c, |c, ctx| c.on_timer(CacheTimer::Flush, ctx));
        let [(3, CacheMsg::DbWrite { writes, .. })] = &sent[..] else {
            panic!("one batch to the database: {sent:?}");
        };
        assert_eq!(writes[0].item, item("b", 11));
        assert_eq!(writes[0].absorbed, vec![7]);
    }
}
