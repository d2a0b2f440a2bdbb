//! Anti-entropy with Merkle trees, after Dynamo (DeCandia et al., SOSP 2007, §4.7 "Handling
//! permanent failures: Replica synchronization") and R. C. Merkle, "A Digital Signature Based
//! on a Conventional Encryption Function" (CRYPTO 1987).
//!
//! Every `anti_entropy_interval` a node picks the next other node in turn and compares the
//! keys both replicate. Each side hashes those keys into a binary tree: leaf `i` holds the keys
//! whose number is `i` modulo `merkle_leaves` (a hash of their keys and versions), and each
//! inner node hashes its two children. The sides exchange hashes one level at a time, from the
//! root down, and descend only into the subtrees that differ; at the leaves they swap the
//! entries of the differing leaves only, and each keeps the newer version of every key.
//!
//! ```text
//!   a ──TreeHashes(level 0: root)──► b   same root: done (in sync)
//!   a ◄─TreeHashes(level 1: 2 kids)── b   only the children whose parent differed
//!   a ──TreeHashes(level 2: ...)────► b   ... down to the leaves
//!   a ◄─SyncLeaves(leaves, entries)── b   the differing leaves' entries (b's side)
//!   a ──SyncLeaves(.., last)────────► b   a's entries newer than b's, or missing there
//! ```
//!
//! Replicas that missed writes (a partition, a crash, lost messages) converge without any
//! read touching the keys (read repair only fixes what is read); the `divergent_keys` series
//! falls to 0.

use super::message::LlMsg;
use super::{Leaderless, LlTimer, Stored, replicas};
use crate::sim::{Ctx, NodeId};
use std::collections::BTreeMap;

/// FNV-1a: a small, stable hash (the same on every platform and release), so tree hashes are
/// part of the deterministic trace.
fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The number a key is bucketed by (`k17`: 17), as for the preference list.
fn key_number(key: &str) -> u64 {
    key.trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or_else(|_| key.bytes().map(u64::from).sum())
}

/// A Merkle tree over some keys: `levels[0]` is the root, `levels[depth]` the leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTree {
    pub levels: Vec<Vec<u64>>,
}

impl MerkleTree {
    /// The tree of `entries` (key → version's value) over `leaves` leaves (a power of two).
    pub fn build<'a>(entries: impl Iterator<Item = (&'a String, &'a Stored)>, leaves: u32) -> Self {
        let mut leaf = vec![FNV_OFFSET; leaves as usize];
        // Entries come in key order (a BTreeMap), so each leaf hashes its keys in order.
        for (k, (_, v)) in entries {
            let i = (key_number(k) % u64::from(leaves)) as usize;
            let h = fnv(k.as_bytes(), leaf[i]);
            let h = fnv(&v.epoch.to_le_bytes(), h);
            leaf[i] = fnv(&v.index.to_le_bytes(), h);
        }
        let mut levels = vec![leaf];
        while levels[0].len() > 1 {
            let below = &levels[0];
            let up = below
                .chunks(2)
                .map(|c| fnv(&c[1].to_le_bytes(), fnv(&c[0].to_le_bytes(), FNV_OFFSET)))
                .collect();
            levels.insert(0, up);
        }
        MerkleTree { levels }
    }
    pub fn depth(&self) -> usize {
        self.levels.len() - 1
    }
}

impl Leaderless {
    /// The keys this node and `peer` both replicate, from this node's store.
    fn shared_with(&self, peer: NodeId) -> impl Iterator<Item = (&String, &Stored)> {
        let (nodes, n, me) = (self.nodes, self.cfg.n, self.id);
        self.store.iter().filter(move |(k, _)| {
            let r = replicas(k, nodes, n);
            r.contains(&me) && r.contains(&peer)
        })
    }

    fn tree_with(&self, peer: NodeId) -> MerkleTree {
        MerkleTree::build(self.shared_with(peer), self.cfg.merkle_leaves)
    }

    /// Timer: start a comparison with the next node in turn, and re-arm.
    pub(super) fn on_anti_entropy_timer(&mut self, ctx: &mut Ctx<Self>) {
        let Some(interval) = self.cfg.anti_entropy_interval else {
            return;
        };
        if self.nodes > 1 {
            self.ae_next = (self.ae_next + 1) % self.nodes;
            if self.ae_next == self.id {
                self.ae_next = (self.ae_next + 1) % self.nodes;
            }
            let peer = self.ae_next;
            let root = self.tree_with(peer).levels[0][0];
            ctx.count("merkle_exchanges", 1);
            ctx.send(
                peer,
                LlMsg::TreeHashes {
                    level: 0,
                    hashes: vec![(0, root)],
                },
            );
        }
        ctx.set_timer(LlTimer::AntiEntropy, interval);
    }

    /// The peer's hashes of some nodes at `level`: descend into the ones that differ here,
    /// or, at the leaves, send the entries of the differing leaves.
    pub(super) fn on_tree_hashes(
        &mut self,
        from: NodeId,
        level: u32,
        hashes: Vec<(u32, u64)>,
        ctx: &mut Ctx<Self>,
    ) {
        let tree = self.tree_with(from);
        let level = level as usize;
        let Some(mine) = tree.levels.get(level) else {
            return; // a peer with another tree shape (a different config): nothing to compare
        };
        let differing: Vec<u32> = hashes
            .into_iter()
            .filter(|&(i, h)| mine.get(i as usize).is_some_and(|&m| m != h))
            .map(|(i, _)| i)
            .collect();
        if differing.is_empty() {
            return;
        }
        if level == tree.depth() {
            let entries = self.leaf_entries(from, &differing);
            ctx.send(
                from,
                LlMsg::SyncLeaves {
                    leaves: differing,
                    entries,
                    last: false,
                },
            );
            return;
        }
        let below = &tree.levels[level + 1];
        let hashes = differing
            .iter()
            .flat_map(|&i| [2 * i, 2 * i + 1])
            .map(|c| (c, below[c as usize]))
            .collect();
        ctx.send(
            from,
            LlMsg::TreeHashes {
                level: level as u32 + 1,
                hashes,
            },
        );
    }

    /// This node's entries in `leaves` of the tree it shares with `peer`.
    fn leaf_entries(&self, peer: NodeId, leaves: &[u32]) -> Vec<(String, Stored)> {
        let m = u64::from(self.cfg.merkle_leaves);
        self.shared_with(peer)
            .filter(|(k, _)| leaves.contains(&((key_number(k) % m) as u32)))
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    }

    /// The peer's entries of the differing leaves: keep what is newer; unless this was the
    /// last word, send back what is newer here (or missing there).
    pub(super) fn on_sync_leaves(
        &mut self,
        from: NodeId,
        leaves: Vec<u32>,
        entries: Vec<(String, Stored)>,
        last: bool,
        ctx: &mut Ctx<Self>,
    ) {
        let theirs: BTreeMap<String, Stored> = entries.into_iter().collect();
        let mut repaired = 0;
        for (k, (value, version)) in &theirs {
            let mine = replicas(k, self.nodes, self.cfg.n).contains(&self.id);
            // The bug: a key missing here is skipped instead of copied.
            let skip = self.cfg.bug_merkle_ignores_missing && !self.store.contains_key(k);
            if mine && !skip && self.store.get(k).is_none_or(|(_, v)| v < version) {
                self.store.insert(k.clone(), (value.clone(), *version));
                repaired += 1;
            }
        }
        if repaired > 0 {
            ctx.count("anti_entropy_repairs", repaired);
            self.persist(ctx);
        }
        if last {
            return;
        }
        let newer: Vec<(String, Stored)> = self
            .leaf_entries(from, &leaves)
            .into_iter()
            .filter(|(k, (_, v))| theirs.get(k).is_none_or(|(_, t)| t < v))
            .collect();
        if !newer.is_empty() {
            ctx.send(
                from,
                LlMsg::SyncLeaves {
                    leaves,
                    entries: newer,
                    last: true,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::storage::Version;

    fn store(entries: &[(&str, u64)]) -> BTreeMap<String, Stored> {
        entries
            .iter()
            .map(|&(k, v)| (k.to_string(), ("x".to_string(), Version::new(v, 1))))
            .collect()
    }

    #[test]
    fn trees_of_the_same_entries_agree_and_one_changed_key_changes_one_path() {
        let a = store(&[("k1", 5), ("k2", 6), ("k9", 7)]);
        let mut b = a.clone();
        assert_eq!(
            MerkleTree::build(a.iter(), 8),
            MerkleTree::build(b.iter(), 8)
        );
        b.insert("k2".into(), ("y".into(), Version::new(8, 1)));
        let (ta, tb) = (
            MerkleTree::build(a.iter(), 8),
            MerkleTree::build(b.iter(), 8),
        );
        assert_eq!(ta.depth(), 3);
        assert_ne!(ta.levels[0], tb.levels[0]);
        let differing: Vec<usize> = (0..8)
            .filter(|&i| ta.levels[3][i] != tb.levels[3][i])
            .collect();
        assert_eq!(differing, vec![2], "only k2's leaf differs");
        assert_eq!(
            ta.levels[3][1], tb.levels[3][1],
            "k1 and k9 share leaf 1, unchanged"
        );
    }
}
