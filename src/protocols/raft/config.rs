//! Raft's options: timing, the optional extensions of Ongaro's thesis (read paths, leadership
//! transfer, PreVote, CheckQuorum, ignoring RequestVote while a leader is known), log
//! compaction by snapshots (§7 of the extended paper), and the bug
//! variants a class can switch on to see why a rule exists.

use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

/// How the leader serves a `get` (thesis §6.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadPath {
    /// Through the log like a write: answered when the entry is applied (§8).
    #[default]
    Log,
    /// ReadIndex (§6.4): the leader notes its commit index, confirms it still leads with a
    /// heartbeat round acknowledged by a majority, and answers once it has applied that far.
    ReadIndex,
    /// Lease (§6.4.1): while a heartbeat round acknowledged by a majority started less than a
    /// lease ago (measured on the leader's own, possibly drifting, clock), the leader answers
    /// at once; otherwise as ReadIndex. Needs `ignore_votes_with_leader`.
    Lease,
}

/// A leadership transfer scheduled in the scenario (there is no user action for it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// From this time on, the leader starts the transfer at its next heartbeat.
    pub at: SimTime,
    /// The target, numbered from 1.
    pub to: usize,
}

/// The `config: (...)` of a Raft scenario. Every field has a default, so `config: ()` is the
/// paper's algorithm with typical LAN timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftConfig {
    /// Lower bound of the randomized election timeout (§5.2: "chosen randomly from a fixed
    /// interval (e.g., 150–300ms)"). Randomizing spreads the candidates out so split votes
    /// are rare.
    pub election_timeout_min: SimTime,
    /// Upper bound of the randomized election timeout.
    pub election_timeout_max: SimTime,
    /// How often an idle leader sends empty AppendEntries (heartbeats); must be well below
    /// `election_timeout_min` or followers start elections against a live leader.
    pub heartbeat_interval: SimTime,
    /// At most this many entries in one AppendEntries, so a lagging follower catches up in
    /// visible steps (and a message stays small).
    pub max_entries_per_append: usize,
    /// §8: a new leader appends a no-op entry at the start of its term, so entries of earlier
    /// terms get committed (through it) without waiting for a client. Figure 2 alone does not
    /// have it; turning it off shows a leader that cannot commit until a client writes.
    pub noop_on_election: bool,
    /// Thesis §9.6: before incrementing its term, a server asks whether it *could* win
    /// (`PreVote`); a partitioned server then cannot disrupt the cluster when it returns.
    pub pre_vote: bool,
    /// Thesis §6.2: a leader that has not heard from a majority within an election timeout
    /// steps down, so a leader cut off in a minority stops accepting requests.
    pub check_quorum: bool,
    /// Thesis §4.2.3: "if a server receives a RequestVote request within the minimum election
    /// timeout of hearing from a current leader, it does not update its term or grant its
    /// vote". A server that hears no heartbeats (a one-way cut, a removed server) then cannot
    /// depose a leader the others still hear; CheckQuorum alone does not stop it. Elections
    /// started by `TimeoutNow` (leadership transfer) are exempt. A restarted server counts as
    /// having just heard a leader: it may have, just before it crashed.
    pub ignore_votes_with_leader: bool,
    /// How a `get` is served (thesis §6.4). `Log` (the default) appends it like a write.
    pub reads: ReadPath,
    /// With `reads: ReadIndex` or `Lease`: a follower serves a get itself after asking the
    /// leader for a read index and applying up to it (thesis §6.4: "followers could help
    /// offload the processing of read-only queries"), instead of redirecting.
    pub follower_reads: bool,
    /// With `reads: Lease`: the largest clock drift, in parts per million, that the lease is
    /// safe against. The lease lasts `election_timeout_min * (1e6 - b) / (1e6 + b)`: a leader's
    /// clock slow by `b` holds it no longer, in real time, than a follower's clock fast by `b`
    /// waits before it will vote again (`ignore_votes_with_leader`).
    pub lease_drift_bound_ppm: u64,
    /// Scheduled leadership transfers (thesis §3.10): the leader at time `at` hands over to
    /// server `to` (numbered from 1, as `n1`, `n2`, ...) at its next heartbeat.
    pub transfers: Vec<Transfer>,
    /// Log compaction (§7): once this many entries have been applied beyond the last snapshot,
    /// a server snapshots its state machine at `lastApplied` and discards the log up to there;
    /// followers too far behind are sent the snapshot (`InstallSnapshot`). `None` (the default)
    /// never compacts.
    pub snapshot_threshold: Option<usize>,
    /// BUG (Figure 8): the leader counts replicas of entries from *previous* terms to decide
    /// commitment, instead of only entries of its current term (§5.4.2).
    pub commit_previous_term_by_count: bool,
    /// BUG: `votedFor` is not restored after a crash, so a restarted server can vote twice in
    /// one term (Figure 2: votedFor is persistent state).
    pub forget_vote_on_restart: bool,
    /// BUG: RequestVote grants a vote without the election restriction of §5.4.1 (the
    /// candidate's log must be at least as up-to-date as the voter's).
    pub skip_up_to_date_check: bool,
    /// BUG: a follower that already has an entry at an index keeps it even when its term
    /// differs from the leader's, instead of deleting it and all that follow (Figure 2,
    /// AppendEntries receiver rule 3).
    pub no_conflict_truncation: bool,
    /// BUG: a follower answers a get from its own state machine instead of redirecting to
    /// the leader. Its state may lag the leader's commits (§8: "Read-only operations can be
    /// handled without writing anything into the log. However, with no additional measures,
    /// this would run the risk of returning stale data"). No log invariant sees it; only the
    /// client history's linearizability does.
    pub stale_reads_at_followers: bool,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            election_timeout_min: SimTime::from_millis(150),
            election_timeout_max: SimTime::from_millis(300),
            heartbeat_interval: SimTime::from_millis(50),
            max_entries_per_append: 64,
            noop_on_election: true,
            pre_vote: false,
            check_quorum: false,
            ignore_votes_with_leader: false,
            reads: ReadPath::Log,
            follower_reads: false,
            lease_drift_bound_ppm: 50_000,
            transfers: Vec::new(),
            snapshot_threshold: None,
            commit_previous_term_by_count: false,
            forget_vote_on_restart: false,
            skip_up_to_date_check: false,
            no_conflict_truncation: false,
            stale_reads_at_followers: false,
        }
    }
}

impl RaftConfig {
    /// Checks the timing against itself and the cluster size; the message says what was
    /// expected.
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        if nodes == 0 {
            return Err("Raft needs at least one node".into());
        }
        crate::protocols::check_all_to_all_nodes("Raft", nodes)?;
        if self.election_timeout_min == SimTime::ZERO {
            return Err("election_timeout_min must be positive".into());
        }
        if self.election_timeout_max < self.election_timeout_min {
            return Err(format!(
                "expected election_timeout_min <= election_timeout_max, got {} > {}",
                self.election_timeout_min, self.election_timeout_max
            ));
        }
        if self.heartbeat_interval == SimTime::ZERO
            || self.heartbeat_interval >= self.election_timeout_min
        {
            return Err(format!(
                "expected 0 < heartbeat_interval < election_timeout_min, got heartbeat {} and \
                 election timeout {}",
                self.heartbeat_interval, self.election_timeout_min
            ));
        }
        if self.max_entries_per_append == 0 || self.max_entries_per_append > 10_000 {
            return Err(format!(
                "expected max_entries_per_append between 1 and 10000, got {}",
                self.max_entries_per_append
            ));
        }
        if self.reads == ReadPath::Lease && !self.ignore_votes_with_leader {
            return Err(
                "reads: Lease needs ignore_votes_with_leader: true (otherwise a \
                        candidate can be elected while the old leader's lease runs)"
                    .into(),
            );
        }
        if self.lease_drift_bound_ppm >= 1_000_000 {
            return Err(format!(
                "expected lease_drift_bound_ppm below 1000000, got {}",
                self.lease_drift_bound_ppm
            ));
        }
        if self.follower_reads && self.reads == ReadPath::Log {
            return Err("follower_reads needs reads: ReadIndex or Lease".into());
        }
        for t in &self.transfers {
            if t.to == 0 || t.to > nodes {
                return Err(format!(
                    "expected a transfer target between 1 and {nodes}, got {}",
                    t.to
                ));
            }
        }
        if let Some(t) = self.snapshot_threshold
            && !(1..=1_000_000).contains(&t)
        {
            return Err(format!(
                "expected snapshot_threshold between 1 and 1000000 entries, got {t}"
            ));
        }
        if self.transfers.windows(2).any(|w| w[1].at < w[0].at) {
            return Err("expected transfers in order of their times".into());
        }
        Ok(())
    }

    /// How long a lease lasts on the leader's clock (see `lease_drift_bound_ppm`), a little less
    /// than the minimum election timeout.
    pub fn lease_duration(&self) -> SimTime {
        let b = self.lease_drift_bound_ppm;
        self.election_timeout_min
            .scale(1_000_000 - b, 1_000_000 + b)
            .saturating_sub(SimTime::from_micros(1))
    }

    /// The bug switches that are on, for notes and reports.
    pub fn bugs(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.commit_previous_term_by_count {
            v.push("commit_previous_term_by_count");
        }
        if self.forget_vote_on_restart {
            v.push("forget_vote_on_restart");
        }
        if self.skip_up_to_date_check {
            v.push("skip_up_to_date_check");
        }
        if self.no_conflict_truncation {
            v.push("no_conflict_truncation");
        }
        if self.stale_reads_at_followers {
            v.push("stale_reads_at_followers");
        }
        v
    }
}
