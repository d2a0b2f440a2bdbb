//! Two guards on leadership, both off by default.
//!
//! - **Quorum check** (`check_quorum`, Raft's CheckQuorum carried over): followers answer
//!   every `Heartbeat` with `HeartbeatAck`; a leader that has not heard from a majority
//!   (itself included) for `election_timeout_min` steps down. A leader cut off in a minority
//!   then stops taking requests it could never get chosen, and its clients are redirected.
//! - **Pre-prepare** (`pre_prepare`, Raft's PreVote carried over): a node whose election
//!   timer fires first asks `PrePrepare { ballot }`; each node answers `PrePromise` yes only
//!   if the ballot is above its promise and it has not heard from a leader within
//!   `election_timeout_min` (a leader answers no). Only with a majority of yes does the node
//!   pick a real ballot and run Phase 1. Nothing is promised or persisted on the way, so a
//!   stray node that stopped hearing a healthy leader cannot raise every promise above the
//!   leader's ballot and depose it.

use super::{MultiPaxos, MultiPaxosMsg, Role};
use crate::protocols::paxos::Ballot;
use crate::sim::{Ctx, NodeId};
use std::collections::BTreeSet;

impl MultiPaxos {
    /// Leader, `check_quorum`: counts an answer to this leader's ballot.
    pub(super) fn heard_from(&mut self, from: NodeId, ballot: Ballot) {
        if ballot == self.ballot && self.is_leader() {
            self.quorum_heard.insert(from);
        }
    }

    /// Leader, at each heartbeat tick: false (after stepping down) when a whole window of
    /// `election_timeout_min` passed without a majority heard from.
    pub(super) fn quorum_still_heard(&mut self, ctx: &mut Ctx<Self>) -> bool {
        if !self.cfg.check_quorum || ctx.now - self.quorum_since < self.cfg.election_timeout_min {
            return true;
        }
        let me = ctx.id;
        let heard = self.quorum_heard.iter().filter(|n| **n != me).count() + 1;
        self.quorum_heard.clear();
        self.quorum_since = ctx.now;
        if heard >= Self::majority(ctx.nodes) {
            return true;
        }
        ctx.note(format!(
            "heard from {heard} of {} in {}: no quorum",
            ctx.nodes, self.cfg.election_timeout_min
        ));
        ctx.count("quorum_lost", 1);
        self.become_follower(None, ctx);
        false
    }

    /// Whether a leader was heard from recently enough that a new ballot would disrupt it.
    fn leader_is_fresh(&self, ctx: &Ctx<Self>) -> bool {
        self.is_leader()
            || self
                .leader_heard_at
                .is_some_and(|t| ctx.now - t < self.cfg.election_timeout_min)
    }

    /// `pre_prepare`: the election timer fired; ask before raising any ballot.
    pub(super) fn become_pre_candidate(&mut self, ctx: &mut Ctx<Self>) {
        let round = self.seen_round.max(self.durable.last_round) + 1;
        let ballot = Ballot::new(round, ctx.id);
        self.role = Role::PreCandidate {
            ballot,
            grants: BTreeSet::from([ctx.id]),
        };
        self.leader = None;
        // Our own timer fired: we no longer count a leader as heard from.
        self.leader_heard_at = None;
        ctx.count("pre_prepares", 1);
        self.arm_election(ctx);
        ctx.broadcast(MultiPaxosMsg::PrePrepare { ballot });
        if Self::majority(ctx.nodes) == 1 {
            self.become_candidate(BTreeSet::from([ctx.id]), ctx);
        }
    }

    pub(super) fn on_pre_prepare(&mut self, from: NodeId, ballot: Ballot, ctx: &mut Ctx<Self>) {
        let granted = ballot > self.durable.promised && !self.leader_is_fresh(ctx);
        if !granted {
            ctx.count("pre_prepares_refused", 1);
        }
        ctx.send(from, MultiPaxosMsg::PrePromise { ballot, granted });
    }

    pub(super) fn on_pre_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        granted: bool,
        ctx: &mut Ctx<Self>,
    ) {
        let Role::PreCandidate {
            ballot: mine,
            grants,
        } = &mut self.role
        else {
            return;
        };
        if ballot != *mine || !granted {
            return;
        }
        grants.insert(from);
        if grants.len() >= Self::majority(ctx.nodes) {
            let grants = std::mem::take(grants);
            self.become_candidate(grants, ctx);
        }
    }
}
