//! Which cache node holds a key (the caching guide's "Consistent Hashing").
//!
//! - `Modulo`: `hash(key) mod n` over the member list. Simple and even, but adding a node
//!   changes `n`, so almost every key moves (a fraction of about `n / (n + 1)`).
//! - `ConsistentHash { vnodes }` (Karger et al., STOC 1997): every member is hashed onto a
//!   ring at `vnodes` points; a key belongs to the first point clockwise from its own hash.
//!   Adding a member takes over only the arcs in front of its points: about `1 / (n + 1)` of
//!   the keys move, all of them to the new member. More virtual nodes spread the load evenly.
//!
//! The hash is FNV-1a (64 bits) followed by a SplitMix64 finaliser: fixed, fast and the same
//! on every machine, so placements are part of the deterministic run.

use crate::sim::NodeId;
use serde::{Deserialize, Serialize};

/// `placement:` in the config.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    #[default]
    Modulo,
    ConsistentHash {
        vnodes: u32,
    },
}

/// A stable 64-bit hash of a string.
pub fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // SplitMix64's finaliser spreads FNV's weak low bits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The current members and the way keys are placed on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    placement: Placement,
    members: Vec<NodeId>,
    /// (point, member), sorted by point; empty for `Modulo`.
    points: Vec<(u64, NodeId)>,
}

impl Ring {
    pub fn new(placement: Placement, mut members: Vec<NodeId>) -> Self {
        members.sort_unstable();
        members.dedup();
        let mut points = Vec::new();
        if let Placement::ConsistentHash { vnodes } = placement {
            for &m in &members {
                for v in 0..vnodes.max(1) {
                    points.push((hash(&format!("cache-{m}#{v}")), m));
                }
            }
            points.sort_unstable();
        }
        Ring {
            placement,
            members,
            points,
        }
    }

    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// The member that holds `key`, or `None` without members.
    pub fn owner(&self, key: &str) -> Option<NodeId> {
        if self.members.is_empty() {
            return None;
        }
        let h = hash(key);
        match self.placement {
            Placement::Modulo => Some(self.members[(h % self.members.len() as u64) as usize]),
            Placement::ConsistentHash { .. } => {
                let i = self.points.partition_point(|&(p, _)| p < h);
                Some(self.points[i % self.points.len()].1)
            }
        }
    }

    /// The same placement with `node` added or removed.
    pub fn with(&self, node: NodeId, member: bool) -> Ring {
        let mut m = self.members.clone();
        m.retain(|&x| x != node);
        if member {
            m.push(node);
        }
        Ring::new(self.placement, m)
    }

    /// How many of `keys` have a different owner on `other`.
    pub fn moved<'k>(&self, other: &Ring, keys: impl Iterator<Item = &'k str>) -> usize {
        keys.filter(|k| self.owner(k) != other.owner(k)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("k{i}")).collect()
    }

    fn moved_fraction(placement: Placement, n: usize, keys: &[String]) -> f64 {
        let before = Ring::new(placement, (0..n).collect());
        let after = before.with(n, true);
        before.moved(&after, keys.iter().map(String::as_str)) as f64 / keys.len() as f64
    }

    #[test]
    fn modulo_moves_about_n_over_n_plus_one_of_the_keys_when_a_node_joins() {
        // Theory: a key stays only if hash mod n == hash mod (n + 1), about 1 / (n + 1) of them.
        let k = keys(20_000);
        for n in [2usize, 4, 9] {
            let expected = n as f64 / (n + 1) as f64;
            let f = moved_fraction(Placement::Modulo, n, &k);
            assert!(
                (f - expected).abs() < 0.03,
                "n={n}: moved {f}, expected {expected}"
            );
        }
    }

    #[test]
    fn the_ring_moves_about_one_over_n_plus_one_and_only_to_the_new_node() {
        let k = keys(20_000);
        for n in [2usize, 4, 9] {
            let placement = Placement::ConsistentHash { vnodes: 200 };
            let before = Ring::new(placement, (0..n).collect());
            let after = before.with(n, true);
            for key in &k {
                let (a, b) = (before.owner(key), after.owner(key));
                assert!(a == b || b == Some(n), "{key} moved from {a:?} to {b:?}");
            }
            let expected = 1.0 / (n + 1) as f64;
            let f = moved_fraction(placement, n, &k);
            assert!(
                (f - expected).abs() < 0.04,
                "n={n}: moved {f}, expected {expected}"
            );
        }
    }

    #[test]
    fn more_virtual_nodes_spread_keys_more_evenly() {
        let k = keys(20_000);
        let spread = |vnodes| {
            let r = Ring::new(Placement::ConsistentHash { vnodes }, (0..5).collect());
            let mut per = [0usize; 5];
            for key in &k {
                per[r.owner(key).unwrap()] += 1;
            }
            let max = *per.iter().max().unwrap() as f64;
            max / (k.len() as f64 / 5.0)
        };
        assert!(spread(200) < spread(1), "{} vs {}", spread(200), spread(1));
        assert!(spread(200) < 1.2, "{}", spread(200));
    }

    #[test]
    fn no_members_no_owner() {
        assert_eq!(Ring::new(Placement::Modulo, vec![]).owner("k1"), None);
    }
}
