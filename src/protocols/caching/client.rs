//! The client tier: hands each user request to an app server in turn, answers the user, and
//! keeps what the checkers need of each completed operation (the client-visible history).

use super::{CacheMsg, Caching, Item, key_of};
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx, NodeId, SimTime};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct Waiting {
    pub user: ClientRef,
    pub key: String,
    pub write: bool,
    pub invoked: SimTime,
}

/// When write `wid` was acknowledged, looked up at the client node that issued it (request
/// ids carry their client node in `wid mod nodes`); `None` if not (yet) acknowledged.
pub fn acked_at(states: &[Option<Caching>], wid: u64) -> Option<SimTime> {
    match states.get((wid % states.len().max(1) as u64) as usize)? {
        Some(Caching::Client(c)) => c.acked.get(&wid).copied(),
        _ => None,
    }
}

/// A completed read: which write's value it returned (`None`: the key was absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadDone {
    pub key: String,
    pub wid: Option<u64>,
    pub invoked: SimTime,
    pub returned: SimTime,
}

/// An acknowledged write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteDone {
    pub key: String,
    pub wid: u64,
    pub acked: SimTime,
}

#[derive(Clone, Debug, Default)]
pub struct ClientNode {
    pub waiting: BTreeMap<u64, Waiting>,
    /// Completed reads and acknowledged writes, in completion order.
    pub reads: Vec<ReadDone>,
    pub writes: Vec<WriteDone>,
    /// When each acknowledged write was acknowledged, by write id.
    pub acked: BTreeMap<u64, SimTime>,
    /// The database nodes and the number of cache nodes, for the checkers.
    pub dbs: Vec<NodeId>,
    pub caches: usize,
    next_id: u64,
    next_app: usize,
}

impl ClientNode {
    pub fn new(ctx: &Ctx<Caching>) -> Self {
        ClientNode {
            dbs: ctx.nodes_of("db").to_vec(),
            caches: ctx.nodes_of("cache").len(),
            // Write id 0 is the preloaded rows' (see `Database::preloaded`). A restarted
            // client node continues from the clock, like a Snowflake id, so that it never
            // reuses an id it issued before its crash (it issued fewer than one per µs).
            next_id: ctx.now.as_micros().max(1),
            ..Default::default()
        }
    }

    pub fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Caching>) {
        let Some((key, value)) = key_of(&req.op) else {
            let reason = "the caching system serves get and put".to_string();
            ctx.reply_to_client(req.from, ClientReply::Fail { reason });
            return;
        };
        let apps = ctx.nodes_of("app");
        if apps.is_empty() {
            return;
        }
        // A request unanswered for a minute is abandoned (its user gave up long ago).
        while let Some(e) = self.waiting.first_entry()
            && e.get().invoked + SimTime::from_secs(60) < ctx.now
        {
            e.remove();
        }
        let app = apps[self.next_app % apps.len()];
        self.next_app += 1;
        // Unique over the run: the node id in the low digits. A put's id names its write.
        let id = self.next_id * ctx.nodes as u64 + ctx.id as u64;
        self.next_id += 1;
        self.waiting.insert(
            id,
            Waiting {
                user: req.from,
                key: key.to_string(),
                write: value.is_some(),
                invoked: ctx.now,
            },
        );
        ctx.send(app, CacheMsg::Request { id, op: req.op });
    }

    pub fn on_message(&mut self, msg: CacheMsg, ctx: &mut Ctx<Caching>) {
        let CacheMsg::Response { id, item } = msg else {
            return;
        };
        let Some(w) = self.waiting.remove(&id) else {
            return;
        };
        if w.write {
            self.acked.insert(id, ctx.now);
            self.writes.push(WriteDone {
                key: w.key,
                wid: id,
                acked: ctx.now,
            });
        } else {
            self.reads.push(ReadDone {
                key: w.key,
                wid: item.as_ref().map(|i| i.wid),
                invoked: w.invoked,
                returned: ctx.now,
            });
        }
        let value = item.map(|Item { value, .. }| value);
        ctx.reply_to_client(w.user, ClientReply::Ok { value });
    }
}
