//! The database: the source of truth behind the cache, slower than it (its service model in
//! the scenario says how much). It applies reads and writes, and keeps every commit in a
//! write-ahead log that survives a crash, from which a restart rebuilds the table.
//!
//! The log also answers the checkers' question "which write of this key was the newest at time
//! t?", so a read can be classified fresh or stale against the database's committed history.

use super::message::{CacheMsg, DbWriteRow};
use super::{Caching, Item};
use crate::sim::{Ctx, NodeId, SimTime};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// One committed write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub key: String,
    /// The value written and its write id (`value` is empty for a write a write-behind batch
    /// absorbed: it was overwritten in the cache before the flush).
    pub item: Item,
    pub at: SimTime,
}

const CHUNK: usize = 256;

/// An append-only log that is cheap to copy: full chunks are shared, only the tail is copied.
/// Persisting it after every commit therefore costs O(n / 256 + 256), not O(n).
#[derive(Clone, Debug, Default)]
pub struct Wal {
    chunks: Vec<Arc<[Commit]>>,
    tail: Vec<Commit>,
}

impl Wal {
    pub fn push(&mut self, c: Commit) {
        self.tail.push(c);
        if self.tail.len() == CHUNK {
            self.chunks.push(std::mem::take(&mut self.tail).into());
        }
    }
    pub fn len(&self) -> usize {
        self.chunks.len() * CHUNK + self.tail.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The commits from position `from` on.
    pub fn from(&self, from: usize) -> impl Iterator<Item = &Commit> {
        let first = from / CHUNK;
        self.chunks
            .iter()
            .skip(first)
            .flat_map(|c| c.iter())
            .chain(self.tail.iter())
            .skip(from - first.min(self.chunks.len()) * CHUNK)
    }
}

/// Per key, the writes in commit order with their commit times.
pub type Index = BTreeMap<String, Vec<(u64, SimTime)>>;

/// Adds the log's commits from `from` on to `index`.
pub fn index_from(wal: &Wal, from: usize, index: &mut Index) {
    for c in wal.from(from) {
        index
            .entry(c.key.clone())
            .or_default()
            .push((c.item.wid, c.at));
    }
}

/// How stale a read was: it began at `invoked` and returned the value of write `wid` (`None`:
/// the key was absent). It is stale if a write committed after `wid` (in `commits`, the
/// key's commit order) had been acknowledged to its client (`acked`) before the read began;
/// the staleness is how long before. A write still in flight when the read began may or may
/// not be seen, and a value the database does not have yet (an acknowledged write-behind
/// write not flushed) is not stale.
pub fn staleness(
    commits: &[(u64, SimTime)],
    wid: Option<u64>,
    invoked: SimTime,
    acked: impl Fn(u64) -> Option<SimTime>,
) -> Option<SimTime> {
    let after = match wid {
        None => 0,
        Some(w) => commits.iter().rposition(|&(c, _)| c == w)? + 1,
    };
    commits[after..]
        .iter()
        .filter_map(|&(w, _)| acked(w))
        .filter(|&a| a < invoked)
        .min()
        .map(|a| invoked - a)
}

#[derive(Clone, Debug, Default)]
pub struct Database {
    pub table: BTreeMap<String, Item>,
    pub wal: Wal,
    /// `wal` indexed by key, rebuilt from it on restart.
    pub index: Index,
    pub reads: u64,
    pub writes: u64,
    /// When recent queries arrived (the last second), for the db-load series.
    pub recent: VecDeque<SimTime>,
}

impl Database {
    /// A database holding `k0..keys` with the value `0` (write id 0), committed at time 0,
    /// so that reads find rows from the start.
    pub fn preloaded(keys: u32, ctx: &mut Ctx<Caching>) -> Self {
        let mut db = Database::default();
        for i in 0..keys {
            let item = Item {
                value: "0".to_string(),
                wid: 0,
            };
            let key = format!("k{i}");
            db.commit(&key, item.clone(), ctx);
            db.table.insert(key, item);
        }
        if keys > 0 {
            ctx.persist(db.wal.clone());
        }
        db
    }

    pub fn recover(wal: &Wal) -> Self {
        let mut db = Database {
            wal: wal.clone(),
            ..Default::default()
        };
        index_from(wal, 0, &mut db.index);
        for c in wal.from(0) {
            db.table.insert(c.key.clone(), c.item.clone());
        }
        db
    }

    fn note_query(&mut self, now: SimTime) {
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|&t| t + super::WINDOW <= now)
        {
            self.recent.pop_front();
        }
    }

    /// Queries per second over the last [`super::WINDOW`] before `at`.
    pub fn load(&self, at: SimTime) -> f64 {
        let n = self
            .recent
            .iter()
            .filter(|&&t| t + super::WINDOW > at)
            .count();
        n as f64 / super::WINDOW.as_secs_f64()
    }

    fn already_committed(&self, key: &str, wid: u64) -> bool {
        self.index
            .get(key)
            .is_some_and(|c| c.iter().rev().any(|&(w, _)| w == wid))
    }

    fn commit(&mut self, key: &str, item: Item, ctx: &Ctx<Caching>) {
        self.index
            .entry(key.to_string())
            .or_default()
            .push((item.wid, ctx.now));
        self.wal.push(Commit {
            key: key.to_string(),
            item,
            at: ctx.now,
        });
    }

    pub fn on_message(&mut self, from: NodeId, msg: CacheMsg, ctx: &mut Ctx<Caching>) {
        match msg {
            CacheMsg::DbRead { id, key } => {
                self.note_query(ctx.now);
                self.reads += 1;
                ctx.count("db_reads", 1);
                let item = self.table.get(&key).cloned();
                ctx.send(from, CacheMsg::Row { id, key, item });
            }
            CacheMsg::DbWrite { id, writes } => {
                self.note_query(ctx.now);
                self.writes += 1;
                ctx.count("db_writes", 1);
                self.apply(&writes, ctx);
                let current = match &writes[..] {
                    [w] => self.table.get(&w.key).cloned(),
                    _ => None,
                };
                ctx.send(from, CacheMsg::DbWritten { id, current });
            }
            _ => {}
        }
    }

    /// Applies a batch in order. A retried batch (its writes already committed) changes
    /// nothing: writes are identified by their `wid`.
    fn apply(&mut self, writes: &[DbWriteRow], ctx: &mut Ctx<Caching>) {
        let mut changed = false;
        for w in writes {
            if self.already_committed(&w.key, w.item.wid) {
                continue;
            }
            for &a in &w.absorbed {
                if !self.already_committed(&w.key, a) {
                    let overwritten = Item {
                        value: String::new(),
                        wid: a,
                    };
                    self.commit(&w.key, overwritten, ctx);
                }
            }
            self.commit(&w.key, w.item.clone(), ctx);
            self.table.insert(w.key.clone(), w.item.clone());
            changed = true;
        }
        if changed {
            ctx.persist(self.wal.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(m: u64) -> SimTime {
        SimTime::from_millis(m)
    }

    #[test]
    fn a_read_is_stale_when_a_newer_write_was_acknowledged_before_it_began() {
        let commits = [(7, ms(10)), (9, ms(20))];
        // w7 acknowledged at 12 ms, w9 at 24 ms.
        let acked = |w| match w {
            7 => Some(ms(12)),
            9 => Some(ms(24)),
            _ => None,
        };
        assert_eq!(staleness(&commits, Some(9), ms(30), acked), None, "newest");
        assert_eq!(
            staleness(&commits, Some(7), ms(15), acked),
            None,
            "newest when invoked"
        );
        assert_eq!(
            staleness(&commits, Some(7), ms(22), acked),
            None,
            "w9 committed but not acknowledged: concurrent with the read"
        );
        assert_eq!(staleness(&commits, Some(7), ms(25), acked), Some(ms(1)));
        assert_eq!(
            staleness(&commits, None, ms(13), acked),
            Some(ms(1)),
            "absent after w7"
        );
        assert_eq!(
            staleness(&commits, Some(11), ms(40), acked),
            None,
            "ahead of the database"
        );
    }

    #[test]
    fn the_log_copies_cheaply_and_reads_back_in_order_from_any_position() {
        let mut w = Wal::default();
        for i in 0..(CHUNK as u64 * 2 + 10) {
            w.push(Commit {
                key: format!("k{}", i % 3),
                item: Item {
                    value: String::new(),
                    wid: i,
                },
                at: ms(i),
            });
        }
        assert_eq!(w.len(), CHUNK * 2 + 10);
        for from in [0, 5, CHUNK, CHUNK + 1, 2 * CHUNK + 9, 2 * CHUNK + 10] {
            let got: Vec<u64> = w.from(from).map(|c| c.item.wid).collect();
            let want: Vec<u64> = (from as u64..(CHUNK as u64 * 2 + 10)).collect();
            assert_eq!(got, want, "from {from}");
        }
    }
}
