//! The gossiping (telephone) problem: calls of the optimal schedule at fixed times, or random
//! calls each round.

use super::schedule;
use super::{Gossip, GossipMsg, GossipTimer};
use crate::sim::{Ctx, NodeId, SimTime};

impl Gossip {
    /// Sets the timers of this node's calls in the optimal schedule still to come.
    pub(super) fn arm_calls(&mut self, ctx: &mut Ctx<Self>) {
        let period = self.cfg.period;
        let calls = schedule::optimal_schedule(ctx.nodes);
        for (k, &(caller, _)) in calls.iter().enumerate() {
            let at = SimTime(period.0 * (k as u64 + 1));
            if caller == ctx.id && at > ctx.now {
                ctx.set_timer(GossipTimer::Call(k), at - ctx.now);
                if self.timer.is_none_or(|(_, fires, _)| fires <= ctx.now) {
                    self.timer = Some((ctx.now, at, "call"));
                }
            }
        }
    }

    /// Call `k` of the optimal schedule is due.
    pub(super) fn on_call_timer(&mut self, k: usize, ctx: &mut Ctx<Self>) {
        let calls = schedule::optimal_schedule(ctx.nodes);
        let (caller, callee) = calls[k];
        assert_eq!(caller, ctx.id, "call {k} fired at the wrong node");
        self.call(callee, ctx);
        let next = calls
            .iter()
            .enumerate()
            .skip(k + 1)
            .find(|(_, c)| c.0 == ctx.id)
            .map(|(j, _)| SimTime(self.cfg.period.0 * (j as u64 + 1)));
        self.timer = next.map(|at| (ctx.now, at, "call"));
    }

    /// Random calls, each round: someone who still misses a secret calls a random peer.
    pub(super) fn random_call(&mut self, ctx: &mut Ctx<Self>) {
        if !self.knows_all(ctx.nodes) {
            let peer = Self::peers(1, ctx)[0];
            self.call(peer, ctx);
        }
    }

    fn call(&mut self, peer: NodeId, ctx: &mut Ctx<Self>) {
        self.calls_made += 1;
        ctx.count("calls", 1);
        let secrets = self.secrets.iter().copied().collect();
        ctx.send(peer, GossipMsg::Call { secrets });
    }

    /// A `Call` arrives: learn, then tell what this node now knows.
    pub(super) fn on_call(&mut self, from: NodeId, secrets: Vec<NodeId>, ctx: &mut Ctx<Self>) {
        self.learn_secrets(secrets, ctx);
        let secrets = self.secrets.iter().copied().collect();
        ctx.send(from, GossipMsg::CallReply { secrets });
    }

    /// Adds secrets heard in a call (the store of this mode: durable).
    pub(super) fn learn_secrets(&mut self, secrets: Vec<NodeId>, ctx: &mut Ctx<Self>) {
        let before = self.secrets.len();
        self.secrets
            .extend(secrets.into_iter().filter(|&s| s < ctx.nodes));
        if self.secrets.len() > before {
            ctx.persist(self.durable());
            if self.knows_all(ctx.nodes) {
                ctx.count("know_all", 1);
                ctx.note(format!("knows all {} secrets", ctx.nodes));
            }
        }
    }
}
