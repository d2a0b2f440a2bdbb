//! The messages between replicas, as in the replication-log literature (a leader ships its log
//! to followers, which acknowledge what they have stored), and the log entry.

use crate::sim::Message;
use crate::sim::client::ClientId;

/// Log positions are numbered from 1; 0 means "before the first entry".
pub type Index = u64;
/// A leader's epoch (a "generation" or "term"): unique per leader, increasing.
pub type Epoch = u64;

/// Which client operation wrote an entry: the Durability checker follows each acknowledged
/// write through every replica's log by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteId {
    pub client: ClientId,
    pub seq: u64,
}

/// One write in the replication log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The epoch of the leader that accepted it.
    pub epoch: Epoch,
    pub key: String,
    pub value: String,
    pub write: WriteId,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LfMsg {
    /// Leader → follower: the entries after `prev_index` (empty: a heartbeat). The follower
    /// stores them only if its entry at `prev_index` has epoch `prev_epoch` (the consistency
    /// check of Raft's AppendEntries), dropping anything of its own that conflicts.
    Replicate {
        epoch: Epoch,
        prev_index: Index,
        prev_epoch: Epoch,
        entries: Vec<Entry>,
        /// The leader's acknowledged prefix: what the follower may serve to readers.
        commit: Index,
    },
    /// Follower → leader: `ok` with the last index now stored, or a refusal with where to
    /// start again; `epoch` is the follower's, so a fenced deposed leader learns it is one.
    ReplicateAck { epoch: Epoch, ok: bool, last: Index },
}

impl Message for LfMsg {
    fn kind(&self) -> &'static str {
        match self {
            LfMsg::Replicate { entries, .. } if entries.is_empty() => "Heartbeat",
            LfMsg::Replicate { .. } => "Replicate",
            LfMsg::ReplicateAck { .. } => "ReplicateAck",
        }
    }
    fn label(&self) -> String {
        match self {
            LfMsg::Replicate {
                epoch,
                prev_index,
                entries,
                commit,
                ..
            } => format!(
                "e{epoch} after {prev_index}: {} entries, commit {commit}",
                entries.len()
            ),
            LfMsg::ReplicateAck { epoch, ok, last } => {
                format!(
                    "e{epoch} {} {last}",
                    if *ok { "stored" } else { "refused, from" }
                )
            }
        }
    }
}
