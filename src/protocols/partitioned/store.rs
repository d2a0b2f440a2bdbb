//! A storage node: the keys of its partitions, last writer wins by version, and its side of
//! rebalancing (send the moving keys, keep them until released; take in keys moved to it).

use super::message::{PartMsg, Stored};
use super::replication::Replica;
use super::{PartConfig, PartTimer, Partitioned, StoreDurable, WINDOW};
use crate::protocols::storage::Version;
use crate::sim::{ClientReply, ClientRequest, Ctx, EntryView, NodeId, NodeView, Op, SimTime, Tone};
use std::collections::{BTreeMap, VecDeque};

#[derive(Clone, Debug, PartialEq)]
pub struct StoreNode {
    /// The keys it holds, persisted on every change.
    pub data: BTreeMap<String, Stored>,
    /// Moves it is the source of and not yet released from: move id → (new owner, keys).
    /// The keys stay in `data` (and are answered from) until the router releases them.
    pub outgoing: BTreeMap<u64, (NodeId, Vec<String>)>,
    /// The highest move id it took part in: a `Transfer` of an older move is a late copy.
    pub last_move: u64,
    /// When it served each request of the last [`WINDOW`] (its load).
    pub served: VecDeque<SimTime>,
    pub retry: SimTime,
    /// Replicated partitions: what it waits for as leader, ships to followers, knows stable.
    pub rep: Box<Replica>,
    /// Replicated partitions: per key, the last move that copied it here or released it
    /// (see `rebalance.rs`), persisted.
    pub epochs: BTreeMap<String, (u64, bool)>,
    /// Whether partitions have more than one copy (moves are copies, see `rebalance.rs`).
    pub replicated: bool,
    /// Replicated partitions: a `Join` (false) or `Leave` (true) not confirmed by the router
    /// yet, persisted and resent every `retry` (a lost `Join` would leave the node out).
    pub admin: Option<bool>,
}

impl StoreNode {
    pub fn new(cfg: &PartConfig, d: &StoreDurable, ctx: &mut Ctx<Partitioned>) -> Self {
        if !d.outgoing.is_empty() || d.admin.is_some() {
            ctx.set_timer(PartTimer::Resend, cfg.retry);
        }
        StoreNode {
            data: d.data.clone(),
            outgoing: d.outgoing.clone(),
            last_move: d.last_move,
            served: VecDeque::new(),
            retry: cfg.retry,
            rep: Box::new(Replica::new(cfg)),
            epochs: d.epochs.clone(),
            replicated: cfg.replicated(),
            admin: d.admin,
        }
    }

    pub(super) fn persist(&self, ctx: &mut Ctx<Partitioned>) {
        ctx.persist(super::PartDurable::Store(StoreDurable {
            data: self.data.clone(),
            outgoing: self.outgoing.clone(),
            last_move: self.last_move,
            epochs: self.epochs.clone(),
            admin: self.admin,
        }));
    }

    /// Requests served per second over the last [`WINDOW`] before `at`.
    pub fn load(&self, at: SimTime) -> f64 {
        let n = self.served.iter().filter(|&&t| t + WINDOW > at).count();
        n as f64 / WINDOW.as_secs_f64()
    }

    pub(super) fn serve(&mut self, ctx: &mut Ctx<Partitioned>) {
        while self.served.front().is_some_and(|&t| t + WINDOW <= ctx.now) {
            self.served.pop_front();
        }
        self.served.push_back(ctx.now);
    }

    /// Keeps `version` of `key` if it is newer than what it holds (last writer wins).
    pub(super) fn apply(&mut self, key: String, value: Stored) -> bool {
        if self.data.get(&key).is_none_or(|(_, v)| *v < value.1) {
            self.data.insert(key, value);
            return true;
        }
        false
    }

    fn send_transfer(&self, id: u64, ctx: &mut Ctx<Partitioned>) {
        let Some((to, keys)) = self.outgoing.get(&id) else {
            return;
        };
        let entries = keys
            .iter()
            .filter_map(|k| self.data.get(k).map(|s| (k.clone(), s.clone())))
            .collect();
        ctx.send(
            *to,
            PartMsg::Transfer {
                id,
                keys: keys.clone(),
                entries,
            },
        );
    }

    pub fn on_message(&mut self, from: NodeId, msg: PartMsg, ctx: &mut Ctx<Partitioned>) {
        match msg {
            PartMsg::MoveOut { id, to, keys } if self.replicated => {
                self.on_copy_out(id, to, keys, ctx);
            }
            PartMsg::Transfer { id, keys, entries } if self.replicated => {
                self.on_copy_in(from, id, keys, entries, ctx);
            }
            PartMsg::Release { id, keys } if self.replicated => {
                self.on_release_copy(from, id, keys, ctx);
            }
            PartMsg::Get { id, key } => {
                self.serve(ctx);
                let value = self.data.get(&key).cloned();
                ctx.send(from, PartMsg::Value { id, value });
            }
            PartMsg::Put {
                id,
                key,
                value,
                version,
            } => {
                self.serve(ctx);
                if self.apply(key, (value, version)) {
                    self.persist(ctx);
                }
                ctx.send(from, PartMsg::Written { id, version });
            }
            PartMsg::MoveOut { id, to, keys } => {
                if id < self.last_move {
                    return;
                }
                if !self.outgoing.contains_key(&id) {
                    self.last_move = id;
                    self.outgoing.insert(id, (to, keys));
                    self.persist(ctx);
                    ctx.set_timer(PartTimer::Resend, self.retry);
                }
                self.send_transfer(id, ctx);
            }
            PartMsg::Transfer { id, keys, entries } => {
                // A late copy of an older move is not applied (its keys may have moved on
                // since), only confirmed again so that its sender stops resending it.
                if id >= self.last_move {
                    self.last_move = id;
                    ctx.count("keys_transferred", entries.len() as u64);
                    for (k, s) in entries {
                        self.apply(k, s);
                    }
                    // A key moving back here is no longer on its way out.
                    for (_, out) in self.outgoing.values_mut() {
                        out.retain(|k| !keys.contains(k));
                    }
                    self.outgoing.retain(|_, (_, out)| !out.is_empty());
                    self.persist(ctx);
                }
                if let Some(&router) = ctx.nodes_of("router").first() {
                    ctx.send(router, PartMsg::Moved { id, from, keys });
                }
            }
            PartMsg::Release { id, keys } => {
                let Some((_, out)) = self.outgoing.get_mut(&id) else {
                    return;
                };
                let mut dropped = 0;
                for k in &keys {
                    if let Some(i) = out.iter().position(|x| x == k) {
                        out.remove(i);
                        self.data.remove(k);
                        dropped += 1;
                    }
                }
                if out.is_empty() {
                    self.outgoing.remove(&id);
                }
                ctx.count("keys_released", dropped);
                self.persist(ctx);
            }
            PartMsg::RPut {
                id,
                key,
                value,
                version,
                followers,
                part,
            } => self.on_rput(from, id, key, (value, version), followers, part, ctx),
            PartMsg::RGet {
                id,
                key,
                followers,
                part,
            } => self.on_rget(from, id, key, followers, part, ctx),
            PartMsg::Replicate { entries } => self.on_replicate(from, entries, ctx),
            PartMsg::ReplicateAck { held, newer } => self.on_replicate_ack(from, held, newer, ctx),
            PartMsg::Ping => ctx.send(from, PartMsg::Pong),
            PartMsg::Queued => {
                if self.admin.take().is_some() {
                    self.persist(ctx);
                }
            }
            PartMsg::Value { .. }
            | PartMsg::Written { .. }
            | PartMsg::Join
            | PartMsg::Leave
            | PartMsg::Moved { .. }
            | PartMsg::Pong
            | PartMsg::Released { .. } => {}
        }
    }

    /// Resends the transfers not released yet (a lost `Transfer` or `Moved`).
    pub fn on_resend(&mut self, ctx: &mut Ctx<Partitioned>) {
        let ids: Vec<u64> = self.outgoing.keys().copied().collect();
        for id in ids {
            self.send_transfer(id, ctx);
        }
        if let Some(leave) = self.admin {
            self.send_admin(leave, ctx);
        }
        if !self.outgoing.is_empty() || self.admin.is_some() {
            ctx.set_timer(PartTimer::Resend, self.retry);
        }
    }

    fn send_admin(&self, leave: bool, ctx: &mut Ctx<Partitioned>) {
        let msg = if leave { PartMsg::Leave } else { PartMsg::Join };
        if let Some(&router) = ctx.nodes_of("router").first() {
            ctx.send(router, msg);
        }
    }

    /// `Request("join")` or `Request("leave")` from the timeline: ask the router to place
    /// keys here, or to move them all away.
    pub fn on_admin(&mut self, req: ClientRequest, ctx: &mut Ctx<Partitioned>) {
        let msg = match &req.op {
            Op::Request(a) if a == "join" => PartMsg::Join,
            Op::Request(a) if a == "leave" => PartMsg::Leave,
            _ => {
                let reason =
                    "a storage node takes Request(\"join\") or Request(\"leave\")".to_string();
                ctx.reply_to_client(req.from, ClientReply::Fail { reason });
                return;
            }
        };
        if self.replicated {
            let leave = msg == PartMsg::Leave;
            if self.admin.is_none() {
                ctx.set_timer(PartTimer::Resend, self.retry);
            }
            self.admin = Some(leave);
            self.persist(ctx);
            self.send_admin(leave, ctx);
        } else if let Some(&router) = ctx.nodes_of("router").first() {
            ctx.send(router, msg);
        }
        ctx.reply_to_client(req.from, ClientReply::Ok { value: None });
    }

    /// Replicated partitions: one entry per partition it holds, as leader or follower
    /// (`p3 leader 12 keys v41, n4 lag 2`; `p5 follower 9 keys v37`), coloured by partition.
    fn partition_entries(&self) -> Vec<EntryView> {
        let mut groups: BTreeMap<(u32, bool), (usize, u64)> = BTreeMap::new();
        for (k, &(part, leader)) in &self.rep.parts {
            let Some((_, ver)) = self.data.get(k) else {
                continue;
            };
            let g = groups.entry((part, leader)).or_default();
            g.0 += 1;
            g.1 = g.1.max(ver.index);
        }
        groups
            .into_iter()
            .enumerate()
            .map(|(i, ((part, leader), (keys, newest)))| {
                let role = if leader { "leader" } else { "follower" };
                let mut label = format!("p{part} {role} {keys} keys v{newest}");
                if leader {
                    for (f, out) in &self.rep.outbox {
                        let lag = out
                            .keys()
                            .filter(|k| self.rep.parts.get(*k) == Some(&(part, true)))
                            .count();
                        if lag > 0 {
                            label.push_str(&format!(", n{} lag {lag}", f + 1));
                        }
                    }
                }
                EntryView {
                    index: i as u64 + 1,
                    term: u64::from(part),
                    label,
                    committed: leader,
                }
            })
            .collect()
    }

    pub fn view(&self) -> NodeView {
        let moving: usize = self.outgoing.values().map(|(_, k)| k.len()).sum();
        let mut v = NodeView::new("store", Tone::Follower).field("keys", self.data.len());
        if moving > 0 {
            v = v.field("moving out", moving);
        }
        if !self.rep.parts.is_empty() {
            v.entries = self.partition_entries();
            return v;
        }
        v.entries = self
            .data
            .iter()
            .take(8)
            .enumerate()
            .map(|(i, (k, (val, ver)))| EntryView {
                index: i as u64 + 1,
                term: super::map::key_number(k),
                label: format!("{k}={val}"),
                committed: ver > &Version::NONE,
            })
            .collect();
        v
    }
}
