//! The log's options: partitions, their replication (replication factor, acks, in-sync
//! replicas), when consumers commit, how fast they process, group membership timing, a replay,
//! and the bug variants that break a promise.

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

/// When a partition leader acknowledges a produce (Kafka's producer `acks`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Acks {
    /// `acks=0`: the producer does not wait; the user is answered as the record is sent.
    Zero,
    /// `acks=1`: the leader acknowledges once the record is in its own log (lost if the leader
    /// dies before a follower copied it).
    #[default]
    One,
    /// `acks=all`: the leader acknowledges once every in-sync replica has the record (the high
    /// watermark passed it), and refuses produces while fewer than `min_insync_replicas` are
    /// in sync.
    All,
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

/// Where a consumer resumes when its offset is no longer in the log (Kafka's
/// `auto.offset.reset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OffsetReset {
    /// The oldest record still in the log (the log start offset).
    Earliest,
    /// The log end: only records appended from now on (Kafka's default).
    #[default]
    Latest,
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
    /// Delete a closed segment once its newest record is older than this (Kafka's
    /// `retention.ms`). None: keep records forever (unless `retention_records`).
    pub retention_time: Option<SimTime>,
    /// Delete the oldest closed segments while the partition keeps at least this many records
    /// without them (Kafka's `retention.bytes`, counted in records). None: no size limit.
    pub retention_records: Option<u64>,
    /// Records per segment: the unit retention deletes; the newest (active) segment is never
    /// deleted (Kafka's `segment.bytes`, counted in records).
    pub segment_records: u64,
    /// How often a broker looks for segments to delete (`log.retention.check.interval.ms`).
    pub retention_check_interval: SimTime,
    /// Where a consumer whose offset was deleted resumes: `Earliest` or `Latest`.
    pub auto_offset_reset: OffsetReset,
    /// Replicas of each partition: partition `p` lives on brokers `p, p+1, … mod brokers`, the
    /// first its preferred leader. 1: no replication (each broker alone holds its partitions).
    pub replication_factor: u32,
    /// When a leader acknowledges a produce: `Zero`, `One` or `All`.
    pub acks: Acks,
    /// With `acks: All`: the fewest in-sync replicas (leader included) a produce needs.
    pub min_insync_replicas: u32,
    /// A follower that has not caught up with the leader's log end for this long leaves the
    /// ISR (Kafka's `replica.lag.time.max.ms`).
    pub replica_lag_time: SimTime,
    /// How long a follower waits before fetching again after an empty (or lost) fetch.
    pub replica_fetch_interval: SimTime,
    /// Let the controller elect a replica outside the ISR when none in it is alive (Kafka's
    /// `unclean.leader.election.enable`): available again, at the price of acknowledged records.
    pub unclean_leader_election: bool,
    /// BUG (`acks: All`): the leader acknowledges on its own append, as `acks=1` does, while the
    /// producer was promised every in-sync replica.
    pub bug_ack_on_append: bool,
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
            retention_time: None,
            retention_records: None,
            segment_records: 10,
            retention_check_interval: SimTime::from_millis(100),
            auto_offset_reset: OffsetReset::Latest,
            replication_factor: 1,
            acks: Acks::One,
            min_insync_replicas: 1,
            replica_lag_time: SimTime::from_millis(500),
            replica_fetch_interval: SimTime::from_millis(20),
            unclean_leader_election: false,
            bug_ack_on_append: false,
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
        if self.segment_records == 0 || self.segment_records > MAX_COUNT as u64 {
            return Err(format!(
                "expected segment_records between 1 and {MAX_COUNT}, got {}",
                self.segment_records
            ));
        }
        if self.retention_check_interval == SimTime::ZERO {
            return Err("retention_check_interval must be positive".into());
        }
        if self.retention_time == Some(SimTime::ZERO) {
            return Err("retention_time must be positive (leave it out to keep records)".into());
        }
        if let Some(n) = self.retention_records
            && n < self.segment_records
        {
            return Err(format!(
                "expected retention_records >= segment_records ({}), got {n}: retention deletes whole segments",
                self.segment_records
            ));
        }
        if self.bug_commit_on_fetch && self.commit != CommitMode::AfterProcessing {
            return Err(
                "bug_commit_on_fetch breaks the at-least-once promise: set commit: AfterProcessing"
                    .into(),
            );
        }
        self.validate_replication()
    }

    fn validate_replication(&self) -> Result<(), String> {
        let rf = self.replication_factor;
        if rf == 0 || rf > MAX_COUNT {
            return Err(format!(
                "expected replication_factor between 1 and {MAX_COUNT}, got {rf}"
            ));
        }
        if self.min_insync_replicas == 0 || self.min_insync_replicas > rf {
            return Err(format!(
                "expected min_insync_replicas between 1 and replication_factor ({rf}), got {}",
                self.min_insync_replicas
            ));
        }
        if self.replica_lag_time == SimTime::ZERO || self.replica_fetch_interval == SimTime::ZERO {
            return Err("replica_lag_time and replica_fetch_interval must be positive".into());
        }
        if rf > 1 && self.retains() {
            return Err(
                "retention is not modelled with replication: leave out retention_time and \
                 retention_records, or set replication_factor: 1"
                    .into(),
            );
        }
        if self.bug_ack_on_append && self.acks != Acks::All {
            return Err("bug_ack_on_append breaks the acks=all promise: set acks: All".into());
        }
        Ok(())
    }

    /// Whether partitions have followers (a controller, leaders, ISRs, leader epochs).
    pub fn replicated(&self) -> bool {
        self.replication_factor > 1
    }

    /// Whether an acknowledged produce is promised to survive any replica's crash: `acks: All`
    /// with clean elections only. Then Acknowledged Records Kept is checked.
    pub fn promises_durability(&self) -> bool {
        self.replicated() && self.acks == Acks::All && !self.unclean_leader_election
    }

    /// Whether brokers delete old segments.
    pub fn retains(&self) -> bool {
        self.retention_time.is_some() || self.retention_records.is_some()
    }

    /// Whether a batch's offset is committed when it is fetched.
    pub fn commits_on_fetch(&self) -> bool {
        self.commit == CommitMode::BeforeProcessing || self.bug_commit_on_fetch
    }
}
