//! The options of `protocol: "multi_leader"`: how conflicts are resolved, each node's clock
//! offset, how often unacknowledged writes are sent again, and the bug switches.

use crate::sim::{NodeId, SimTime};
use serde::{Deserialize, Serialize};

/// How concurrent writes to the same key are resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Conflicts {
    #[default]
    LastWriterWins,
    VersionVectors,
}

/// `config: (conflicts: VersionVectors, clock_offsets_ms: [0, -200])`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlConfig {
    pub conflicts: Conflicts,
    /// How far each node's clock is from true time, in milliseconds, by position (missing:
    /// 0). Only the stamps of `LastWriterWins` read the clock.
    pub clock_offsets_ms: Vec<i64>,
    /// How often a leader sends again the writes of its replication log that another leader
    /// has not acknowledged (lost messages, a crashed or partitioned peer).
    pub resend_interval: SimTime,
    /// BUG: a node stamps writes with a clock reading cached when it last heard from another
    /// leader, instead of reading its clock: later writes can get older stamps.
    pub bug_cached_clock: bool,
    /// BUG: fire and forget: a write is sent to the other leaders once and never again, so a
    /// lost `Replicate` (dropped, or sent to a crashed or partitioned leader) is lost for good
    /// and the replicas never converge.
    pub bug_fire_and_forget: bool,
}

impl Default for MlConfig {
    fn default() -> Self {
        MlConfig {
            conflicts: Conflicts::default(),
            clock_offsets_ms: Vec::new(),
            resend_interval: SimTime::from_millis(200),
            bug_cached_clock: false,
            bug_fire_and_forget: false,
        }
    }
}

/// Largest clock offset accepted: an hour.
const MAX_OFFSET_MS: i64 = 3_600_000;

impl MlConfig {
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        crate::protocols::check_all_to_all_nodes("multi_leader", nodes)?;
        if self.clock_offsets_ms.len() > nodes {
            return Err(format!(
                "`clock_offsets_ms` has {} entries for {nodes} nodes",
                self.clock_offsets_ms.len()
            ));
        }
        if let Some(o) = self
            .clock_offsets_ms
            .iter()
            .find(|o| o.abs() > MAX_OFFSET_MS)
        {
            return Err(format!(
                "clock offsets are at most {MAX_OFFSET_MS} ms either way, got {o}"
            ));
        }
        if self.resend_interval < SimTime::from_millis(1) {
            return Err(format!(
                "`resend_interval` must be at least 1ms, got {}",
                self.resend_interval
            ));
        }
        Ok(())
    }
    pub(super) fn offset_us(&self, node: NodeId) -> i64 {
        self.clock_offsets_ms.get(node).copied().unwrap_or(0) * 1000
    }
    /// Last-writer-wins with every clock on true time orders writes as real time does: no
    /// update can be lost, so a lost one is a violation.
    pub fn promises_no_lost_update(&self) -> bool {
        self.conflicts == Conflicts::LastWriterWins && self.clock_offsets_ms.iter().all(|&o| o == 0)
    }
}
