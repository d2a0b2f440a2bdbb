//! The gossiping (telephone) problem as calls over a network: a call is an exchange, `Call`
//! then `CallReply`, and a person takes part in one call at a time.
//!
//! **Optimal schedule** (`schedule: Optimal`). The `2n - 4` calls of [`schedule`] form a partial
//! order: call `k` needs the previous call of each of its two parties. Every node knows its own
//! calls ([`schedule::calls_of`]) and works through them in order, keeping how many it finished
//! (durable, so a restart neither repeats nor skips a call):
//!
//! - its next call is one it *places*: it dials at the call's slot `(k + 1) * period` or, if
//!   the slot has passed, as soon as its previous call completed; the call completes when the
//!   `CallReply` arrives (only then is it counted in `calls`);
//! - its next call is one it *answers*: a `Call` for it is answered at once; a `Call` that
//!   arrives early (the callee still has earlier calls to finish) waits, and is answered, with
//!   the callee's secrets of that moment, when its turn comes. So calls that would overlap
//!   wait, whatever the latency, and the schedule still takes exactly `2n - 4` calls.
//!
//! A lost `Call` or `CallReply` (drop, partition, a party crashed mid-call) is repaired by the
//! caller: without an answer after `call_timeout` it dials the same call again, counted in
//! `call_retries`, not `calls`, and so on every `call_timeout`. The answer to any attempt
//! completes the call, so a round trip longer than the timeout costs retries, never the
//! schedule. A callee answers a repeated call it already answered again (its reply was lost)
//! without moving on. A caller that crashes mid-call dials the call again after its restart; a
//! callee that crashes loses the calls waiting for it and gets them again from the callers'
//! retries. A party that never comes back blocks the calls that depend on it, and only those
//! (the view says who waits for whom); that is the price of a fixed schedule.
//!
//! **Random calls** (`schedule: Random`). Every `period` a node that does not know every
//! secret and has no call of its own in progress calls a random peer; a callee answers every
//! call at once, as in Karp et al.'s random phone call model. A call not answered within the
//! timeout is given up (`calls_lost`; a late answer is ignored) and the node calls someone else
//! at its next round, with a doubled timeout after each consecutive loss (up to 8 times): a
//! round trip longer than 8 `call_timeout`s would lose every call, so set it above the round
//! trip.

use super::schedule::{self, PartyCall};
use super::{Gossip, GossipMsg, GossipTimer, Schedule};
use crate::sim::{Ctx, NodeId, SimTime};
use std::collections::BTreeMap;

/// Random calls: consecutive losses beyond this many do not lengthen the call timeout further
/// (`2^3 = 8` times).
const MAX_BACKOFF_DOUBLINGS: u32 = 3;

/// A node's telephone line: its part of the schedule and the call in progress.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Line {
    /// Optimal schedule: this node's calls, in schedule order.
    plan: Vec<PartyCall>,
    /// Optimal schedule: how many calls of `plan` are finished. Random calls: how many calls
    /// this node placed (the next one's number). Durable.
    pub done: u64,
    /// The call this node placed and whose answer it awaits.
    outstanding: Option<Outstanding>,
    /// Optimal schedule: calls that arrived before their turn, by schedule index, with the
    /// caller's secrets (at most one per call of `plan`).
    early: BTreeMap<usize, Vec<NodeId>>,
    /// Random calls: consecutive calls given up (each doubles the next timeout; always 0 for
    /// the optimal schedule).
    misses: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Outstanding {
    call: u64,
    peer: NodeId,
}

impl Line {
    /// A line after start or restart; `done` comes from the durable state.
    pub fn new(schedule: Schedule, nodes: usize, id: NodeId, done: u64) -> Self {
        let plan = match schedule {
            Schedule::Optimal => schedule::calls_of(nodes, id),
            Schedule::Random => Vec::new(),
        };
        Line {
            plan,
            done,
            ..Default::default()
        }
    }

    /// What the line is doing, for the view.
    pub fn status(&self) -> String {
        if let Some(o) = self.outstanding {
            return format!("calling n{} (#{})", o.peer + 1, o.call + 1);
        }
        match self.plan.get(self.done as usize) {
            Some(c) if c.caller => format!("to call n{} (#{})", c.peer + 1, c.index + 1),
            Some(c) => format!("waiting for n{} (#{})", c.peer + 1, c.index + 1),
            None if self.plan.is_empty() => "idle".into(),
            None => "done".into(),
        }
    }
}

impl Gossip {
    /// Optimal schedule: does whatever this node's next calls allow now: answers calls that
    /// are waiting for their turn, dials its own next call, or sets the timer for its slot.
    pub(super) fn next_calls(&mut self, ctx: &mut Ctx<Self>) {
        while self.line.outstanding.is_none() {
            let Some(&c) = self.line.plan.get(self.line.done as usize) else {
                self.timer = None;
                return;
            };
            if c.caller {
                let slot = self.slot(c.index);
                if ctx.now >= slot {
                    self.dial(c.index as u64, c.peer, ctx);
                } else {
                    self.timer = Some((ctx.now, slot, "call"));
                    ctx.set_timer(GossipTimer::Call(c.index), slot - ctx.now);
                }
                return;
            }
            let Some(secrets) = self.line.early.remove(&c.index) else {
                self.timer = None;
                return;
            };
            self.answer(c.peer, c.index as u64, secrets, ctx);
            self.line.done += 1;
            ctx.persist(self.durable());
        }
    }

    /// When call `k` of the optimal schedule may start at the earliest.
    fn slot(&self, k: usize) -> SimTime {
        SimTime(self.cfg.period.0.saturating_mul(k as u64 + 1))
    }

    /// Places call `call` to `peer` and waits for the answer: `call_timeout`, doubled after
    /// each consecutive loss for random calls.
    fn dial(&mut self, call: u64, peer: NodeId, ctx: &mut Ctx<Self>) {
        let secrets = self.secrets.iter().copied().collect();
        ctx.send(peer, GossipMsg::Call { call, secrets });
        self.line.outstanding = Some(Outstanding { call, peer });
        let doublings = self.line.misses.min(MAX_BACKOFF_DOUBLINGS);
        let wait = SimTime(self.cfg.call_timeout.0.saturating_mul(1 << doublings));
        ctx.set_timer(GossipTimer::CallTimeout(call), wait);
        if self.cfg.schedule == Schedule::Optimal {
            self.timer = Some((ctx.now, ctx.now + wait, "answer"));
        }
    }

    /// The callee's side of a call, which takes no time: learn, then tell what it now knows.
    fn answer(&mut self, caller: NodeId, call: u64, secrets: Vec<NodeId>, ctx: &mut Ctx<Self>) {
        self.learn_secrets(secrets, ctx);
        let secrets = self.secrets.iter().copied().collect();
        ctx.send(caller, GossipMsg::CallReply { call, secrets });
    }

    /// A `Call` arrives.
    pub(super) fn on_call(
        &mut self,
        from: NodeId,
        call: u64,
        secrets: Vec<NodeId>,
        ctx: &mut Ctx<Self>,
    ) {
        if self.cfg.schedule == Schedule::Random {
            self.answer(from, call, secrets, ctx);
            return;
        }
        // Only a call of the schedule, from its caller, to this node, is answered.
        let Ok(pos) = self
            .line
            .plan
            .binary_search_by_key(&call, |c| c.index as u64)
        else {
            return;
        };
        let c = self.line.plan[pos];
        if c.caller || c.peer != from {
            return;
        }
        if (pos as u64) < self.line.done {
            // Answered before; the reply was lost or the caller restarted. Answer again.
            self.answer(from, call, secrets, ctx);
        } else {
            self.line.early.insert(c.index, secrets);
            self.next_calls(ctx);
        }
    }

    /// A `CallReply` arrives: if it answers the call in progress, that call is complete.
    pub(super) fn on_call_reply(
        &mut self,
        from: NodeId,
        call: u64,
        secrets: Vec<NodeId>,
        ctx: &mut Ctx<Self>,
    ) {
        let Some(o) = self.line.outstanding else {
            return;
        };
        if o.call != call || o.peer != from {
            return; // a late answer to a call given up, or a duplicate
        }
        self.line.outstanding = None;
        ctx.cancel_timer(GossipTimer::CallTimeout(call));
        self.calls_made += 1;
        ctx.count("calls", 1);
        self.learn_secrets(secrets, ctx);
        match self.cfg.schedule {
            Schedule::Optimal => {
                self.line.done += 1;
                ctx.persist(self.durable());
                self.next_calls(ctx);
            }
            Schedule::Random => self.line.misses = 0,
        }
    }

    /// No answer in time to call `call`.
    pub(super) fn on_call_timeout(&mut self, call: u64, ctx: &mut Ctx<Self>) {
        let Some(o) = self.line.outstanding.filter(|o| o.call == call) else {
            return;
        };
        match self.cfg.schedule {
            Schedule::Optimal => {
                ctx.count("call_retries", 1);
                self.dial(o.call, o.peer, ctx);
            }
            Schedule::Random => {
                ctx.count("calls_lost", 1);
                self.line.outstanding = None;
                self.line.misses = self.line.misses.saturating_add(1);
            }
        }
    }

    /// Random calls, each round: someone who still misses a secret and is not in a call of its
    /// own calls a random peer.
    pub(super) fn random_call(&mut self, ctx: &mut Ctx<Self>) {
        if self.knows_all(ctx.nodes) || self.line.outstanding.is_some() {
            return;
        }
        let peer = Self::peers(1, ctx)[0];
        let call = self.line.done;
        self.line.done += 1;
        ctx.persist(self.durable());
        self.dial(call, peer, ctx);
    }

    /// Adds secrets heard in a call (the store of this mode: durable).
    fn learn_secrets(&mut self, secrets: Vec<NodeId>, ctx: &mut Ctx<Self>) {
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
