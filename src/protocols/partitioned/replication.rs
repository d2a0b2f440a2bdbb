//! Replicated partitions, the stores' side: each partition has `replication_factor` copies,
//! and the store the router sends a request to leads it for that request (DDIA ch. 5,
//! "Leaders and Followers", applied per partition as in ch. 6, "Partitioning and
//! Replication": "each node may be the leader for some partitions and a follower for
//! other partitions").
//!
//! ```text
//!  router ─RPut(followers)─► leader ─Replicate─► followers ─ReplicateAck─► leader ─Written─► router
//!           Sync: after every follower · SemiSync(k): after k · Async: at once, shipped later
//!  router ─RGet─► leader: answers a version every copy holds (Sync: else replicates it first)
//! ```
//!
//! Every copy keeps the newest version of a key (last writer wins by the router's stamp), so
//! copies converge whatever order `Replicate`s arrive in. A leader keeps, per follower, the
//! versions that follower has not confirmed (its *lag*) and ships them every `ship_interval`
//! until confirmed; under `Async` that is the only shipping, so a leader that crashes takes
//! the writes it had not shipped with it, and a failover to a follower loses them (counted
//! by No Key Lost). That outbox is not persisted: a restarted leader ships nothing it had
//! queued, as a crashed primary's unsent binlog is gone.
//!
//! Reads under `Sync`: a copy may hold a version not acknowledged yet (a follower stored it,
//! the leader still waits for another). A leader answering it, then crashing, could let a
//! later leader without it answer an older one: reads going back in time. So a `Sync` leader
//! answers only a version it knows every copy holds (`stable`), and otherwise replicates what
//! it holds first (as leader-follower's new leader serves reads only once its log is
//! acknowledged).

use super::message::{PartMsg, Stored};
use super::store::StoreNode;
use super::{PartConfig, PartTimer, Partitioned, Replication};
use crate::protocols::storage::Version;
use crate::sim::{Ctx, NodeId};
use std::collections::{BTreeMap, BTreeSet};

/// A request a leader answers once enough followers hold `version` of `key`.
#[derive(Clone, Debug, PartialEq)]
pub struct Waiting {
    pub router: NodeId,
    pub key: String,
    pub version: Version,
    pub followers: Vec<NodeId>,
    pub need: usize,
    pub acked: BTreeSet<NodeId>,
    /// A read (answered with the value), or a write (answered `Written`).
    pub read: bool,
}

/// A store's replication state (volatile: none of it survives a crash).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replica {
    pub replication: Replication,
    pub ship_interval: crate::sim::SimTime,
    /// Requests waiting for acknowledgements, by the router's request id.
    pub waiting: BTreeMap<u64, Waiting>,
    /// Per follower: the keys it has not confirmed, at the version to send (its lag).
    pub outbox: BTreeMap<NodeId, BTreeMap<String, Version>>,
    /// Per key: the newest version this store, as leader, knows every copy holds.
    pub stable: BTreeMap<String, Version>,
    /// Per key: its partition and whether this store last served it as leader.
    pub parts: BTreeMap<String, (u32, bool)>,
    pub ship_armed: bool,
}

impl Replica {
    pub fn new(cfg: &PartConfig) -> Self {
        Replica {
            replication: cfg.replication,
            ship_interval: cfg.ship_interval,
            ..Replica::default()
        }
    }

    /// The followers' lag: how many keys each has not confirmed.
    pub fn lag(&self) -> BTreeMap<NodeId, usize> {
        self.outbox.iter().map(|(&f, o)| (f, o.len())).collect()
    }

    fn acks_needed(&self, followers: usize) -> usize {
        match self.replication {
            Replication::Sync => followers,
            Replication::SemiSync(k) => k.min(followers),
            Replication::Async => 0,
        }
    }
}

impl StoreNode {
    fn arm_ship(&mut self, ctx: &mut Ctx<Partitioned>) {
        if !self.rep.ship_armed {
            self.rep.ship_armed = true;
            ctx.set_timer(PartTimer::Ship, self.rep.ship_interval);
        }
    }

    /// Queues `key` (at what this store holds) for `followers`, and sends it at once unless
    /// replication is `Async`.
    fn replicate(&mut self, key: &str, followers: &[NodeId], ctx: &mut Ctx<Partitioned>) {
        let Some(stored) = self.data.get(key).cloned() else {
            return;
        };
        let part = self.rep.parts.get(key).map_or(0, |p| p.0);
        for &f in followers {
            self.rep
                .outbox
                .entry(f)
                .or_default()
                .insert(key.to_string(), stored.1);
            if self.rep.replication != Replication::Async {
                let entries = vec![(key.to_string(), stored.clone(), part)];
                ctx.send(f, PartMsg::Replicate { entries });
            }
        }
        if !followers.is_empty() {
            self.arm_ship(ctx);
        }
    }

    /// `RPut` from the router: "the leader writes it locally, then sends the change to its
    /// followers"; answered once as many followers hold it as `replication` requires.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_rput(
        &mut self,
        router: NodeId,
        id: u64,
        key: String,
        stored: Stored,
        followers: Vec<NodeId>,
        part: u32,
        ctx: &mut Ctx<Partitioned>,
    ) {
        self.serve(ctx);
        self.rep.parts.insert(key.clone(), (part, true));
        let version = stored.1;
        if self.apply(key.clone(), stored) {
            self.persist(ctx);
        }
        self.replicate(&key, &followers, ctx);
        let need = self.rep.acks_needed(followers.len());
        if need == 0 {
            ctx.send(router, PartMsg::Written { id, version });
            return;
        }
        let w = Waiting {
            router,
            key,
            version,
            followers,
            need,
            acked: BTreeSet::new(),
            read: false,
        };
        self.rep.waiting.insert(id, w);
    }

    /// `RGet` from the router, at the partition's leader. Under `Sync`, the answer is a
    /// version every copy holds: what it holds if known stable (or never written), else
    /// after replicating it to every follower.
    pub(super) fn on_rget(
        &mut self,
        router: NodeId,
        id: u64,
        key: String,
        followers: Vec<NodeId>,
        part: u32,
        ctx: &mut Ctx<Partitioned>,
    ) {
        self.serve(ctx);
        self.rep.parts.insert(key.clone(), (part, true));
        let held = self.data.get(&key).map_or(Version::NONE, |s| s.1);
        let stable = self.rep.stable.get(&key).copied().unwrap_or(Version::NONE);
        if self.rep.replication != Replication::Sync || followers.is_empty() || held <= stable {
            let value = self.data.get(&key).cloned();
            ctx.send(router, PartMsg::Value { id, value });
            return;
        }
        ctx.count("read_barriers", 1);
        self.replicate(&key, &followers, ctx);
        let w = Waiting {
            router,
            key,
            version: held,
            need: followers.len(),
            followers,
            acked: BTreeSet::new(),
            read: true,
        };
        self.rep.waiting.insert(id, w);
    }

    /// `Replicate` from a leader: keep the newer versions, confirm what it now holds, and
    /// return what it holds newer than it was sent.
    pub(super) fn on_replicate(
        &mut self,
        leader: NodeId,
        entries: Vec<(String, Stored, u32)>,
        ctx: &mut Ctx<Partitioned>,
    ) {
        let mut changed = false;
        let (mut held, mut newer) = (Vec::new(), Vec::new());
        for (key, stored, part) in entries {
            let sent = stored.1;
            // A key released here (its set moved on, `rebalance.rs`): a former leader's
            // resend. Confirmed so that it stops, not stored.
            if self.released(&key) {
                held.push((key, sent));
                continue;
            }
            self.rep.parts.insert(key.clone(), (part, false));
            changed |= self.apply(key.clone(), stored);
            let mine = self.data.get(&key).cloned().expect("just applied");
            held.push((key.clone(), mine.1));
            if mine.1 > sent {
                newer.push((key, mine));
            }
        }
        if changed {
            self.persist(ctx);
        }
        ctx.send(leader, PartMsg::ReplicateAck { held, newer });
    }

    /// `ReplicateAck` from a follower: take in what it held newer, clear what it confirmed,
    /// and answer the requests now acknowledged by enough followers.
    pub(super) fn on_replicate_ack(
        &mut self,
        follower: NodeId,
        held: Vec<(String, Version)>,
        newer: Vec<(String, Stored)>,
        ctx: &mut Ctx<Partitioned>,
    ) {
        let mut changed = false;
        for (k, s) in newer {
            changed |= self.apply(k, s);
        }
        if changed {
            self.persist(ctx);
        }
        for (key, version) in held {
            if let Some(out) = self.rep.outbox.get_mut(&follower)
                && out.get(&key).is_some_and(|&v| v <= version)
            {
                out.remove(&key);
            }
            self.confirm(follower, &key, version, ctx);
        }
        self.rep.outbox.retain(|_, o| !o.is_empty());
    }

    /// `follower` holds `version` of `key` or a newer one: count it for every request
    /// waiting on that key and answer those acknowledged enough.
    fn confirm(
        &mut self,
        follower: NodeId,
        key: &str,
        version: Version,
        ctx: &mut Ctx<Partitioned>,
    ) {
        let mut done = Vec::new();
        for (&id, w) in self.rep.waiting.iter_mut() {
            if w.key == key && w.version <= version && w.followers.contains(&follower) {
                w.acked.insert(follower);
                if w.acked.len() >= w.need {
                    done.push(id);
                }
            }
        }
        for id in done {
            let w = self.rep.waiting.remove(&id).expect("listed");
            if w.acked.len() == w.followers.len() {
                let s = self.rep.stable.entry(w.key.clone()).or_default();
                *s = (*s).max(w.version);
            }
            self.finish(id, w, ctx);
        }
    }

    /// Answers a request acknowledged by enough followers. A read whose key has meanwhile
    /// been written again (a newer version here, not yet held everywhere) replicates that one
    /// first.
    fn finish(&mut self, id: u64, mut w: Waiting, ctx: &mut Ctx<Partitioned>) {
        if !w.read {
            ctx.send(
                w.router,
                PartMsg::Written {
                    id,
                    version: w.version,
                },
            );
            return;
        }
        let value = self.data.get(&w.key).cloned();
        let held = value.as_ref().map_or(Version::NONE, |s| s.1);
        if held > w.version {
            w.version = held;
            w.acked.clear();
            let (key, followers) = (w.key.clone(), w.followers.clone());
            self.rep.waiting.insert(id, w);
            self.replicate(&key, &followers, ctx);
            return;
        }
        ctx.send(w.router, PartMsg::Value { id, value });
    }

    /// Ships every follower the keys it has not confirmed, one `Replicate` each.
    pub fn on_ship(&mut self, ctx: &mut Ctx<Partitioned>) {
        self.rep.ship_armed = false;
        for (&f, out) in &self.rep.outbox {
            let entries: Vec<_> = out
                .keys()
                .filter_map(|k| {
                    let part = self.rep.parts.get(k).map_or(0, |p| p.0);
                    self.data.get(k).map(|s| (k.clone(), s.clone(), part))
                })
                .collect();
            if !entries.is_empty() {
                ctx.send(f, PartMsg::Replicate { entries });
            }
        }
        if !self.rep.outbox.is_empty() {
            self.arm_ship(ctx);
        }
    }
}
