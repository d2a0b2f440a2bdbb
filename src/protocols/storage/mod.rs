//! Client-visible consistency of replicated storage, checked from the client history alone
//! (shared by the storage protocols: `leader_follower`, `leaderless`, `multi_leader`,
//! `partitioned`).
//!
//! Sources: W. Vogels, "Eventually Consistent" (CACM 52(1), 2009) and D. B. Terry et al.,
//! "Session Guarantees for Weakly Consistent Replicated Data" (PDIS 1994) for read-your-writes
//! and monotonic reads; M. Kleppmann, *Designing Data-Intensive Applications* (2017), ch. 5
//! ("Problems with Replication Lag") for stale reads on followers; M. Herlihy and J. Wing,
//! "Linearizability" (TOPLAS 1990) for the real-time order a fresh read respects.
//!
//! Every write a storage protocol accepts gets a [`Version`], its position in the order the
//! protocol serialises writes in, and the protocol tells the client: a write answers
//! `Ok("@2.5")` (written at version 2.5) and a read answers `Ok("37@2.5")` (the value 37, as
//! written at 2.5) or `Ok(None)` for a key never written. The checkers compare versions:
//!
//! ```text
//!  client 1:  [put k=37 ──ok @2.5]
//!  client 2:                         [get k ──ok 12@1.9]   misses @2.5: a stale read
//!  client 1:                              [get k ──ok 12@1.9]   also breaks read-your-writes
//!  client 3:         [get k ─ 37@2.5]  [get k ── 12@1.9]   goes back: breaks monotonic reads
//! ```
//!
//! Each checker counts every anomaly it sees (a protocol counter, reported by `distsim run`)
//! and fails only where the scenario's configuration promises the property; elsewhere the
//! anomaly is the lesson, and the count is what a scenario's expectations assert.

pub mod fresh_reads;
pub mod lost_updates;
pub mod monotonic_reads;
pub mod read_your_writes;

pub use fresh_reads::FreshReads;
pub use lost_updates::LostUpdates;
pub use monotonic_reads::MonotonicReads;
pub use read_your_writes::ReadYourWrites;

use crate::sim::NodeId;
use crate::sim::client::{ClientId, History, HistoryEntry, Op, Outcome};
use crate::sim::time::SimTime;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A write's position in the order the protocol serialises writes: the leader's epoch and
/// the log index (leader-follower). Ordered lexicographically: every write of a later epoch
/// comes after every write of an earlier one, as a new leader's log supersedes the old one's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub epoch: u64,
    pub index: u64,
}

impl Version {
    /// Before every write: what a read of a key never written returns.
    pub const NONE: Version = Version { epoch: 0, index: 0 };

    pub fn new(epoch: u64, index: u64) -> Self {
        Version { epoch, index }
    }

    /// The text of a read answer: `37@2.5`.
    pub fn tag(self, value: &str) -> String {
        format!("{value}@{self}")
    }

    /// The version in an answer (`37@2.5`, `@2.5`); `None` when the text carries none.
    pub fn parse(answer: &str) -> Option<Version> {
        let (_, v) = answer.rsplit_once('@')?;
        let (e, i) = v.split_once('.')?;
        Some(Version {
            epoch: e.parse().ok()?,
            index: i.parse().ok()?,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch, self.index)
    }
}

/// One finished operation as the checkers see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub client: ClientId,
    pub key: String,
    pub invoked_at: SimTime,
    pub returned_at: SimTime,
    /// A write acknowledged at this version, or a read that returned it.
    pub version: Version,
    pub is_write: bool,
    /// The node that answered.
    pub node: Option<NodeId>,
}

impl Observed {
    /// An acknowledged write or an answered read; `None` for anything else (failed, timed
    /// out, a compare that did not match, an answer without a version).
    pub fn of(e: &HistoryEntry) -> Option<Observed> {
        let returned_at = e.returned_at?;
        let Some(Outcome::Ok { value }) = &e.outcome else {
            return None;
        };
        let (key, is_write) = match &e.op {
            Op::Get { key } => (key, false),
            Op::Put { key, .. } | Op::Cas { key, .. } => (key, true),
            Op::Request(_) => return None,
        };
        let version = match value {
            None if !is_write => Version::NONE,
            None => return None,
            Some(text) => Version::parse(text)?,
        };
        Some(Observed {
            client: e.client,
            key: key.clone(),
            invoked_at: e.invoked_at,
            returned_at,
            version,
            is_write,
            node: e.node,
        })
    }

    /// `client 2's get k1 (0.410s..0.432s) returned 2.5`, for explanations.
    pub fn describe(&self) -> String {
        format!(
            "client {}'s {} {} ({}..{}) {} {}",
            self.client,
            if self.is_write { "put" } else { "get" },
            self.key,
            self.invoked_at,
            self.returned_at,
            if self.is_write {
                "was acknowledged at"
            } else {
                "returned"
            },
            self.version
        )
    }
}

/// Walks the history as operations finish: each call yields the operations that finished
/// since the last one, in the order they finished.
#[derive(Clone, Debug, Default)]
pub struct Cursor {
    /// Entries before this index have been seen invoked.
    seen: usize,
    /// Entries invoked and not finished yet.
    open: BTreeSet<usize>,
}

impl Cursor {
    pub fn finished(&mut self, h: &History) -> Vec<Observed> {
        self.open.extend(self.seen..h.entries.len());
        self.seen = h.entries.len();
        let mut done: Vec<(SimTime, usize)> = self
            .open
            .iter()
            .filter_map(|&i| h.entries[i].returned_at.map(|t| (t, i)))
            .collect();
        done.sort();
        for (_, i) in &done {
            self.open.remove(i);
        }
        done.into_iter()
            .filter_map(|(_, i)| Observed::of(&h.entries[i]))
            .collect()
    }
}

/// Versions that became known at given times, for "the newest version known before `t`".
/// Times are appended in order (operations are seen as they finish), so a query is a binary
/// search on a running maximum.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// (time, the highest version known at or before it), times ascending.
    points: Vec<(SimTime, Version)>,
}

impl Timeline {
    pub fn add(&mut self, at: SimTime, v: Version) {
        let best = self.points.last().map_or(v, |&(_, m)| m.max(v));
        debug_assert!(self.points.last().is_none_or(|&(t, _)| t <= at));
        self.points.push((at, best));
    }
    /// The highest version added strictly before `t`.
    pub fn before(&self, t: SimTime) -> Option<Version> {
        let n = self.points.partition_point(|&(at, _)| at < t);
        n.checked_sub(1).map(|i| self.points[i].1)
    }
}

/// Timelines by a key (a storage key, or a client and a key).
pub type Timelines<K> = BTreeMap<K, Timeline>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_written_into_answers_and_read_back() {
        let v = Version::new(2, 5);
        assert_eq!(v.tag("37"), "37@2.5");
        assert_eq!(Version::parse("37@2.5"), Some(v));
        assert_eq!(Version::parse("@2.5"), Some(v));
        assert_eq!(Version::parse("a@b@3.1"), Some(Version::new(3, 1)));
        assert_eq!(Version::parse("37"), None);
        assert!(Version::new(2, 1) > Version::new(1, 9));
    }

    #[test]
    fn a_timeline_answers_the_newest_version_known_strictly_before_a_time() {
        let mut t = Timeline::default();
        let ms = SimTime::from_millis;
        t.add(ms(10), Version::new(1, 3));
        t.add(ms(20), Version::new(1, 2));
        assert_eq!(t.before(ms(10)), None);
        assert_eq!(t.before(ms(11)), Some(Version::new(1, 3)));
        assert_eq!(t.before(ms(30)), Some(Version::new(1, 3)));
    }
}
