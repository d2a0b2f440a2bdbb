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
    // Replicated partitions (`replication_factor` above 1; see `replication.rs`). New
    // variants go last: the digests of unreplicated runs hash the existing ones.
    /// Router → the partition's leader: store this write, replicate it to `followers` and
    /// answer `Written` as `replication` says.
    RPut {
        id: u64,
        key: String,
        value: String,
        version: Version,
        followers: Vec<NodeId>,
        part: u32,
    },
    /// Router → the partition's leader: read `key` (under `Sync`, once every follower holds
    /// the version it answers).
    RGet {
        id: u64,
        key: String,
        followers: Vec<NodeId>,
        part: u32,
    },
    /// Leader → follower: keep these versions (last writer wins); `part` names the partition.
    Replicate { entries: Vec<(String, Stored, u32)> },
    /// Follower → leader: the version it now holds of each key, and the entries it holds newer
    /// than what it was sent (written through another leader).
    ReplicateAck {
        held: Vec<(String, Version)>,
        newer: Vec<(String, Stored)>,
    },
    /// Router → a store it suspects: are you back?
    Ping,
    /// Store → router: yes.
    Pong,
    /// Store → router: the keys of `Release` `id` are dropped here (replicated partitions:
    /// a copy that left its replica set).
    Released { id: u64 },
    /// Router → a store that sent `Join` or `Leave` (replicated partitions): recorded; the
    /// store resends its request every `retry` until it hears this.
    Queued,
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
            PartMsg::RPut { .. } => "RPut",
            PartMsg::RGet { .. } => "RGet",
            PartMsg::Replicate { .. } => "Replicate",
            PartMsg::ReplicateAck { .. } => "ReplicateAck",
            PartMsg::Ping => "Ping",
            PartMsg::Pong => "Pong",
            PartMsg::Released { .. } => "Released",
            PartMsg::Queued => "Queued",
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
            PartMsg::RPut {
                id,
                key,
                value,
                version,
                part,
                ..
            } => format!("#{id} p{part} {key}={value}@{version}"),
            PartMsg::RGet { id, key, part, .. } => format!("#{id} p{part} {key}"),
            PartMsg::Replicate { entries } => match entries.as_slice() {
                [(k, (v, ver), p)] => format!("p{p} {k}={v}@{ver}"),
                _ => format!("{} entries", entries.len()),
            },
            PartMsg::ReplicateAck { held, .. } => match held.as_slice() {
                [(k, ver)] => format!("{k}@{ver}"),
                _ => format!("{} keys", held.len()),
            },
            PartMsg::Ping => "ping".into(),
            PartMsg::Pong => "pong".into(),
            PartMsg::Released { id } => format!("move {id}: released"),
            PartMsg::Queued => "queued".into(),
        }
    }
}
