//! The safety properties of Figure 3, one checker per file, checked after every event.
//!
//! Each checker is incremental where it can be: after an event on one node (`world.touched`)
//! it looks at that node only (against the others where the property relates two logs); after
//! a scripted action (`touched` is `None`: a restart, a partition) it looks at every node.
//! Crashed nodes are seen through their durable state (their log), since a crash must not hide
//! a divergence that the restart will bring back.

mod election_safety;
mod higher_term_adopted;
mod leader_append_only;
mod leader_completeness;
mod lease_exclusive;
mod log_matching;
mod state_machine_safety;

pub use election_safety::ElectionSafety;
pub use higher_term_adopted::HigherTermAdopted;
pub use leader_append_only::LeaderAppendOnly;
pub use leader_completeness::LeaderCompleteness;
pub use lease_exclusive::LeaseExclusive;
pub use log_matching::LogMatching;
pub use state_machine_safety::StateMachineSafety;

use super::{LogEntry, Raft, RaftConfig, ReadPath};
use crate::sim::{Invariant, NodeId, World};

/// The five checkers, in the order of Figure 3, then Figure 2's term rule, and Lease
/// Exclusivity with `reads: Lease`.
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
    v
}

/// A node's log: its live state's, or what it persisted while it is down.
fn log_of<'a>(w: &'a World<Raft>, n: NodeId) -> &'a [LogEntry] {
    match &w.states[n] {
        Some(s) => s.log(),
        None => &w.durable[n].log,
    }
}

/// `n1`, `n2`, ... as in default scenarios (ids are 0-based).
fn name(n: NodeId) -> String {
    format!("n{}", n + 1)
}
