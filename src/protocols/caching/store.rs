//! One cache's memory: at most `capacity` entries, and an eviction policy that picks the
//! victim when a new key arrives at a full cache (the caching guide's "LRU / LFU / TTL").
//!
//! - `Lru`: evict the entry read or written longest ago.
//! - `Lfu`: evict the entry read the fewest times (ties: the older one).
//! - `Fifo`: evict the entry inserted first, whatever its use.
//! - `Ttl(ttl)`: every entry expires `ttl` after it was stored (a later read misses); a full
//!   cache evicts the entry closest to expiry.
//!
//! Each policy keeps an ordered index (`BTreeSet` of (rank, key)) next to the entries, so a
//! lookup, an insert and an eviction cost O(log n) and iteration order never depends on hashing.

use super::Item;
use crate::sim::SimTime;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// `eviction:` in the config.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Eviction {
    #[default]
    Lru,
    Lfu,
    Fifo,
    /// Entries expire this long after they were stored.
    Ttl(SimTime),
}

#[derive(Clone, Debug)]
struct Entry {
    item: Item,
    /// The entry's position in `order`.
    rank: (u64, u64),
    stored_at: SimTime,
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Hit {
        item: Item,
        stored_at: SimTime,
    },
    /// Absent, or present but expired (the entry is removed).
    Miss {
        expired: bool,
    },
}

#[derive(Clone, Debug)]
pub struct Store {
    pub policy: Eviction,
    pub capacity: usize,
    entries: BTreeMap<String, Entry>,
    /// (rank, key), the victim first.
    order: BTreeSet<((u64, u64), String)>,
    /// A logical clock for LRU and FIFO ranks and LFU tie-breaks.
    tick: u64,
    pub evictions: u64,
}

impl Store {
    pub fn new(policy: Eviction, capacity: usize) -> Self {
        Store {
            policy,
            capacity,
            entries: BTreeMap::new(),
            order: BTreeSet::new(),
            tick: 0,
            evictions: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    fn expiry(&self, e: &Entry) -> Option<SimTime> {
        match self.policy {
            Eviction::Ttl(ttl) => Some(e.stored_at + ttl),
            _ => None,
        }
    }

    fn rerank(&mut self, key: &str, rank: (u64, u64)) {
        let e = self.entries.get_mut(key).expect("ranked entry");
        let old = std::mem::replace(&mut e.rank, rank);
        self.order.remove(&(old, key.to_string()));
        self.order.insert((rank, key.to_string()));
    }

    /// Reads `key` at `now`: a hit refreshes its rank (LRU: now most recent; LFU: one more use).
    pub fn get(&mut self, key: &str, now: SimTime) -> Lookup {
        let Some(e) = self.entries.get(key) else {
            return Lookup::Miss { expired: false };
        };
        if self.expiry(e).is_some_and(|x| x <= now) {
            self.remove(key);
            return Lookup::Miss { expired: true };
        }
        let (item, stored_at, rank) = (e.item.clone(), e.stored_at, e.rank);
        self.tick += 1;
        match self.policy {
            Eviction::Lru => self.rerank(key, (self.tick, 0)),
            Eviction::Lfu => self.rerank(key, (rank.0 + 1, self.tick)),
            Eviction::Fifo | Eviction::Ttl(_) => {}
        }
        Lookup::Hit { item, stored_at }
    }

    /// Stores `item` under `key` at `now`, evicting one entry if the cache is full; returns the
    /// evicted key.
    pub fn put(&mut self, key: &str, item: Item, now: SimTime) -> Option<String> {
        self.tick += 1;
        if let Some(e) = self.entries.get_mut(key) {
            e.item = item;
            e.stored_at = now;
            let rank = match self.policy {
                Eviction::Lru => (self.tick, 0),
                Eviction::Lfu => (e.rank.0 + 1, self.tick),
                Eviction::Fifo => e.rank,
                Eviction::Ttl(ttl) => ((now + ttl).as_micros(), self.tick),
            };
            self.rerank(key, rank);
            return None;
        }
        let mut evicted = None;
        if self.capacity == 0 {
            return None;
        }
        if self.entries.len() >= self.capacity
            && let Some((_, victim)) = self.order.first().cloned()
        {
            self.remove(&victim);
            self.evictions += 1;
            evicted = Some(victim);
        }
        let rank = match self.policy {
            Eviction::Lru | Eviction::Fifo => (self.tick, 0),
            Eviction::Lfu => (1, self.tick),
            Eviction::Ttl(ttl) => ((now + ttl).as_micros(), self.tick),
        };
        self.order.insert((rank, key.to_string()));
        self.entries.insert(
            key.to_string(),
            Entry {
                item,
                rank,
                stored_at: now,
            },
        );
        evicted
    }

    pub fn remove(&mut self, key: &str) -> Option<Item> {
        let e = self.entries.remove(key)?;
        self.order.remove(&(e.rank, key.to_string()));
        Some(e.item)
    }

    /// The keys from the next victim to the last, for the inspector.
    pub fn keys_by_rank(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(|(_, k)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(w: u64) -> Item {
        Item {
            value: w.to_string(),
            wid: w,
        }
    }
    fn ms(m: u64) -> SimTime {
        SimTime::from_millis(m)
    }

    #[test]
    fn lru_evicts_the_entry_used_longest_ago() {
        let mut s = Store::new(Eviction::Lru, 2);
        s.put("a", item(1), ms(0));
        s.put("b", item(2), ms(1));
        assert!(matches!(s.get("a", ms(2)), Lookup::Hit { .. }));
        assert_eq!(s.put("c", item(3), ms(3)), Some("b".to_string()));
        assert!(s.contains("a") && s.contains("c"));
    }

    #[test]
    fn lfu_evicts_the_entry_read_the_fewest_times() {
        let mut s = Store::new(Eviction::Lfu, 2);
        s.put("a", item(1), ms(0));
        s.put("b", item(2), ms(1));
        s.get("a", ms(2));
        s.get("a", ms(3));
        s.get("b", ms(4));
        // a: 3 uses, b: 2 uses.
        assert_eq!(s.put("c", item(3), ms(5)), Some("b".to_string()));
    }

    #[test]
    fn fifo_evicts_the_first_inserted_however_often_it_is_read() {
        let mut s = Store::new(Eviction::Fifo, 2);
        s.put("a", item(1), ms(0));
        s.put("b", item(2), ms(1));
        for t in 2..10 {
            s.get("a", ms(t));
        }
        assert_eq!(s.put("c", item(3), ms(10)), Some("a".to_string()));
    }

    #[test]
    fn a_ttl_entry_expires_and_a_full_ttl_cache_evicts_the_one_closest_to_expiry() {
        let mut s = Store::new(Eviction::Ttl(ms(100)), 2);
        s.put("a", item(1), ms(0));
        s.put("b", item(2), ms(50));
        assert!(matches!(s.get("a", ms(99)), Lookup::Hit { .. }));
        assert_eq!(s.get("a", ms(100)), Lookup::Miss { expired: true });
        s.put("a", item(3), ms(120)); // expires at 220; b at 150
        assert_eq!(s.put("c", item(4), ms(130)), Some("b".to_string()));
    }

    #[test]
    fn a_zero_capacity_cache_stores_nothing() {
        let mut s = Store::new(Eviction::Lru, 0);
        assert_eq!(s.put("a", item(1), ms(0)), None);
        assert!(s.is_empty());
    }
}
