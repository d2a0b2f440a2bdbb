//! Token ring mutual exclusion with token loss detection and regeneration by generation
//! number, after Le Lann, "Distributed Systems — Towards a Formal Approach", IFIP 1977, and
//! Misra, "Detecting Termination of Distributed Computations Using Markers", PODC 1983
//! (<https://doi.org/10.1145/800221.806731>) for regenerating a lost token.
//!
//! Nodes `0..n` form a logical ring. One `Token` travels around it; only its holder may enter
//! the critical section, and a holder serves every request that was waiting when the token
//! arrived before passing it on, so requests are served in ring order within one rotation.
//!
//! The token carries a `generation`, an absolute `position` (`position % n` is the node it is
//! meant for) and the ring's `members`; the receiver answers `TokenAck`. A node accepts a
//! token only if `(generation, position)` is newer than anything it accepted before, so
//! duplicates and retransmissions die. Without an ack the holder resends up to `retries`
//! times and then gives the token up for lost. It does *not* skip ahead to the next node: the
//! successor may have taken the token and only its acks were lost, and a second copy sent
//! further on could end up on the other side of a partition with the first.
//!
//! Token loss (the holder or its successor crashed, or the link failed) is detected by a
//! timeout: a node that has not seen the token for `loss_timeout` becomes a candidate and asks
//! every node to promise a new generation (`Regenerate { generation }` / `Promise {
//! generation }`). A node promises only if it has not seen the token for `loss_timeout`
//! itself, and never again to an older generation; its promise is durable. With promises from
//! a majority the candidate waits out the other answers (a node that does not promise says
//! `Here`) until `ack_timeout` after its broadcast, then creates the token of the new
//! generation, whose members are all the nodes that answered: a crashed successor is skipped
//! from then on, and every live node that can be reached is in the new ring at once (a late
//! answer joins at the regenerator's next pass).
//! Nodes that promised refuse older tokens (answering `Stale`, which makes a live token's
//! holder renumber it above a promise made to a candidacy that failed). A node that has not
//! had the token for a worst-case rotation (restarted, healed, or whose answer was lost)
//! broadcasts `Join` each rotation, a restarted one at once; every node that hears it (or a
//! candidacy while the token is alive) notes a joiner, and the next holder adds it to `members`.
//!
//! Partitions are the hard case: the old token may be alive on the other side. Every token
//! therefore counts the nodes that accepted it in its last full rotation (`visited_prev`), and
//! a holder retires a token whose last rotation reached less than a majority. A minority side
//! loses its token within two rotations, while the majority side may regenerate only after
//! `loss_timeout`; `validate_config` asks for `loss_timeout >= 3 n (hold + cs_time + retries
//! ack_timeout)` so the old token is gone first. This rests on timing: a node paused longer
//! than `loss_timeout` in its critical section (scenario `pause-in-cs`) shows the limit.
//!
//! Safety properties (`invariants/`): Mutual Exclusion, Unique Valid Token, Bounded Waiting.

mod config;
pub mod invariants;
mod joining;
mod message;
mod passing;
mod regeneration;
mod requests;

pub use config::TokenRingConfig;
pub use message::{RingTimer, Token, TokenMsg};

use crate::sim::{
    ClientRequest, Ctx, EntryView, Invariant, NodeId, NodeView, Protocol, SimTime, TimerView, Tone,
    client::ClientRef,
};
use std::collections::BTreeSet;

/// What a node is doing with respect to the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Idle,
    /// Holds the token; `in_cs` while in the critical section.
    Holding {
        in_cs: bool,
    },
    /// Sent the token on, waiting for its ack (keeps it to resend).
    Passing,
    /// Seeking promises for a new generation.
    Candidate,
}

/// What survives a crash: promises must, and the last accepted token keeps duplicates out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RingDurable {
    pub promised: u64,
    pub accepted: (u64, u64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TokenRing {
    /// The configuration, copied so handlers need no extra argument.
    cfg: TokenRingConfig,
    /// Cluster size (ring length).
    nodes: usize,
    pub role: Role,
    /// The newest generation this node promised; older tokens are refused.
    pub promised: u64,
    /// (generation, position) of the last token accepted: only newer ones are taken.
    pub accepted: (u64, u64),
    /// The token in hand (held, or passed and not yet acknowledged), as accepted here.
    pub token: Option<Token>,
    /// When the token in hand was accepted: requests waiting before then must be served.
    pub token_since: SimTime,
    /// The ring position the token is being passed to.
    target: u64,
    /// Sends to `target` so far.
    attempts: u32,
    /// When this node last accepted a token, promised a generation to another node, or restarted:
    /// it promises only `loss_timeout` after that, so two majorities of promises for two
    /// generations can never be gathered at the same time.
    last_seen: SimTime,
    /// Client requests waiting for the token, with their arrival times.
    pub pending: Vec<(ClientRef, SimTime)>,
    /// Requests being served in the current critical section.
    serving: Vec<ClientRef>,
    /// The generation sought as candidate (or last created here), and who promised it.
    candidate_gen: u64,
    promises: BTreeSet<NodeId>,
    /// Every node that answered the candidacy (`Promise` or `Here`), one bit each: the new
    /// ring. Not only the promises that made the majority: every live node that can be
    /// reached goes back into the ring at once.
    answered: u128,
    /// Until when the candidate waits for more answers once it has a majority.
    gather_until: SimTime,
    /// When this node last took a token (or restarted): a rotation without one means it is
    /// not in the ring, and it says `Join`.
    last_token: SimTime,
    /// Nodes heard seeking a generation while the token was alive: to be added to the ring.
    joiners: u128,
    /// Critical sections entered here (shown).
    cs_entries: u64,
    /// The loss timer's start and end (drawn as an arc), and the critical section's.
    loss_timer: (SimTime, SimTime),
    cs_timer: (SimTime, SimTime),
}

impl TokenRing {
    fn fresh(cfg: &TokenRingConfig, nodes: usize) -> Self {
        TokenRing {
            cfg: cfg.clone(),
            nodes,
            role: Role::Idle,
            promised: 0,
            accepted: (0, 0),
            token: None,
            token_since: SimTime::ZERO,
            target: 0,
            attempts: 0,
            last_seen: SimTime::ZERO,
            pending: Vec::new(),
            serving: Vec::new(),
            candidate_gen: 0,
            promises: BTreeSet::new(),
            answered: 0,
            gather_until: SimTime::ZERO,
            last_token: SimTime::ZERO,
            joiners: 0,
            cs_entries: 0,
            loss_timer: (SimTime::ZERO, SimTime::ZERO),
            cs_timer: (SimTime::ZERO, SimTime::ZERO),
        }
    }

    fn majority(&self) -> usize {
        self.nodes / 2 + 1
    }

    /// Is this node in its critical section?
    pub fn in_cs(&self) -> bool {
        self.role == Role::Holding { in_cs: true }
    }

    /// Does this node hold the token (not merely resending it)?
    pub fn holds(&self) -> bool {
        matches!(self.role, Role::Holding { .. })
    }

    fn persist(&self, ctx: &mut Ctx<Self>) {
        ctx.persist(RingDurable {
            promised: self.promised,
            accepted: self.accepted,
        });
    }
}

impl Protocol for TokenRing {
    type Msg = TokenMsg;
    type Timer = RingTimer;
    type Durable = RingDurable;
    type Config = TokenRingConfig;

    const NAME: &'static str = "token_ring";
    const SUMMARY: &'static str =
        "token ring mutual exclusion with loss detection and majority-promised regeneration";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "Token",
        "TokenAck",
        "Stale",
        "Regenerate",
        "Promise",
        "Here",
        "Join",
    ];

    fn validate_config(cfg: &TokenRingConfig, nodes: usize) -> Result<(), String> {
        if !(2..=128).contains(&nodes) {
            return Err(format!(
                "a token ring needs between 2 and 128 nodes, got {nodes}"
            ));
        }
        if cfg.ack_timeout == SimTime::ZERO || cfg.retries == 0 {
            return Err("ack_timeout must be positive and retries at least 1".into());
        }
        let Some(skip) = cfg.ack_timeout.checked_mul(cfg.retries as u64) else {
            return Err(format!(
                "retries x ack_timeout overflows the clock ({} x {})",
                cfg.retries, cfg.ack_timeout
            ));
        };
        if skip <= cfg.hold + cfg.cs_time {
            return Err(format!(
                "retries x ack_timeout ({skip}) must exceed hold + cs_time ({}), or a slow \
                 successor would be given up for lost while it still holds the token",
                cfg.hold + cfg.cs_time
            ));
        }
        if cfg.loss_timeout == SimTime::ZERO {
            // Even the naive ring (`bug_no_majority`) would regenerate at every instant and
            // never let simulated time advance.
            return Err("loss_timeout must be positive (a lost token is noticed after it)".into());
        }
        let min = cfg.min_loss_timeout(nodes);
        if !cfg.bug_no_majority && cfg.loss_timeout < min {
            return Err(format!(
                "loss_timeout must be at least 3 x nodes x (hold + cs_time + retries x \
                 ack_timeout) = {min} for {nodes} nodes, so a token cut off in a minority is \
                 retired before the majority regenerates; got {}",
                cfg.loss_timeout
            ));
        }
        Ok(())
    }

    fn init(cfg: &TokenRingConfig, ctx: &mut Ctx<Self>) -> Self {
        let mut me = TokenRing::fresh(cfg, ctx.nodes);
        if ctx.id == 0 {
            let token = Token {
                generation: 0,
                position: 0,
                origin: 0,
                visited_prev: ctx.nodes as u32,
                visited_cur: 0,
                members: u128::MAX >> (128 - ctx.nodes),
            };
            me.accepted = (0, 0);
            me.accept(token, ctx);
        } else {
            let after = me.loss_after(ctx);
            me.arm_loss(after, ctx);
            ctx.set_timer(RingTimer::Join, cfg.rotation_max(ctx.nodes));
        }
        me
    }

    fn on_restart(cfg: &TokenRingConfig, durable: &RingDurable, ctx: &mut Ctx<Self>) -> Self {
        let mut me = TokenRing::fresh(cfg, ctx.nodes);
        me.promised = durable.promised;
        me.accepted = durable.accepted;
        // A restarted node has not seen the token: it will not promise for a full timeout.
        me.last_seen = ctx.now;
        me.last_token = ctx.now;
        let after = me.loss_after(ctx);
        me.arm_loss(after, ctx);
        // Back from a crash: ask to be put in the ring now, not after a loss timeout.
        ctx.broadcast(TokenMsg::Join);
        ctx.set_timer(RingTimer::Join, cfg.rotation_max(ctx.nodes));
        me
    }

    fn on_message(&mut self, from: NodeId, msg: TokenMsg, ctx: &mut Ctx<Self>) {
        match msg {
            TokenMsg::Token(token) => self.on_token(from, token, ctx),
            TokenMsg::TokenAck {
                generation,
                position,
            } => self.on_token_ack(generation, position, ctx),
            TokenMsg::Stale { position, promised } => self.on_stale(from, position, promised, ctx),
            TokenMsg::Regenerate { generation } => self.on_regenerate(from, generation, ctx),
            TokenMsg::Promise { generation } => self.on_answer(from, generation, true, ctx),
            TokenMsg::Here { generation } => self.on_answer(from, generation, false, ctx),
            TokenMsg::Join => self.on_join(from),
        }
    }

    fn on_timer(&mut self, timer: RingTimer, ctx: &mut Ctx<Self>) {
        match timer {
            RingTimer::Pass => self.on_pass_timer(ctx),
            RingTimer::Ack => self.on_ack_timer(ctx),
            RingTimer::Loss => self.on_loss_timer(ctx),
            RingTimer::Gather => self.on_gather_timer(ctx),
            RingTimer::Join => self.on_join_timer(ctx),
            RingTimer::Election => self.on_election_timer(ctx),
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        self.on_request(req, ctx);
    }

    fn view(&self) -> NodeView {
        let (role, tone) = match self.role {
            Role::Holding { in_cs: true } => ("critical", Tone::Leader),
            Role::Holding { in_cs: false } => ("holder", Tone::Leader),
            Role::Passing => ("passing", Tone::Follower),
            Role::Candidate => ("candidate", Tone::Candidate),
            Role::Idle if !self.pending.is_empty() => ("waiting", Tone::Warning),
            Role::Idle => ("idle", Tone::Neutral),
        };
        let mut v = NodeView::new(role, tone);
        v.term = Some(self.promised.max(self.accepted.0));
        v = v
            .field("generation", self.accepted.0)
            .field("position", self.accepted.1)
            .field("waiting", self.pending.len())
            .field("cs", self.cs_entries);
        v.entries = self
            .pending
            .iter()
            .enumerate()
            .map(|(i, (r, _))| EntryView {
                index: i as u64 + 1,
                term: self.promised,
                label: format!("c{}#{}", r.client, r.seq),
                committed: false,
            })
            .collect();
        let (label, (started_at, fires_at)) = if self.in_cs() {
            ("critical section", self.cs_timer)
        } else {
            ("token timeout", self.loss_timer)
        };
        v.timer = Some(TimerView {
            label: label.into(),
            started_at,
            fires_at,
        });
        v
    }

    /// One token serves the whole ring again: no live node is a candidate, some live node
    /// has the token in hand, every token in hand is of the same generation, and its ring
    /// (`members`) holds every live node, so every node's requests are reached.
    fn healed(_cfg: &TokenRingConfig, states: &[Option<Self>]) -> Option<Result<(), String>> {
        let live = || {
            states
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((i, s.as_ref()?)))
        };
        if let Some((i, _)) = live().find(|(_, s)| s.role == Role::Candidate) {
            return Some(Err(format!("n{} is still seeking a new generation", i + 1)));
        }
        let tokens: Vec<(usize, Token)> = live().filter_map(|(i, s)| Some((i, s.token?))).collect();
        let Some(&(holder, token)) = tokens.iter().max_by_key(|(_, t)| t.generation) else {
            return Some(Err("no live node has the token".into()));
        };
        if let Some((i, t)) = tokens
            .iter()
            .find(|(_, t)| t.generation != token.generation)
        {
            return Some(Err(format!(
                "n{} holds a token of generation {} besides n{}'s of generation {}",
                i + 1,
                t.generation,
                holder + 1,
                token.generation
            )));
        }
        if let Some((i, _)) = live().find(|(i, _)| token.members & (1u128 << i) == 0) {
            return Some(Err(format!(
                "n{} is not in the ring of generation {}",
                i + 1,
                token.generation
            )));
        }
        Some(Ok(()))
    }

    fn invariants(cfg: &TokenRingConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![
            Box::new(invariants::MutualExclusion),
            Box::new(invariants::UniqueValidToken),
            Box::new(invariants::BoundedWaiting::new(cfg, nodes)),
        ]
    }
}
