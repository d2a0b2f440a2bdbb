//! Log Matching (Figure 3): "if two logs contain an entry with the same index and term, then
//! the logs are identical in all entries up through the given index" (§5.3).
//!
//! After an event on a node, compares its log with every other node's (a crashed node's
//! persisted log included): scanning down from the end of the shorter log, once an index with
//! equal terms is found, every entry from there down must be identical. Only an event that
//! changed the touched node's log can break the property, so the checker keeps the log it last
//! saw of each node and skips the comparisons when it is unchanged.
//!
//! With snapshots, two logs are compared where both still hold entries: from the later of the
//! two snapshots' last included indices (whose term both know: one as its snapshot's, the other
//! as an entry or its own snapshot's) to the end of the shorter log.

use super::{log_of, name};
use crate::protocols::raft::{HeldLog, Index, LogEntry, Raft};
use crate::sim::{Failure, Invariant, NodeId, World};

pub struct LogMatching {
    /// Each node's log as last checked, with its snapshot index (entries share their commands,
    /// so this is cheap).
    seen: Vec<Option<(Index, Vec<LogEntry>)>>,
}

impl LogMatching {
    pub fn new(nodes: usize) -> Self {
        LogMatching {
            seen: vec![None; nodes],
        }
    }
}

/// `(k, i)` if the two logs break the property: they have an entry of the same term at index
/// `k` but differ at index `i <= k`.
fn mismatch(a: HeldLog, b: HeldLog) -> Option<(Index, Index)> {
    // From `p` on both know every term; entries after `p` both hold.
    let p = a.snapshot_index.max(b.snapshot_index);
    let hi = a.last_index().min(b.last_index());
    // The highest index with equal terms; everything from `p` up to it must be identical.
    let k = (p..=hi).rev().find(|&i| a.term_at(i) == b.term_at(i))?;
    let i = (p..=k).rev().find(|&i| {
        if i == p {
            a.term_at(i) != b.term_at(i)
        } else {
            a.get(i) != b.get(i)
        }
    })?;
    Some((k, i))
}

impl Invariant<Raft> for LogMatching {
    fn name(&self) -> &'static str {
        "Log Matching"
    }
    fn statement(&self) -> &'static str {
        "if two logs contain an entry with the same index and term, then the logs are identical \
         in all entries up through the given index"
    }
    fn check(&mut self, w: &World<Raft>) -> Result<(), Failure> {
        let all = w.touched.is_none();
        if all {
            self.seen.iter_mut().for_each(|s| *s = None);
        }
        for n in w.changed() {
            let a = log_of(w, n);
            if let Some((snap, log)) = &self.seen[n]
                && *snap == a.snapshot_index
                && log.as_slice() == a.entries
            {
                continue;
            }
            self.seen[n] = Some((a.snapshot_index, a.entries.to_vec()));
            let others = if all {
                n + 1..w.states.len()
            } else {
                0..w.states.len()
            };
            for m in others.filter(|&m| m != n) {
                let b = log_of(w, m);
                if let Some((k, i)) = mismatch(a, b) {
                    let (x, y): (NodeId, NodeId) = (n.min(m), n.max(m));
                    return Err(Failure::new(
                        format!(
                            "{} and {} both have an entry of term {} at index {k}, but differ at index {i}",
                            name(x),
                            name(y),
                            a.term_at(k).expect("compared")
                        ),
                        vec![x, y],
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::raft::KvCommand;

    fn log(terms: &[u64]) -> Vec<LogEntry> {
        terms
            .iter()
            .map(|&t| LogEntry::new(t, KvCommand::Noop))
            .collect()
    }

    fn held(entries: &[LogEntry]) -> HeldLog<'_> {
        compacted(0, 0, entries)
    }

    /// A log whose entries up to `index` (of term `term`) are in a snapshot.
    fn compacted(index: Index, term: u64, entries: &[LogEntry]) -> HeldLog<'_> {
        HeldLog {
            snapshot_index: index,
            snapshot_term: term,
            entries,
        }
    }

    #[test]
    fn matching_prefixes_and_diverging_suffixes_pass() {
        let m = |a: &[u64], b: &[u64]| mismatch(held(&log(a)), held(&log(b)));
        assert_eq!(m(&[1, 1, 2], &[1, 1, 3, 3]), None);
        assert_eq!(m(&[1, 2], &[1]), None);
        assert_eq!(m(&[], &[1]), None);
    }

    #[test]
    fn equal_terms_above_a_difference_fail() {
        let (a, b) = (log(&[1, 2, 3]), log(&[1, 1, 3]));
        assert_eq!(mismatch(held(&a), held(&b)), Some((3, 2)));
    }

    #[test]
    fn same_index_and_term_with_different_commands_fail() {
        let a = log(&[1, 1]);
        let mut b = log(&[1, 1]);
        b[0].command = std::sync::Arc::new(KvCommand::Get { key: "k".into() });
        assert_eq!(mismatch(held(&a), held(&b)), Some((2, 1)));
    }

    #[test]
    fn a_compacted_log_is_compared_where_both_hold_entries() {
        // Entries 1-2 (terms 1, 1) in a snapshot, then 3-4 of term 2.
        let a = log(&[2, 2]);
        let b = log(&[1, 1, 2, 2, 3]);
        assert_eq!(mismatch(compacted(2, 1, &a), held(&b)), None);
        // The same entries held by both differ: a failure, as without snapshots.
        let mut c = b.clone();
        c[2].command = std::sync::Arc::new(KvCommand::Get { key: "k".into() });
        assert_eq!(mismatch(compacted(2, 1, &a), held(&c)), Some((4, 3)));
        // Equal terms at 4, but the entry at the snapshot's index 2 has another term.
        let d = log(&[1, 3, 2, 2]);
        assert_eq!(mismatch(compacted(2, 1, &a), held(&d)), Some((4, 2)));
        // One snapshot past the other log's end: nothing in common to compare.
        assert_eq!(mismatch(compacted(6, 3, &[]), held(&b)), None);
    }
}
