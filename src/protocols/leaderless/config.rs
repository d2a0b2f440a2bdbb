//! The options of `protocol: "leaderless"`: the quorum sizes N, R, W, the request timeout,
//! read repair, sloppy quorums, anti-entropy, and the bug switches.

use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

/// `config: (n: 3, r: 2, w: 2, read_repair: true)`; every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlConfig {
    /// Replicas per key (Dynamo's N): the key's preference list is N consecutive nodes of the
    /// ring, starting at the key's number modulo the cluster size.
    pub n: usize,
    /// Replies a read waits for before answering with the newest version among them.
    pub r: usize,
    /// Acknowledgements a write waits for before answering the client.
    pub w: usize,
    /// A coordinator that gets fewer than R (or W) answers within this time fails the request.
    pub request_timeout: SimTime,
    /// After a read, the coordinator writes the newest version back to the replicas that
    /// answered with an older one (Dynamo §4.8 "read repair").
    pub read_repair: bool,
    /// Sloppy quorum (Dynamo §4.6): a write that has not reached W of its N replicas halfway
    /// through `request_timeout` is also sent to the next nodes of the ring, which keep it as
    /// a *hint* for the replica it was meant for and count towards W. Writes stay available
    /// when replicas are unreachable; reads of the preference list may then miss them.
    pub sloppy_quorum: bool,
    /// How often a node holding hints tries to hand them off to their replica.
    pub handoff_interval: SimTime,
    /// Anti-entropy (Dynamo §4.7): every this often a node compares Merkle trees of the keys
    /// it shares with the next node in turn and repairs the differing ranges. `None`: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anti_entropy_interval: Option<SimTime>,
    /// Leaves of each Merkle tree (a power of two): more leaves, finer ranges to repair, more
    /// levels to exchange.
    pub merkle_leaves: u32,
    /// BUG: a read answers with the first reply it gets instead of the newest of R replies.
    pub bug_first_reply_wins: bool,
    /// BUG: anti-entropy only updates keys the replica already has: a key it missed entirely
    /// is never copied, so the replicas never converge.
    pub bug_merkle_ignores_missing: bool,
}

impl Default for LlConfig {
    fn default() -> Self {
        LlConfig {
            n: 3,
            r: 2,
            w: 2,
            request_timeout: SimTime::from_millis(200),
            read_repair: true,
            sloppy_quorum: false,
            handoff_interval: SimTime::from_millis(200),
            anti_entropy_interval: None,
            merkle_leaves: 16,
            bug_first_reply_wins: false,
            bug_merkle_ignores_missing: false,
        }
    }
}

impl LlConfig {
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        crate::protocols::check_all_to_all_nodes("leaderless", nodes)?;
        if self.n == 0 || self.n > nodes {
            return Err(format!(
                "`n` (replicas per key) must be between 1 and the {nodes} nodes, got {}",
                self.n
            ));
        }
        if self.r == 0 || self.r > self.n || self.w == 0 || self.w > self.n {
            return Err(format!(
                "expected 1 <= r <= n and 1 <= w <= n (n = {}), got r = {} and w = {}",
                self.n, self.r, self.w
            ));
        }
        if self.request_timeout < SimTime::from_micros(2) {
            return Err("`request_timeout` must be positive".into());
        }
        if !self.merkle_leaves.is_power_of_two() || self.merkle_leaves > 1024 {
            return Err(format!(
                "`merkle_leaves` must be a power of two from 1 to 1024, got {}",
                self.merkle_leaves
            ));
        }
        if self.anti_entropy_interval == Some(SimTime::ZERO) {
            return Err("`anti_entropy_interval` must be positive".into());
        }
        if self.sloppy_quorum && self.handoff_interval == SimTime::ZERO {
            return Err("`handoff_interval` must be positive".into());
        }
        Ok(())
    }

    /// R + W > N: every read quorum meets every write quorum, so a read sees every write
    /// acknowledged before it started (fresh reads, and so read-your-writes). Monotonic reads
    /// are not promised even then: a write that failed after reaching one replica may be seen
    /// by one read and not by the next.
    /// A sloppy quorum breaks the overlap: a write acknowledged by stand-ins is invisible to
    /// reads of the preference list until it is handed off.
    pub fn promises_fresh_reads(&self) -> bool {
        self.r + self.w > self.n && !self.sloppy_quorum
    }
}
