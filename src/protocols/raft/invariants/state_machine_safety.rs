//! State Machine Safety (Figure 3): "if a server has applied a log entry at a given index to
//! its state machine, no other server will ever apply a different log entry for the same
//! index" (§5.4.3).
//!
//! Keeps the first entry applied at each index by any server, and compares every later
//! application against it. A restarted server applies from index 1 again, so its watermark
//! is reset when its `lastApplied` goes back. With snapshots, a server that loads one (on a
//! restart or from InstallSnapshot) applies from the entry after it: what the snapshot holds
//! is checked by Snapshot State.

use super::name;
use crate::protocols::raft::{LogEntry, Raft};
use crate::sim::{Failure, Invariant, NodeId, World};

pub struct StateMachineSafety {
    /// Entry `i` (1-based) as first applied, and by whom.
    applied: Vec<(LogEntry, NodeId)>,
    /// Per node: how far its applications have been checked.
    checked: Vec<u64>,
}

impl StateMachineSafety {
    pub fn new(nodes: usize) -> Self {
        StateMachineSafety {
            applied: Vec::new(),
            checked: vec![0; nodes],
        }
    }
}

impl Invariant<Raft> for StateMachineSafety {
    fn name(&self) -> &'static str {
        "State Machine Safety"
    }
    fn statement(&self) -> &'static str {
        "if a server has applied a log entry at a given index to its state machine, no other \
         server will ever apply a different log entry for the same index"
    }
    fn check(&mut self, w: &World<Raft>) -> Result<(), Failure> {
        for n in w.changed() {
            let Some(s) = &w.states[n] else { continue };
            let log = s.held_log();
            let upto = s.last_applied().min(log.last_index());
            if upto < self.checked[n] {
                self.checked[n] = upto; // restarted: it applies from the beginning again
            }
            let from = self.checked[n].max(log.snapshot_index);
            for i in from as usize..upto as usize {
                let entry = log.get(i as u64 + 1).expect("within the held log");
                match self.applied.get(i) {
                    Some((first, by)) if first != entry => {
                        return Err(Failure::new(
                            format!(
                                "{} applied {} of term {} at index {}, but {} applied {} of term {} there",
                                name(n),
                                entry.command.label(),
                                entry.term,
                                i + 1,
                                name(*by),
                                first.command.label(),
                                first.term
                            ),
                            vec![*by, n],
                        ));
                    }
                    Some(_) => {}
                    None if i == self.applied.len() => self.applied.push((entry.clone(), n)),
                    None => break, // entries before its snapshot were never seen applied
                }
            }
            self.checked[n] = upto;
        }
        Ok(())
    }
}
