//! The safety properties of Figure 3, one checker per file, checked after every event.
//!
//! Each checker is incremental where it can be: after an event on one node (`world.touched`)
//! it looks at that node only (against the others where the property relates two logs); after
//! a scripted action (`touched` is `None`: a restart, a partition) it looks at every node.
//! Crashed nodes are seen through their durable state (their log), since a crash must not hide
//! a divergence that the restart will bring back.
//!
//! With log compaction (`snapshot_threshold`) a log starts after its snapshot: the checkers
//! comparing entries compare those both logs still hold (and the snapshot's last included
//! term), and two more check the snapshots themselves: Snapshot Committed and Snapshot State.

mod election_safety;
mod higher_term_adopted;
mod leader_append_only;
mod leader_completeness;
mod lease_exclusive;
mod log_matching;
mod snapshot_committed;
mod snapshot_state;
mod state_machine_safety;

pub use election_safety::ElectionSafety;
pub use higher_term_adopted::HigherTermAdopted;
pub use leader_append_only::LeaderAppendOnly;
pub use leader_completeness::LeaderCompleteness;
pub use lease_exclusive::LeaseExclusive;
pub use log_matching::LogMatching;
pub use snapshot_committed::SnapshotCommitted;
pub use snapshot_state::SnapshotState;
pub use state_machine_safety::StateMachineSafety;

use super::{HeldLog, Index, LogEntry, Raft, RaftConfig, ReadPath, Snapshot};
use crate::sim::{Invariant, NodeId, World};

/// The five checkers, in the order of Figure 3, then Figure 2's term rule, Lease
/// Exclusivity with `reads: Lease`, and the two snapshot checkers with `snapshot_threshold`.
pub fn all(cfg: &RaftConfig, nodes: usize) -> Vec<Box<dyn Invariant<Raft>>> {
    let mut v: Vec<Box<dyn Invariant<Raft>>> = vec![
        Box::new(ElectionSafety::default()),
        Box::new(LeaderAppendOnly::new(nodes)),
        Box::new(LogMatching::new(nodes)),
        Box::new(LeaderCompleteness::new(nodes)),
        Box::new(StateMachineSafety::new(nodes)),
        Box::new(HigherTermAdopted),
    ];
    if cfg.reads == ReadPath::Lease {
        v.push(Box::new(LeaseExclusive));
    }
    if cfg.snapshot_threshold.is_some() {
        v.push(Box::new(SnapshotCommitted::new(nodes)));
        v.push(Box::new(SnapshotState::new(nodes)));
    }
    v
}

/// A node's log: its live state's, or what it persisted while it is down.
fn log_of<'a>(w: &'a World<Raft>, n: NodeId) -> HeldLog<'a> {
    match &w.states[n] {
        Some(s) => s.held_log(),
        None => w.durable[n].held_log(),
    }
}

/// A node's snapshot: its live state's, or the persisted one while it is down.
fn snapshot_of<'a>(w: &'a World<Raft>, n: NodeId) -> &'a Snapshot {
    match &w.states[n] {
        Some(s) => s.snapshot(),
        None => &w.durable[n].snapshot,
    }
}

/// The committed entries as learned from the live servers after each event: entry `i` is
/// `entries[i - 1]`, the first one seen committed at that index (whether two servers committed
/// different ones is State Machine Safety's business). Every entry is committed first by a
/// leader that still holds it after that step (compaction is a step of its own), so no index is
/// skipped in a correct run; a gap stops the learning from that server.
struct CommittedEntries {
    entries: Vec<LogEntry>,
    /// Per node: the commit index already learned from it.
    learned: Vec<Index>,
}

impl CommittedEntries {
    fn new(nodes: usize) -> Self {
        CommittedEntries {
            entries: Vec::new(),
            learned: vec![0; nodes],
        }
    }

    fn learn(&mut self, w: &World<Raft>) {
        for n in w.changed() {
            let Some(s) = &w.states[n] else { continue };
            let held = s.held_log();
            let known = s.commit_index().min(held.last_index());
            if known < self.learned[n] {
                self.learned[n] = 0; // restarted
            }
            for i in self.learned[n].max(held.snapshot_index) + 1..=known {
                if i > self.entries.len() as Index + 1 {
                    break; // never seen committed before this server's snapshot
                }
                if i == self.entries.len() as Index + 1 {
                    let e = held.get(i).expect("within the held log");
                    self.entries.push(e.clone());
                }
            }
            self.learned[n] = known;
        }
    }

    /// The committed entry at `index`, if learned.
    fn get(&self, index: Index) -> Option<&LogEntry> {
        self.entries.get(index.checked_sub(1)? as usize)
    }
}

/// `n1`, `n2`, ... as in default scenarios (ids are 0-based).
fn name(n: NodeId) -> String {
    format!("n{}", n + 1)
}
