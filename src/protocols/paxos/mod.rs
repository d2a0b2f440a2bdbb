//! Single-decree Paxos: a cluster agrees on one value.
//!
//! After Leslie Lamport, "Paxos Made Simple" (2001),
//! <https://lamport.azurewebsites.net/pubs/paxos-simple.pdf>. Every node plays all three roles:
//! *proposer*, *acceptor* and *learner*.
//!
//! 1. **Phase 1a** — a proposer picks a ballot `b` higher than any it has seen (ballots are
//!    `round.node`, so two proposers never share one) and sends `Prepare { ballot: b }`.
//! 2. **Phase 1b** — an acceptor that has promised nothing higher than `b` promises `b` and
//!    answers `Promise { ballot: b, last_accepted }` with the highest-numbered proposal it has
//!    accepted; otherwise it answers `Nack { promised }`.
//! 3. **Phase 2a** — with promises from a majority, the proposer sends `Accept { ballot: b,
//!    value }`, where `value` is the value of the highest-numbered proposal among the promises,
//!    or its own value if none reported one ("Paxos Made Simple", P2c).
//! 4. **Phase 2b** — an acceptor accepts unless it has promised a higher ballot, and tells
//!    every learner with `Accepted { ballot, value }`.
//! 5. **Learning** — a learner that counts `Accepted` from a majority *for one ballot* learns
//!    that the value is chosen.
//!
//! An acceptor's promise and accepted proposal are durable (persisted before it answers), and
//! so is the highest round a proposer has used, so a restarted node keeps its promises and never
//! reuses a ballot.
//!
//! **Duelling proposers.** Two proposers can keep pre-empting each other forever: each new
//! `Prepare` overtakes the other's `Accept`. With `backoff: "0ms"` a pre-empted proposer starts
//! again at once and, with even latencies, the duel never ends (Lamport's "progress" section).
//! The cure used here is a randomized back-off before retrying.
//!
//! Bug variants (off by default) remove one rule each: `accept_without_promise_check` (an
//! acceptor accepts below its promise) and `ignore_previously_accepted_value` (a proposer
//! ignores the values reported in promises). Both let two different values be chosen.

pub mod invariants;

use crate::sim::client::ClientRef;
use crate::sim::{
    ClientReply, ClientRequest, Ctx, EntryView, Invariant, Message, NodeId, NodeView, Op, Protocol,
    SimTime, TimerView, Tone,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A proposal number: a round, made unique by the proposing node's id.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot {
    /// Compared first: a proposer that wants to win picks a higher round.
    pub round: u64,
    /// Breaks ties, so two proposers never use the same ballot.
    pub node: NodeId,
}

impl Ballot {
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };
    pub fn new(round: u64, node: NodeId) -> Self {
        Ballot { round, node }
    }
}

impl fmt::Display for Ballot {
    /// `3.n2`: round 3 of node n2 (node names are 1-based).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Ballot::ZERO {
            write!(f, "-")
        } else {
            write!(f, "{}.n{}", self.round, self.node + 1)
        }
    }
}

/// One value a node proposes by itself, at a given time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// The proposing node, numbered from 1 like the default names `n1..nN`.
    pub node: usize,
    /// When it starts Phase 1.
    #[serde(default)]
    pub at: SimTime,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaxosConfig {
    /// Values proposed without a client (the duelling-proposers scenarios use two).
    #[serde(default)]
    pub proposals: Vec<Proposal>,
    /// A proposer whose value is not learned this long after it started a ballot tries a
    /// higher one (messages may be lost).
    #[serde(default = "default_retry")]
    pub retry: SimTime,
    /// A pre-empted proposer waits a random time in `[0, backoff]` before its next ballot.
    /// `"0ms"` restarts at once, which lets two proposers duel forever.
    #[serde(default = "default_backoff")]
    pub backoff: SimTime,
    /// Bug: an acceptor accepts any `Accept`, even below the ballot it promised.
    #[serde(default)]
    pub accept_without_promise_check: bool,
    /// Bug: a proposer sends its own value in Phase 2 even when a promise reported an
    /// accepted value.
    #[serde(default)]
    pub ignore_previously_accepted_value: bool,
}

fn default_retry() -> SimTime {
    SimTime::from_millis(300)
}
fn default_backoff() -> SimTime {
    SimTime::from_millis(60)
}

impl Default for PaxosConfig {
    fn default() -> Self {
        PaxosConfig {
            proposals: Vec::new(),
            retry: default_retry(),
            backoff: default_backoff(),
            accept_without_promise_check: false,
            ignore_previously_accepted_value: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PaxosMsg {
    /// Phase 1a: "promise not to accept anything numbered below `ballot`".
    Prepare { ballot: Ballot },
    /// Phase 1b: the promise, with the highest-numbered proposal accepted so far.
    Promise {
        ballot: Ballot,
        last_accepted: Option<(Ballot, String)>,
    },
    /// Phase 2a: "accept `value` in `ballot`".
    Accept { ballot: Ballot, value: String },
    /// Phase 2b, sent to every learner.
    Accepted { ballot: Ballot, value: String },
    /// A refusal: the acceptor has promised `promised`, higher than `ballot`. Not in the paper's
    /// two phases, but its "optimization" paragraph suggests it so proposers give up early.
    Nack { ballot: Ballot, promised: Ballot },
}

impl Message for PaxosMsg {
    fn kind(&self) -> &'static str {
        match self {
            PaxosMsg::Prepare { .. } => "Prepare",
            PaxosMsg::Promise { .. } => "Promise",
            PaxosMsg::Accept { .. } => "Accept",
            PaxosMsg::Accepted { .. } => "Accepted",
            PaxosMsg::Nack { .. } => "Nack",
        }
    }
    fn label(&self) -> String {
        match self {
            PaxosMsg::Prepare { ballot } => format!("prepare {ballot}"),
            PaxosMsg::Promise {
                ballot,
                last_accepted: None,
            } => format!("promise {ballot}"),
            PaxosMsg::Promise {
                ballot,
                last_accepted: Some((b, v)),
            } => format!("promise {ballot}, accepted {v}@{b}"),
            PaxosMsg::Accept { ballot, value } => format!("accept {value}@{ballot}"),
            PaxosMsg::Accepted { ballot, value } => format!("accepted {value}@{ballot}"),
            PaxosMsg::Nack { ballot, promised } => format!("nack {ballot} (promised {promised})"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PaxosTimer {
    /// Start the configured proposal with this index.
    Start(usize),
    /// Start a higher ballot (after the retry timeout or a back-off).
    Retry,
}

/// What survives a crash: the acceptor's promise and vote, and the proposer's last round.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PaxosDurable {
    /// Highest ballot promised in Phase 1b.
    pub promised: Ballot,
    /// Highest-numbered proposal accepted in Phase 2b.
    pub accepted: Option<(Ballot, String)>,
    /// Highest round this node has used as a proposer, so it never reuses a ballot.
    pub last_round: u64,
}

/// The proposer's progress in its current ballot.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Not proposing.
    Idle,
    /// Phase 1: waiting for a majority of promises (with what each reported).
    Preparing {
        promises: BTreeMap<NodeId, Option<(Ballot, String)>>,
    },
    /// Phase 2: `value` was sent in `Accept`s; waiting to learn the outcome.
    Accepting { value: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Paxos {
    /// Acceptor state and proposer round: persisted on every change.
    pub durable: PaxosDurable,
    /// The proposer's current ballot (`ZERO` before its first).
    pub ballot: Ballot,
    pub phase: Phase,
    /// The value this node wants chosen, if it is proposing.
    pub my_value: Option<String>,
    /// The last proposal this node sent in Phase 2a. Unlike `phase` it outlives the ballot, so
    /// the checkers, which look after each event, see a Phase 2 that began and ended inside one
    /// event (a one-node cluster learns its own value in the handler that proposes it).
    pub last_proposal: Option<(Ballot, String)>,
    /// The highest round seen in any message, so a retry outbids every known ballot.
    pub seen_round: u64,
    /// Learner: the acceptors that accepted in each ballot, with the value.
    pub accepted_by: BTreeMap<Ballot, (String, BTreeSet<NodeId>)>,
    /// Learner: the value learned to be chosen.
    pub learned: Option<String>,
    /// Clients waiting for the outcome.
    pub waiting: Vec<ClientRef>,
    /// The retry or back-off timer, for the view's arc.
    pub timer: Option<TimerView>,
    /// Config, copied so handlers need no extra argument.
    pub cfg: PaxosConfig,
}

impl Paxos {
    fn fresh(cfg: &PaxosConfig, durable: PaxosDurable) -> Self {
        Paxos {
            ballot: Ballot::ZERO,
            phase: Phase::Idle,
            my_value: None,
            last_proposal: None,
            seen_round: durable.promised.round.max(durable.last_round),
            durable,
            accepted_by: BTreeMap::new(),
            learned: None,
            waiting: Vec::new(),
            timer: None,
            cfg: cfg.clone(),
        }
    }

    fn majority(nodes: usize) -> usize {
        nodes / 2 + 1
    }

    /// Sends to another node, or handles a message to itself at once (a node's proposer talks
    /// to its own acceptor without the network).
    fn post(&mut self, to: NodeId, msg: PaxosMsg, ctx: &mut Ctx<Self>) {
        if to == ctx.id {
            self.handle(to, msg, ctx);
        } else {
            ctx.send(to, msg);
        }
    }

    /// Sends to every node, itself included (handled last, after the sends).
    fn post_all(&mut self, msg: PaxosMsg, ctx: &mut Ctx<Self>) {
        ctx.broadcast(msg.clone());
        self.handle(ctx.id, msg, ctx);
    }

    fn arm(&mut self, after: SimTime, label: &str, ctx: &mut Ctx<Self>) {
        ctx.set_timer(PaxosTimer::Retry, after);
        self.timer = Some(TimerView {
            label: label.into(),
            started_at: ctx.now,
            fires_at: ctx.now + after,
        });
    }

    /// Phase 1a: a new ballot above every round seen, and `Prepare` to every acceptor.
    fn start_ballot(&mut self, ctx: &mut Ctx<Self>) {
        if self.learned.is_some() || self.my_value.is_none() {
            return;
        }
        let round = self.seen_round.max(self.durable.last_round) + 1;
        self.seen_round = round;
        self.durable.last_round = round;
        ctx.persist(self.durable.clone());
        self.ballot = Ballot::new(round, ctx.id);
        self.phase = Phase::Preparing {
            promises: BTreeMap::new(),
        };
        ctx.count("ballots", 1);
        let retry = self.cfg.retry;
        self.arm(retry, "retry", ctx);
        self.post_all(
            PaxosMsg::Prepare {
                ballot: self.ballot,
            },
            ctx,
        );
    }

    /// Another ballot is higher than ours: give up this one and retry after a back-off.
    fn preempted(&mut self, by: Ballot, ctx: &mut Ctx<Self>) {
        self.seen_round = self.seen_round.max(by.round);
        if self.phase == Phase::Idle || by <= self.ballot || self.learned.is_some() {
            return;
        }
        self.phase = Phase::Idle;
        ctx.count("preempted", 1);
        ctx.note(format!("ballot {} pre-empted by {by}", self.ballot));
        if self.cfg.backoff == SimTime::ZERO {
            self.start_ballot(ctx);
        } else {
            let wait = SimTime(ctx.rng().random_range(1..=self.cfg.backoff.as_micros()));
            self.arm(wait, "back-off", ctx);
        }
    }

    fn handle(&mut self, from: NodeId, msg: PaxosMsg, ctx: &mut Ctx<Self>) {
        match msg {
            PaxosMsg::Prepare { ballot } => self.on_prepare(from, ballot, ctx),
            PaxosMsg::Promise {
                ballot,
                last_accepted,
            } => self.on_promise(from, ballot, last_accepted, ctx),
            PaxosMsg::Accept { ballot, value } => self.on_accept(from, ballot, value, ctx),
            PaxosMsg::Accepted { ballot, value } => self.on_accepted(from, ballot, value, ctx),
            PaxosMsg::Nack { ballot, promised } if ballot == self.ballot => {
                self.preempted(promised, ctx)
            }
            PaxosMsg::Nack { promised, .. } => {
                self.seen_round = self.seen_round.max(promised.round);
            }
        }
    }

    /// Acceptor, Phase 1b: promise unless a higher ballot was promised (a repeated `Prepare`
    /// for the promised ballot is answered again: the network may duplicate messages).
    fn on_prepare(&mut self, from: NodeId, ballot: Ballot, ctx: &mut Ctx<Self>) {
        self.seen_round = self.seen_round.max(ballot.round);
        if ballot < self.durable.promised {
            let promised = self.durable.promised;
            self.post(from, PaxosMsg::Nack { ballot, promised }, ctx);
            return;
        }
        if ballot > self.durable.promised {
            self.durable.promised = ballot;
            ctx.persist(self.durable.clone());
        }
        let last_accepted = self.durable.accepted.clone();
        if from != ctx.id {
            // Our own proposer, if active in a lower ballot, has just been overtaken.
            self.preempted(ballot, ctx);
        }
        self.post(
            from,
            PaxosMsg::Promise {
                ballot,
                last_accepted,
            },
            ctx,
        );
    }

    /// Proposer: count promises; with a majority, Phase 2a.
    fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        last_accepted: Option<(Ballot, String)>,
        ctx: &mut Ctx<Self>,
    ) {
        if ballot != self.ballot {
            return;
        }
        let Phase::Preparing { promises } = &mut self.phase else {
            return;
        };
        promises.insert(from, last_accepted);
        if promises.len() < Self::majority(ctx.nodes) {
            return;
        }
        // P2c: the value of the highest-numbered proposal among the promises, else our own.
        let highest = promises
            .values()
            .flatten()
            .max_by_key(|(b, _)| *b)
            .map(|(_, v)| v.clone());
        let own = self.my_value.clone().expect("a proposer has a value");
        let value = match highest {
            Some(v) if !self.cfg.ignore_previously_accepted_value => v,
            _ => own,
        };
        self.phase = Phase::Accepting {
            value: value.clone(),
        };
        self.last_proposal = Some((ballot, value.clone()));
        self.post_all(PaxosMsg::Accept { ballot, value }, ctx);
    }

    /// Acceptor, Phase 2b: accept unless a higher ballot was promised.
    fn on_accept(&mut self, from: NodeId, ballot: Ballot, value: String, ctx: &mut Ctx<Self>) {
        self.seen_round = self.seen_round.max(ballot.round);
        if ballot < self.durable.promised && !self.cfg.accept_without_promise_check {
            let promised = self.durable.promised;
            self.post(from, PaxosMsg::Nack { ballot, promised }, ctx);
            return;
        }
        self.durable.promised = self.durable.promised.max(ballot);
        self.durable.accepted = Some((ballot, value.clone()));
        ctx.persist(self.durable.clone());
        if from != ctx.id {
            self.preempted(ballot, ctx);
        }
        self.post_all(PaxosMsg::Accepted { ballot, value }, ctx);
    }

    /// Learner: a majority of `Accepted` in one ballot means the value is chosen.
    fn on_accepted(&mut self, from: NodeId, ballot: Ballot, value: String, ctx: &mut Ctx<Self>) {
        let (v, by) = self
            .accepted_by
            .entry(ballot)
            .or_insert_with(|| (value.clone(), BTreeSet::new()));
        debug_assert_eq!(*v, value, "one value per ballot");
        by.insert(from);
        if by.len() < Self::majority(ctx.nodes) || self.learned.is_some() {
            return;
        }
        ctx.count("learned", 1);
        ctx.note(format!("learned {value} (chosen in ballot {ballot})"));
        self.learned = Some(value.clone());
        if self.phase != Phase::Idle || self.timer.is_some() {
            ctx.cancel_timer(PaxosTimer::Retry);
            self.timer = None;
        }
        self.phase = Phase::Idle;
        for c in std::mem::take(&mut self.waiting) {
            ctx.reply_to_client(
                c,
                ClientReply::Ok {
                    value: Some(value.clone()),
                },
            );
        }
    }

    /// Starts proposing `value` unless already proposing or decided.
    fn propose(&mut self, value: String, ctx: &mut Ctx<Self>) {
        if self.learned.is_some() || self.my_value.is_some() {
            return;
        }
        self.my_value = Some(value);
        self.start_ballot(ctx);
    }
}

impl Protocol for Paxos {
    type Msg = PaxosMsg;
    type Timer = PaxosTimer;
    type Durable = PaxosDurable;
    type Config = PaxosConfig;

    const NAME: &'static str = "paxos";
    const SUMMARY: &'static str =
        "single-decree Paxos: proposers, acceptors, learners agree on one value";
    const MESSAGE_KINDS: &'static [&'static str] =
        &["Prepare", "Promise", "Accept", "Accepted", "Nack"];

    fn validate_config(cfg: &PaxosConfig, nodes: usize) -> Result<(), String> {
        crate::protocols::check_all_to_all_nodes("Paxos", nodes)?;
        for p in &cfg.proposals {
            if p.node == 0 || p.node > nodes {
                return Err(format!(
                    "proposal node must be between 1 and {nodes} (nodes are numbered like n1..n{nodes}), got {}",
                    p.node
                ));
            }
            if p.value.is_empty() {
                return Err("a proposal needs a non-empty value".into());
            }
        }
        if cfg.retry == SimTime::ZERO {
            return Err("`retry` must be positive".into());
        }
        Ok(())
    }

    fn init(cfg: &PaxosConfig, ctx: &mut Ctx<Self>) -> Self {
        for (i, p) in cfg.proposals.iter().enumerate() {
            if p.node == ctx.id + 1 {
                ctx.set_timer(PaxosTimer::Start(i), p.at);
            }
        }
        Paxos::fresh(cfg, PaxosDurable::default())
    }

    fn on_restart(cfg: &PaxosConfig, durable: &PaxosDurable, _ctx: &mut Ctx<Self>) -> Self {
        Paxos::fresh(cfg, durable.clone())
    }

    fn on_message(&mut self, from: NodeId, msg: PaxosMsg, ctx: &mut Ctx<Self>) {
        self.handle(from, msg, ctx);
    }

    fn on_timer(&mut self, timer: PaxosTimer, ctx: &mut Ctx<Self>) {
        match timer {
            PaxosTimer::Start(i) => {
                let value = self.cfg.proposals[i].value.clone();
                self.propose(value, ctx);
            }
            PaxosTimer::Retry => {
                self.timer = None;
                if self.learned.is_none() && self.my_value.is_some() {
                    self.start_ballot(ctx);
                }
            }
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        let value = match req.op {
            Op::Request(v) | Op::Put { value: v, .. } => v,
            Op::Get { .. } => {
                ctx.reply_to_client(
                    req.from,
                    ClientReply::Ok {
                        value: self.learned.clone(),
                    },
                );
                return;
            }
            Op::Cas { .. } => {
                let reason = "single-decree Paxos chooses one value: use request or put".into();
                ctx.reply_to_client(req.from, ClientReply::Fail { reason });
                return;
            }
        };
        if let Some(v) = &self.learned {
            let value = Some(v.clone());
            ctx.reply_to_client(req.from, ClientReply::Ok { value });
            return;
        }
        self.waiting.push(req.from);
        self.propose(value, ctx);
    }

    fn view(&self) -> NodeView {
        let (role, tone) = match (&self.learned, &self.phase) {
            (Some(_), _) => ("learned", Tone::Good),
            (None, Phase::Preparing { .. }) => ("preparing", Tone::Candidate),
            (None, Phase::Accepting { .. }) => ("accepting", Tone::Leader),
            (None, Phase::Idle) if self.my_value.is_some() => ("proposer", Tone::Warning),
            (None, Phase::Idle) => ("acceptor", Tone::Neutral),
        };
        let mut v = NodeView::new(role, tone)
            .field("promised", self.durable.promised)
            .field(
                "accepted",
                match &self.durable.accepted {
                    Some((b, val)) => format!("{val}@{b}"),
                    None => "-".into(),
                },
            )
            .field("ballot", self.ballot)
            .field("proposing", self.my_value.as_deref().unwrap_or("-"))
            .field("learned", self.learned.as_deref().unwrap_or("-"));
        v.term = Some(self.durable.promised.round);
        if let Some((b, val)) = &self.durable.accepted {
            v.entries.push(EntryView {
                index: 1,
                term: b.round,
                label: val.clone(),
                committed: self.learned.as_ref() == Some(val),
            });
        }
        v.timer = self.timer.clone();
        v
    }

    /// A decision: some live node has learned, and every live node that is proposing or has a
    /// client waiting has learned it (a node nobody asks need not hear of the outcome).
    fn healed(_cfg: &PaxosConfig, states: &[Option<Self>]) -> Option<Result<(), String>> {
        if !states.iter().flatten().any(|s| s.learned.is_some()) {
            return Some(Err("no live node has learned a value".into()));
        }
        for (i, s) in states.iter().enumerate() {
            let Some(s) = s else { continue };
            if s.learned.is_none() && (s.my_value.is_some() || !s.waiting.is_empty()) {
                return Some(Err(format!(
                    "n{} is still proposing {} without having learned",
                    i + 1,
                    s.my_value.as_deref().unwrap_or("-")
                )));
            }
        }
        Some(Ok(()))
    }

    fn invariants(_cfg: &PaxosConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![
            Box::new(invariants::SingleValueChosen::new(nodes)),
            Box::new(invariants::LearnedWasProposed::default()),
            Box::new(invariants::PromiseRespected::new(nodes)),
            Box::new(invariants::LearnerAgreement::default()),
            Box::new(invariants::LearnedImpliesChosen::new(nodes)),
            Box::new(invariants::PromiseDurable::new(nodes)),
        ]
    }
}
