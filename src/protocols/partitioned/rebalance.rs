//! Rebalancing replicated partitions (`replication_factor` R above 1): a join, a leave, a
//! range split or merge changes the replica sets of some partitions (a partition's R copies
//! are its owner and the next R-1 members), and the keys move as copies (DDIA ch. 6,
//! "Rebalancing Partitions": "while rebalancing is happening, the database should continue
//! accepting reads and writes", and no acknowledged write may be lost on the way).
//!
//! ```text
//!  router: for each key, old set A = replicas(map), new set B = replicas(target)
//!          hold new requests for keys with B != A; wait until none of them is in flight
//!  router ──MoveOut(keys, to)──► source (the key's current leader in A), for each to in B\A
//!  source ──Transfer(keys, values)──► new replica ──Moved──► router
//!  router: every new replica of every key confirmed ⇒ switch to the target map,
//!          send the held requests, ──Release(keys)──► each copy in A\B ──Released──► router
//! ```
//!
//! Rules:
//! - **A new replica counts as a copy only after its `Transfer`.** The map switches once
//!   every key's new replicas have confirmed; until then requests are routed by the old map
//!   (the moving keys' are held), so no write is replicated to a set that lacks a copy.
//! - **The source holds every acknowledged version.** Under `Sync` a write is acknowledged
//!   and a read answered only with a version every copy of A holds, and no request on a
//!   moving key is in flight when the `MoveOut`s go, so any copy of A can be the source: the
//!   router sends each `MoveOut` (again every `retry`) to the key's leader *now*, so a source
//!   that crashes is replaced by the next live copy.
//! - **Copies leaving the set are released after the switch**, never before (they may still
//!   be the only way to the key until then), and released again every `retry` until they
//!   answer `Released`.
//! - **A late message of an older move is ignored.** A store keeps, per key, the last move
//!   that copied it in or released it (persisted): a `Transfer` or `Release` of an older move
//!   does nothing, and a `Replicate` of a released key is confirmed without being stored (it
//!   comes from a timed-out request at a former leader; confirming stops its resends).

use super::failover;
use super::map::PartitionMap;
use super::message::{PartMsg, Stored};
use super::router::{Rebalance, RouterNode};
use super::store::StoreNode;
use super::{PartTimer, Partitioned};
use crate::sim::{Ctx, NodeId};
use std::collections::{BTreeMap, BTreeSet};

/// The keys of `keys` whose replica set differs between `from` and `to` (as sets), each with
/// its new replicas (`to`'s set minus `from`'s) and the copies that leave it.
pub fn changes<'a>(
    keys: impl IntoIterator<Item = &'a String>,
    from: &PartitionMap,
    to: &PartitionMap,
    r: usize,
) -> BTreeMap<String, (BTreeSet<NodeId>, BTreeSet<NodeId>)> {
    let mut out = BTreeMap::new();
    for k in keys {
        let a: BTreeSet<NodeId> = from.replicas(k, r).into_iter().collect();
        let b: BTreeSet<NodeId> = to.replicas(k, r).into_iter().collect();
        if a != b {
            let new = b.difference(&a).copied().collect();
            let gone = a.difference(&b).copied().collect();
            out.insert(k.clone(), (new, gone));
        }
    }
    out
}

impl RouterNode {
    /// Plans the copies from the current map to `target` (see the module's rules).
    pub(super) fn begin_replicated(
        &mut self,
        target: PartitionMap,
        membership: bool,
        ctx: &mut Ctx<Partitioned>,
    ) {
        let r = self.cfg.replication_factor;
        let copies: BTreeMap<String, BTreeSet<NodeId>> =
            changes(&self.d.keys, &self.d.map, &target, r)
                .into_iter()
                .map(|(k, (new, _))| (k, new))
                .collect();
        if membership && !self.d.keys.is_empty() {
            let moving = copies.values().filter(|n| !n.is_empty()).count();
            self.d.moved_fraction = Some(moving as f64 / self.d.keys.len() as f64);
        }
        let id = self.d.next_move;
        self.d.next_move += 1;
        let n: usize = copies.values().map(BTreeSet::len).sum();
        ctx.note(format!(
            "rebalance {id}: {} keys change replicas, {n} copies to make",
            copies.len()
        ));
        self.d.rebalance = Some(Rebalance {
            id,
            target,
            moves: BTreeMap::new(),
            started: false,
            copies,
        });
        self.persist(ctx);
        if self.copies_done() {
            return self.switch(ctx);
        }
        ctx.set_timer(PartTimer::Resend, self.cfg.retry);
        self.try_start(ctx);
    }

    fn copies_done(&self) -> bool {
        self.d
            .rebalance
            .as_ref()
            .is_some_and(|r| r.copies.values().all(BTreeSet::is_empty))
    }

    /// `MoveOut` to each moving key's leader now, one per (source, new replica).
    pub(super) fn send_copies(&self, ctx: &mut Ctx<Partitioned>) {
        let Some(r) = &self.d.rebalance else {
            return;
        };
        let rf = self.cfg.replication_factor;
        let mut by_pair: BTreeMap<(NodeId, NodeId), Vec<String>> = BTreeMap::new();
        for (k, new) in &r.copies {
            let Some(source) = failover::leader(&self.d.map, &self.d.down, k, rf) else {
                continue;
            };
            for &to in new {
                by_pair.entry((source, to)).or_default().push(k.clone());
            }
        }
        for ((from, to), keys) in by_pair {
            ctx.send(from, PartMsg::MoveOut { id: r.id, to, keys });
        }
    }

    /// `Moved` from `to`: it holds its copy of `keys` (move `id`). Once every new replica has
    /// confirmed, the map switches.
    pub(super) fn on_copied(
        &mut self,
        to: NodeId,
        id: u64,
        keys: Vec<String>,
        ctx: &mut Ctx<Partitioned>,
    ) {
        let Some(r) = &mut self.d.rebalance else {
            return;
        };
        if r.id != id || !r.started {
            return;
        }
        let mut done = 0;
        for k in &keys {
            if let Some(new) = r.copies.get_mut(k)
                && new.remove(&to)
            {
                done += 1;
            }
        }
        if done == 0 {
            return;
        }
        self.d.keys_moved += done;
        ctx.count("keys_moved", done);
        self.persist(ctx);
        if self.copies_done() {
            self.switch(ctx);
        }
    }

    /// Every new replica holds its copies: route by the target map from now on, send the
    /// held requests, release the copies that left their sets.
    fn switch(&mut self, ctx: &mut Ctx<Partitioned>) {
        let Some(r) = self.d.rebalance.take() else {
            return;
        };
        debug_assert!(
            self.d
                .keys
                .iter()
                .all(|k| !r.moving(k) || !self.has_pending(k)),
            "a request on a moving key was in flight at the switch"
        );
        let rf = self.cfg.replication_factor;
        let mut gone: BTreeMap<NodeId, Vec<String>> = BTreeMap::new();
        for (k, (_, old)) in changes(r.copies.keys(), &self.d.map, &r.target, rf) {
            for n in old {
                gone.entry(n).or_default().push(k.clone());
            }
        }
        for (n, keys) in gone {
            self.d.releases.insert((n, r.id), keys);
        }
        self.d.map = r.target;
        ctx.note(format!("rebalance {} done: the map switches", r.id));
        self.persist(ctx);
        self.send_releases(ctx);
        if !self.d.releases.is_empty() {
            ctx.set_timer(PartTimer::Resend, self.cfg.retry);
        } else {
            ctx.cancel_timer(PartTimer::Resend);
        }
        self.answer_held(ctx);
        self.after_rebalance(ctx);
    }

    /// `Release` to every copy that left its set and has not confirmed it yet.
    pub(super) fn send_releases(&self, ctx: &mut Ctx<Partitioned>) {
        for (&(n, id), keys) in &self.d.releases {
            let keys = keys.clone();
            ctx.send(n, PartMsg::Release { id, keys });
        }
    }

    pub(super) fn on_released(&mut self, from: NodeId, id: u64, ctx: &mut Ctx<Partitioned>) {
        if self.d.releases.remove(&(from, id)).is_some() {
            self.persist(ctx);
        }
    }
}

impl StoreNode {
    /// Whether a message of move `id` about `key` is not older than what this store last did
    /// with the key.
    fn current(&self, key: &str, id: u64) -> bool {
        self.epochs.get(key).is_none_or(|&(e, _)| id >= e)
    }

    /// Whether `key` was released from this store (and not copied back since).
    pub(super) fn released(&self, key: &str) -> bool {
        self.epochs.get(key).is_some_and(|&(_, gone)| gone)
    }

    /// `MoveOut` at a source: send `to` the values held of `keys` (no state: the router
    /// resends until `to` confirms, to whichever copy leads then).
    pub(super) fn on_copy_out(
        &mut self,
        id: u64,
        to: NodeId,
        keys: Vec<String>,
        ctx: &mut Ctx<Partitioned>,
    ) {
        let entries: Vec<(String, Stored)> = keys
            .iter()
            .filter(|k| !self.released(k))
            .filter_map(|k| self.data.get(k).map(|s| (k.clone(), s.clone())))
            .collect();
        ctx.send(to, PartMsg::Transfer { id, keys, entries });
    }

    /// `Transfer` at a new replica: keep the newer versions, remember the move, confirm.
    pub(super) fn on_copy_in(
        &mut self,
        source: NodeId,
        id: u64,
        keys: Vec<String>,
        entries: Vec<(String, Stored)>,
        ctx: &mut Ctx<Partitioned>,
    ) {
        let mut applied = 0;
        for (k, s) in entries {
            if self.current(&k, id) {
                self.apply(k, s);
                applied += 1;
            }
        }
        for k in &keys {
            if self.current(k, id) {
                self.epochs.insert(k.clone(), (id, false));
            }
        }
        ctx.count("keys_transferred", applied);
        self.persist(ctx);
        if let Some(&router) = ctx.nodes_of("router").first() {
            let from = source;
            ctx.send(router, PartMsg::Moved { id, from, keys });
        }
    }

    /// `Release` at a copy that left the set: drop the keys (unless copied back here by a
    /// newer move), and confirm.
    pub(super) fn on_release_copy(
        &mut self,
        router: NodeId,
        id: u64,
        keys: Vec<String>,
        ctx: &mut Ctx<Partitioned>,
    ) {
        let mut dropped = 0;
        for k in &keys {
            if !self.current(k, id) {
                continue;
            }
            self.epochs.insert(k.clone(), (id, true));
            if self.data.remove(k).is_some() {
                dropped += 1;
            }
            self.rep.parts.remove(k);
            self.rep.stable.remove(k);
            for out in self.rep.outbox.values_mut() {
                out.remove(k);
            }
        }
        self.rep.outbox.retain(|_, o| !o.is_empty());
        ctx.count("keys_released", dropped);
        self.persist(ctx);
        ctx.send(router, PartMsg::Released { id });
    }
}
