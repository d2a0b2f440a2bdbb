//! Where each key lives: the partition map the router keeps.
//!
//! - `Range`: contiguous ranges of the key's number (`k417`: 417, as a timestamp or an
//!   auto-increment id would be), each owned by one storage node. The initial ranges split
//!   `0..key_space` evenly over the members; the last range is open-ended, so keys beyond the
//!   key space (and every new sequential key) land in it. A range holding more than
//!   `split_at` keys is split at its median key.
//! - `Hash`: `hash(key) mod n` over the members ([`Ring`] with `Placement::Modulo`).
//! - `ConsistentHash(vnodes)`: the members hashed onto a ring at `vnodes` points each
//!   ([`Ring`] with `Placement::ConsistentHash`).
//!
//! The hash placements are the caching family's [`Ring`], not a copy of it.

use super::Partitioning;
use crate::protocols::caching::{Placement, Ring};
use crate::sim::NodeId;

/// The number a key is ordered by in range partitioning: its trailing digits (`k417`: 417),
/// or, for a key without digits, the sum of its bytes.
pub fn key_number(key: &str) -> u64 {
    let digits = key.trim_start_matches(|c: char| !c.is_ascii_digit());
    digits
        .parse()
        .unwrap_or_else(|_| key.bytes().map(u64::from).sum())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// (lowest key number, owner), sorted by lowest number; the first starts at 0. Range `i`
    /// covers `lo_i..lo_{i+1}`, the last one everything above.
    Ranges(Vec<(u64, NodeId)>),
    Ring(Ring),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionMap {
    pub layout: Layout,
    /// The storage nodes that hold keys (sorted).
    pub members: Vec<NodeId>,
}

impl PartitionMap {
    pub fn new(partitioning: Partitioning, key_space: u64, members: Vec<NodeId>) -> Self {
        Self::with_ranges(partitioning, key_space, members, None)
    }

    /// [`Self::new`] with `ranges` initial ranges (range partitioning), dealt to the members
    /// in turn; `None`: one per member.
    pub fn with_ranges(
        partitioning: Partitioning,
        key_space: u64,
        mut members: Vec<NodeId>,
        ranges: Option<usize>,
    ) -> Self {
        members.sort_unstable();
        members.dedup();
        let layout = match partitioning {
            Partitioning::Range if members.is_empty() => Layout::Ranges(Vec::new()),
            Partitioning::Range => {
                let n = ranges.unwrap_or(members.len()).max(1) as u64;
                Layout::Ranges(
                    (0..n)
                        .map(|i| (i * key_space / n, members[i as usize % members.len()]))
                        .collect(),
                )
            }
            Partitioning::Hash => Layout::Ring(Ring::new(Placement::Modulo, members.clone())),
            Partitioning::ConsistentHash { vnodes } => Layout::Ring(Ring::new(
                Placement::ConsistentHash { vnodes },
                members.clone(),
            )),
        };
        PartitionMap { layout, members }
    }

    /// The node that owns `key`, or `None` without members.
    pub fn owner(&self, key: &str) -> Option<NodeId> {
        match &self.layout {
            Layout::Ring(r) => r.owner(key),
            Layout::Ranges(ranges) => self.range_of(key).map(|i| ranges[i].1),
        }
    }

    /// The `r` replicas of `key`'s partition: its owner first, then the members after it in
    /// order (wrapping around), all distinct; fewer when there are fewer members.
    pub fn replicas(&self, key: &str, r: usize) -> Vec<NodeId> {
        let Some(owner) = self.owner(key) else {
            return Vec::new();
        };
        let at = self.members.iter().position(|&m| m == owner).unwrap_or(0);
        let n = self.members.len().max(1);
        (0..r.min(self.members.len()).max(1))
            .map(|i| self.members.get((at + i) % n).copied().unwrap_or(owner))
            .collect()
    }

    /// The partition `key` belongs to, as the stores' views name it: the range's number
    /// (from 1) with ranges; with the hash placements, the number of its owner (`p3`: the
    /// keys whose first replica is n3), since a replica set is named by its first member.
    pub fn partition_of(&self, key: &str) -> u32 {
        match &self.layout {
            Layout::Ranges(_) => self.range_of(key).map_or(0, |i| i as u32 + 1),
            Layout::Ring(_) => self.owner(key).map_or(0, |o| o as u32 + 1),
        }
    }

    /// Range partitioning: the index of the range holding `key`.
    pub fn range_of(&self, key: &str) -> Option<usize> {
        let Layout::Ranges(ranges) = &self.layout else {
            return None;
        };
        let n = key_number(key);
        ranges.partition_point(|&(lo, _)| lo <= n).checked_sub(1)
    }

    /// Range partitioning: the key numbers range `i` covers, `lo..hi` (`hi` = `u64::MAX` for
    /// the last one).
    pub fn bounds(&self, i: usize) -> (u64, u64) {
        match &self.layout {
            Layout::Ranges(r) => (r[i].0, r.get(i + 1).map_or(u64::MAX, |x| x.0)),
            Layout::Ring(_) => (0, u64::MAX),
        }
    }

    /// The same map with `node` a member too. Hash placements re-place the keys; ranges keep
    /// their owners (the new node gets ranges as they split).
    pub fn with_member(&self, node: NodeId) -> Self {
        let mut members = self.members.clone();
        members.push(node);
        members.sort_unstable();
        members.dedup();
        let layout = match &self.layout {
            Layout::Ring(r) => Layout::Ring(r.with(node, true)),
            Layout::Ranges(r) if r.is_empty() => Layout::Ranges(vec![(0, node)]),
            Layout::Ranges(r) => Layout::Ranges(r.clone()),
        };
        PartitionMap { layout, members }
    }

    /// The same map without `node`. Hash placements re-place its keys over the others; each
    /// of its ranges passes to the owner of the range before it (the one after, for the
    /// first) and joins it.
    pub fn without_member(&self, node: NodeId) -> Self {
        let members: Vec<NodeId> = self
            .members
            .iter()
            .copied()
            .filter(|&m| m != node)
            .collect();
        let layout = match &self.layout {
            Layout::Ring(r) => Layout::Ring(r.with(node, false)),
            Layout::Ranges(r) => {
                let mut r = r.clone();
                for i in 0..r.len() {
                    if r[i].1 == node {
                        let heir = r[..i]
                            .iter()
                            .rev()
                            .chain(r[i + 1..].iter())
                            .map(|x| x.1)
                            .find(|&o| o != node);
                        if let Some(heir) = heir {
                            r[i].1 = heir;
                        }
                    }
                }
                Layout::Ranges(coalesce(r))
            }
        };
        PartitionMap { layout, members }
    }

    /// Range partitioning: ranges `i` and `i + 1` merged into one owned by `owner`.
    pub fn merge(&self, i: usize, owner: NodeId) -> Self {
        let mut next = self.clone();
        if let Layout::Ranges(r) = &mut next.layout
            && i + 1 < r.len()
        {
            r[i].1 = owner;
            r.remove(i + 1);
        }
        next
    }

    /// Range partitioning: range `i` split at key number `mid`: `lo..mid` goes to `to`, and
    /// `mid..hi` stays with the range's owner.
    pub fn split(&self, i: usize, mid: u64, to: NodeId) -> Self {
        let mut next = self.clone();
        if let Layout::Ranges(r) = &mut next.layout {
            let owner = r[i].1;
            r[i].1 = to;
            r.insert(i + 1, (mid, owner));
        }
        next
    }

    /// Number of ranges (range partitioning) or members.
    pub fn partitions(&self) -> usize {
        match &self.layout {
            Layout::Ranges(r) => r.len(),
            Layout::Ring(_) => self.members.len(),
        }
    }
}

/// Adjacent ranges with the same owner, joined into one.
fn coalesce(ranges: Vec<(u64, NodeId)>) -> Vec<(u64, NodeId)> {
    let mut out: Vec<(u64, NodeId)> = Vec::with_capacity(ranges.len());
    for (lo, owner) in ranges {
        if out.last().is_none_or(|&(_, o)| o != owner) {
            out.push((lo, owner));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_key_space_evenly_and_the_last_is_open_ended() {
        let m = PartitionMap::new(Partitioning::Range, 300, vec![1, 2, 3]);
        assert_eq!(m.owner("k0"), Some(1));
        assert_eq!(m.owner("k99"), Some(1));
        assert_eq!(m.owner("k100"), Some(2));
        assert_eq!(m.owner("k299"), Some(3));
        assert_eq!(m.owner("k123456"), Some(3));
        let s = m.split(2, 250, 1);
        assert_eq!(s.owner("k249"), Some(1));
        assert_eq!(s.owner("k250"), Some(3));
        assert_eq!(s.bounds(2), (200, 250));
        assert_eq!(s.bounds(3), (250, u64::MAX));
    }

    #[test]
    fn a_leaving_node_hands_its_ranges_to_the_range_before_and_adjacent_ranges_merge() {
        let m = PartitionMap::new(Partitioning::Range, 300, vec![1, 2, 3]);
        let without2 = m.without_member(2);
        assert_eq!(without2.layout, Layout::Ranges(vec![(0, 1), (200, 3)]));
        assert_eq!(without2.members, vec![1, 3]);
        // The first range has no range before it: it goes to the one after.
        let without1 = m.without_member(1);
        assert_eq!(without1.layout, Layout::Ranges(vec![(0, 2), (200, 3)]));
        let merged = m.merge(1, 3);
        assert_eq!(merged.layout, Layout::Ranges(vec![(0, 1), (100, 3)]));
        assert_eq!(merged.owner("k150"), Some(3));
        let ring = PartitionMap::new(Partitioning::ConsistentHash { vnodes: 10 }, 0, vec![1, 2]);
        assert_eq!(ring.without_member(2).members, vec![1]);
        assert_eq!(ring.without_member(2).owner("k7"), Some(1));
    }

    #[test]
    fn hash_maps_are_the_caching_ring() {
        let m = PartitionMap::new(Partitioning::Hash, 0, vec![1, 2]);
        let r = Ring::new(Placement::Modulo, vec![1, 2]);
        for i in 0..50 {
            let k = format!("k{i}");
            assert_eq!(m.owner(&k), r.owner(&k));
        }
        assert_eq!(m.with_member(3).members, vec![1, 2, 3]);
        assert_eq!(
            PartitionMap::new(Partitioning::Hash, 0, vec![]).owner("k1"),
            None
        );
    }
}
