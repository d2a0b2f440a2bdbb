//! Loss detection and regeneration: the loss timer, a candidacy asking every node to promise a
//! new generation, the promises (`Promise`) and plain answers (`Here`), and the creation of the
//! new generation's token with every node that answered as a member.

use super::{RingTimer, Role, Token, TokenMsg, TokenRing};
use crate::sim::{Ctx, NodeId, SimTime};
use rand::Rng;
use std::collections::BTreeSet;

impl TokenRing {
    /// (Re)arms loss detection `after` from now.
    pub(super) fn arm_loss(&mut self, after: SimTime, ctx: &mut Ctx<Self>) {
        self.loss_timer = (ctx.now, ctx.now + after);
        ctx.set_timer(RingTimer::Loss, after);
    }

    /// The loss timeout plus up to half of it at random, so candidates rarely collide.
    pub(super) fn loss_after(&self, ctx: &mut Ctx<Self>) -> SimTime {
        let t = self.cfg.loss_timeout.0;
        SimTime(t + ctx.rng().random_range(0..=t / 2))
    }

    pub(super) fn start_candidacy(&mut self, ctx: &mut Ctx<Self>) {
        let generation = self.promised.max(self.accepted.0) + 1;
        self.promised = generation;
        self.persist(ctx);
        // No `last_seen` reset here: a candidacy binds only while it lasts (a candidate that
        // steps down ignores late promises), and resetting would let candidates keep each
        // other from ever being quiet.
        self.candidate_gen = generation;
        self.promises = BTreeSet::from([ctx.id]);
        self.answered = 1u128 << ctx.id;
        self.gather_until = ctx.now + self.cfg.ack_timeout;
        self.role = Role::Candidate;
        ctx.count("elections", 1);
        ctx.note(format!("token lost? seeking generation {generation}"));
        if self.cfg.bug_no_majority {
            self.regenerate(ctx);
            return;
        }
        ctx.broadcast(TokenMsg::Regenerate { generation });
        ctx.set_timer(RingTimer::Gather, self.cfg.ack_timeout);
        ctx.set_timer(
            RingTimer::Election,
            self.cfg.ack_timeout + self.cfg.ack_timeout,
        );
    }

    /// An answer to this node's candidacy (or a late one to the generation it created).
    pub(super) fn on_answer(
        &mut self,
        from: NodeId,
        generation: u64,
        promise: bool,
        ctx: &mut Ctx<Self>,
    ) {
        if generation != self.candidate_gen {
            return;
        }
        if self.role != Role::Candidate {
            // Too late for the new ring: the next pass from here adds it.
            self.joiners |= 1u128 << from;
            return;
        }
        self.answered |= 1u128 << from;
        if promise {
            self.promises.insert(from);
        }
        self.maybe_regenerate(ctx);
    }

    /// With a majority of promises, creates the token once every node answered or the
    /// gathering time (`ack_timeout`, longer than a round trip) is over.
    pub(super) fn maybe_regenerate(&mut self, ctx: &mut Ctx<Self>) {
        let everyone = u128::MAX >> (128 - self.nodes);
        let done = self.answered == everyone || ctx.now >= self.gather_until;
        if self.promises.len() >= self.majority() && done {
            self.regenerate(ctx);
        }
    }

    /// Creates the token of the generation this node was promised.
    pub(super) fn regenerate(&mut self, ctx: &mut Ctx<Self>) {
        let token = Token {
            generation: self.candidate_gen,
            position: ctx.id as u64,
            origin: ctx.id as u64,
            visited_prev: self.promises.len() as u32,
            visited_cur: 0,
            members: self.answered | self.promises.iter().fold(0, |m, &i| m | 1u128 << i),
        };
        let excluded = self.nodes - token.members.count_ones() as usize;
        ctx.count("excluded", excluded as u64);
        ctx.count("regenerations", 1);
        ctx.note(format!(
            "regenerated the token as generation {} ({} promises, {} members)",
            token.generation,
            self.promises.len(),
            token.members.count_ones()
        ));
        ctx.cancel_timer(RingTimer::Election);
        ctx.cancel_timer(RingTimer::Gather);
        self.role = Role::Idle;
        self.accept(token, ctx);
    }

    /// `Regenerate`: a candidate asks this node to promise a new generation.
    pub(super) fn on_regenerate(&mut self, from: NodeId, generation: u64, ctx: &mut Ctx<Self>) {
        let quiet = ctx.now.saturating_sub(self.last_seen) >= self.cfg.loss_timeout;
        let free = matches!(self.role, Role::Idle | Role::Candidate);
        if !quiet || !free {
            // The token is alive here: the candidate is cut off from it. Let it join.
            self.joiners |= 1u128 << from;
        }
        if generation > self.promised && quiet && free {
            if self.role == Role::Candidate {
                ctx.cancel_timer(RingTimer::Election);
                ctx.cancel_timer(RingTimer::Gather);
                self.role = Role::Idle;
            }
            self.promised = generation;
            self.persist(ctx);
            self.last_seen = ctx.now;
            ctx.send(from, TokenMsg::Promise { generation });
            let after = self.loss_after(ctx);
            self.arm_loss(after, ctx);
        } else {
            // Alive and reachable: if that candidacy wins, this node is in its ring.
            ctx.send(from, TokenMsg::Here { generation });
        }
    }

    /// Token-loss detection.
    pub(super) fn on_loss_timer(&mut self, ctx: &mut Ctx<Self>) {
        let quiet = ctx.now.saturating_sub(self.last_seen);
        if self.holds() || self.role == Role::Passing || self.role == Role::Candidate {
            let after = self.loss_after(ctx);
            self.arm_loss(after, ctx);
        } else if quiet < self.cfg.loss_timeout {
            self.arm_loss(self.cfg.loss_timeout - quiet, ctx);
        } else {
            self.start_candidacy(ctx);
        }
    }

    /// The end of a candidacy's gathering.
    pub(super) fn on_gather_timer(&mut self, ctx: &mut Ctx<Self>) {
        if self.role == Role::Candidate {
            self.maybe_regenerate(ctx);
        }
    }

    /// A candidacy that did not gather a majority in time.
    pub(super) fn on_election_timer(&mut self, ctx: &mut Ctx<Self>) {
        if self.role == Role::Candidate {
            self.role = Role::Idle;
            // Try again a random while after this candidacy's own quiet period.
            let after = self.loss_after(ctx);
            self.arm_loss(after, ctx);
        }
    }
}
