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

pub mod invariants;

use crate::sim::{
    ClientReply, ClientRequest, Ctx, EntryView, Invariant, Message, NodeId, NodeView, Op, Protocol,
    SimTime, TimerView, Tone, client::ClientRef,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenRingConfig {
    /// How long a holder with nothing to do keeps the token before passing it (so it can be seen).
    #[serde(default = "default_hold")]
    pub hold: SimTime,
    /// Time spent in the critical section for each visit with waiting requests.
    #[serde(default = "default_cs_time")]
    pub cs_time: SimTime,
    /// How long the sender waits for `TokenAck`; must exceed the round-trip latency.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout: SimTime,
    /// Sends to one successor before the token is given up for lost.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// No token seen for this long: it is presumed lost and a new generation is sought.
    #[serde(default = "default_loss_timeout")]
    pub loss_timeout: SimTime,
    /// Bug: regenerate as soon as the timeout fires, without a majority of promises, and never
    /// retire a token (the naive ring: split brain under a partition).
    #[serde(default)]
    pub bug_no_majority: bool,
}

fn default_hold() -> SimTime {
    SimTime::from_millis(5)
}
fn default_cs_time() -> SimTime {
    SimTime::from_millis(20)
}
fn default_ack_timeout() -> SimTime {
    SimTime::from_millis(40)
}
fn default_retries() -> u32 {
    2
}
fn default_loss_timeout() -> SimTime {
    SimTime::from_secs(2)
}

impl Default for TokenRingConfig {
    fn default() -> Self {
        TokenRingConfig {
            hold: default_hold(),
            cs_time: default_cs_time(),
            ack_timeout: default_ack_timeout(),
            retries: default_retries(),
            loss_timeout: default_loss_timeout(),
            bug_no_majority: false,
        }
    }
}

impl TokenRingConfig {
    /// The longest one node can keep the token before its successor has it: hold or serve,
    /// then every send of the token (each waits `ack_timeout`, which exceeds a round trip).
    pub fn stop_max(&self) -> SimTime {
        self.hold
            .saturating_add(self.cs_time)
            .saturating_add(self.ack_timeout.saturating_mul(self.retries as u64))
    }

    /// The longest rotation of a token that is not lost: `nodes` stops.
    pub fn rotation_max(&self, nodes: usize) -> SimTime {
        self.stop_max().saturating_mul(nodes as u64)
    }

    /// The smallest `loss_timeout` the partition argument allows for `nodes` nodes.
    pub fn min_loss_timeout(&self, nodes: usize) -> SimTime {
        self.rotation_max(nodes).saturating_mul(3)
    }

    /// Bounded Waiting's bound: while the token circulates and nothing fails, a request of a
    /// node that can talk to the holder is served within three rotations of the latest of its
    /// arrival, the token's generation and the last fault (one rotation for an excluded node to
    /// announce itself with `Join`, a stop for a holder to add it, one rotation to reach it).
    pub fn waiting_bound(&self, nodes: usize) -> SimTime {
        self.rotation_max(nodes).saturating_mul(3)
    }
}

/// The token. `position % n` is the node it is addressed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    /// Bumped by each regeneration; older generations are refused once a majority promised.
    pub generation: u64,
    /// Absolute ring position: grows by one per ring slot, slots of non-members included.
    pub position: u64,
    /// The position the generation was created at: laps are counted from there.
    pub origin: u64,
    /// Nodes that accepted this token during its previous full rotation.
    pub visited_prev: u32,
    /// Nodes that accepted it so far in the current rotation.
    pub visited_cur: u32,
    /// The ring, one bit per node: the token is passed only to members.
    pub members: u128,
}

impl Token {
    /// The token as sent to ring position `to`: rotation counters roll over at each lap.
    pub fn advanced(self, to: u64, nodes: usize) -> Token {
        let n = nodes as u64;
        let laps = (to - self.origin) / n - (self.position - self.origin) / n;
        let (visited_prev, visited_cur) = match laps {
            0 => (self.visited_prev, self.visited_cur),
            1 => (self.visited_cur, 0),
            _ => (0, 0),
        };
        Token {
            position: to,
            visited_prev,
            visited_cur,
            ..self
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenMsg {
    Token(Token),
    /// The receiver took the token at this (generation, position).
    TokenAck {
        generation: u64,
        position: u64,
    },
    /// The receiver refused a token older than the generation it promised (to a candidacy
    /// that may have failed): the holder renumbers its token above it.
    Stale {
        position: u64,
        promised: u64,
    },
    /// A candidate asks for promises for a new generation.
    Regenerate {
        generation: u64,
    },
    /// The sender will refuse tokens older than `generation`.
    Promise {
        generation: u64,
    },
    /// The sender is alive but makes no promise for `generation` (it saw the token lately, or
    /// promised as much already): a candidate that wins still puts it in the new ring.
    Here {
        generation: u64,
    },
    /// The sender has not had the token for a whole rotation (restarted, healed, or left out of
    /// a regenerated ring): the next holder adds it to the ring.
    Join,
}

impl Message for TokenMsg {
    fn kind(&self) -> &'static str {
        match self {
            TokenMsg::Token(_) => "Token",
            TokenMsg::TokenAck { .. } => "TokenAck",
            TokenMsg::Stale { .. } => "Stale",
            TokenMsg::Regenerate { .. } => "Regenerate",
            TokenMsg::Promise { .. } => "Promise",
            TokenMsg::Here { .. } => "Here",
            TokenMsg::Join => "Join",
        }
    }
    fn label(&self) -> String {
        match self {
            TokenMsg::Token(t) => format!(
                "token g{} @{} (last lap {} nodes)",
                t.generation, t.position, t.visited_prev
            ),
            TokenMsg::TokenAck {
                generation,
                position,
            } => format!("ack g{generation} @{position}"),
            TokenMsg::Stale { position, promised } => {
                format!("stale @{position}: promised g{promised}")
            }
            TokenMsg::Regenerate { generation } => format!("regenerate g{generation}?"),
            TokenMsg::Promise { generation } => format!("promise g{generation}"),
            TokenMsg::Here { generation } => format!("here, no promise for g{generation}"),
            TokenMsg::Join => "join the ring".to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RingTimer {
    /// End of the hold or of the critical section: pass the token on.
    Pass,
    /// No `TokenAck` yet: resend or give up.
    Ack,
    /// Token-loss detection.
    Loss,
    /// A candidacy that did not gather a majority in time.
    Election,
    /// The end of a candidacy's gathering: every live node reachable has answered by now.
    Gather,
    /// No token for a whole rotation: announce this node with `Join`.
    Join,
}

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

    /// (Re)arms loss detection `after` from now.
    fn arm_loss(&mut self, after: SimTime, ctx: &mut Ctx<Self>) {
        self.loss_timer = (ctx.now, ctx.now + after);
        ctx.set_timer(RingTimer::Loss, after);
    }

    /// The loss timeout plus up to half of it at random, so candidates rarely collide.
    fn loss_after(&self, ctx: &mut Ctx<Self>) -> SimTime {
        let t = self.cfg.loss_timeout.0;
        SimTime(t + ctx.rng().random_range(0..=t / 2))
    }

    /// Takes the token addressed to this node.
    fn accept(&mut self, mut token: Token, ctx: &mut Ctx<Self>) {
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

    fn enter_cs(&mut self, ctx: &mut Ctx<Self>) {
        self.role = Role::Holding { in_cs: true };
        self.serving = self.pending.drain(..).map(|(r, _)| r).collect();
        self.cs_entries += 1;
        self.cs_timer = (ctx.now, ctx.now + self.cfg.cs_time);
        ctx.count("cs_entries", 1);
        ctx.set_timer(RingTimer::Pass, self.cfg.cs_time);
    }

    fn exit_cs(&mut self, ctx: &mut Ctx<Self>) {
        let g = self.token.map_or(0, |t| t.generation);
        for r in std::mem::take(&mut self.serving) {
            let value = Some(format!("critical section at n{} (g{g})", ctx.id + 1));
            ctx.reply_to_client(r, ClientReply::Ok { value });
        }
        self.role = Role::Holding { in_cs: false };
    }

    /// Sends the token to the next member after this node, or keeps it for another lap when
    /// this node is the only member.
    fn pass_on(&mut self, ctx: &mut Ctx<Self>) {
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

    fn start_candidacy(&mut self, ctx: &mut Ctx<Self>) {
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
    fn on_answer(&mut self, from: NodeId, generation: u64, promise: bool, ctx: &mut Ctx<Self>) {
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
    fn maybe_regenerate(&mut self, ctx: &mut Ctx<Self>) {
        let everyone = u128::MAX >> (128 - self.nodes);
        let done = self.answered == everyone || ctx.now >= self.gather_until;
        if self.promises.len() >= self.majority() && done {
            self.regenerate(ctx);
        }
    }

    /// Creates the token of the generation this node was promised.
    fn regenerate(&mut self, ctx: &mut Ctx<Self>) {
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

    fn on_token(&mut self, from: NodeId, token: Token, ctx: &mut Ctx<Self>) {
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
            } => {
                let ours = self
                    .token
                    .is_some_and(|t| t.generation == generation && self.target == position);
                if self.role == Role::Passing && ours {
                    ctx.cancel_timer(RingTimer::Ack);
                    self.role = Role::Idle;
                    self.token = None;
                }
            }
            TokenMsg::Stale { position, promised } => {
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
            TokenMsg::Regenerate { generation } => {
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
            TokenMsg::Promise { generation } => self.on_answer(from, generation, true, ctx),
            TokenMsg::Here { generation } => self.on_answer(from, generation, false, ctx),
            TokenMsg::Join => self.joiners |= 1u128 << from,
        }
    }

    fn on_timer(&mut self, timer: RingTimer, ctx: &mut Ctx<Self>) {
        match timer {
            RingTimer::Pass => {
                if self.in_cs() {
                    self.exit_cs(ctx);
                }
                if self.holds() {
                    self.pass_on(ctx);
                }
            }
            RingTimer::Ack => {
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
            RingTimer::Loss => {
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
            RingTimer::Gather => {
                if self.role == Role::Candidate {
                    self.maybe_regenerate(ctx);
                }
            }
            RingTimer::Join => {
                let rotation = self.cfg.rotation_max(self.nodes);
                let has_token = self.holds() || self.role == Role::Passing;
                if !has_token && ctx.now.saturating_sub(self.last_token) >= rotation {
                    ctx.count("joins", 1);
                    ctx.broadcast(TokenMsg::Join);
                }
                ctx.set_timer(RingTimer::Join, rotation);
            }
            RingTimer::Election => {
                if self.role == Role::Candidate {
                    self.role = Role::Idle;
                    // Try again a random while after this candidacy's own quiet period.
                    let after = self.loss_after(ctx);
                    self.arm_loss(after, ctx);
                }
            }
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        if !matches!(req.op, Op::Request(_)) {
            let reason = "the token ring serves Request operations only".to_string();
            ctx.reply_to_client(req.from, ClientReply::Fail { reason });
            return;
        }
        ctx.count("requests", 1);
        self.pending.push((req.from, ctx.now));
        if self.role == (Role::Holding { in_cs: false }) {
            ctx.cancel_timer(RingTimer::Pass);
            self.enter_cs(ctx);
        }
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

    fn invariants(cfg: &TokenRingConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![
            Box::new(invariants::MutualExclusion),
            Box::new(invariants::UniqueValidToken),
            Box::new(invariants::BoundedWaiting::new(cfg, nodes)),
        ]
    }
}
