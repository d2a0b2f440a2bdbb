//! Failover and fencing: a follower that hears no leader for `failover_timeout` promotes
//! itself with a new epoch; with `fencing`, a leader that hears of a newer epoch steps down.

use super::{Epoch, LeaderFollower, LfTimer, Role};
use crate::sim::{Ctx, NodeId, SimTime};
use rand::Rng;

impl LeaderFollower {
    /// The smallest epoch above `epoch` that belongs to this replica (its position plus one,
    /// modulo the cluster size): two replicas promoting at once never share an epoch.
    pub fn next_epoch(epoch: Epoch, id: NodeId, nodes: usize) -> Epoch {
        let n = nodes as Epoch;
        let mine = (id as Epoch + 1) % n;
        let mut e = epoch + 1;
        e += (mine + n - e % n) % n;
        e
    }

    pub(super) fn reset_failover_timer(&mut self, ctx: &mut Ctx<Self>) {
        let t = self.cfg.failover_timeout;
        let after = SimTime(t.0.saturating_add(ctx.rng().random_range(0..t.0.max(1))));
        ctx.set_timer(LfTimer::Failover, after);
        self.failover_timer = Some((ctx.now, ctx.now + after));
    }

    /// Follower: the leader has been silent for the failover timeout (or `FireTimer`: a
    /// manual failover). This replica promotes itself.
    pub(super) fn on_failover_timeout(&mut self, ctx: &mut Ctx<Self>) {
        self.failover_timer = None;
        if self.role == Role::Leader {
            return;
        }
        self.epoch = Self::next_epoch(self.epoch, self.id, self.nodes);
        ctx.count("failovers", 1);
        ctx.note(format!(
            "promoted to leader of epoch {} (log {}, commit {})",
            self.epoch,
            self.log.len(),
            self.commit
        ));
        self.persist(ctx);
        self.become_leader(ctx);
    }

    /// Every role field reset for leading; replication starts with a heartbeat to everyone.
    pub(super) fn become_leader(&mut self, ctx: &mut Ctx<Self>) {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.match_index = vec![0; self.nodes];
        self.match_index[self.id] = self.last_index();
        self.next_index = vec![self.last_index() + 1; self.nodes];
        self.ready_at = self.last_index();
        self.waiting.clear();
        self.compares.clear();
        self.failover_timer = None;
        ctx.cancel_timer(LfTimer::Failover);
        self.on_heartbeat(ctx);
        self.advance_commit(ctx);
    }

    /// Fencing: a `Replicate` from `leader` of epoch `epoch` (newer, or ours while we lead
    /// too). Become its follower.
    pub(super) fn follow(&mut self, leader: NodeId, epoch: Epoch, ctx: &mut Ctx<Self>) {
        self.follow_unknown(epoch, ctx);
        self.leader = Some(leader);
    }

    /// Fencing: a newer epoch exists; step down (its leader is not known yet).
    pub(super) fn follow_unknown(&mut self, epoch: Epoch, ctx: &mut Ctx<Self>) {
        if self.role == Role::Leader {
            ctx.note(format!(
                "deposed: epoch {epoch} is newer than {}; stepping down",
                self.epoch
            ));
            ctx.count("step_downs", 1);
            ctx.cancel_timer(LfTimer::Heartbeat);
            // Writes still waiting are never acknowledged by this replica; their clients
            // time out (and may retry at the new leader).
            self.waiting.clear();
            self.compares.clear();
        }
        self.role = Role::Follower;
        self.leader = None;
        self.epoch = self.epoch.max(epoch);
        self.persist(ctx);
        self.reset_failover_timer(ctx);
    }
}
