//! The messages between a coordinator and the replicas of a key (Dynamo §4.5).

use crate::protocols::storage::Version;
use crate::sim::Message;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LlMsg {
    /// Coordinator → replica: store this version if it is newer than yours.
    Write {
        id: u64,
        key: String,
        value: String,
        version: Version,
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
}

impl Message for LlMsg {
    fn kind(&self) -> &'static str {
        match self {
            LlMsg::Write { .. } => "Write",
            LlMsg::WriteAck { .. } => "WriteAck",
            LlMsg::Read { .. } => "Read",
            LlMsg::ReadReply { .. } => "ReadReply",
            LlMsg::Repair { .. } => "Repair",
        }
    }
    fn label(&self) -> String {
        match self {
            LlMsg::Write {
                id,
                key,
                value,
                version,
            } => format!("#{id} {key}={value}@{version}"),
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
            } => format!("{key}={value}@{version}"),
        }
    }
}
