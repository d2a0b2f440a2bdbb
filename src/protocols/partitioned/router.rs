//! The router: the one node clients talk to. It keeps the partition map, stamps each write
//! with a version, forwards every request to the key's owner, and runs rebalancing (a storage
//! node joining, a range splitting) as moves of keys from their old owner to their new one.
//!
//! A move, for the keys whose owner changes:
//!
//! ```text
//!  router: hold new requests for the moving keys; wait until none is in flight
//!  router ──MoveOut(keys, to)──► old owner ──Transfer(keys, values)──► new owner
//!  router ◄─────────────────────Moved(keys)──────────────────────────── new owner
//!  router: route the keys to the new owner, release the held requests
//!  router ──Release(keys)──► old owner (drops its copies)
//! ```
//!
//! The old owner keeps the keys, and answers for them, until it is released, so at every
//! moment the node the router routes a key to holds it. `bug_route_before_transfer` switches
//! the route when the move starts instead: reads that reach the new owner before the
//! `Transfer` miss acknowledged writes.

use super::WINDOW;
use super::map::{PartitionMap, key_number};
use super::message::PartMsg;
use super::{PartConfig, PartDurable, PartTimer, Partitioned, Partitioning, RouterDurable};
use crate::protocols::storage::Version;
use crate::sim::{
    ClientRef, ClientReply, ClientRequest, Ctx, NodeId, NodeView, Op, PartGauge, SimTime, Tone,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A rebalancing in progress: the map after it, and the keys still moving (key → (from, to)).
#[derive(Clone, Debug, PartialEq)]
pub struct Rebalance {
    pub id: u64,
    pub target: PartitionMap,
    pub moves: BTreeMap<String, (NodeId, NodeId)>,
    /// Whether the `MoveOut`s have been sent (after no request on a moving key was in flight).
    pub started: bool,
    /// Replicated partitions (`rebalance.rs`): per key whose replica set changes, the new
    /// replicas that have not confirmed its `Transfer` yet. A key stays listed (held) until
    /// the map switches, even once its set is empty. Empty with one copy per partition.
    pub copies: BTreeMap<String, BTreeSet<NodeId>>,
}

impl Rebalance {
    /// Whether requests for `key` wait for this rebalancing.
    pub fn moving(&self, key: &str) -> bool {
        self.moves.contains_key(key) || self.copies.contains_key(key)
    }
}

/// Where the router sends a request for `key`: the old owner while the key is moving (the
/// new owner with the bug), the map after the rebalancing for every other key.
pub fn route(
    map: &PartitionMap,
    rebalance: Option<&Rebalance>,
    key: &str,
    bug: bool,
) -> Option<NodeId> {
    match rebalance {
        Some(r) => match r.moves.get(key) {
            Some(&(from, to)) => Some(if bug { to } else { from }),
            None => r.target.owner(key),
        },
        None => map.owner(key),
    }
}

/// The key a client operation reads or writes.
fn op_key(op: &Op) -> Option<&str> {
    match op {
        Op::Get { key } | Op::Put { key, .. } => Some(key),
        Op::Cas { .. } | Op::Request(_) => None,
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Pending {
    client: ClientRef,
    key: String,
    /// The store the request went to.
    to: NodeId,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RouterNode {
    pub(super) cfg: PartConfig,
    pub d: RouterDurable,
    pending: BTreeMap<u64, Pending>,
    /// Requests for moving keys, sent once the move is done.
    pub(super) held: Vec<ClientRequest>,
    next_id: u64,
    stamped: u64,
    /// Replicated partitions: stores pinged after a timeout, not answered yet.
    pub(super) probing: BTreeSet<NodeId>,
    pub(super) probe_armed: bool,
    /// Range partitioning: when it forwarded each request of the last [`WINDOW`], and the
    /// key's number (a range's load). Volatile.
    pub(super) forwarded: VecDeque<(SimTime, u64)>,
}

impl RouterNode {
    pub fn new(cfg: &PartConfig, d: RouterDurable, ctx: &mut Ctx<Partitioned>) -> Self {
        let mut r = RouterNode {
            cfg: cfg.clone(),
            d,
            pending: BTreeMap::new(),
            held: Vec::new(),
            // Ids from before a crash are never reused: they start from the clock.
            next_id: ctx.now.as_micros() * 1000 + 1,
            stamped: 0,
            probing: BTreeSet::new(),
            probe_armed: false,
            forwarded: VecDeque::new(),
        };
        if !r.d.down.is_empty() {
            r.arm_probe_after_restart(ctx);
        }
        if r.d.rebalance.is_some() || !r.d.releases.is_empty() {
            ctx.set_timer(PartTimer::Resend, cfg.retry);
            r.try_start(ctx);
        }
        if cfg.merge_below.is_some() {
            ctx.set_timer(PartTimer::Merge, cfg.merge_interval);
        }
        r
    }

    pub fn initial(cfg: &PartConfig, ctx: &Ctx<Partitioned>) -> RouterDurable {
        let stores = ctx.nodes_of("store");
        let n = cfg.initial_stores.unwrap_or(stores.len()).min(stores.len());
        RouterDurable {
            map: PartitionMap::with_ranges(
                cfg.partitioning,
                cfg.key_space,
                stores[..n].to_vec(),
                cfg.initial_ranges,
            ),
            keys: BTreeSet::new(),
            rebalance: None,
            next_move: 1,
            queued: Vec::new(),
            leaving: Vec::new(),
            keys_moved: 0,
            moved_fraction: None,
            down: BTreeSet::new(),
            releases: BTreeMap::new(),
        }
    }

    pub(super) fn persist(&self, ctx: &mut Ctx<Partitioned>) {
        ctx.persist(PartDurable::Router(Box::new(self.d.clone())));
    }

    fn bug(&self) -> bool {
        self.cfg.bug_route_before_transfer
    }

    pub fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Partitioned>) {
        let Some(key) = op_key(&req.op).map(str::to_string) else {
            let reason = "the router serves get and put".to_string();
            ctx.reply_to_client(req.from, ClientReply::Fail { reason });
            return;
        };
        if !self.bug() && self.d.rebalance.as_ref().is_some_and(|r| r.moving(&key)) {
            ctx.count("held_requests", 1);
            self.held.push(req);
            return;
        }
        let r = self.cfg.replication_factor;
        let Some(owner) = self.d.route(&key, self.bug(), r) else {
            let reason = "no storage node holds keys".to_string();
            ctx.reply_to_client(req.from, ClientReply::Fail { reason });
            return;
        };
        let id = self.next_id;
        self.next_id += 1;
        let mut new_key = false;
        let msg = match req.op {
            Op::Put { key, value } => {
                self.stamped += 1;
                let version = Version::new(ctx.now.as_micros(), self.stamped);
                if self.d.keys.insert(key.clone()) {
                    new_key = true;
                    self.persist(ctx);
                }
                PartMsg::Put {
                    id,
                    key,
                    value,
                    version,
                }
            }
            _ => PartMsg::Get {
                id,
                key: key.clone(),
            },
        };
        let msg = if r > 1 {
            self.replicated(msg, owner)
        } else {
            msg
        };
        self.pending.insert(
            id,
            Pending {
                client: req.from,
                key: key.clone(),
                to: owner,
            },
        );
        ctx.set_timer(PartTimer::Request(id), self.cfg.request_timeout);
        ctx.send(owner, msg);
        if self.cfg.partitioning == Partitioning::Range {
            while (self.forwarded.front()).is_some_and(|&(t, _)| t + WINDOW <= ctx.now) {
                self.forwarded.pop_front();
            }
            self.forwarded.push_back((ctx.now, key_number(&key)));
        }
        if new_key {
            self.maybe_split(&key, ctx);
        }
    }

    pub fn on_message(&mut self, from: NodeId, msg: PartMsg, ctx: &mut Ctx<Partitioned>) {
        match msg {
            PartMsg::Value { id, value } => {
                let value = value.map(|(v, ver)| ver.tag(&v));
                self.answer(id, ClientReply::Ok { value }, ctx);
            }
            PartMsg::Written { id, version } => {
                let value = Some(version.tag(""));
                self.answer(id, ClientReply::Ok { value }, ctx);
            }
            PartMsg::Pong => self.on_pong(from, ctx),
            PartMsg::Join => {
                if !self.d.map.members.contains(&from)
                    && !self.d.queued.contains(&from)
                    && self
                        .d
                        .rebalance
                        .as_ref()
                        .is_none_or(|r| !r.target.members.contains(&from))
                {
                    self.d.queued.push(from);
                    self.persist(ctx);
                    self.next_rebalance(ctx);
                }
                if self.cfg.replicated() {
                    ctx.send(from, PartMsg::Queued);
                }
            }
            PartMsg::Leave => {
                if self.d.map.members.contains(&from) && !self.d.leaving.contains(&from) {
                    self.d.leaving.push(from);
                    self.persist(ctx);
                    self.next_rebalance(ctx);
                }
                if self.cfg.replicated() {
                    ctx.send(from, PartMsg::Queued);
                }
            }
            PartMsg::Moved { id, keys, .. } if self.cfg.replicated() => {
                self.on_copied(from, id, keys, ctx);
            }
            PartMsg::Moved {
                id,
                from: old,
                keys,
            } => self.on_moved(from, id, old, keys, ctx),
            PartMsg::Released { id } => self.on_released(from, id, ctx),
            PartMsg::Get { .. }
            | PartMsg::Put { .. }
            | PartMsg::MoveOut { .. }
            | PartMsg::Transfer { .. }
            | PartMsg::Release { .. }
            | PartMsg::RPut { .. }
            | PartMsg::RGet { .. }
            | PartMsg::Replicate { .. }
            | PartMsg::ReplicateAck { .. }
            | PartMsg::Ping
            | PartMsg::Queued => {}
        }
    }

    pub(super) fn answer_held(&mut self, ctx: &mut Ctx<Partitioned>) {
        for req in std::mem::take(&mut self.held) {
            self.on_client_request(req, ctx);
        }
    }

    pub(super) fn after_rebalance(&mut self, ctx: &mut Ctx<Partitioned>) {
        self.split_all(ctx);
        self.next_rebalance(ctx);
        self.maybe_merge(ctx);
    }

    pub(super) fn has_pending(&self, key: &str) -> bool {
        self.pending.values().any(|p| p.key == key)
    }

    fn answer(&mut self, id: u64, reply: ClientReply, ctx: &mut Ctx<Partitioned>) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        ctx.cancel_timer(PartTimer::Request(id));
        ctx.reply_to_client(p.client, reply);
        self.try_start(ctx);
    }

    /// `Get` or `Put` as the request to `leader`, the leader of a replicated partition: the
    /// followers it replicates to and the partition's name go with it.
    fn replicated(&self, msg: PartMsg, leader: NodeId) -> PartMsg {
        let key = match &msg {
            PartMsg::Get { key, .. } | PartMsg::Put { key, .. } => key.as_str(),
            _ => return msg,
        };
        let map = self.d.replica_map(key);
        let followers: Vec<NodeId> = map
            .replicas(key, self.cfg.replication_factor)
            .into_iter()
            .filter(|&n| n != leader)
            .collect();
        let part = map.partition_of(key);
        match msg {
            PartMsg::Get { id, key } => PartMsg::RGet {
                id,
                key,
                followers,
                part,
            },
            PartMsg::Put {
                id,
                key,
                value,
                version,
            } => PartMsg::RPut {
                id,
                key,
                value,
                version,
                followers,
                part,
            },
            other => other,
        }
    }

    pub fn on_request_timeout(&mut self, id: u64, ctx: &mut Ctx<Partitioned>) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        if self.cfg.replicated() {
            self.on_silence(p.to, ctx);
        }
        ctx.count("request_timeouts", 1);
        let reason = format!("no answer from the owner of {}", p.key);
        ctx.reply_to_client(p.client, ClientReply::Fail { reason });
        self.try_start(ctx);
    }

    /// Starts the next rebalancing: the first queued join, else the first queued leave (the
    /// last member never leaves: its keys would have nowhere to go).
    fn next_rebalance(&mut self, ctx: &mut Ctx<Partitioned>) {
        if self.d.rebalance.is_some() {
            return;
        }
        if !self.d.queued.is_empty() {
            let node = self.d.queued.remove(0);
            let target = self.d.map.with_member(node);
            ctx.note(format!("n{} joins", node + 1));
            ctx.count("joins", 1);
            self.begin(target, true, ctx);
        } else if !self.d.leaving.is_empty() {
            let node = self.d.leaving.remove(0);
            if !self.d.map.members.contains(&node) || self.d.map.members.len() < 2 {
                ctx.note(format!(
                    "n{} cannot leave: it holds the only copy of every key",
                    node + 1
                ));
                self.persist(ctx);
                return self.next_rebalance(ctx);
            }
            let r = self.cfg.replication_factor;
            if r > 1 && self.d.map.members.len() <= r {
                ctx.count("refused_leaves", 1);
                ctx.note(format!(
                    "n{} cannot leave: {r} copies of every partition need {r} stores",
                    node + 1
                ));
                self.persist(ctx);
                return self.next_rebalance(ctx);
            }
            let target = self.d.map.without_member(node);
            ctx.note(format!("n{} leaves", node + 1));
            ctx.count("leaves", 1);
            self.begin(target, true, ctx);
        }
    }

    /// Plans the moves from the current map to `target`; `membership`: a join or a leave,
    /// whose moved fraction is recorded.
    fn begin(&mut self, target: PartitionMap, membership: bool, ctx: &mut Ctx<Partitioned>) {
        if self.cfg.replicated() {
            return self.begin_replicated(target, membership, ctx);
        }
        let mut moves = BTreeMap::new();
        for k in &self.d.keys {
            let (a, b) = (self.d.map.owner(k), target.owner(k));
            if let (Some(a), Some(b)) = (a, b)
                && a != b
            {
                moves.insert(k.clone(), (a, b));
            }
        }
        if membership && !self.d.keys.is_empty() {
            self.d.moved_fraction = Some(moves.len() as f64 / self.d.keys.len() as f64);
        }
        if moves.is_empty() {
            self.d.map = target;
            self.persist(ctx);
            self.next_rebalance(ctx);
            return;
        }
        let id = self.d.next_move;
        self.d.next_move += 1;
        ctx.note(format!("rebalance {id}: {} keys move", moves.len()));
        self.d.rebalance = Some(Rebalance {
            id,
            target,
            moves,
            started: false,
            copies: BTreeMap::new(),
        });
        self.persist(ctx);
        ctx.set_timer(PartTimer::Resend, self.cfg.retry);
        self.try_start(ctx);
    }

    /// Sends the `MoveOut`s once no request on a moving key is in flight (with the bug: at
    /// once, and the moving keys are routed to their new owners from now on).
    pub(super) fn try_start(&mut self, ctx: &mut Ctx<Partitioned>) {
        let bug = self.bug();
        let Some(r) = &mut self.d.rebalance else {
            return;
        };
        if r.started {
            return;
        }
        if !bug && self.pending.values().any(|p| r.moving(&p.key)) {
            return;
        }
        r.started = true;
        self.persist(ctx);
        self.send_moves(ctx);
    }

    fn send_moves(&self, ctx: &mut Ctx<Partitioned>) {
        if self.cfg.replicated() {
            return self.send_copies(ctx);
        }
        let Some(r) = &self.d.rebalance else {
            return;
        };
        let mut by_pair: BTreeMap<(NodeId, NodeId), Vec<String>> = BTreeMap::new();
        for (k, &pair) in &r.moves {
            by_pair.entry(pair).or_default().push(k.clone());
        }
        for ((from, to), keys) in by_pair {
            ctx.send(from, PartMsg::MoveOut { id: r.id, to, keys });
        }
    }

    /// Resends the `MoveOut`s of keys not confirmed yet (a lost message, a crashed node).
    pub fn on_resend(&mut self, ctx: &mut Ctx<Partitioned>) {
        if self.d.rebalance.as_ref().is_some_and(|r| r.started) {
            self.send_moves(ctx);
        }
        self.send_releases(ctx);
        if self.d.rebalance.is_some() || !self.d.releases.is_empty() {
            ctx.set_timer(PartTimer::Resend, self.cfg.retry);
        }
    }

    fn on_moved(
        &mut self,
        to: NodeId,
        id: u64,
        old: NodeId,
        keys: Vec<String>,
        ctx: &mut Ctx<Partitioned>,
    ) {
        let mut done = Vec::new();
        if let Some(r) = &mut self.d.rebalance
            && r.id == id
        {
            for k in &keys {
                if r.moves.get(k) == Some(&(old, to)) {
                    r.moves.remove(k);
                    done.push(k.clone());
                }
            }
            self.d.keys_moved += done.len() as u64;
            ctx.count("keys_moved", done.len() as u64);
        }
        // A move of this id that is over (or a repeat): the old owner may drop the keys.
        if id < self.d.next_move {
            ctx.send(old, PartMsg::Release { id, keys });
        }
        if self
            .d
            .rebalance
            .as_ref()
            .is_some_and(|r| r.moves.is_empty())
        {
            let r = self.d.rebalance.take().expect("checked");
            self.d.map = r.target;
            ctx.cancel_timer(PartTimer::Resend);
            ctx.note(format!("rebalance {id} done"));
            self.persist(ctx);
            for req in std::mem::take(&mut self.held) {
                self.on_client_request(req, ctx);
            }
            self.split_all(ctx);
            self.next_rebalance(ctx);
            self.maybe_merge(ctx);
        } else if !done.is_empty() {
            self.persist(ctx);
            // Requests for the keys that arrived may go now; the others keep waiting.
            let moves = self.d.rebalance.as_ref().map(|r| &r.moves);
            let (ready, wait): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.held).into_iter().partition(|req| {
                    op_key(&req.op).is_none_or(|k| moves.is_none_or(|m| !m.contains_key(k)))
                });
            self.held = wait;
            for req in ready {
                self.on_client_request(req, ctx);
            }
        }
    }

    /// Range partitioning: after a write, splits the key's range if it holds more than
    /// `split_at` keys (one rebalancing at a time).
    fn maybe_split(&mut self, key: &str, ctx: &mut Ctx<Partitioned>) {
        if self.d.rebalance.is_some() || self.cfg.partitioning != Partitioning::Range {
            return;
        }
        let Some(split_at) = self.cfg.split_at else {
            return;
        };
        let Some(i) = self.d.map.range_of(key) else {
            return;
        };
        let (lo, hi) = self.d.map.bounds(i);
        let mut numbers: Vec<u64> = self
            .d
            .keys
            .iter()
            .map(|k| key_number(k))
            .filter(|n| (lo..hi).contains(n))
            .collect();
        if numbers.len() <= split_at {
            return;
        }
        numbers.sort_unstable();
        let mid = numbers[numbers.len() / 2];
        let owner = self.d.map.owner(key);
        // The lower half goes to the member holding the fewest keys.
        let mut per: BTreeMap<NodeId, usize> = self.d.map.members.iter().map(|&m| (m, 0)).collect();
        for k in &self.d.keys {
            if let Some(o) = self.d.map.owner(k) {
                *per.entry(o).or_default() += 1;
            }
        }
        let Some((&to, _)) = per
            .iter()
            .filter(|&(&m, _)| Some(m) != owner)
            .min_by_key(|&(&m, &n)| (n, m))
        else {
            return;
        };
        if mid <= lo {
            return;
        }
        ctx.count("splits", 1);
        ctx.note(format!(
            "range {lo}.. splits at {mid}: {lo}..{mid} to n{}",
            to + 1
        ));
        let target = self.d.map.split(i, mid, to);
        self.begin(target, false, ctx);
    }

    /// After a rebalancing: splits whichever range has grown past `split_at` meanwhile.
    fn split_all(&mut self, ctx: &mut Ctx<Partitioned>) {
        if self.cfg.split_at.is_none() || self.cfg.partitioning != Partitioning::Range {
            return;
        }
        let last_keys: Vec<String> = (0..self.d.map.partitions())
            .filter_map(|i| {
                let (lo, hi) = self.d.map.bounds(i);
                self.d
                    .keys
                    .iter()
                    .find(|k| (lo..hi).contains(&key_number(k)))
                    .cloned()
            })
            .collect();
        for k in last_keys {
            if self.d.rebalance.is_some() {
                return;
            }
            self.maybe_split(&k, ctx);
        }
    }

    /// Range partitioning: `keys` (keys written in the range) and `load` (requests per
    /// second forwarded for its keys over the last [`WINDOW`] before `at`) per range of the
    /// map requests are routed by, named by its bounds: `range[0..250)`, `range[750..)`.
    pub fn range_gauges(&self, at: SimTime, out: &mut Vec<PartGauge>) {
        if self.cfg.partitioning != Partitioning::Range {
            return;
        }
        let per = self.keys_per_range();
        for (i, keys) in per.into_iter().enumerate() {
            let (lo, hi) = self.d.map.bounds(i);
            let part = if hi == u64::MAX {
                format!("range[{lo}..)")
            } else {
                format!("range[{lo}..{hi})")
            };
            let load = (self.forwarded.iter())
                .filter(|&&(t, n)| t + WINDOW > at && (lo..hi).contains(&n))
                .count();
            out.push(PartGauge {
                name: "load",
                part: part.clone(),
                value: load as f64 / WINDOW.as_secs_f64(),
            });
            out.push(PartGauge {
                name: "keys",
                part,
                value: keys as f64,
            });
        }
    }

    /// Keys per range (range partitioning), in range order.
    pub fn keys_per_range(&self) -> Vec<usize> {
        let mut per = vec![0; self.d.map.partitions()];
        for k in &self.d.keys {
            if let Some(i) = self.d.map.range_of(k) {
                per[i] += 1;
            }
        }
        per
    }

    pub fn on_merge_timer(&mut self, ctx: &mut Ctx<Partitioned>) {
        self.maybe_merge(ctx);
        ctx.set_timer(PartTimer::Merge, self.cfg.merge_interval);
    }

    /// Range partitioning with `merge_below`: merges the adjacent pair of ranges holding the
    /// fewest keys together, if fewer than `merge_below`, into the range holding more of them
    /// (its owner keeps it; the other's keys move). One rebalancing at a time.
    fn maybe_merge(&mut self, ctx: &mut Ctx<Partitioned>) {
        let Some(below) = self.cfg.merge_below else {
            return;
        };
        if self.d.rebalance.is_some() || self.cfg.partitioning != Partitioning::Range {
            return;
        }
        let per = self.keys_per_range();
        let Some(i) = (0..per.len().saturating_sub(1))
            .filter(|&i| per[i] + per[i + 1] < below)
            .min_by_key(|&i| (per[i] + per[i + 1], i))
        else {
            return;
        };
        let (lo, _) = self.d.map.bounds(i);
        let (_, hi) = self.d.map.bounds(i + 1);
        let crate::protocols::partitioned::Layout::Ranges(ranges) = &self.d.map.layout else {
            return;
        };
        let owner = if per[i + 1] > per[i] {
            ranges[i + 1].1
        } else {
            ranges[i].1
        };
        ctx.count("merges", 1);
        let upper = if hi == u64::MAX {
            "..".to_string()
        } else {
            format!("..{hi}")
        };
        ctx.note(format!(
            "ranges {lo}{upper} merge ({} keys) on n{}",
            per[i] + per[i + 1],
            owner + 1
        ));
        let target = self.d.map.merge(i, owner);
        self.begin(target, false, ctx);
    }

    pub fn view(&self) -> NodeView {
        let mut v = NodeView::new("router", Tone::Leader)
            .field("stores", self.d.map.members.len())
            .field("partitions", self.d.map.partitions())
            .field("keys", self.d.keys.len())
            .field("in flight", self.pending.len());
        if let Some(r) = &self.d.rebalance {
            v = v
                .field("moving", r.moves.len() + r.copies.len())
                .field("held", self.held.len());
        }
        v
    }
}
