//! The log's options: partitions, when consumers commit, how fast they process, group
//! membership timing, a replay, and the bug variants that break a promise.

use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

/// When a consumer commits the offset of a batch, and so what it promises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommitMode {
    /// Commit once the batch is processed: a crash in between makes the next owner of the
    /// partition process the batch again (at-least-once).
    #[default]
    AfterProcessing,
    /// Commit as soon as the batch is fetched: a crash before processing skips the batch for
    /// good (at-most-once).
    BeforeProcessing,
}

/// A reset of the group's committed offsets (`kafka-consumer-groups --reset-offsets`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// When the coordinator resets the offsets and rebalances the group.
    pub at: SimTime,
    /// The offset every partition restarts from.
    pub offset: u64,
}

/// The `config: (...)` of a `log` scenario. Every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Partitions of the topic; partition `p` lives on broker `p mod brokers`.
    pub partitions: u32,
    /// When consumers commit: `AfterProcessing` (at-least-once) or `BeforeProcessing`
    /// (at-most-once).
    pub commit: CommitMode,
    /// Most records in one fetch.
    pub fetch_max: u32,
    /// Processing time of one record (a batch of n takes n times this).
    pub process_time: SimTime,
    /// How long a consumer that found nothing new waits before fetching again.
    pub poll_interval: SimTime,
    /// How long a producer waits for `ProduceAck` before sending again (doubling).
    pub produce_timeout: SimTime,
    /// Produce attempts per record before the user is told it failed.
    pub max_produce_attempts: u32,
    /// How often a consumer sends the group coordinator a heartbeat.
    pub heartbeat: SimTime,
    /// A member not heard from for this long leaves the group, which rebalances.
    pub session_timeout: SimTime,
    /// Reset every committed offset at a time (a replay from an old offset).
    pub replay: Option<Replay>,
    /// BUG: under `AfterProcessing` the consumer commits as soon as it fetches (the
    /// auto-commit of polled, unprocessed records), so a crash skips records.
    pub bug_commit_on_fetch: bool,
    /// BUG: the consumer fetches the next batch without waiting and processes batches in
    /// parallel, so a short batch can finish before an earlier long one.
    pub bug_parallel_batches: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            partitions: 3,
            commit: CommitMode::AfterProcessing,
            fetch_max: 5,
            process_time: SimTime::from_millis(10),
            poll_interval: SimTime::from_millis(50),
            produce_timeout: SimTime::from_millis(200),
            max_produce_attempts: 5,
            heartbeat: SimTime::from_millis(100),
            session_timeout: SimTime::from_millis(500),
            replay: None,
            bug_commit_on_fetch: false,
            bug_parallel_batches: false,
        }
    }
}

/// Largest partition count, fetch size and attempts accepted.
pub const MAX_COUNT: u32 = 10_000;

impl LogConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("partitions", self.partitions),
            ("fetch_max", self.fetch_max),
            ("max_produce_attempts", self.max_produce_attempts),
        ] {
            if v == 0 || v > MAX_COUNT {
                return Err(format!(
                    "expected {name} between 1 and {MAX_COUNT}, got {v}"
                ));
            }
        }
        for (name, t) in [
            ("poll_interval", self.poll_interval),
            ("produce_timeout", self.produce_timeout),
            ("heartbeat", self.heartbeat),
        ] {
            if t == SimTime::ZERO {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.session_timeout <= self.heartbeat {
            return Err(format!(
                "expected session_timeout > heartbeat, got session_timeout {} and heartbeat {}",
                self.session_timeout, self.heartbeat
            ));
        }
        if self.bug_commit_on_fetch && self.commit != CommitMode::AfterProcessing {
            return Err(
                "bug_commit_on_fetch breaks the at-least-once promise: set commit: AfterProcessing"
                    .into(),
            );
        }
        Ok(())
    }

    /// Whether a batch's offset is committed when it is fetched.
    pub fn commits_on_fetch(&self) -> bool {
        self.commit == CommitMode::BeforeProcessing || self.bug_commit_on_fetch
    }
}
