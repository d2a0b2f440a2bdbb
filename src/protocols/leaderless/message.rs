//! The messages between a coordinator and the replicas of a key (Dynamo §4.5).

use crate::protocols::storage::Version;
use crate::sim::{Message, NodeId};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LlMsg {
    /// Coordinator → replica: store this version if it is newer than yours. With `hint`, the
    /// receiver is a stand-in (sloppy quorum): it keeps the write for that replica.
    Write {
        id: u64,
        key: String,
        value: String,
        version: Version,
        hint: Option<NodeId>,
    },
    /// Replica → coordinator: stored (or already had something newer).
    WriteAck { id: u64 },
    /// Coordinator → replica: what do you have for `key`?
    Read { id: u64, key: String },
    /// Replica → coordinator: its value and version (`None`: never written).
    ReadReply {
        id: u64,
        value: Option<(String, Version)>,
    },
    /// Coordinator → stale replica after a read: the newest version it saw (read repair).
    Repair {
        key: String,
        value: String,
        version: Version,
    },
    /// Stand-in → the replica a hinted write was meant for (hinted handoff).
    Handoff {
        key: String,
        value: String,
        version: Version,
    },
    /// Replica → stand-in: stored; the hint can be dropped.
    HandoffAck { key: String, version: Version },
    /// Anti-entropy: the sender's Merkle hashes of these nodes (index, hash) at `level` (0:
    /// the root) of the tree of keys both replicate.
    TreeHashes { level: u32, hashes: Vec<(u32, u64)> },
    /// Anti-entropy: the sender's entries in the differing `leaves`; `last`: no reply.
    SyncLeaves {
        leaves: Vec<u32>,
        entries: Vec<(String, (String, Version))>,
        last: bool,
    },
}

impl Message for LlMsg {
    fn kind(&self) -> &'static str {
        match self {
            LlMsg::Write { .. } => "Write",
            LlMsg::WriteAck { .. } => "WriteAck",
            LlMsg::Read { .. } => "Read",
            LlMsg::ReadReply { .. } => "ReadReply",
            LlMsg::Repair { .. } => "Repair",
            LlMsg::Handoff { .. } => "Handoff",
            LlMsg::HandoffAck { .. } => "HandoffAck",
            LlMsg::TreeHashes { .. } => "TreeHashes",
            LlMsg::SyncLeaves { .. } => "SyncLeaves",
        }
    }
    fn label(&self) -> String {
        match self {
            LlMsg::Write {
                id,
                key,
                value,
                version,
                hint,
            } => match hint {
                Some(h) => format!("#{id} {key}={value}@{version} (hint for n{})", h + 1),
                None => format!("#{id} {key}={value}@{version}"),
            },
            LlMsg::WriteAck { id } => format!("#{id}"),
            LlMsg::Read { id, key } => format!("#{id} {key}"),
            LlMsg::ReadReply { id, value } => match value {
                Some((v, ver)) => format!("#{id} {v}@{ver}"),
                None => format!("#{id} -"),
            },
            LlMsg::Repair {
                key,
                value,
                version,
            }
            | LlMsg::Handoff {
                key,
                value,
                version,
            } => format!("{key}={value}@{version}"),
            LlMsg::HandoffAck { key, version } => format!("{key}@{version}"),
            LlMsg::TreeHashes { level, hashes } => {
                format!("level {level}: {} hashes", hashes.len())
            }
            LlMsg::SyncLeaves {
                leaves, entries, ..
            } => format!("{} leaves, {} keys", leaves.len(), entries.len()),
        }
    }
}
