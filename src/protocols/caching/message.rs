//! The messages of the caching family, named as the guide names the arrows.

use super::Item;
use crate::sim::{Message, Op};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CacheMsg {
    /// Client → app server: serve this user request. `id` is also the write's id (`wid`).
    Request { id: u64, op: Op },
    /// App server → client: the answer, with the id of the write whose value was read.
    Response { id: u64, item: Option<Item> },
    /// App server → cache: look `key` up (read-through caches load it on a miss).
    Get { id: u64, key: String },
    /// Cache → app server: a hit or a miss. On a miss under `leases`, the token that allows
    /// one `Set` (Nishtala et al., "Scaling Memcache at Facebook", NSDI 2013, §3.2.1).
    Value {
        id: u64,
        key: String,
        hit: bool,
        item: Option<Item>,
        lease: Option<u64>,
    },
    /// App server → cache: fill after a miss (cache-aside).
    Set {
        key: String,
        item: Item,
        lease: Option<u64>,
    },
    /// App server → cache: a write happened; drop the entry (`on_write: Delete`).
    Invalidate { id: u64, key: String },
    /// App server → cache: a write happened; store its value (`on_write: Update`).
    Update { id: u64, key: String, item: Item },
    /// App server → cache: write through or behind the cache.
    Write { id: u64, key: String, item: Item },
    /// Cache → app server: the invalidation, update or write is done.
    Written { id: u64 },
    /// App server or cache → database: read a key.
    DbRead { id: u64, key: String },
    /// Database → asker: the key's row (its value and the write that put it there).
    Row {
        id: u64,
        key: String,
        item: Option<Item>,
    },
    /// App server or cache → database: apply these writes in order (a write-behind batch
    /// holds several; `absorbed` lists earlier writes to the same key the batch coalesced).
    DbWrite { id: u64, writes: Vec<DbWriteRow> },
    /// Database → writer: the batch is committed. For a one-row write, `current` is the
    /// key's row now (a retried write may have been overtaken by a newer one).
    DbWritten { id: u64, current: Option<Item> },
    /// Cache → app servers: this cache node joins (or leaves) the set keys are placed on.
    Join { member: bool },
}

/// One row of a [`CacheMsg::DbWrite`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DbWriteRow {
    pub key: String,
    pub item: Item,
    /// Earlier acknowledged writes to this key that `item` overwrote in the cache before the
    /// flush: committed (and superseded) together with it.
    pub absorbed: Vec<u64>,
}

impl Message for CacheMsg {
    fn kind(&self) -> &'static str {
        match self {
            CacheMsg::Request { .. } => "Request",
            CacheMsg::Response { .. } => "Response",
            CacheMsg::Get { .. } => "Get",
            CacheMsg::Value { hit: true, .. } => "Hit",
            CacheMsg::Value { hit: false, .. } => "Miss",
            CacheMsg::Set { .. } => "Set",
            CacheMsg::Invalidate { .. } => "Invalidate",
            CacheMsg::Update { .. } => "Update",
            CacheMsg::Write { .. } => "Write",
            CacheMsg::Written { .. } => "Written",
            CacheMsg::DbRead { .. } => "DbRead",
            CacheMsg::Row { .. } => "Row",
            CacheMsg::DbWrite { .. } => "DbWrite",
            CacheMsg::DbWritten { .. } => "DbWritten",
            CacheMsg::Join { member: true } => "Join",
            CacheMsg::Join { member: false } => "Leave",
        }
    }

    fn label(&self) -> String {
        let item = |i: &Option<Item>| i.as_ref().map_or("-".to_string(), Item::to_string);
        match self {
            CacheMsg::Request { id, op } => format!("#{id} {op}"),
            CacheMsg::Response { id, item: i } => format!("#{id} {}", item(i)),
            CacheMsg::Get { key, .. } | CacheMsg::DbRead { key, .. } => format!("get {key}"),
            CacheMsg::Value { key, item: i, .. } | CacheMsg::Row { key, item: i, .. } => {
                format!("{key}={}", item(i))
            }
            CacheMsg::Set { key, item, .. }
            | CacheMsg::Update { key, item, .. }
            | CacheMsg::Write { key, item, .. } => format!("{key}={item}"),
            CacheMsg::Invalidate { key, .. } => format!("del {key}"),
            CacheMsg::Written { id } | CacheMsg::DbWritten { id, .. } => format!("#{id} ok"),
            CacheMsg::DbWrite { writes, .. } => match &writes[..] {
                [w] => format!("{}={}", w.key, w.item),
                ws => format!("{} rows", ws.len()),
            },
            CacheMsg::Join { .. } => String::new(),
        }
    }
}
