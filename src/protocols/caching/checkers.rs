//! What the caching family checks after every event, and the time series it measures.
//!
//! Both checkers read the client-visible history (each client node's completed reads and
//! acknowledged writes) against the database's write-ahead log, which survives crashes:
//!
//! - [`ReadsAreFresh`]: a read returns no value older than one whose write had been
//!   acknowledged (and so committed) before the read began; a write still in flight may or
//!   may not be seen. Registered only where the configuration promises it
//!   ([`CachingConfig::promises_fresh_reads`]); everywhere else stale reads are measured, not
//!   forbidden: the `stale_reads` and `staleness.max` series.
//! - [`NoAcknowledgedWriteLost`]: every acknowledged write is in the database or still held
//!   by a live cache that will flush it. Write-behind breaks it when a cache crashes with
//!   unflushed writes: "Acknowledged write lost".

use super::client::{ClientNode, acked_at};
use super::db::{Index, index_from, staleness};
use super::{Caching, CachingConfig, WINDOW};
use crate::protocols::three_tier::owner;
use crate::sim::{Failure, Gauge, Invariant, NodeId, SimTime, World};
use std::collections::BTreeMap;

/// The checkers this configuration gets.
pub fn all(cfg: &CachingConfig) -> Vec<Box<dyn Invariant<Caching>>> {
    let mut v: Vec<Box<dyn Invariant<Caching>>> =
        vec![Box::new(NoAcknowledgedWriteLost::default())];
    if cfg.promises_fresh_reads(1) {
        v.push(Box::new(ReadsAreFresh::new(cfg.clone())));
    }
    v
}

/// The databases' commit history, indexed by key, read incrementally from their logs.
#[derive(Default)]
struct Committed {
    seen: BTreeMap<NodeId, usize>,
    index: BTreeMap<NodeId, Index>,
}

impl Committed {
    fn update(&mut self, world: &World<Caching>) {
        for node in world.changed() {
            let wal = &world.durable[node];
            let seen = self.seen.entry(node).or_default();
            if wal.len() > *seen {
                index_from(wal, *seen, self.index.entry(node).or_default());
                *seen = wal.len();
            }
        }
    }

    fn commits(&self, db: NodeId, key: &str) -> &[(u64, SimTime)] {
        self.index
            .get(&db)
            .and_then(|i| i.get(key))
            .map_or(&[], Vec::as_slice)
    }
}

fn clients<'a>(world: &'a World<Caching>) -> impl Iterator<Item = (NodeId, &'a ClientNode)> {
    world.changed().filter_map(|n| match &world.states[n] {
        Some(Caching::Client(c)) => Some((n, c)),
        _ => None,
    })
}

/// Reads are fresh where the configuration promises it.
pub struct ReadsAreFresh {
    cfg: CachingConfig,
    committed: Committed,
    /// Per client node, the reads already checked.
    cursor: BTreeMap<NodeId, usize>,
}

impl ReadsAreFresh {
    pub fn new(cfg: CachingConfig) -> Self {
        ReadsAreFresh {
            cfg,
            committed: Committed::default(),
            cursor: BTreeMap::new(),
        }
    }
}

impl Invariant<Caching> for ReadsAreFresh {
    fn name(&self) -> &'static str {
        "Reads Are Fresh"
    }
    fn statement(&self) -> &'static str {
        "a read never returns a value older than a write acknowledged before the read began"
    }
    fn check(&mut self, world: &World<Caching>) -> Result<(), Failure> {
        self.committed.update(world);
        for (node, c) in clients(world) {
            if !self.cfg.promises_fresh_reads(c.caches) {
                continue;
            }
            let cursor = self.cursor.entry(node).or_default();
            if c.reads.len() < *cursor {
                *cursor = 0; // the client node restarted
            }
            for r in &c.reads[*cursor..] {
                let Some(db) = owner(&r.key, &c.dbs) else {
                    continue;
                };
                let commits = self.committed.commits(db, &r.key);
                if let Some(late) =
                    staleness(commits, r.wid, r.invoked, |w| acked_at(world.states, w))
                {
                    let got = r
                        .wid
                        .map_or("nothing (absent)".to_string(), |w| format!("w{w}"));
                    return Err(Failure::new(
                        format!(
                            "Stale read: get {} began at {} and returned {got}, although a newer \
                             write had been acknowledged {late} before",
                            r.key, r.invoked
                        ),
                        vec![node, db],
                    ));
                }
            }
            *cursor = c.reads.len();
        }
        Ok(())
    }
}

/// Acknowledged writes survive.
#[derive(Default)]
pub struct NoAcknowledgedWriteLost {
    committed: Committed,
    cursor: BTreeMap<NodeId, usize>,
    /// Acknowledged writes not yet seen in a database: wid → (key, client node, db).
    pending: BTreeMap<u64, (String, NodeId, NodeId)>,
}

impl Invariant<Caching> for NoAcknowledgedWriteLost {
    fn name(&self) -> &'static str {
        "No Acknowledged Write Lost"
    }
    fn statement(&self) -> &'static str {
        "every acknowledged write is in the database or held by a live cache that will flush it"
    }
    fn check(&mut self, world: &World<Caching>) -> Result<(), Failure> {
        self.committed.update(world);
        let mut new = false;
        for (node, c) in clients(world) {
            let cursor = self.cursor.entry(node).or_default();
            if c.writes.len() < *cursor {
                *cursor = 0;
            }
            for w in &c.writes[*cursor..] {
                if let Some(db) = owner(&w.key, &c.dbs) {
                    self.pending.insert(w.wid, (w.key.clone(), node, db));
                    new = true;
                }
            }
            *cursor = c.writes.len();
        }
        let committed = &self.committed;
        self.pending.retain(|&wid, (key, _, db)| {
            !committed.commits(*db, key).iter().any(|&(w, _)| w == wid)
        });
        // A write can only vanish with a cache's state: look when a crash or another action
        // happened, or when new acknowledgements arrived.
        if self.pending.is_empty() || !(new || world.touched.is_none()) {
            return Ok(());
        }
        let held = |key: &str, wid: u64| {
            world.states.iter().flatten().any(|s| match s {
                Caching::Cache(c) => c.holds_unflushed(key, wid),
                _ => false,
            })
        };
        for (&wid, (key, client, db)) in &self.pending {
            if !held(key, wid) {
                return Err(Failure::new(
                    format!(
                        "Acknowledged write lost: put {key} (w{wid}) was acknowledged, but \
                         it is neither in the database nor in any live cache"
                    ),
                    vec![*client, *db],
                ));
            }
        }
        Ok(())
    }
}

/// The family's time series at `at`: hit ratios and misses per second (per cache node,
/// overall, per L1), evictions so far per cache node, database load, stale reads in the last
/// second and their worst staleness, unflushed writes.
pub fn gauges(cfg: &CachingConfig, at: SimTime, states: &[Option<Caching>], out: &mut Vec<Gauge>) {
    let (mut hits, mut lookups, mut db_load, mut dirty, mut moved) = (0, 0, 0.0, 0, 0.0f64);
    let mut dbs: BTreeMap<NodeId, &Index> = BTreeMap::new();
    for (node, s) in states.iter().enumerate() {
        match s {
            Some(Caching::Cache(c)) => {
                if let Some((h, n)) = c.hit_ratio(at) {
                    hits += h;
                    lookups += n;
                    let value = h as f64 / n as f64;
                    out.push(Gauge {
                        name: "hit_ratio",
                        node: Some(node),
                        value,
                    });
                    let value = (n - h) as f64 / WINDOW.as_secs_f64();
                    out.push(Gauge {
                        name: "misses",
                        node: Some(node),
                        value,
                    });
                }
                let value = c.store.evictions as f64;
                out.push(Gauge {
                    name: "evictions",
                    node: Some(node),
                    value,
                });
                dirty += c.dirty.len() + c.flushing.values().map(|(_, r)| r.len()).sum::<usize>();
            }
            Some(Caching::App(a)) => {
                moved = moved.max(a.moved_fraction);
                let recent = a.l1_recent.iter().filter(|&&(t, _)| t + WINDOW > at);
                let (h, n) = recent.fold((0, 0), |(h, n), &(_, hit)| (h + usize::from(hit), n + 1));
                if n > 0 {
                    let value = h as f64 / n as f64;
                    out.push(Gauge {
                        name: "l1.hit_ratio",
                        node: Some(node),
                        value,
                    });
                }
            }
            Some(Caching::Db(d)) => {
                db_load += d.load(at);
                dbs.insert(node, &d.index);
            }
            _ => {}
        }
    }
    if lookups > 0 {
        let value = hits as f64 / lookups as f64;
        out.push(Gauge {
            name: "hit_ratio",
            node: None,
            value,
        });
    }
    out.push(Gauge {
        name: "db_load",
        node: None,
        value: db_load,
    });
    if matches!(cfg.strategy, super::Strategy::WriteBehind { .. }) {
        out.push(Gauge {
            name: "dirty",
            node: None,
            value: dirty as f64,
        });
    }
    if moved > 0.0 {
        out.push(Gauge {
            name: "moved_fraction",
            node: None,
            value: moved,
        });
    }
    let (stale, worst) = recent_staleness(at, states, &dbs);
    out.push(Gauge {
        name: "stale_reads",
        node: None,
        value: stale as f64,
    });
    out.push(Gauge {
        name: "staleness.max",
        node: None,
        value: worst.as_secs_f64() * 1e3,
    });
}

/// Stale reads returned in the [`WINDOW`] before `at`, and the worst staleness among them.
fn recent_staleness(
    at: SimTime,
    states: &[Option<Caching>],
    dbs: &BTreeMap<NodeId, &Index>,
) -> (usize, SimTime) {
    let (mut stale, mut worst) = (0, SimTime::ZERO);
    for s in states.iter().flatten() {
        let Caching::Client(c) = s else { continue };
        for r in c
            .reads
            .iter()
            .rev()
            .take_while(|r| r.returned + WINDOW > at)
        {
            if r.returned > at {
                continue;
            }
            let Some(db) = owner(&r.key, &c.dbs) else {
                continue;
            };
            let Some(index) = dbs.get(&db) else { continue };
            let commits = index.get(&r.key).map_or(&[][..], Vec::as_slice);
            if let Some(late) = staleness(commits, r.wid, r.invoked, |w| acked_at(states, w)) {
                stale += 1;
                worst = worst.max(late);
            }
        }
    }
    (stale, worst)
}
