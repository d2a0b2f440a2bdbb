//! The messages between the router and the storage nodes.

use crate::protocols::storage::Version;
use crate::sim::{Message, NodeId};

/// A key's value and the version the router stamped on the write that put it there.
pub type Stored = (String, Version);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PartMsg {
    /// Router → owner: read `key`.
    Get { id: u64, key: String },
    /// Router → owner: store this version of `key` if it is newer than what it holds.
    Put {
        id: u64,
        key: String,
        value: String,
        version: Version,
    },
    /// Owner → router: the answer to a `Get` (`None`: never written).
    Value { id: u64, value: Option<Stored> },
    /// Owner → router: the `Put` is stored.
    Written { id: u64, version: Version },
    /// A storage node told to join (a timeline request) → router: place keys on me.
    Join,
    /// A storage node told to leave (a timeline request) → router: move my keys away.
    Leave,
    /// Router → current owner: hand `keys` over to `to` (rebalancing move `id`).
    MoveOut {
        id: u64,
        to: NodeId,
        keys: Vec<String>,
    },
    /// Old owner → new owner: the moving keys (`keys`) and the values it holds of them.
    Transfer {
        id: u64,
        keys: Vec<String>,
        entries: Vec<(String, Stored)>,
    },
    /// New owner → router: `keys` from `from` are stored here; route them to me.
    Moved {
        id: u64,
        from: NodeId,
        keys: Vec<String>,
    },
    /// Router → old owner: the new owner serves `keys` now; drop your copies.
    Release { id: u64, keys: Vec<String> },
}

fn keys_label(keys: &[String]) -> String {
    match keys {
        [] => "no key".into(),
        [k] => k.clone(),
        [first, .., last] => format!("{} keys {first}..{last}", keys.len()),
    }
}

impl Message for PartMsg {
    fn kind(&self) -> &'static str {
        match self {
            PartMsg::Get { .. } => "Get",
            PartMsg::Put { .. } => "Put",
            PartMsg::Value { .. } => "Value",
            PartMsg::Written { .. } => "Written",
            PartMsg::Join => "Join",
            PartMsg::Leave => "Leave",
            PartMsg::MoveOut { .. } => "MoveOut",
            PartMsg::Transfer { .. } => "Transfer",
            PartMsg::Moved { .. } => "Moved",
            PartMsg::Release { .. } => "Release",
        }
    }
    fn label(&self) -> String {
        match self {
            PartMsg::Get { id, key } => format!("#{id} {key}"),
            PartMsg::Put {
                id,
                key,
                value,
                version,
            } => format!("#{id} {key}={value}@{version}"),
            PartMsg::Value { id, value } => match value {
                Some((v, ver)) => format!("#{id} {v}@{ver}"),
                None => format!("#{id} -"),
            },
            PartMsg::Written { id, version } => format!("#{id} @{version}"),
            PartMsg::Join => "join".into(),
            PartMsg::Leave => "leave".into(),
            PartMsg::MoveOut { id, to, keys } => {
                format!("move {id}: {} to n{}", keys_label(keys), to + 1)
            }
            PartMsg::Transfer { id, keys, .. } | PartMsg::Release { id, keys } => {
                format!("move {id}: {}", keys_label(keys))
            }
            PartMsg::Moved { id, keys, .. } => format!("move {id}: {}", keys_label(keys)),
        }
    }
}
