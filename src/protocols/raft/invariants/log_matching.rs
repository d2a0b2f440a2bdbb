//! Log Matching (Figure 3): "if two logs contain an entry with the same index and term, then
//! the logs are identical in all entries up through the given index" (§5.3).
//!
//! After an event on a node, compares its log with every other node's (a crashed node's
//! persisted log included): scanning down from the end of the shorter log, once an index with
//! equal terms is found, every entry from there down must be identical. Only an event that
//! changed the touched node's log can break the property, so the checker keeps the log it last
//! saw of each node and skips the comparisons when it is unchanged.

use super::{log_of, name};
use crate::protocols::raft::{LogEntry, Raft};
use crate::sim::{Failure, Invariant, NodeId, World};

pub struct LogMatching {
    /// Each node's log as last checked (entries share their commands, so this is cheap).
    seen: Vec<Option<Vec<LogEntry>>>,
}

impl LogMatching {
    pub fn new(nodes: usize) -> Self {
        LogMatching {
            seen: vec![None; nodes],
        }
    }
}

/// The first index (1-based) at which the two logs break the property, if any.
fn mismatch(a: &[LogEntry], b: &[LogEntry]) -> Option<(usize, usize)> {
    // The highest index with equal terms; everything up to it must be identical.
    let k = (0..a.len().min(b.len()))
        .rev()
        .find(|&i| a[i].term == b[i].term)?;
    if a[..=k] == b[..=k] {
        return None;
    }
    let i = (0..=k)
        .rev()
        .find(|&i| a[i] != b[i])
        .expect("the slices differ");
    Some((k + 1, i + 1))
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
            if self.seen[n].as_deref() == Some(a) {
                continue;
            }
            self.seen[n] = Some(a.to_vec());
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
                            a[k - 1].term
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

    #[test]
    fn matching_prefixes_and_diverging_suffixes_pass() {
        assert_eq!(mismatch(&log(&[1, 1, 2]), &log(&[1, 1, 3, 3])), None);
        assert_eq!(mismatch(&log(&[1, 2]), &log(&[1])), None);
        assert_eq!(mismatch(&log(&[]), &log(&[1])), None);
    }

    #[test]
    fn equal_terms_above_a_difference_fail() {
        assert_eq!(mismatch(&log(&[1, 2, 3]), &log(&[1, 1, 3])), Some((3, 2)));
    }

    #[test]
    fn same_index_and_term_with_different_commands_fail() {
        let a = log(&[1, 1]);
        let mut b = log(&[1, 1]);
        b[0].command = std::sync::Arc::new(KvCommand::Get { key: "k".into() });
        assert_eq!(mismatch(&a, &b), Some((2, 1)));
    }
}
