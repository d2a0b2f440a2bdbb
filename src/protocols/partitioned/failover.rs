//! Replicated partitions, the router's side: which replica leads a partition, and failover
//! when a leader stops answering (DDIA ch. 5, "Handling Node Outages: Leader failover":
//! "determining that the leader has failed ... most systems simply use a timeout").
//!
//! ```text
//!   replicas(key) = [owner, next member, ...]      leader = the first one not suspected
//!   request to the leader times out ──► Ping ──► no Pong within `retry`: suspect it
//!                                              ──► the next replica leads its partitions
//!   suspected store answers a Ping  ──► trusted again ──► it leads its partitions again
//! ```
//!
//! The router is the only judge of leadership: stores act as leader for the requests it
//! sends them and as follower for the `Replicate`s they receive, so a deposed leader never
//! serves a request the router still waits for (a late answer to a failed request is
//! dropped). That is the fencing: one authority, not epochs.

use super::map::PartitionMap;
use super::message::PartMsg;
use super::router::RouterNode;
use super::{PartTimer, Partitioned};
use crate::sim::{Ctx, NodeId};
use std::collections::BTreeSet;

/// The replica leading `key`'s partition: the first of its `r` replicas the router does not
/// suspect, or its first replica when it suspects them all.
pub fn leader(map: &PartitionMap, down: &BTreeSet<NodeId>, key: &str, r: usize) -> Option<NodeId> {
    let replicas = map.replicas(key, r);
    replicas
        .iter()
        .find(|n| !down.contains(n))
        .or(replicas.first())
        .copied()
}

impl RouterNode {
    fn arm_probe(&mut self, ctx: &mut Ctx<Partitioned>) {
        if !self.probe_armed {
            self.probe_armed = true;
            ctx.set_timer(PartTimer::Probe, self.cfg.retry);
        }
    }

    /// A restarted router still suspects some stores: go on pinging them.
    pub(super) fn arm_probe_after_restart(&mut self, ctx: &mut Ctx<Partitioned>) {
        self.arm_probe(ctx);
    }

    /// A request to `node` timed out. Its leader may be down, or only waiting for a follower
    /// (`Sync` blocks on an unreachable copy): ping it, and suspect it if the ping goes
    /// unanswered too.
    pub(super) fn on_silence(&mut self, node: NodeId, ctx: &mut Ctx<Partitioned>) {
        if self.d.down.contains(&node) || !self.probing.insert(node) {
            return;
        }
        ctx.send(node, PartMsg::Ping);
        self.arm_probe(ctx);
    }

    /// `node` timed out and did not answer a ping: suspect it, so that its partitions fail
    /// over to their next replica.
    fn suspect(&mut self, node: NodeId, ctx: &mut Ctx<Partitioned>) {
        if !self.d.down.insert(node) {
            return;
        }
        ctx.count("failovers", 1);
        ctx.note(format!(
            "n{} does not answer: its partitions fail over to their next replica",
            node + 1
        ));
        self.persist(ctx);
    }

    /// The pings of the last round unanswered: suspect those nodes; ping every suspected
    /// store again.
    pub fn on_probe(&mut self, ctx: &mut Ctx<Partitioned>) {
        self.probe_armed = false;
        for n in std::mem::take(&mut self.probing) {
            self.suspect(n, ctx);
        }
        for &n in &self.d.down {
            ctx.send(n, PartMsg::Ping);
        }
        if !self.d.down.is_empty() {
            self.arm_probe(ctx);
        }
    }

    /// A store answered a ping: it is not suspected (any more), and leads its partitions.
    /// (Under `Sync` a store that was down holds every acknowledged write: none could be
    /// acknowledged without it.)
    pub(super) fn on_pong(&mut self, node: NodeId, ctx: &mut Ctx<Partitioned>) {
        self.probing.remove(&node);
        if self.d.down.remove(&node) {
            ctx.note(format!("n{} answers again", node + 1));
            self.persist(ctx);
        }
    }
}
