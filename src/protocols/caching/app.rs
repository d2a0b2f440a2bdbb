//! The app tier: turns a user request into cache and database calls, following the configured
//! strategy (see the table in the module header), with an optional in-process L1.

use super::store::Lookup;
use super::{
    CacheMsg, CacheTimer, Caching, CachingConfig, DbWriteRow, Eviction, Item, OnWrite, Ring, Store,
    Strategy, WINDOW, key_of,
};
use crate::sim::{Ctx, NodeId, NodeView, Op, SimTime, Tone};
use std::collections::{BTreeMap, VecDeque};

/// Attempts before an app server gives up on a database write, load or invalidation.
const MAX_ATTEMPTS: u32 = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for the cache's hit or miss.
    CacheGet,
    /// Reading the database; `fill` the cache afterwards with `lease`.
    DbRead {
        lease: Option<u64>,
        fill: bool,
    },
    /// Waiting behind another request's database read of the same key (coalescing).
    Coalesced,
    DbWrite,
    /// Telling the cache about a committed write (`on_write`).
    AfterWrite,
    /// Writing through or behind the cache.
    CacheWrite,
    /// The bug: deleting the cache entry before writing the database.
    InvalidateFirst,
}

#[derive(Clone, Debug)]
struct Pending {
    client: NodeId,
    key: String,
    /// The value of a put.
    put: Option<Item>,
    stage: Stage,
    attempts: u32,
    /// Already answered (the ack-before-invalidate bug answers early).
    answered: bool,
}

#[derive(Clone, Debug)]
pub struct AppServer {
    pub ring: Ring,
    pending: BTreeMap<u64, Pending>,
    pub l1: Option<Store>,
    /// L1 lookups in the last [`WINDOW`]: (when, hit).
    pub l1_recent: VecDeque<(SimTime, bool)>,
    /// Cache-aside coalescing: the requests waiting for a key's database read, the reader
    /// first.
    flights: BTreeMap<String, Vec<u64>>,
    /// The fraction of `k0..key_space` whose cache node changed at the last membership change.
    pub moved_fraction: f64,
    strategy: Strategy,
    on_write: OnWrite,
    coalesce: bool,
    cache_timeout: SimTime,
    retry: SimTime,
    work: SimTime,
    key_space: u32,
    bug_invalidate_before_write: bool,
}

impl AppServer {
    pub fn new(cfg: &CachingConfig, ctx: &Ctx<Caching>) -> Self {
        let caches = ctx.nodes_of("cache");
        let members =
            caches[..cfg.initial_caches.unwrap_or(caches.len()).min(caches.len())].to_vec();
        AppServer {
            ring: Ring::new(cfg.placement, members),
            pending: BTreeMap::new(),
            l1: cfg.l1.map(|l| Store::new(Eviction::Ttl(l.ttl), l.capacity)),
            l1_recent: VecDeque::new(),
            flights: BTreeMap::new(),
            moved_fraction: 0.0,
            strategy: cfg.strategy,
            on_write: cfg.on_write(),
            coalesce: cfg.coalesce,
            cache_timeout: if cfg.strategy.cache_loads() {
                cfg.load_timeout
            } else {
                cfg.cache_timeout
            },
            retry: cfg.retry,
            work: cfg.app_work,
            key_space: cfg.key_space,
            bug_invalidate_before_write: cfg.bug_invalidate_before_write,
        }
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn db_of(&self, key: &str, ctx: &Ctx<Caching>) -> Option<NodeId> {
        crate::protocols::three_tier::owner(key, ctx.nodes_of("db"))
    }

    fn l1_lookup(&mut self, key: &str, now: SimTime) -> Option<Item> {
        let l1 = self.l1.as_mut()?;
        let hit = match l1.get(key, now) {
            Lookup::Hit { item, .. } => Some(item),
            Lookup::Miss { .. } => None,
        };
        self.l1_recent.push_back((now, hit.is_some()));
        while self
            .l1_recent
            .front()
            .is_some_and(|&(t, _)| t + WINDOW <= now)
        {
            self.l1_recent.pop_front();
        }
        hit
    }

    fn on_request(&mut self, client: NodeId, id: u64, op: Op, ctx: &mut Ctx<Caching>) {
        let Some((key, value)) = key_of(&op) else {
            return;
        };
        let put = value.map(|v| Item {
            value: v.to_string(),
            wid: id,
        });
        let p = Pending {
            client,
            key: key.to_string(),
            put: put.clone(),
            stage: Stage::CacheGet,
            attempts: 0,
            answered: false,
        };
        if let Some(item) = put {
            if let Some(l1) = &mut self.l1 {
                l1.remove(key);
            }
            self.pending.insert(id, p);
            match self.ring.owner(key) {
                Some(cache) if self.strategy.writes_via_cache() => {
                    let key = key.to_string();
                    self.send_stage(
                        id,
                        Stage::CacheWrite,
                        cache,
                        CacheMsg::Write { id, key, item },
                        ctx,
                    );
                }
                _ => self.db_write(id, ctx),
            }
            return;
        }
        if let Some(item) = self.l1_lookup(key, ctx.now) {
            ctx.count("l1_hits", 1);
            ctx.work(self.work);
            ctx.send(
                client,
                CacheMsg::Response {
                    id,
                    item: Some(item),
                },
            );
            return;
        }
        self.pending.insert(id, p);
        match self.ring.owner(key) {
            Some(cache) => {
                let key = key.to_string();
                self.pending.get_mut(&id).expect("inserted").stage = Stage::CacheGet;
                ctx.send(cache, CacheMsg::Get { id, key });
                ctx.set_timer(CacheTimer::CacheTimeout(id), self.cache_timeout);
            }
            None => self.db_read(id, None, false, ctx),
        }
    }

    /// Moves request `id` to `stage`, sends `msg` and arms the retry timer.
    fn send_stage(
        &mut self,
        id: u64,
        stage: Stage,
        to: NodeId,
        msg: CacheMsg,
        ctx: &mut Ctx<Caching>,
    ) {
        if let Some(p) = self.pending.get_mut(&id) {
            p.stage = stage;
        }
        ctx.send(to, msg);
        ctx.set_timer(CacheTimer::Retry(id), self.retry);
    }

    fn db_write(&mut self, id: u64, ctx: &mut Ctx<Caching>) {
        let Some(p) = self.pending.get(&id) else {
            return;
        };
        let (key, item) = (p.key.clone(), p.put.clone().expect("a put"));
        let Some(db) = self.db_of(&key, ctx) else {
            return;
        };
        let row = DbWriteRow {
            key,
            item,
            absorbed: Vec::new(),
        };
        let msg = CacheMsg::DbWrite {
            id,
            writes: vec![row],
        };
        self.send_stage(id, Stage::DbWrite, db, msg, ctx);
    }

    fn db_read(&mut self, id: u64, lease: Option<u64>, fill: bool, ctx: &mut Ctx<Caching>) {
        let Some(key) = self.pending.get(&id).map(|p| p.key.clone()) else {
            return;
        };
        if self.coalesce {
            let waiting = self.flights.entry(key.clone()).or_default();
            waiting.push(id);
            if waiting.len() > 1 {
                ctx.count("coalesced", 1);
                self.pending.get_mut(&id).expect("pending").stage = Stage::Coalesced;
                return;
            }
        }
        let Some(db) = self.db_of(&key, ctx) else {
            return;
        };
        let stage = Stage::DbRead { lease, fill };
        self.send_stage(id, stage, db, CacheMsg::DbRead { id, key }, ctx);
    }

    /// Answers request `id`'s client (once).
    fn answer(&mut self, id: u64, item: Option<Item>, ctx: &mut Ctx<Caching>) {
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        if p.answered {
            return;
        }
        p.answered = true;
        let client = p.client;
        if p.put.is_none()
            && let (Some(l1), Some(i)) = (&mut self.l1, &item)
        {
            l1.put(&p.key, i.clone(), ctx.now);
        }
        ctx.work(self.work);
        ctx.send(client, CacheMsg::Response { id, item });
    }

    fn finish(&mut self, id: u64, item: Option<Item>, ctx: &mut Ctx<Caching>) {
        self.answer(id, item, ctx);
        self.pending.remove(&id);
        ctx.cancel_timer(CacheTimer::Retry(id));
    }

    pub fn on_message(&mut self, from: NodeId, msg: CacheMsg, ctx: &mut Ctx<Caching>) {
        match msg {
            CacheMsg::Request { id, op } => self.on_request(from, id, op, ctx),
            CacheMsg::Value {
                id,
                hit,
                item,
                lease,
                ..
            } => self.on_value(id, hit, item, lease, ctx),
            CacheMsg::Row { id, key, item } => self.on_row(id, key, item, ctx),
            CacheMsg::DbWritten { id, .. } => self.on_db_written(id, ctx),
            CacheMsg::Written { id } => {
                if self.pending.get(&id).map(|p| p.stage) == Some(Stage::InvalidateFirst) {
                    return self.db_write(id, ctx);
                }
                if matches!(
                    self.pending.get(&id).map(|p| p.stage),
                    Some(Stage::AfterWrite | Stage::CacheWrite)
                ) {
                    let item = self.pending[&id].put.clone();
                    self.finish(id, item, ctx);
                }
            }
            CacheMsg::Join { member } => self.on_join(from, member, ctx),
            _ => {}
        }
    }

    fn on_value(
        &mut self,
        id: u64,
        hit: bool,
        item: Option<Item>,
        lease: Option<u64>,
        ctx: &mut Ctx<Caching>,
    ) {
        if self.pending.get(&id).map(|p| p.stage) != Some(Stage::CacheGet) {
            return; // timed out meanwhile and read the database
        }
        ctx.cancel_timer(CacheTimer::CacheTimeout(id));
        if hit || self.strategy.cache_loads() {
            self.finish(id, item, ctx);
        } else {
            self.db_read(id, lease, true, ctx);
        }
    }

    fn on_row(&mut self, id: u64, key: String, item: Option<Item>, ctx: &mut Ctx<Caching>) {
        let Some(Stage::DbRead { lease, fill }) = self.pending.get(&id).map(|p| p.stage) else {
            return;
        };
        if fill && let (Some(i), Some(cache)) = (&item, self.ring.owner(&key)) {
            let item = i.clone();
            ctx.send(
                cache,
                CacheMsg::Set {
                    key: key.clone(),
                    item,
                    lease,
                },
            );
        }
        let waiting = if self.coalesce {
            self.flights.remove(&key).unwrap_or_default()
        } else {
            vec![id]
        };
        for w in waiting {
            self.finish(w, item.clone(), ctx);
        }
    }

    fn on_db_written(&mut self, id: u64, ctx: &mut Ctx<Caching>) {
        let Some(p) = self.pending.get(&id) else {
            return;
        };
        if p.stage != Stage::DbWrite {
            return;
        }
        let (key, item) = (p.key.clone(), p.put.clone().expect("a put"));
        let cache = self.ring.owner(&key);
        let msg = match (self.on_write, cache) {
            _ if self.bug_invalidate_before_write => None, // invalidated before
            (_, None) | (OnWrite::Nothing, _) => None,
            _ if self.strategy.writes_via_cache() => None, // no cache member: db only
            (OnWrite::Delete, Some(_)) => Some(CacheMsg::Invalidate { id, key }),
            (OnWrite::Update, Some(_)) => Some(CacheMsg::Update {
                id,
                key,
                item: item.clone(),
            }),
        };
        match (msg, cache) {
            (Some(msg), Some(cache)) => {
                self.send_stage(id, Stage::AfterWrite, cache, msg, ctx);
            }
            _ => self.finish(id, Some(item), ctx),
        }
    }

    fn on_join(&mut self, cache: NodeId, member: bool, ctx: &mut Ctx<Caching>) {
        let next = self.ring.with(cache, member);
        if next == self.ring {
            return;
        }
        let keys: Vec<String> = (0..self.key_space).map(|i| format!("k{i}")).collect();
        let moved = self.ring.moved(&next, keys.iter().map(String::as_str));
        self.moved_fraction = moved as f64 / f64::from(self.key_space);
        ctx.count("keys_moved", moved as u64);
        ctx.note(format!(
            "cache {cache} {}: {moved} of {} keys change cache node",
            if member { "joined" } else { "left" },
            self.key_space
        ));
        self.ring = next;
    }

    pub fn on_timer(&mut self, timer: CacheTimer, ctx: &mut Ctx<Caching>) {
        match timer {
            CacheTimer::CacheTimeout(id) => {
                if self.pending.get(&id).map(|p| p.stage) == Some(Stage::CacheGet) {
                    ctx.count("cache_timeouts", 1);
                    self.db_read(id, None, false, ctx);
                }
            }
            CacheTimer::Retry(id) => self.retry(id, ctx),
            CacheTimer::Flush => {}
        }
    }

    /// Sends request `id`'s last message again, or gives up after [`MAX_ATTEMPTS`].
    fn retry(&mut self, id: u64, ctx: &mut Ctx<Caching>) {
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        p.attempts += 1;
        if p.attempts >= MAX_ATTEMPTS {
            let key = p.key.clone();
            self.pending.remove(&id);
            // A coalesced read's waiters give up with their reader.
            if self.flights.get(&key).and_then(|w| w.first()) == Some(&id) {
                for w in self.flights.remove(&key).unwrap_or_default() {
                    self.pending.remove(&w);
                }
            }
            ctx.count("gave_up", 1);
            return;
        }
        let (stage, key, put) = (p.stage, p.key.clone(), p.put.clone());
        let cache = self.ring.owner(&key);
        match stage {
            Stage::DbRead { .. } => {
                if let Some(db) = self.db_of(&key, ctx) {
                    self.send_stage(id, stage, db, CacheMsg::DbRead { id, key }, ctx);
                }
            }
            Stage::DbWrite => self.db_write(id, ctx),
            Stage::AfterWrite | Stage::CacheWrite | Stage::InvalidateFirst => {
                let Some(cache) = cache else {
                    // The cache left: nothing to tell it (after-write), or write the db.
                    return if stage != Stage::AfterWrite {
                        self.db_write(id, ctx)
                    } else {
                        self.finish(id, put, ctx)
                    };
                };
                let item = put.expect("a put");
                let msg = match (stage, self.on_write) {
                    (Stage::CacheWrite, _) => CacheMsg::Write { id, key, item },
                    (Stage::InvalidateFirst, _) => CacheMsg::Invalidate { id, key },
                    (_, OnWrite::Update) => CacheMsg::Update { id, key, item },
                    _ => CacheMsg::Invalidate { id, key },
                };
                self.send_stage(id, stage, cache, msg, ctx);
            }
            Stage::CacheGet | Stage::Coalesced => {}
        }
    }

    pub fn view(&self) -> NodeView {
        let mut v = NodeView::new("app", Tone::Follower).field("in flight", self.pending.len());
        if let Some(l1) = &self.l1 {
            v = v.field("L1 entries", l1.len());
        }
        v.field("caches", self.ring.members().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::RoleTable;
    use rand::SeedableRng;

    #[test]
    fn a_cache_node_joining_and_leaving_changes_the_placement_and_counts_the_moved_keys() {
        let roles = RoleTable::new(
            &["client", "app", "cache", "db"],
            &["client", "app", "cache", "cache", "cache", "db"].map(String::from),
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut out = Vec::new();
        let mut ctx = Ctx::new(1, 6, SimTime::ZERO, &mut rng, &mut out).with_roles(&roles);
        let cfg = CachingConfig {
            initial_caches: Some(2),
            key_space: 3000,
            ..Default::default()
        };
        let mut app = AppServer::new(&cfg, &ctx);
        assert_eq!(app.ring.members(), &[2, 3]);
        app.on_message(4, CacheMsg::Join { member: true }, &mut ctx);
        assert_eq!(app.ring.members(), &[2, 3, 4]);
        // Modulo: a key stays only if hash mod 2 == hash mod 3, one key in three.
        assert!(
            (app.moved_fraction - 2.0 / 3.0).abs() < 0.05,
            "{}",
            app.moved_fraction
        );
        app.on_message(2, CacheMsg::Join { member: false }, &mut ctx);
        assert_eq!(app.ring.members(), &[3, 4]);
    }
}
