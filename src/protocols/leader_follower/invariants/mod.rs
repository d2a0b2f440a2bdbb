//! The checkers of leader-follower replication, checked after every event.
//!
//! Three read the client history and are shared by every storage protocol
//! (`protocols::storage`: Fresh Reads, Read Your Writes, Monotonic Reads); one reads the
//! replicas' logs (Durability, in this folder). Each counts every anomaly and fails only where
//! the configuration promises the property ([`LfConfig::promises_consistency`]).

mod durability;

pub use durability::Durability;

use super::{Entry, LeaderFollower, LfConfig};
use crate::protocols::storage::{FreshReads, MonotonicReads, ReadYourWrites};
use crate::sim::{Invariant, NodeId, World};

pub fn all(cfg: &LfConfig, nodes: usize) -> Vec<Box<dyn Invariant<LeaderFollower>>> {
    let promised = cfg.promises_consistency();
    vec![
        Box::new(Durability::new(promised, nodes)),
        Box::new(FreshReads::new(promised)),
        Box::new(ReadYourWrites::new(promised)),
        Box::new(MonotonicReads::new(promised)),
    ]
}

/// A replica's log as it stands: its live state's, or what it persisted while it is down
/// (nothing, without `durable_log`).
fn log_of<'a>(w: &'a World<LeaderFollower>, n: NodeId) -> (&'a [Entry], u64) {
    match &w.states[n] {
        Some(s) => (s.log(), s.truncations()),
        None => (&w.durable[n].log, w.durable[n].truncations),
    }
}
