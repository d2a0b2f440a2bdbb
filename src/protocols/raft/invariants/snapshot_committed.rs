//! Snapshot Committed (§7): "each server takes snapshots independently, covering just the
//! committed entries in its log". A snapshot that went past the commit index could hold an
//! entry a new leader later overwrites, and a restart or an InstallSnapshot would bring it
//! back as if it had been decided.
//!
//! Learns the committed entries from the live servers after each event (every entry is still
//! in its leader's log in the step that commits it), then checks that every snapshot, live or
//! persisted, ends with a committed entry: the one at its last included index, of its last
//! included term.

use super::{CommittedEntries, name, snapshot_of};
use crate::protocols::raft::{Index, Raft};
use crate::sim::{Failure, Invariant, World};

pub struct SnapshotCommitted {
    committed: CommittedEntries,
    /// Per node: the snapshot index already checked.
    checked: Vec<Index>,
}

impl SnapshotCommitted {
    pub fn new(nodes: usize) -> Self {
        SnapshotCommitted {
            committed: CommittedEntries::new(nodes),
            checked: vec![0; nodes],
        }
    }
}

impl Invariant<Raft> for SnapshotCommitted {
    fn name(&self) -> &'static str {
        "Snapshot Committed"
    }
    fn statement(&self) -> &'static str {
        "a snapshot covers only committed entries: its last included entry is committed"
    }
    fn check(&mut self, w: &World<Raft>) -> Result<(), Failure> {
        self.committed.learn(w);
        for n in w.changed() {
            let snap = snapshot_of(w, n);
            let index = snap.last_included_index;
            if index == 0 || index == self.checked[n] {
                continue;
            }
            let term = snap.last_included_term;
            match self.committed.get(index) {
                Some(e) if e.term == term => {}
                Some(e) => {
                    return Err(Failure::new(
                        format!(
                            "{}'s snapshot ends at index {index} of term {term}, but the entry committed there is {} of term {}",
                            name(n),
                            e.command.label(),
                            e.term
                        ),
                        vec![n],
                    ));
                }
                None => {
                    return Err(Failure::new(
                        format!(
                            "{}'s snapshot ends at index {index} (term {term}), which no server has committed",
                            name(n)
                        ),
                        vec![n],
                    ));
                }
            }
            self.checked[n] = index;
        }
        Ok(())
    }
}
