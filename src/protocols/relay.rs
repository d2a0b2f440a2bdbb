//! Relay ("hot potato"): tokens wander the cluster at random.
//!
//! Every node that receives a `Token` passes it on to a uniformly random other node. It is the
//! simplest protocol that keeps a network busy, which makes it the engine's benchmark workload
//! (each delivery causes exactly one send) and a first look at latency, loss and partitions:
//! a dropped token is gone for good, and a token cannot leave a partition's side.
//!
//! Safety property: tokens are conserved — no node forwards more tokens than it received, and
//! the number of tokens alive never exceeds the number created (duplication aside).

use crate::sim::{
    ClientReply, ClientRequest, Ctx, Failure, Invariant, Message, NodeId, NodeView, Protocol, Tone,
    World,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Tokens created at time zero, spread round-robin over the nodes.
    #[serde(default = "default_tokens")]
    pub tokens: u32,
    /// Forward after this long (0: at once), so a class can follow one token.
    #[serde(default)]
    pub hold: crate::sim::SimTime,
}

/// More tokens than this would only fill memory.
pub const MAX_TOKENS: u32 = 1_000_000;

fn default_tokens() -> u32 {
    1
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RelayMsg {
    /// A token, with the number of hops it has made.
    Token { id: u32, hops: u32 },
}

impl Message for RelayMsg {
    fn kind(&self) -> &'static str {
        "Token"
    }
    fn label(&self) -> String {
        let RelayMsg::Token { id, hops } = self;
        format!("token {id} hop {hops}")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RelayTimer {
    /// Pass on the held token with this id.
    Pass(u32),
}

#[derive(Clone, Debug)]
pub struct Relay {
    /// Tokens received (for the conservation invariant and the view).
    received: u64,
    /// Tokens sent on.
    forwarded: u64,
    /// Tokens this node created (initial ones and client requests).
    created: u64,
    /// Tokens held while `hold` runs: (id, hops).
    holding: Vec<(u32, u32)>,
    hold: crate::sim::SimTime,
    next_token: u32,
}

impl Relay {
    fn pass(&mut self, id: u32, hops: u32, ctx: &mut Ctx<Self>) {
        if ctx.nodes < 2 {
            self.holding.push((id, hops));
            return;
        }
        let others = ctx.nodes - 1;
        let mut to = ctx.rng().random_range(0..others);
        if to >= ctx.id {
            to += 1;
        }
        self.forwarded += 1;
        ctx.send(to, RelayMsg::Token { id, hops: hops + 1 });
    }

    fn take(&mut self, id: u32, hops: u32, ctx: &mut Ctx<Self>) {
        if self.hold == crate::sim::SimTime::ZERO {
            self.pass(id, hops, ctx);
        } else {
            self.holding.push((id, hops));
            ctx.set_timer(RelayTimer::Pass(id), self.hold);
        }
    }
}

impl Protocol for Relay {
    type Msg = RelayMsg;
    type Timer = RelayTimer;
    type Durable = ();
    type Config = RelayConfig;

    const NAME: &'static str = "relay";
    const SUMMARY: &'static str = "tokens passed to random nodes (the engine benchmark)";
    const MESSAGE_KINDS: &'static [&'static str] = &["Token"];

    fn validate_config(cfg: &RelayConfig, _nodes: usize) -> Result<(), String> {
        if cfg.tokens > MAX_TOKENS {
            return Err(format!(
                "expected at most {MAX_TOKENS} tokens, got {}",
                cfg.tokens
            ));
        }
        Ok(())
    }

    fn init(cfg: &RelayConfig, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Relay {
            received: 0,
            forwarded: 0,
            created: 0,
            holding: Vec::new(),
            hold: cfg.hold,
            next_token: 0,
        };
        let (id, nodes) = (ctx.id, ctx.nodes);
        // Token t starts at node t mod n: this node's are id, id + n, id + 2n, ...
        let mine = (id..cfg.tokens as usize).step_by(nodes).map(|t| t as u32);
        for t in mine {
            me.created += 1;
            me.take(t, 0, ctx);
        }
        me.next_token = cfg.tokens + ctx.id as u32;
        me
    }

    fn on_restart(cfg: &RelayConfig, _durable: &(), ctx: &mut Ctx<Self>) -> Self {
        Relay {
            received: 0,
            forwarded: 0,
            created: 0,
            holding: Vec::new(),
            hold: cfg.hold,
            next_token: u32::MAX / 2 + ctx.id as u32,
        }
    }

    fn on_message(&mut self, _from: NodeId, msg: RelayMsg, ctx: &mut Ctx<Self>) {
        let RelayMsg::Token { id, hops } = msg;
        self.received += 1;
        self.take(id, hops, ctx);
    }

    fn on_timer(&mut self, timer: RelayTimer, ctx: &mut Ctx<Self>) {
        let RelayTimer::Pass(id) = timer;
        if let Some(i) = self.holding.iter().position(|(t, _)| *t == id) {
            let (id, hops) = self.holding.remove(i);
            self.pass(id, hops, ctx);
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        let id = self.next_token;
        self.next_token = self.next_token.wrapping_add(ctx.nodes as u32);
        self.created += 1;
        ctx.count("tokens_created", 1);
        self.take(id, 0, ctx);
        ctx.reply_to_client(
            req.from,
            ClientReply::Ok {
                value: Some(format!("token {id}")),
            },
        );
    }

    fn view(&self) -> NodeView {
        // Only what changes the picture: per-node counters come from the trace, so the view
        // (checked after every event) stays cheap and rarely changes.
        if self.holding.is_empty() {
            NodeView::new("relay", Tone::Neutral)
        } else {
            NodeView::new("holding", Tone::Leader).field("tokens", self.holding.len())
        }
    }

    fn invariants(_cfg: &RelayConfig, _nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![Box::new(Conservation)]
    }
}

/// No node passes on more tokens than it received or created.
struct Conservation;

impl Invariant<Relay> for Conservation {
    fn name(&self) -> &'static str {
        "Token Conservation"
    }
    fn statement(&self) -> &'static str {
        "a node forwards only tokens it received or created"
    }
    fn check(&mut self, w: &World<Relay>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        if s.forwarded + s.holding.len() as u64 > s.received + s.created {
            return Err(Failure::new(
                format!(
                    "node forwarded {} and holds {} tokens but received only {} and created {}",
                    s.forwarded,
                    s.holding.len(),
                    s.received,
                    s.created
                ),
                vec![n],
            ));
        }
        Ok(())
    }
}
