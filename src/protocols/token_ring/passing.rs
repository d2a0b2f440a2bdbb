//! Passing the token and its acks: taking a token (or refusing a stale or duplicate one),
//! passing it to the next member, resending it until acked or giving it up for lost, and
//! renumbering it above a promise made to a failed candidacy (`Stale`).

use super::{RingTimer, Role, Token, TokenMsg, TokenRing};
use crate::sim::{Ctx, NodeId};

impl TokenRing {
    /// Takes the token addressed to this node.
    pub(super) fn accept(&mut self, mut token: Token, ctx: &mut Ctx<Self>) {
        debug_assert_eq!(token.position % self.nodes as u64, ctx.id as u64);
        if self.role == Role::Passing {
            ctx.cancel_timer(RingTimer::Ack);
        }
        if self.in_cs() {
            self.exit_cs(ctx); // a newer token replaces the one this section was entered with
        }
        if self.holds() {
            ctx.cancel_timer(RingTimer::Pass);
        }
        if self.role == Role::Candidate {
            ctx.cancel_timer(RingTimer::Election);
            ctx.cancel_timer(RingTimer::Gather);
        }
        token.visited_cur += 1;
        self.last_token = ctx.now;
        ctx.set_timer(RingTimer::Join, self.cfg.rotation_max(self.nodes));
        self.accepted = (token.generation, token.position);
        self.promised = self.promised.max(token.generation);
        self.persist(ctx);
        self.last_seen = ctx.now;
        let after = self.loss_after(ctx);
        self.arm_loss(after, ctx);
        if !self.cfg.bug_no_majority && (token.visited_prev as usize) < self.majority() {
            ctx.note(format!(
                "retire token g{}: its last lap reached {} nodes, fewer than a majority",
                token.generation, token.visited_prev
            ));
            ctx.count("tokens_retired", 1);
            self.role = Role::Idle;
            self.token = None;
            return;
        }
        self.token = Some(token);
        self.token_since = ctx.now;
        self.role = Role::Holding { in_cs: false };
        if self.pending.is_empty() {
            ctx.set_timer(RingTimer::Pass, self.cfg.hold);
        } else {
            self.enter_cs(ctx);
        }
    }

    /// Sends the token to the next member after this node, or keeps it for another lap when
    /// this node is the only member.
    pub(super) fn pass_on(&mut self, ctx: &mut Ctx<Self>) {
        let mut token = self.token.expect("passing needs a token");
        token.members |= std::mem::take(&mut self.joiners);
        self.token = Some(token);
        let n = self.nodes as u64;
        let step = (1..=n)
            .find(|d| token.members & (1u128 << ((token.position + d) % n)) != 0)
            .expect("the holder is a member");
        let to = token.position + step;
        let next = token.advanced(to, self.nodes);
        let node = (to % n) as NodeId;
        if node == ctx.id {
            self.role = Role::Idle;
            self.token = None;
            self.accept(next, ctx);
            return;
        }
        self.target = to;
        self.attempts = 1;
        self.role = Role::Passing;
        ctx.send(node, TokenMsg::Token(next));
        ctx.set_timer(RingTimer::Ack, self.cfg.ack_timeout);
    }

    pub(super) fn on_token(&mut self, from: NodeId, token: Token, ctx: &mut Ctx<Self>) {
        if token.position % self.nodes as u64 != ctx.id as u64 {
            return; // misaddressed: cannot happen with well-formed senders
        }
        let (generation, position) = (token.generation, token.position);
        if (generation, position) == self.accepted {
            // A retransmission or duplicate of the token already taken: ack it again.
            ctx.send(
                from,
                TokenMsg::TokenAck {
                    generation,
                    position,
                },
            );
            return;
        }
        if generation < self.promised && !self.cfg.bug_no_majority {
            ctx.count("stale_tokens", 1);
            ctx.note(format!(
                "refuse token g{generation}: promised g{}",
                self.promised
            ));
            // Ask for a renumbering only if this node never took this generation: then the
            // promise went to a candidacy, and this token is not a late copy of one it passed.
            if self.accepted.0 < generation {
                let promised = self.promised;
                ctx.send(from, TokenMsg::Stale { position, promised });
            }
            return;
        }
        if (generation, position) < self.accepted {
            ctx.count("stale_tokens", 1);
            return;
        }
        ctx.send(
            from,
            TokenMsg::TokenAck {
                generation,
                position,
            },
        );
        self.accept(token, ctx);
    }

    /// `TokenAck`: the successor took the token this node is passing.
    pub(super) fn on_token_ack(&mut self, generation: u64, position: u64, ctx: &mut Ctx<Self>) {
        let ours = self
            .token
            .is_some_and(|t| t.generation == generation && self.target == position);
        if self.role == Role::Passing && ours {
            ctx.cancel_timer(RingTimer::Ack);
            self.role = Role::Idle;
            self.token = None;
        }
    }

    /// `Stale`: the successor refused the token for a newer promise.
    pub(super) fn on_stale(
        &mut self,
        from: NodeId,
        position: u64,
        promised: u64,
        ctx: &mut Ctx<Self>,
    ) {
        // The refusing node promised a generation nobody created while this token
        // kept a majority; renumber the token above it (it stays the only token).
        let ours = self
            .token
            .is_some_and(|t| self.target == position && t.generation < promised);
        if self.role == Role::Passing && ours && !self.cfg.bug_no_majority {
            let mut t = self.token.expect("checked");
            t.generation = promised + 1;
            self.token = Some(t);
            self.promised = self.promised.max(t.generation);
            self.persist(ctx);
            ctx.count("renumbered", 1);
            ctx.note(format!("renumber the token as generation {}", t.generation));
            let next = t.advanced(self.target, self.nodes);
            ctx.send(from, TokenMsg::Token(next));
            ctx.set_timer(RingTimer::Ack, self.cfg.ack_timeout);
        }
    }

    /// End of the hold or of the critical section: pass the token on.
    pub(super) fn on_pass_timer(&mut self, ctx: &mut Ctx<Self>) {
        if self.in_cs() {
            self.exit_cs(ctx);
        }
        if self.holds() {
            self.pass_on(ctx);
        }
    }

    /// No `TokenAck` yet: resend or give up.
    pub(super) fn on_ack_timer(&mut self, ctx: &mut Ctx<Self>) {
        if self.role != Role::Passing {
            return;
        }
        if self.attempts < self.cfg.retries {
            self.attempts += 1;
            let next = self
                .token
                .expect("passing keeps the token")
                .advanced(self.target, self.nodes);
            let node = (self.target % self.nodes as u64) as NodeId;
            ctx.send(node, TokenMsg::Token(next));
            ctx.set_timer(RingTimer::Ack, self.cfg.ack_timeout);
        } else {
            let lost = (self.target % self.nodes as u64) as usize;
            ctx.count("given_up", 1);
            ctx.note(format!(
                "no ack from n{}: token given up for lost",
                lost + 1
            ));
            self.role = Role::Idle;
            self.token = None;
        }
    }
}
