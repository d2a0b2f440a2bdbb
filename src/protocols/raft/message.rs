//! Raft's messages and log entries, named as in Figure 2 of the paper.

use super::kv::KvStore;
use crate::sim::client::ClientRef;
use crate::sim::{Message, NodeId};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A log index: entries are numbered from 1; 0 means "before the first entry".
pub type Index = u64;
/// A term number (§5.1): terms act as a logical clock.
pub type Term = u64;

/// A state-machine command carried by a log entry: the key-value operations the clients send,
/// and the no-op a new leader appends (§8) so it can commit entries of earlier terms.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvCommand {
    /// Appended by every new leader at the start of its term.
    Noop,
    /// Reads go through the log too, so a read never returns stale data from a deposed leader.
    Get {
        key: String,
    },
    Put {
        key: String,
        value: String,
    },
    /// Writes `to` only if the key's value is `from` (`None`: the key is absent).
    Cas {
        key: String,
        from: Option<String>,
        to: String,
    },
}

impl KvCommand {
    /// Short text for the log boxes the app draws.
    pub fn label(&self) -> String {
        match self {
            KvCommand::Noop => "no-op".into(),
            KvCommand::Get { key } => format!("get {key}"),
            KvCommand::Put { key, value } => format!("{key}={value}"),
            KvCommand::Cas { key, from, to } => {
                format!("cas {key} {}->{to}", from.as_deref().unwrap_or("_"))
            }
        }
    }
}

/// One log entry: a command and the term in which a leader received it (Figure 2: "each entry
/// contains command for state machine, and term when entry was received by leader").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogEntry {
    pub term: Term,
    /// Shared, not copied: a log entry is cloned into every AppendEntries, every follower's
    /// log and every persisted log, and comparing two clones is a pointer comparison.
    pub command: Arc<KvCommand>,
    /// The client attempt that asked for it, so the leader that applies it can answer, and the
    /// state machine can recognise a retried request (§8) and not apply it twice.
    pub client: Option<ClientRef>,
}

impl LogEntry {
    pub fn new(term: Term, command: KvCommand) -> Self {
        LogEntry {
            term,
            command: Arc::new(command),
            client: None,
        }
    }
}

/// A message field added with an option (read rounds, leadership transfer). It is hashed only
/// when it differs from its default, so a run that never uses the option hashes its messages,
/// and so its trace digest, exactly as before the field existed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ext<T>(pub T);

impl<T: Hash + Default + PartialEq> Hash for Ext<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.0 != T::default() {
            self.0.hash(state);
        }
    }
}

/// Raft's RPCs as messages. Requests carry the sender's term; every response carries the
/// responder's term so a stale sender learns it must step down (§5.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RaftMsg {
    /// Invoked by candidates to gather votes (§5.2).
    RequestVote {
        term: Term,
        candidate_id: NodeId,
        /// Index and term of the candidate's last entry: the election restriction (§5.4.1).
        last_log_index: Index,
        last_log_term: Term,
        /// Thesis §3.10: the election was started by `TimeoutNow`, so voters grant it even if
        /// they heard from a leader recently (etcd's `CampaignTransfer`).
        transfer: Ext<bool>,
    },
    RequestVoteResponse {
        term: Term,
        vote_granted: bool,
    },
    /// Thesis §9.6: "would you vote for me in `term`?" asked *before* incrementing the term.
    /// The receiver changes no state.
    PreVote {
        /// The term the sender would campaign in (its current term + 1).
        term: Term,
        candidate_id: NodeId,
        last_log_index: Index,
        last_log_term: Term,
    },
    /// `term` is the proposed term when granted, the responder's own term when refused.
    PreVoteResponse {
        term: Term,
        vote_granted: bool,
    },
    /// Invoked by the leader to replicate log entries (§5.3); also used as heartbeat (§5.2).
    AppendEntries {
        term: Term,
        leader_id: NodeId,
        /// Index and term of the entry immediately preceding `entries`: the consistency check.
        prev_log_index: Index,
        prev_log_term: Term,
        /// Empty for a heartbeat.
        entries: Vec<LogEntry>,
        leader_commit: Index,
        /// With `reads: ReadIndex` or `Lease`: the leader's latest heartbeat round, started at or
        /// before this message was sent. An answer echoing it proves the follower still took
        /// this server for its leader after the round began (0: no rounds are counted).
        round: Ext<u64>,
    },
    AppendEntriesResponse {
        term: Term,
        success: bool,
        /// Not in Figure 2, which leaves it to the leader to remember what it sent: on success,
        /// the index of the last entry now known to match the leader's log; on failure, the
        /// follower's last index, so the leader can skip back further than one entry (§5.3's
        /// suggested optimization, in its simplest form).
        match_index: Index,
        /// The `round` of the AppendEntries answered.
        round: Ext<u64>,
    },
    /// Follower reads (thesis §6.4): a follower asks the leader for a read index.
    ReadIndex {
        term: Term,
        /// The follower's number for this read, echoed in the answer.
        read_id: u64,
    },
    /// The leader's commit index once it has confirmed, by a heartbeat round acknowledged by a
    /// majority, that it still led after the request arrived.
    ReadIndexResponse {
        term: Term,
        read_id: u64,
        read_index: Index,
    },
    /// Leadership transfer (thesis §3.10): "the prior leader sends a TimeoutNow request to the
    /// target server. This request has the same effect as the target server's election timer
    /// firing".
    TimeoutNow {
        term: Term,
    },
    /// Log compaction (§7, Figure 13 of the extended paper): "invoked by leader to send chunks
    /// of a snapshot to a follower". Sent whole, in one message (no `offset`/`done` chunking: the
    /// state machine here is a small map), to a follower whose nextIndex is at or below the
    /// leader's snapshot, since the entries it needs are gone from the leader's log.
    InstallSnapshot {
        term: Term,
        leader_id: NodeId,
        /// "the snapshot replaces all entries up through and including this index"
        last_included_index: Index,
        /// "term of lastIncludedIndex"
        last_included_term: Term,
        /// The state machine (map and client sessions) after applying entries
        /// `1..=last_included_index`. Shared, not copied, like log entries.
        data: Arc<KvStore>,
        /// The leader's heartbeat round, as in AppendEntries: the answer acknowledges it.
        round: Ext<u64>,
    },
    InstallSnapshotResponse {
        /// "currentTerm, for leader to update itself"
        term: Term,
        /// Not in Figure 13: the index up to which the follower's log now matches the leader's
        /// (the snapshot's last included index, or the follower's own snapshot if it was
        /// already past it), so the leader can set matchIndex and nextIndex.
        match_index: Index,
        round: Ext<u64>,
    },
}

impl RaftMsg {
    /// The term Figure 2's rule for all servers obliges the receiver to adopt if it is newer:
    /// "If RPC request or response contains term T > currentTerm: set currentTerm = T,
    /// convert to follower (§5.1)". A PreVote and a granted PreVoteResponse carry the
    /// pre-candidate's next term, which nobody adopts (thesis §9.6); a RequestVote ignored
    /// while a leader is known is the other exception (thesis §4.2.3, see `Raft::ignores_vote`).
    pub fn term_to_adopt(&self) -> Option<Term> {
        match *self {
            RaftMsg::PreVote { .. } => None,
            RaftMsg::PreVoteResponse { vote_granted, .. } if vote_granted => None,
            RaftMsg::PreVoteResponse { term, .. }
            | RaftMsg::RequestVote { term, .. }
            | RaftMsg::RequestVoteResponse { term, .. }
            | RaftMsg::AppendEntries { term, .. }
            | RaftMsg::AppendEntriesResponse { term, .. }
            | RaftMsg::ReadIndex { term, .. }
            | RaftMsg::ReadIndexResponse { term, .. }
            | RaftMsg::TimeoutNow { term }
            | RaftMsg::InstallSnapshot { term, .. }
            | RaftMsg::InstallSnapshotResponse { term, .. } => Some(term),
        }
    }
}

impl Message for RaftMsg {
    fn kind(&self) -> &'static str {
        match self {
            RaftMsg::RequestVote { .. } => "RequestVote",
            RaftMsg::RequestVoteResponse { .. } => "RequestVoteResponse",
            RaftMsg::PreVote { .. } => "PreVote",
            RaftMsg::PreVoteResponse { .. } => "PreVoteResponse",
            RaftMsg::AppendEntries { .. } => "AppendEntries",
            RaftMsg::AppendEntriesResponse { .. } => "AppendEntriesResponse",
            RaftMsg::ReadIndex { .. } => "ReadIndex",
            RaftMsg::ReadIndexResponse { .. } => "ReadIndexResponse",
            RaftMsg::TimeoutNow { .. } => "TimeoutNow",
            RaftMsg::InstallSnapshot { .. } => "InstallSnapshot",
            RaftMsg::InstallSnapshotResponse { .. } => "InstallSnapshotResponse",
        }
    }
    fn label(&self) -> String {
        match self {
            RaftMsg::RequestVote {
                term,
                last_log_index,
                last_log_term,
                transfer,
                ..
            } => format!(
                "RequestVote t{term} last {last_log_index}@t{last_log_term}{}",
                if transfer.0 { " (transfer)" } else { "" }
            ),
            RaftMsg::RequestVoteResponse { term, vote_granted } => {
                format!("vote t{term} {}", if *vote_granted { "yes" } else { "no" })
            }
            RaftMsg::PreVote {
                term,
                last_log_index,
                last_log_term,
                ..
            } => format!("PreVote t{term} last {last_log_index}@t{last_log_term}"),
            RaftMsg::PreVoteResponse { term, vote_granted } => {
                format!(
                    "pre-vote t{term} {}",
                    if *vote_granted { "yes" } else { "no" }
                )
            }
            RaftMsg::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                round,
                ..
            } => {
                let r = if round.0 > 0 {
                    format!(" round {}", round.0)
                } else {
                    String::new()
                };
                if entries.is_empty() {
                    format!(
                        "heartbeat t{term} prev {prev_log_index}@t{prev_log_term} commit {leader_commit}{r}"
                    )
                } else {
                    let shown: Vec<String> =
                        entries.iter().take(3).map(|e| e.command.label()).collect();
                    let more = if entries.len() > 3 { ", ..." } else { "" };
                    format!(
                        "AppendEntries t{term} prev {prev_log_index}@t{prev_log_term} [{}{more}] commit {leader_commit}{r}",
                        shown.join(", ")
                    )
                }
            }
            RaftMsg::AppendEntriesResponse {
                term,
                success,
                match_index,
                round,
            } => format!(
                "append t{term} {} {match_index}{}",
                if *success {
                    "ok, match"
                } else {
                    "refused, last"
                },
                if round.0 > 0 {
                    format!(" round {}", round.0)
                } else {
                    String::new()
                }
            ),
            RaftMsg::ReadIndex { term, read_id } => format!("ReadIndex t{term} #{read_id}"),
            RaftMsg::ReadIndexResponse {
                term,
                read_id,
                read_index,
            } => format!("read index t{term} #{read_id} = {read_index}"),
            RaftMsg::TimeoutNow { term } => format!("TimeoutNow t{term}"),
            RaftMsg::InstallSnapshot {
                term,
                last_included_index,
                last_included_term,
                data,
                ..
            } => format!(
                "InstallSnapshot t{term} up to {last_included_index}@t{last_included_term} ({} keys)",
                data.len()
            ),
            RaftMsg::InstallSnapshotResponse {
                term, match_index, ..
            } => format!("snapshot t{term} installed, match {match_index}"),
        }
    }
}
