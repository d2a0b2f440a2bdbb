//! Leader Append-Only (Figure 3): "a leader never overwrites or deletes entries in its log; it
//! only appends new entries" (§5.3).
//!
//! Keeps a copy of each leader's log as last seen during its term and checks that the new log
//! extends it. Compaction is not deletion: a leader may fold applied entries into its snapshot,
//! so the comparison covers the entries both copies hold, and an entry the new snapshot ends
//! with must have the term the old copy had there.

use super::name;
use crate::protocols::raft::{HeldLog, Index, LogEntry, Raft, Role, Term};
use crate::sim::{Failure, Invariant, World};

/// A leader's log as seen: its term, its snapshot's last included index and term, the entries
/// after it.
#[derive(Clone)]
struct Seen {
    term: Term,
    snapshot_index: Index,
    snapshot_term: Term,
    entries: Vec<LogEntry>,
}

pub struct LeaderAppendOnly {
    /// Per node: (term, snapshot index and term, held log) as last seen while it led that term.
    seen: Vec<Option<Seen>>,
}

impl LeaderAppendOnly {
    pub fn new(nodes: usize) -> Self {
        LeaderAppendOnly {
            seen: vec![None; nodes],
        }
    }
}

impl Invariant<Raft> for LeaderAppendOnly {
    fn name(&self) -> &'static str {
        "Leader Append-Only"
    }
    fn statement(&self) -> &'static str {
        "a leader never overwrites or deletes entries in its log; it only appends new entries"
    }
    fn check(&mut self, w: &World<Raft>) -> Result<(), Failure> {
        for n in w.changed() {
            let leading = w.states[n].as_ref().filter(|s| s.role() == Role::Leader);
            let Some(s) = leading else {
                self.seen[n] = None;
                continue;
            };
            let log = s.held_log();
            if let Some(seen) = &self.seen[n]
                && seen.term == s.current_term()
            {
                let term = seen.term;
                let old = HeldLog {
                    snapshot_index: seen.snapshot_index,
                    snapshot_term: seen.snapshot_term,
                    entries: &seen.entries,
                };
                if log.last_index() < old.last_index() {
                    return Err(Failure::new(
                        format!(
                            "leader {} of term {term} shortened its log from {} to {} entries",
                            name(n),
                            old.last_index(),
                            log.last_index()
                        ),
                        vec![n],
                    ));
                }
                let from = old.snapshot_index.max(log.snapshot_index);
                let changed = (from..=old.last_index()).find(|&i| {
                    if i == from {
                        from > 0 && old.term_at(i) != log.term_at(i)
                    } else {
                        old.get(i) != log.get(i)
                    }
                });
                if let Some(i) = changed {
                    let what = |l: &HeldLog| match l.get(i) {
                        Some(e) => format!("{} of term {}", e.command.label(), e.term),
                        None => format!("a snapshot of term {}", l.term_at(i).unwrap_or(0)),
                    };
                    return Err(Failure::new(
                        format!(
                            "leader {} of term {term} overwrote entry {i} ({}) with {}",
                            name(n),
                            what(&old),
                            what(&log)
                        ),
                        vec![n],
                    ));
                }
                if log.last_index() == old.last_index() && log.snapshot_index == old.snapshot_index
                {
                    continue;
                }
            }
            self.seen[n] = Some(Seen {
                term: s.current_term(),
                snapshot_index: log.snapshot_index,
                snapshot_term: log.snapshot_term,
                entries: log.entries.to_vec(),
            });
        }
        Ok(())
    }
}
