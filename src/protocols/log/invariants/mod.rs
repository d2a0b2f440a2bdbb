//! The log's promises, one checker per file, checked after every event:
//!
//! | config | checker |
//! |---|---|
//! | always | Partition Order: a consumer processes a partition's records in offset order |
//! | `commit: AfterProcessing` | Committed Offsets Processed: every offset below a committed offset was processed (at-least-once) |
//! | `replication_factor > 1`, `acks: All`, no unclean election | Acknowledged Records Kept: every acknowledged record stays at its offset in every in-sync replica |
//!
//! Under `BeforeProcessing` (at-most-once) skipped offsets are allowed and counted (the
//! `skipped` series). Both read durable state (the consumers' processed logs, the
//! coordinator's committed offsets) with a cursor per node. Under `acks: One` or `Zero`, or with
//! unclean elections, acknowledged records may be lost: counted (the `lost` series), not flagged.

mod acked_kept;
mod committed_processed;
mod partition_order;

pub use acked_kept::AckedRecordsKept;
pub use committed_processed::CommittedOffsetsProcessed;
pub use partition_order::PartitionOrder;

use super::{CommitMode, Log, LogConfig};
use crate::sim::{Invariant, NodeId, World};

pub fn all(cfg: &LogConfig, nodes: usize) -> Vec<Box<dyn Invariant<Log>>> {
    let mut v: Vec<Box<dyn Invariant<Log>>> = vec![Box::new(PartitionOrder::new(nodes))];
    if cfg.commit == CommitMode::AfterProcessing {
        v.push(Box::new(CommittedOffsetsProcessed::new(nodes)));
    }
    if cfg.promises_durability() {
        v.push(Box::new(AckedRecordsKept::new(nodes)));
    }
    v
}

/// Node names learnt from live states.
#[derive(Clone, Debug, Default)]
struct Names(Vec<Option<String>>);

impl Names {
    fn new(nodes: usize) -> Self {
        Names(vec![None; nodes])
    }
    fn learn(&mut self, w: &World<Log>) {
        for n in w.changed() {
            if self.0[n].is_none()
                && let Some(s) = &w.states[n]
            {
                self.0[n] = Some(s.name.clone());
            }
        }
    }
    fn of(&self, n: NodeId) -> String {
        self.0[n].clone().unwrap_or_else(|| format!("n{}", n + 1))
    }
}
