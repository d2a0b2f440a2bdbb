//! Rumor mongering and anti-entropy (Demers et al. §1.3-1.4): versioned writes, the merge rule
//! ("an update is applied only if its timestamp is newer"), push / pull / push-pull rounds, and
//! feedback with a coin.

use super::{Gossip, GossipMsg, Mode, Style, Update, Version};
use crate::sim::{Ctx, NodeId};
use rand::Rng;
use std::collections::BTreeMap;

impl Gossip {
    /// A new write at this node: the next version of `key`.
    pub(super) fn write(&mut self, key: String, value: String, ctx: &mut Ctx<Self>) -> Version {
        let counter = self.store.get(&key).map_or(0, |u| u.version.counter) + 1;
        let origin = if self.cfg.bug_version_without_origin {
            0
        } else {
            ctx.id
        };
        let version = Version { counter, origin };
        self.hot.insert(key.clone());
        self.store.insert(
            key.clone(),
            Update {
                key,
                version,
                value,
            },
        );
        ctx.count("writes", 1);
        ctx.count("informed", 1);
        ctx.persist(self.durable());
        version
    }

    /// Merges received updates; returns the (key, version) pairs this node already had.
    fn merge(&mut self, updates: Vec<Update>, ctx: &mut Ctx<Self>) -> Vec<(String, Version)> {
        let mut known = Vec::new();
        let mut changed = false;
        for u in updates {
            ctx.count("deliveries", 1);
            let newer = match self.store.get(&u.key) {
                None => true,
                Some(have) if self.cfg.bug_accept_stale => have.version != u.version,
                Some(have) => u.version > have.version,
            };
            if newer {
                ctx.count("informed", 1);
                if self.cfg.mode == Mode::Rumor {
                    self.hot.insert(u.key.clone());
                }
                self.store.insert(u.key.clone(), u);
                changed = true;
            } else {
                ctx.count("redundant", 1);
                known.push((u.key, u.version));
            }
        }
        if changed {
            ctx.persist(self.durable());
        }
        known
    }

    /// What to send: hot rumors when mongering, the whole store in anti-entropy.
    fn outgoing(&self) -> Vec<Update> {
        match self.cfg.mode {
            Mode::Rumor => self
                .hot
                .iter()
                .filter_map(|k| self.store.get(k).cloned())
                .collect(),
            _ => self.store.values().cloned().collect(),
        }
    }

    fn digest(&self) -> Vec<(String, Version)> {
        self.store
            .values()
            .map(|u| (u.key.clone(), u.version))
            .collect()
    }

    /// Updates newer than the peer's digest (only hot ones when mongering). Hot rumors the peer
    /// already has are feedback: each may make this node lose interest.
    fn newer_than(&mut self, digest: &[(String, Version)], ctx: &mut Ctx<Self>) -> Vec<Update> {
        let theirs: BTreeMap<&str, Version> =
            digest.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let mut out = Vec::new();
        let mut already = Vec::new();
        for u in self.outgoing() {
            match theirs.get(u.key.as_str()) {
                Some(v) if *v >= u.version => already.push((u.key, u.version)),
                _ => out.push(u),
            }
        }
        self.feedback(&already, ctx);
        out
    }

    /// Demers' feedback with a coin: for each hot rumor a peer already knew, stop spreading it
    /// with probability `stop`.
    fn feedback(&mut self, known: &[(String, Version)], ctx: &mut Ctx<Self>) {
        if self.cfg.mode != Mode::Rumor || self.cfg.stop <= 0.0 {
            return;
        }
        for (key, version) in known {
            let current = self.store.get(key).is_some_and(|u| u.version == *version);
            if current && self.hot.contains(key) && ctx.rng().random_bool(self.cfg.stop) {
                self.hot.remove(key);
                ctx.count("removed", 1);
            }
        }
    }

    /// `k` distinct random peers (not this node).
    pub(super) fn peers(k: usize, ctx: &mut Ctx<Self>) -> Vec<NodeId> {
        let others = ctx.nodes - 1;
        let k = k.min(others);
        let mut chosen: Vec<NodeId> = Vec::with_capacity(k);
        while chosen.len() < k {
            let mut p = ctx.rng().random_range(0..others);
            if p >= ctx.id {
                p += 1;
            }
            if !chosen.contains(&p) {
                chosen.push(p);
            }
        }
        chosen
    }

    /// One round of rumor mongering or anti-entropy: contact `fanout` random peers.
    pub(super) fn epidemic_round(&mut self, ctx: &mut Ctx<Self>) {
        for peer in Self::peers(self.cfg.fanout, ctx) {
            match self.cfg.style {
                Style::Push => {
                    let updates = self.outgoing();
                    if !updates.is_empty() {
                        ctx.send(peer, GossipMsg::Push { updates });
                    }
                }
                Style::Pull => {
                    let digest = self.digest();
                    ctx.send(peer, GossipMsg::Pull { digest });
                }
                Style::PushPull => {
                    let (updates, digest) = (self.outgoing(), self.digest());
                    ctx.send(peer, GossipMsg::PushPull { updates, digest });
                }
            }
        }
    }

    /// `Push`: merge; with feedback on, tell the sender which rumors were already known.
    pub(super) fn on_push(&mut self, from: NodeId, updates: Vec<Update>, ctx: &mut Ctx<Self>) {
        let known = self.merge(updates, ctx);
        if self.cfg.mode == Mode::Rumor && self.cfg.stop > 0.0 && !known.is_empty() {
            let updates = Vec::new();
            ctx.send(from, GossipMsg::Reply { updates, known });
        }
    }

    /// `Pull`: answer with what is newer than the digest, if anything.
    pub(super) fn on_pull(
        &mut self,
        from: NodeId,
        digest: &[(String, Version)],
        ctx: &mut Ctx<Self>,
    ) {
        let updates = self.newer_than(digest, ctx);
        if !updates.is_empty() {
            let known = Vec::new();
            ctx.send(from, GossipMsg::Reply { updates, known });
        }
    }

    /// `PushPull`: both of the above in one answer.
    pub(super) fn on_push_pull(
        &mut self,
        from: NodeId,
        updates: Vec<Update>,
        digest: &[(String, Version)],
        ctx: &mut Ctx<Self>,
    ) {
        let known = self.merge(updates, ctx);
        let updates = self.newer_than(digest, ctx);
        let feedback = self.cfg.mode == Mode::Rumor && self.cfg.stop > 0.0;
        let known = if feedback { known } else { Vec::new() };
        if !updates.is_empty() || !known.is_empty() {
            ctx.send(from, GossipMsg::Reply { updates, known });
        }
    }

    /// `Reply`: merge the newer updates, then the feedback.
    pub(super) fn on_reply(
        &mut self,
        updates: Vec<Update>,
        known: &[(String, Version)],
        ctx: &mut Ctx<Self>,
    ) {
        self.merge(updates, ctx);
        self.feedback(known, ctx);
    }
}
