//! The options of `protocol: "leader_follower"`: how writes are replicated, where reads go,
//! failover timing, fencing, and the bug switch that shows why the checkers exist.

use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

/// When the leader acknowledges a write (DDIA ch. 5, "Synchronous Versus Asynchronous
/// Replication").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Replication {
    /// After every follower has stored it: no acknowledged write can be lost, but one
    /// unreachable follower blocks every write.
    Sync,
    /// After `k` followers have stored it (MySQL's semi-synchronous replication with
    /// `rpl_semi_sync_master_wait_for_slave_count = k`).
    SemiSync(usize),
    /// At once; the log is shipped in batches with each heartbeat. Fast and available, and a
    /// failover loses what the new leader had not received.
    #[default]
    Async,
}

/// Which replicas answer reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reads {
    /// Only the leader; followers redirect readers to it.
    #[default]
    Leader,
    /// Any replica, from what it has (read scaling, and replication lag made visible).
    Any,
}

/// `config: (replication: SemiSync(1), reads: Any, fencing: false, ...)`; every field has a
/// default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LfConfig {
    pub replication: Replication,
    pub reads: Reads,
    /// Epochs fence deposed leaders: replicas refuse replication from an older epoch, and a
    /// leader that hears of a newer epoch steps down. Off, two leaders can both go on
    /// accepting writes after a failover (split brain).
    pub fencing: bool,
    /// Replicas keep their log on disk (persisted before they acknowledge). Off, a crash
    /// loses everything the node held.
    pub durable_log: bool,
    /// How often the leader sends `Replicate` to each follower (empty ones as heartbeats);
    /// under `Async`, also how often new writes are shipped.
    pub heartbeat_interval: SimTime,
    /// A follower that hears no leader for a random time in `[t, 2t)` promotes itself
    /// (automatic failover). Make it long and use `FireTimer(node)` for a manual failover.
    pub failover_timeout: SimTime,
    /// At most this many entries per `Replicate`, so a lagging follower catches up in steps.
    pub max_entries_per_replicate: usize,
    /// BUG: the leader acknowledges (and serves reads of) a write as soon as it has stored it,
    /// whatever `replication` says: "synchronous" replication that is not.
    pub bug_ack_before_replication: bool,
    /// BUG: the leader answers reads from its whole log, not from the acknowledged prefix: a
    /// leader cut off from its followers (deposed, without knowing it) serves writes nobody
    /// else has, which its successor never had (a dirty read). No acknowledged write is
    /// missed, so only the linearizability check sees it.
    pub bug_leader_reads_uncommitted: bool,
}

impl Default for LfConfig {
    fn default() -> Self {
        LfConfig {
            replication: Replication::Async,
            reads: Reads::Leader,
            fencing: true,
            durable_log: true,
            heartbeat_interval: SimTime::from_millis(50),
            failover_timeout: SimTime::from_millis(300),
            max_entries_per_replicate: 64,
            bug_ack_before_replication: false,
            bug_leader_reads_uncommitted: false,
        }
    }
}

impl LfConfig {
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        if nodes == 0 {
            return Err("leader_follower needs at least one replica".into());
        }
        crate::protocols::check_all_to_all_nodes("leader_follower", nodes)?;
        if let Replication::SemiSync(k) = self.replication
            && (k == 0 || k >= nodes)
        {
            return Err(format!(
                "SemiSync(k) waits for k followers: expected 1 <= k <= {} (the followers of {nodes} replicas), got {k}",
                nodes.saturating_sub(1)
            ));
        }
        if self.heartbeat_interval == SimTime::ZERO
            || self.heartbeat_interval >= self.failover_timeout
        {
            return Err(format!(
                "expected 0 < heartbeat_interval < failover_timeout, got heartbeat {} and failover timeout {}",
                self.heartbeat_interval, self.failover_timeout
            ));
        }
        if self.max_entries_per_replicate == 0 || self.max_entries_per_replicate > 10_000 {
            return Err(format!(
                "expected max_entries_per_replicate between 1 and 10000, got {}",
                self.max_entries_per_replicate
            ));
        }
        Ok(())
    }

    /// Followers that must have stored a write before the leader acknowledges it, in a
    /// cluster of `nodes` replicas.
    pub fn acks_needed(&self, nodes: usize) -> usize {
        if self.bug_ack_before_replication {
            return 0;
        }
        match self.replication {
            Replication::Sync => nodes - 1,
            Replication::SemiSync(k) => k.min(nodes - 1),
            Replication::Async => 0,
        }
    }

    /// The configuration promises what the checkers check (no lost acknowledged write, fresh
    /// reads, read-your-writes, monotonic reads): synchronous replication to every follower,
    /// reads at the leader, epochs as fencing, and a log that survives crashes. Every other
    /// configuration only has its anomalies counted.
    pub fn promises_consistency(&self) -> bool {
        self.replication == Replication::Sync
            && self.reads == Reads::Leader
            && self.fencing
            && self.durable_log
    }

    /// The same configuration promises linearizable get, put and cas (Herlihy and Wing): a
    /// write takes effect when the leader's acknowledged prefix reaches it, which needs every
    /// replica's copy, so no leader, deposed or not, can serve a read that misses a write
    /// another leader already made visible; reads and failed compares answer from that prefix
    /// only; a retried write is recognised by its `WriteId` and not applied twice. The bug
    /// switches keep the claim (and break it).
    pub fn promises_linearizability(&self) -> bool {
        self.promises_consistency()
    }
}
