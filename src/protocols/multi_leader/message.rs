//! The messages between leaders: each leader's replication log, shipped and acknowledged
//! (DDIA ch. 5: every leader "sends the change to all other leaders").

use super::conflicts::Sibling;
use crate::sim::Message;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MlMsg {
    /// Leader → every other leader: entry `seq` (1-based) of its replication log, a write it
    /// accepted. Sent when the write is accepted, and again until acknowledged.
    Replicate {
        seq: u64,
        key: String,
        sibling: Sibling,
    },
    /// Leader → the origin of a `Replicate`: every entry of your log up to `upto` is applied
    /// here.
    ReplicateAck { upto: u64 },
}

impl Message for MlMsg {
    fn kind(&self) -> &'static str {
        match self {
            MlMsg::Replicate { .. } => "Replicate",
            MlMsg::ReplicateAck { .. } => "ReplicateAck",
        }
    }
    fn label(&self) -> String {
        match self {
            MlMsg::Replicate { seq, key, sibling } => {
                format!("#{seq} {key}={}@{}", sibling.value, sibling.stamp)
            }
            MlMsg::ReplicateAck { upto } => format!("upto #{upto}"),
        }
    }
}
