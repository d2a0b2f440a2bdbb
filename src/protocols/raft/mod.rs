//! Raft: consensus on a replicated log, after Ongaro & Ousterhout, "In Search of an
//! Understandable Consensus Algorithm" (USENIX ATC 2014, <https://raft.github.io/raft.pdf>),
//! Figure 2 rule by rule, with PreVote and CheckQuorum from Ongaro's thesis (§9.6, §6.2).
//!
//! Each server is a follower, a candidate or a leader (with PreVote, also a pre-candidate).
//! Time is divided into *terms*; each term begins with an election. A follower that hears
//! nothing from a leader for a randomized *election timeout* becomes a candidate: it increments
//! its term, votes for itself and sends `RequestVote` to every server. A server grants at most
//! one vote per term, and only to a candidate whose log is at least as up-to-date as its own
//! (§5.4.1). A candidate with votes from a majority becomes leader, appends a no-op entry (§8)
//! and sends `AppendEntries` to everyone, empty ones as heartbeats when idle.
//!
//! The leader appends each client command to its log and replicates it. `AppendEntries`
//! carries the index and term of the entry just before the new ones; a follower refuses it
//! unless its log has that entry (the *consistency check*), and deletes any of its entries that
//! conflict with the leader's. The leader keeps `nextIndex` and `matchIndex` per follower, backs
//! up `nextIndex` on a refusal, and marks an entry *committed* once a majority has stored it —
//! counting replicas only for entries of its *current* term (§5.4.2; Figure 8 shows why).
//! Committed entries are applied in order to a key-value state machine (get/put/cas); the
//! leader answers the client then. Any message with a higher term makes its receiver adopt the
//! term and become a follower.
//!
//! `currentTerm`, `votedFor` and the log are persisted (`ctx.persist`) before the messages of
//! the same step are sent; a restarted server rebuilds itself from them and relearns the rest.
//!
//! ```text
//!              times out,            receives votes from
//!   start ──► Follower ──starts election──► Candidate ──majority of servers──► Leader
//!                ▲  ▲                           │  │                              │
//!                │  └──discovers current leader─┘  └─times out, new election      │
//!                └───────────────────discovers server with higher term────────────┘
//! ```
//!
//! Options from Ongaro's thesis, each off by default:
//! - read paths (§6.4, `reads.rs`): ReadIndex (note the commit index, confirm leadership with a
//!   heartbeat round acknowledged by a majority, answer once applied that far), follower reads
//!   via ReadIndex, and lease reads (answer at once while a confirmed round is younger than a
//!   lease measured on the leader's own clock, shorter than the minimum election timeout by a
//!   drift bound);
//! - leadership transfer (§3.10, `transfer.rs`): stop taking requests, catch the target up,
//!   send `TimeoutNow`; the target campaigns at once;
//! - ignoring RequestVote within the minimum election timeout of hearing a leader (§4.2.3),
//!   which together with CheckQuorum keeps a server that hears no heartbeats from deposing the
//!   leader;
//! - log compaction (§7 of the extended paper, `snapshot.rs`): past `snapshot_threshold`
//!   applied entries a server snapshots its state machine and drops the log up to there; a
//!   follower too far behind gets the leader's snapshot by `InstallSnapshot` (Figure 13).
//!
//! The properties of Figure 3 are checked after every event, one file each in `invariants/`,
//! and Lease Exclusivity with lease reads.
//! Four bug switches in [`RaftConfig`] each remove one rule so a class can watch a property
//! break.

mod config;
mod election;
pub mod invariants;
mod kv;
mod message;
mod reads;
mod replication;
mod snapshot;
mod transfer;

pub use config::{RaftConfig, ReadPath, Transfer};
pub use kv::KvStore;
pub use message::{Ext, Index, KvCommand, LogEntry, RaftMsg, Term};
pub use snapshot::Snapshot;

use reads::{FollowerRead, PendingRead};
use transfer::TransferState;

use crate::sim::{
    ClientRequest, CompactedView, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Protocol,
    SimTime, TimerView, Tone,
};
use rand::Rng;
use std::collections::BTreeSet;

/// A server's role (Figure 4), plus the pre-candidate of PreVote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    /// PreVote only: asking whether it could win before disturbing anyone's term.
    PreCandidate,
    Candidate,
    Leader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// Raft's timers. Each is keyed, so setting one replaces the pending one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RaftTimer {
    /// Followers and candidates: no word from a leader for this long starts an election.
    ElectionTimeout,
    /// Leaders: time to send AppendEntries to every follower (heartbeats when idle). A lost
    /// AppendEntries is thus retried; a lost RequestVote is retried by the next election.
    Heartbeat,
    /// Leaders with `check_quorum`: time to check that a majority answered lately.
    CheckQuorum,
    /// Leaders with `reads: Lease`: the lease of this heartbeat round ends (set when the round
    /// starts, so it runs on the leader's clock).
    Lease(u64),
    /// With `ignore_votes_with_leader`: the minimum election timeout since a leader was last
    /// heard has passed; RequestVote is considered again.
    LeaderContact,
    /// Leaders transferring leadership: give up the transfer (thesis §3.10).
    TransferTimeout,
    /// With `snapshot_threshold`: enough entries were applied beyond the last snapshot; take
    /// one (due at once, a step of its own; see `snapshot.rs`).
    Compact,
}

/// Figure 2's "persistent state on all servers", updated on stable storage before responding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RaftDurable {
    pub current_term: Term,
    pub voted_for: Option<NodeId>,
    /// The entries after the snapshot's last included index.
    pub log: Vec<LogEntry>,
    /// The latest snapshot (§7): a restarted server loads its state machine from it.
    pub snapshot: Snapshot,
}

impl RaftDurable {
    /// The persisted log, as the checkers read it.
    pub fn held_log(&self) -> HeldLog<'_> {
        HeldLog {
            snapshot_index: self.snapshot.last_included_index,
            snapshot_term: self.snapshot.last_included_term,
            entries: &self.log,
        }
    }
}

/// A log as a server holds it: the entries after its snapshot, with absolute indices.
#[derive(Clone, Copy, Debug)]
pub struct HeldLog<'a> {
    /// The snapshot's last included index (0: no snapshot): `entries[0]` is the entry after it.
    pub snapshot_index: Index,
    /// The snapshot's last included term.
    pub snapshot_term: Term,
    pub entries: &'a [LogEntry],
}

impl<'a> HeldLog<'a> {
    /// The index of the last entry (the snapshot's if the log after it is empty).
    pub fn last_index(&self) -> Index {
        self.snapshot_index + self.entries.len() as Index
    }
    /// The entry at `index` if it is held (not compacted, not past the end).
    pub fn get(&self, index: Index) -> Option<&'a LogEntry> {
        let k = index.checked_sub(self.snapshot_index + 1)?;
        self.entries.get(k as usize)
    }
    /// The term at `index`: known for the held entries and the snapshot's last one.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.snapshot_index {
            Some(self.snapshot_term)
        } else {
            self.get(index).map(|e| e.term)
        }
    }
}

/// One Raft server. (`PartialEq` lets handler tests compare recorded `Command`s.)
#[derive(Clone, Debug, PartialEq)]
pub struct Raft {
    /// This server's id (the handlers' `ctx.id`, kept for the view and the invariants).
    id: NodeId,
    /// Cluster size, for majorities.
    nodes: usize,
    /// Options, including the bug switches.
    cfg: RaftConfig,

    // Persistent state (Figure 2), saved with `persist` whenever it changes.
    /// Latest term this server has seen (initialized to 0, increases monotonically).
    current_term: Term,
    /// Candidate that received this server's vote in the current term, if any: at most one
    /// vote per term is what makes two leaders in one term impossible.
    voted_for: Option<NodeId>,
    /// Log entries after the snapshot: entry `i` (1-based, absolute) is
    /// `log[i - snapshot.last_included_index - 1]`. Read it through `entry`, `term_at`,
    /// `entries_from` and `truncate_from`, never by position.
    log: Vec<LogEntry>,
    /// The latest snapshot (§7), persisted with the log; index 0 while there is none.
    snapshot: Snapshot,

    // Volatile state on all servers.
    /// Index of the highest entry known to be committed (initialized to 0, increases
    /// monotonically).
    commit_index: Index,
    /// Index of the highest entry applied to the state machine.
    last_applied: Index,
    role: Role,
    /// The leader of the current term as far as this server knows: where to redirect clients.
    leader_id: Option<NodeId>,
    /// Votes (or pre-votes) received in the current election, including our own.
    votes: BTreeSet<NodeId>,
    /// When this server last heard from a leader of its term: a PreVote is refused while a
    /// leader was heard within the minimum election timeout (thesis §9.6).
    last_leader_contact: Option<SimTime>,
    /// The key-value state machine the committed entries are applied to.
    kv: KvStore,
    /// The pending election timeout as (started, fires), for the app's timer arc.
    election_timer: Option<(SimTime, SimTime)>,

    // Volatile state on leaders, reinitialized after election.
    /// For each server, index of the next log entry to send to that server.
    next_index: Vec<Index>,
    /// For each server, index of the highest log entry known to be replicated on it.
    match_index: Vec<Index>,
    /// For each server, when our snapshot was last sent to it (this term): a snapshot is sent at
    /// most once per heartbeat interval until answered, not with every client request.
    snapshot_sent_at: Vec<Option<SimTime>>,
    /// CheckQuorum: followers that answered since the last check.
    recent_active: BTreeSet<NodeId>,
    /// A ghost variable (as in a TLA+ spec: kept for a checker, never read by the rules): the
    /// highest term this server was obliged to adopt by a message it handled since it started
    /// — a request or response other than a PreVote or a granted PreVoteResponse, whose terms
    /// are in the sender's future (§9.6). See [`invariants::HigherTermAdopted`].
    term_heard: Term,

    // Read paths (thesis §6.4); only used with `reads: ReadIndex` or `Lease`.
    /// The leader's latest heartbeat round (0: none yet in this term).
    round: u64,
    /// For each server, the highest round it acknowledged (the leader's own: its latest).
    acked_round: Vec<u64>,
    /// Leaders: reads waiting for their round to be acknowledged by a majority.
    pending_reads: Vec<PendingRead>,
    /// Leaders with leases: the rounds whose `Lease` timer has not fired yet.
    lease_rounds: BTreeSet<u64>,
    /// Leaders: a transfer was started in this term, so no lease is trusted until the term
    /// ends (the target may be elected without anyone's election timeout running out).
    lease_forfeited: bool,
    /// Followers with `follower_reads`: gets waiting for the leader's read index or for this
    /// server to apply up to it.
    follower_reads: Vec<FollowerRead>,
    /// Followers: the number of the last ReadIndex request sent.
    next_read_id: u64,
    /// `ignore_votes_with_leader`: a leader was heard less than the minimum election timeout
    /// ago, measured by the `LeaderContact` timer on this server's own clock.
    leader_recent: bool,

    // Leadership transfer (thesis §3.10).
    /// Leaders: the transfer in progress; client requests are refused meanwhile.
    transfer: Option<TransferState>,
    /// Leaders: how many scheduled transfers were already due or done (not replayed).
    next_transfer: usize,
    /// What the engine's copy of this server's view was last brought up to date with.
    view_mark: ViewMark,
}

/// Bookkeeping for [`Protocol::refresh_view`], not server state: it never makes two states
/// differ. `None` until the first refresh (the view to update may then be anything).
#[derive(Clone, Debug, Default)]
struct ViewMark(Option<ViewSync>);

#[derive(Clone, Copy, Debug)]
struct ViewSync {
    /// The snapshot index at the last refresh: the drawn boxes are positions after it, so a
    /// new snapshot moves every box and the next refresh redraws them all.
    offset: Index,
    /// Log positions `0..clean` have not changed since the last refresh (a truncation lowers it).
    clean: usize,
    /// `commitIndex` at the last refresh: the entries' filling changed only between it and now.
    commit: Index,
}

impl PartialEq for ViewMark {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl ViewMark {
    /// The log was cut to `len` entries.
    fn truncated(&mut self, len: usize) {
        if let Some(s) = &mut self.0 {
            s.clean = s.clean.min(len);
        }
    }
}

impl Raft {
    /// A follower built from persistent state: a fresh server (`RaftDurable::default()`) or one
    /// restarting after a crash.
    fn from_durable(cfg: &RaftConfig, d: &RaftDurable, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Raft {
            id: ctx.id,
            nodes: ctx.nodes,
            cfg: cfg.clone(),
            current_term: d.current_term,
            voted_for: d.voted_for,
            log: d.log.clone(),
            snapshot: d.snapshot.clone(),
            // What the snapshot holds was committed and is applied by loading it.
            commit_index: d.snapshot.last_included_index,
            last_applied: d.snapshot.last_included_index,
            role: Role::Follower,
            leader_id: None,
            votes: BTreeSet::new(),
            last_leader_contact: None,
            kv: (*d.snapshot.state).clone(),
            election_timer: None,
            next_index: vec![1; ctx.nodes],
            match_index: vec![0; ctx.nodes],
            snapshot_sent_at: vec![None; ctx.nodes],
            recent_active: BTreeSet::new(),
            term_heard: 0,
            round: 0,
            acked_round: vec![0; ctx.nodes],
            pending_reads: Vec::new(),
            lease_rounds: BTreeSet::new(),
            lease_forfeited: false,
            follower_reads: Vec::new(),
            next_read_id: 0,
            leader_recent: false,
            transfer: None,
            next_transfer: 0,
            view_mark: ViewMark::default(),
        };
        me.reset_election_timer(ctx);
        me
    }

    /// The view without its entries: what does not grow with the run.
    fn view_head(&self) -> NodeView {
        let tone = match self.role {
            Role::Leader => Tone::Leader,
            Role::Candidate => Tone::Candidate,
            Role::PreCandidate => Tone::Warning,
            Role::Follower => Tone::Follower,
        };
        let mut v = NodeView::new(self.role.as_str(), tone);
        v.term = Some(self.current_term);
        let opt = |n: Option<NodeId>| n.map_or("-".to_string(), |n| format!("n{}", n + 1));
        v = v
            .field("votedFor", opt(self.voted_for))
            .field("commitIndex", self.commit_index)
            .field("lastApplied", self.last_applied)
            .field("leader", opt(self.leader_id));
        if self.cfg.reads == ReadPath::Lease && self.role == Role::Leader {
            v = v.field("lease", if self.holds_lease() { "held" } else { "-" });
        }
        if !self.pending_reads.is_empty() || !self.follower_reads.is_empty() {
            v = v.field(
                "reads waiting",
                self.pending_reads.len() + self.follower_reads.len(),
            );
        }
        if let Some(t) = &self.transfer {
            v = v.field("transferring to", format!("n{}", t.target + 1));
        }
        if self.snapshot.last_included_index > 0 {
            v = v.field(
                "snapshot",
                format!(
                    "up to {}@t{}",
                    self.snapshot.last_included_index, self.snapshot.last_included_term
                ),
            );
            v.compacted = Some(CompactedView {
                index: self.snapshot.last_included_index,
                term: self.snapshot.last_included_term,
                label: format!("snapshot ({} keys)", self.snapshot.state.len()),
            });
        }
        if !self.kv.is_empty() {
            let kv: Vec<String> = self.kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
            v = v.field("kv", kv.join(" "));
        }
        v.timer = self.election_timer.map(|(started_at, fires_at)| TimerView {
            label: "election timeout".into(),
            started_at,
            fires_at,
        });
        v
    }

    /// The drawn box of the entry at position `p` of the held log (index
    /// `snapshot index + p + 1`).
    fn entry_view(&self, p: usize) -> EntryView {
        let e = &self.log[p];
        let index = self.snapshot.last_included_index + p as Index + 1;
        EntryView {
            index,
            term: e.term,
            label: e.command.label(),
            committed: index <= self.commit_index,
        }
    }

    /// How many held entries (from position 0) are committed.
    fn committed_positions(&self, commit: Index) -> usize {
        commit.saturating_sub(self.snapshot.last_included_index) as usize
    }

    // ------------------------------------------------------------------ accessors

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    /// The ghost variable of [`invariants::HigherTermAdopted`]: the highest term a handled
    /// message obliged this server to adopt.
    pub fn term_heard(&self) -> Term {
        self.term_heard
    }
    pub fn current_term(&self) -> Term {
        self.current_term
    }
    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }
    /// The entries held after the snapshot (the first is entry `snapshot index + 1`).
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }
    /// The held log with its absolute indices.
    pub fn held_log(&self) -> HeldLog<'_> {
        HeldLog {
            snapshot_index: self.snapshot.last_included_index,
            snapshot_term: self.snapshot.last_included_term,
            entries: &self.log,
        }
    }
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }
    pub fn commit_index(&self) -> Index {
        self.commit_index
    }
    pub fn last_applied(&self) -> Index {
        self.last_applied
    }
    pub fn leader_id(&self) -> Option<NodeId> {
        self.leader_id
    }
    pub fn next_index(&self) -> &[Index] {
        &self.next_index
    }
    pub fn match_index(&self) -> &[Index] {
        &self.match_index
    }
    pub fn kv(&self) -> &KvStore {
        &self.kv
    }
    /// The pending election timeout as (started, fires), if one is running.
    pub fn election_timer(&self) -> Option<(SimTime, SimTime)> {
        self.election_timer
    }
    pub fn last_log_index(&self) -> Index {
        self.snapshot.last_included_index + self.log.len() as Index
    }
    pub fn last_log_term(&self) -> Term {
        self.log
            .last()
            .map_or(self.snapshot.last_included_term, |e| e.term)
    }
    /// Term of the entry at `index` (0 for index 0; the snapshot's last included term at its
    /// index), `None` past the end and before the snapshot's last included entry.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        self.held_log().term_at(index)
    }
    /// The entry at `index`, if held (not compacted into the snapshot, not past the end).
    pub fn entry(&self, index: Index) -> Option<&LogEntry> {
        self.held_log().get(index)
    }
    /// At most `max` entries from `index` on (which must be past the snapshot).
    fn entries_from(&self, index: Index, max: usize) -> &[LogEntry] {
        assert!(
            index > self.snapshot.last_included_index,
            "entry {index} is compacted"
        );
        let start = ((index - self.snapshot.last_included_index - 1) as usize).min(self.log.len());
        &self.log[start..(start + max).min(self.log.len())]
    }
    /// Deletes the entry at `index` and all that follow it (which must be past the snapshot).
    fn truncate_from(&mut self, index: Index) {
        assert!(
            index > self.snapshot.last_included_index,
            "entry {index} is in the snapshot: committed, never truncated"
        );
        let p = (index - self.snapshot.last_included_index - 1) as usize;
        self.log.truncate(p);
        self.view_mark.truncated(p);
    }
    fn majority(&self) -> usize {
        self.nodes / 2 + 1
    }
    fn durable(&self) -> RaftDurable {
        RaftDurable {
            current_term: self.current_term,
            voted_for: self.voted_for,
            log: self.log.clone(),
            snapshot: self.snapshot.clone(),
        }
    }
    /// Saves currentTerm, votedFor, the log and the snapshot; called before sending the messages of the same
    /// step ("updated on stable storage before responding to RPCs").
    fn persist(&self, ctx: &mut Ctx<Self>) {
        ctx.persist(self.durable());
    }

    // ------------------------------------------------------------------ timers

    fn reset_election_timer(&mut self, ctx: &mut Ctx<Self>) {
        let (lo, hi) = (
            self.cfg.election_timeout_min.as_micros(),
            self.cfg.election_timeout_max.as_micros(),
        );
        let after = SimTime::from_micros(ctx.rng().random_range(lo..=hi));
        ctx.set_timer(RaftTimer::ElectionTimeout, after);
        self.election_timer = Some((ctx.now, ctx.now + after));
    }

    fn cancel_election_timer(&mut self, ctx: &mut Ctx<Self>) {
        ctx.cancel_timer(RaftTimer::ElectionTimeout);
        self.election_timer = None;
    }

    // ------------------------------------------------------------------ role changes
    //
    // Every role change goes through one of these (after etcd's becomeFollower/...): each sets
    // every role field, so no state of an old role leaks into the new one.

    /// Adopts `term` (forgetting the vote if it is newer) and follows `leader`, if known.
    fn become_follower(&mut self, term: Term, leader: Option<NodeId>, ctx: &mut Ctx<Self>) {
        assert!(
            term >= self.current_term,
            "become_follower: term {term} < current term {}",
            self.current_term
        );
        let was = self.role;
        if term > self.current_term {
            self.current_term = term;
            self.voted_for = None;
            self.persist(ctx);
        }
        if was == Role::Leader {
            ctx.cancel_timer(RaftTimer::Heartbeat);
            ctx.cancel_timer(RaftTimer::CheckQuorum);
            ctx.note(format!("steps down in term {}", self.current_term));
            ctx.count("step_downs", 1);
        }
        self.role = Role::Follower;
        self.leader_id = leader;
        self.votes.clear();
        self.recent_active.clear();
        self.clear_leader_state(ctx);
        // A leader had no election timer. A follower or candidate keeps the one it has: Figure 2
        // resets it only on AppendEntries from the current leader or on granting a vote.
        if was == Role::Leader || self.election_timer.is_none() {
            self.reset_election_timer(ctx);
        }
    }

    /// Forgets what only a leader keeps for reads and transfers (pending reads are dropped:
    /// their clients time out and retry), and the follower reads that never got a read index.
    fn clear_leader_state(&mut self, ctx: &mut Ctx<Self>) {
        for r in std::mem::take(&mut self.lease_rounds) {
            ctx.cancel_timer(RaftTimer::Lease(r));
        }
        if self.transfer.take().is_some() {
            ctx.cancel_timer(RaftTimer::TransferTimeout);
        }
        self.pending_reads.clear();
        self.round = 0;
        self.acked_round = vec![0; self.nodes];
        self.lease_forfeited = false;
        self.follower_reads.retain(|r| r.read_index.is_some());
    }

    /// PreVote: asks for votes in `current_term + 1` without changing any term.
    fn become_pre_candidate(&mut self, ctx: &mut Ctx<Self>) {
        assert!(
            self.role != Role::Leader,
            "invalid transition [leader -> pre-candidate]"
        );
        self.role = Role::PreCandidate;
        self.leader_id = None;
        self.votes = BTreeSet::from([self.id]);
        self.clear_leader_state(ctx);
        self.reset_election_timer(ctx);
        ctx.count("pre_votes", 1);
        if self.votes.len() >= self.majority() {
            self.become_candidate(false, ctx);
            return;
        }
        ctx.broadcast(RaftMsg::PreVote {
            term: self.current_term + 1,
            candidate_id: self.id,
            last_log_index: self.last_log_index(),
            last_log_term: self.last_log_term(),
        });
    }

    /// "On conversion to candidate, start election: increment currentTerm, vote for self,
    /// reset election timer, send RequestVote RPCs to all other servers." `transfer`: started by
    /// TimeoutNow (thesis §3.10), which the RequestVotes say.
    fn become_candidate(&mut self, transfer: bool, ctx: &mut Ctx<Self>) {
        assert!(
            self.role != Role::Leader,
            "invalid transition [leader -> candidate]"
        );
        self.current_term += 1;
        self.voted_for = Some(self.id);
        self.persist(ctx);
        self.role = Role::Candidate;
        self.leader_id = None;
        self.votes = BTreeSet::from([self.id]);
        self.clear_leader_state(ctx);
        self.reset_election_timer(ctx);
        ctx.count("elections", 1);
        if self.votes.len() >= self.majority() {
            self.become_leader(ctx);
            return;
        }
        ctx.broadcast(RaftMsg::RequestVote {
            term: self.current_term,
            candidate_id: self.id,
            last_log_index: self.last_log_index(),
            last_log_term: self.last_log_term(),
            transfer: Ext(transfer),
        });
    }

    /// Won the election: reinitialize nextIndex/matchIndex, append a no-op (§8, unless
    /// `noop_on_election` is off) and send
    /// AppendEntries to everyone at once (Figure 2: "upon election: send initial empty
    /// AppendEntries RPCs (heartbeat) to each server").
    fn become_leader(&mut self, ctx: &mut Ctx<Self>) {
        assert!(
            self.role == Role::Candidate,
            "invalid transition [{} -> leader]",
            self.role.as_str()
        );
        self.role = Role::Leader;
        self.leader_id = Some(self.id);
        self.votes.clear();
        self.recent_active.clear();
        self.clear_leader_state(ctx);
        self.next_transfer = self.transfers_due(ctx.now);
        self.cancel_election_timer(ctx);
        let next = self.last_log_index() + 1;
        self.next_index = vec![next; self.nodes];
        self.match_index = vec![0; self.nodes];
        self.snapshot_sent_at = vec![None; self.nodes];
        ctx.note(format!("becomes leader for term {}", self.current_term));
        ctx.count("elections_won", 1);
        if self.cfg.noop_on_election {
            self.log
                .push(LogEntry::new(self.current_term, KvCommand::Noop));
            self.persist(ctx);
        }
        self.match_index[self.id] = self.last_log_index();
        if self.counts_rounds() {
            self.start_round(ctx);
        }
        self.broadcast_append(ctx);
        ctx.set_timer(RaftTimer::Heartbeat, self.cfg.heartbeat_interval);
        if self.cfg.check_quorum {
            ctx.set_timer(RaftTimer::CheckQuorum, self.cfg.election_timeout_max);
        }
        self.advance_commit_index(ctx); // a one-server cluster commits at once
    }

    // ------------------------------------------------------------------ timers fired

    fn on_election_timeout(&mut self, ctx: &mut Ctx<Self>) {
        assert!(
            self.role != Role::Leader,
            "a leader has no election timer (it was cancelled on election)"
        );
        self.election_timer = None;
        if self.cfg.pre_vote {
            self.become_pre_candidate(ctx);
        } else {
            self.become_candidate(false, ctx);
        }
    }

    fn on_heartbeat(&mut self, ctx: &mut Ctx<Self>) {
        assert!(self.role == Role::Leader, "only a leader sends heartbeats");
        if self.counts_rounds() {
            self.start_round(ctx);
        }
        self.broadcast_append(ctx);
        ctx.set_timer(RaftTimer::Heartbeat, self.cfg.heartbeat_interval);
        self.start_due_transfer(ctx);
    }

    /// A request (AppendEntries, InstallSnapshot) from a leader of at least our term: "if
    /// AppendEntries RPC received from new leader: convert to follower", and reset the election
    /// timer. False for a second leader of our own term (only reachable with a bug switch on;
    /// Election Safety reports it): keep leading rather than corrupt the state further.
    fn heed_leader(&mut self, term: Term, leader_id: NodeId, ctx: &mut Ctx<Self>) -> bool {
        if self.role == Role::Leader && term == self.current_term {
            ctx.note(format!("second leader n{} in term {term}", leader_id + 1));
            return false;
        }
        if term > self.current_term
            || self.role != Role::Follower
            || self.leader_id != Some(leader_id)
        {
            self.become_follower(term, Some(leader_id), ctx);
        }
        self.last_leader_contact = Some(ctx.now);
        self.reset_election_timer(ctx);
        self.note_leader_contact(ctx);
        true
    }

    /// `ignore_votes_with_leader`: a leader was just heard (or may have been, before a
    /// restart); RequestVote is ignored for the minimum election timeout.
    fn note_leader_contact(&mut self, ctx: &mut Ctx<Self>) {
        if self.cfg.ignore_votes_with_leader {
            self.leader_recent = true;
            ctx.set_timer(RaftTimer::LeaderContact, self.cfg.election_timeout_min);
        }
    }

    /// CheckQuorum: a leader that has not heard from a majority (itself included) during the
    /// last election timeout steps down.
    fn on_check_quorum(&mut self, ctx: &mut Ctx<Self>) {
        assert!(self.role == Role::Leader, "only a leader checks its quorum");
        if self.recent_active.len() + 1 < self.majority() {
            ctx.note(format!(
                "heard from only {} of {} servers: no quorum",
                self.recent_active.len() + 1,
                self.nodes
            ));
            let term = self.current_term;
            self.become_follower(term, None, ctx);
            return;
        }
        self.recent_active.clear();
        ctx.set_timer(RaftTimer::CheckQuorum, self.cfg.election_timeout_max);
    }
}

impl Protocol for Raft {
    type Msg = RaftMsg;
    type Timer = RaftTimer;
    type Durable = RaftDurable;
    type Config = RaftConfig;

    const NAME: &'static str = "raft";
    const SUMMARY: &'static str = "Raft consensus (Figure 2) with a key-value store, ReadIndex and \
         lease reads, leadership transfer, PreVote, CheckQuorum, snapshots and bug switches";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "RequestVote",
        "RequestVoteResponse",
        "AppendEntries",
        "AppendEntriesResponse",
        "PreVote",
        "PreVoteResponse",
        "ReadIndex",
        "ReadIndexResponse",
        "TimeoutNow",
        "InstallSnapshot",
        "InstallSnapshotResponse",
    ];

    fn validate_config(cfg: &RaftConfig, nodes: usize) -> Result<(), String> {
        cfg.validate(nodes)
    }

    fn init(cfg: &RaftConfig, ctx: &mut Ctx<Self>) -> Self {
        Raft::from_durable(cfg, &RaftDurable::default(), ctx)
    }

    fn on_restart(cfg: &RaftConfig, durable: &RaftDurable, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Raft::from_durable(cfg, durable, ctx);
        // It may have heard a leader just before the crash: votes wait as if it had.
        me.note_leader_contact(ctx);
        if cfg.forget_vote_on_restart && me.voted_for.is_some() {
            me.voted_for = None; // BUG: votedFor treated as volatile
            ctx.note("BUG forget_vote_on_restart: forgot its vote");
        }
        me
    }

    fn on_message(&mut self, from: NodeId, msg: RaftMsg, ctx: &mut Ctx<Self>) {
        let ignored = matches!(&msg, RaftMsg::RequestVote { term, transfer, .. }
            if self.ignores_vote(*term, transfer.0));
        if let Some(term) = msg.term_to_adopt().filter(|_| !ignored) {
            self.term_heard = self.term_heard.max(term);
        }
        match msg {
            RaftMsg::RequestVote {
                term,
                candidate_id,
                last_log_index,
                last_log_term,
                transfer,
            } => self.handle_request_vote(
                from,
                term,
                candidate_id,
                last_log_index,
                last_log_term,
                transfer.0,
                ctx,
            ),
            RaftMsg::RequestVoteResponse { term, vote_granted } => {
                self.handle_request_vote_response(from, term, vote_granted, ctx)
            }
            RaftMsg::PreVote {
                term,
                candidate_id,
                last_log_index,
                last_log_term,
            } => self.handle_pre_vote(from, term, candidate_id, last_log_index, last_log_term, ctx),
            RaftMsg::PreVoteResponse { term, vote_granted } => {
                self.handle_pre_vote_response(from, term, vote_granted, ctx)
            }
            RaftMsg::AppendEntries {
                term,
                leader_id,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                round,
            } => self.handle_append_entries(
                from,
                term,
                leader_id,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                round,
                ctx,
            ),
            RaftMsg::AppendEntriesResponse {
                term,
                success,
                match_index,
                round,
            } => self.handle_append_entries_response(from, term, success, match_index, round, ctx),
            RaftMsg::ReadIndex { term, read_id } => {
                self.handle_read_index(from, term, read_id, ctx)
            }
            RaftMsg::ReadIndexResponse {
                term,
                read_id,
                read_index,
            } => self.handle_read_index_response(term, read_id, read_index, ctx),
            RaftMsg::TimeoutNow { term } => self.handle_timeout_now(term, ctx),
            RaftMsg::InstallSnapshot {
                term,
                leader_id,
                last_included_index,
                last_included_term,
                data,
                round,
            } => self.handle_install_snapshot(
                from,
                term,
                leader_id,
                last_included_index,
                last_included_term,
                data,
                round,
                ctx,
            ),
            RaftMsg::InstallSnapshotResponse {
                term,
                match_index,
                round,
            } => self.handle_install_snapshot_response(from, term, match_index, round, ctx),
        }
    }

    fn on_timer(&mut self, timer: RaftTimer, ctx: &mut Ctx<Self>) {
        match timer {
            RaftTimer::ElectionTimeout => self.on_election_timeout(ctx),
            RaftTimer::Heartbeat => self.on_heartbeat(ctx),
            RaftTimer::CheckQuorum => self.on_check_quorum(ctx),
            RaftTimer::Lease(round) => self.on_lease_timer(round),
            RaftTimer::LeaderContact => self.leader_recent = false,
            RaftTimer::TransferTimeout => self.on_transfer_timeout(ctx),
            RaftTimer::Compact => self.on_compact(ctx),
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        self.handle_client_request(req, ctx);
    }

    fn view(&self) -> NodeView {
        let mut v = self.view_head();
        v.entries = (0..self.log.len()).map(|i| self.entry_view(i)).collect();
        v
    }

    /// Like `view`, but touching only the log entries that changed since the last refresh
    /// (appended, replaced, newly committed), so an event costs the same whatever the log's
    /// length.
    fn refresh_view(&mut self, view: &mut NodeView) -> bool {
        let head = self.view_head();
        let mut changed = false;
        if view.role != head.role
            || view.tone != head.tone
            || view.term != head.term
            || view.fields != head.fields
            || view.timer != head.timer
            || view.compacted != head.compacted
        {
            changed = true;
            let entries = std::mem::take(&mut view.entries);
            *view = head;
            view.entries = entries;
        }
        let len = self.log.len();
        let offset = self.snapshot.last_included_index;
        let (clean, lo_commit, hi_commit) = match self.view_mark.0 {
            Some(s) if s.offset == offset => (
                s.clean.min(view.entries.len()),
                self.committed_positions(s.commit.min(self.commit_index)),
                self.committed_positions(s.commit.max(self.commit_index)),
            ),
            _ => (0, 0, 0),
        };
        let clean = clean.min(len);
        if view.entries.len() > len {
            view.entries.truncate(len);
            changed = true;
        }
        // Entries kept from before whose filling may have changed.
        let committed_upto = self.committed_positions(self.commit_index);
        for i in lo_commit.min(clean)..hi_commit.min(clean) {
            let committed = i < committed_upto;
            if view.entries[i].committed != committed {
                view.entries[i].committed = committed;
                changed = true;
            }
        }
        // Entries past the unchanged prefix: compared (and replaced or added) one by one.
        for i in clean..len {
            let e = self.entry_view(i);
            match view.entries.get_mut(i) {
                Some(old) if *old == e => {}
                Some(old) => {
                    *old = e;
                    changed = true;
                }
                None => {
                    view.entries.push(e);
                    changed = true;
                }
            }
        }
        self.view_mark.0 = Some(ViewSync {
            offset,
            clean: len,
            commit: self.commit_index,
        });
        changed
    }

    /// Every get, put and cas goes through the log and is answered by the leader that applied it
    /// (§8), so the client history must be linearizable.
    /// Lifted from the test suite's sweep: one leader leads the highest term and every live
    /// server holds its log, has committed all of it and applied all it committed. Without a
    /// no-op on election a leader cannot commit earlier terms' entries until a client writes
    /// (Figure 8), so then every server must only match the leader's commit index.
    fn healed(cfg: &RaftConfig, states: &[Option<Self>]) -> Option<Result<(), String>> {
        let live: Vec<&Raft> = states.iter().flatten().collect();
        let leaders: Vec<&&Raft> = live.iter().filter(|s| s.role() == Role::Leader).collect();
        let [lead] = leaders.as_slice() else {
            let ids: Vec<String> = leaders.iter().map(|s| format!("n{}", s.id() + 1)).collect();
            return Some(Err(format!(
                "expected one leader, found [{}]",
                ids.join(", ")
            )));
        };
        let len = lead.last_log_index();
        let commit = if cfg.noop_on_election {
            len
        } else {
            lead.commit_index()
        };
        for s in &live {
            // Without the no-op, uncommitted suffixes may differ (nothing conflicts with them).
            let same_log = !cfg.noop_on_election
                || (s.last_log_index() == len && s.last_log_term() == lead.last_log_term());
            if s.current_term() != lead.current_term()
                || !same_log
                || s.commit_index() != commit
                || s.last_applied() != commit
            {
                return Some(Err(format!(
                    "n{} has not caught up with leader n{}: term {}/{}, log {}/{len}, commit {}, applied {}",
                    s.id() + 1,
                    lead.id() + 1,
                    s.current_term(),
                    lead.current_term(),
                    s.last_log_index(),
                    s.commit_index(),
                    s.last_applied()
                )));
            }
        }
        Some(Ok(()))
    }

    fn linearizable(_cfg: &RaftConfig) -> bool {
        true
    }

    fn invariants(cfg: &RaftConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        invariants::all(cfg, nodes)
    }

    /// Each live server's `commitIndex`, plotted over time: followers trail the leader,
    /// a partitioned minority stays flat.
    fn gauges(_cfg: &RaftConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        for (i, s) in states.iter().enumerate() {
            if let Some(s) = s {
                out.push(Gauge {
                    name: "commit_index",
                    node: Some(i),
                    value: s.commit_index as f64,
                });
            }
        }
    }
}
