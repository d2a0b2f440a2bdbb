//! Two-phase commit (2PC), after Gray, "Notes on Data Base Operating Systems" (1978), and
//! Bernstein, Hadzilacos and Goodman, *Concurrency Control and Recovery in Database Systems*
//! (1987), §7.3–7.4 (<https://www.microsoft.com/en-us/research/people/philbe/book/>).
//!
//! ```text
//!  coordinator                         participant
//!   log Begin ──── Prepare ──────────►  log Vote(Yes)   (uncertain from here on)
//!             ◄─── VoteYes / VoteNo ──  (a No vote logs Abort at once)
//!   log Decision ─ Commit / Abort ───►  log Decision
//!             ◄─── Ack ──────────────
//!   log End
//! ```
//!
//! Phase 1: the coordinator logs `Begin` and sends `Prepare`; each participant logs its vote
//! and answers `VoteYes` or `VoteNo`. Phase 2: with every vote Yes the coordinator decides
//! Commit, otherwise (a No, or no vote before `vote_timeout`) Abort; it logs the decision,
//! sends it, and resends it until every participant has sent `Ack`.
//!
//! The weak spot: a participant that voted Yes is *uncertain* — it promised to commit if told
//! to, so it may not abort, and it does not know whether the others voted Yes, so it may not
//! commit. It asks (`DecisionRequest`) the coordinator and, in the cooperative termination
//! protocol (§7.4), the other participants: one that has decided answers; one that has not
//! voted yet aborts and answers Abort. If the coordinator is down and every participant is
//! uncertain, nobody can answer: 2PC *blocks* until the coordinator restarts.
//!
//! Recovery replays the log. A restarted coordinator aborts every transaction it began but did
//! not decide (presumed abort: it never logged Commit, so nobody committed) and resends
//! decisions not yet acknowledged; a restarted uncertain participant asks again.
//!
//! Bug variant (`bug_abort_when_uncertain`): an uncertain participant that hears nothing for
//! `retry` aborts on its own — the tempting cure for blocking, which breaks atomicity when the
//! coordinator had decided Commit.

use super::invariants::{atomicity::Atomicity, validity::Validity};
use super::{
    Decision, NoVote, Record, TimerBook, TxId, VIEW_ENTRIES_MAX, Vote, Wal, choose_vote,
    entry_view, participants, validate_common,
};
use crate::sim::client::ClientRef;
use crate::sim::{
    ClientReply, ClientRequest, Ctx, Invariant, Message, NodeId, NodeView, Op, Protocol, SimTime,
    Tone,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwoPhaseConfig {
    /// The coordinator's position in the node list (0 is the first node, n1); every other node
    /// is a participant.
    pub coordinator: NodeId,
    /// Times at which the coordinator starts a transaction by itself, besides client
    /// `Request`s (a time that passes while the coordinator is down is skipped).
    pub transactions: Vec<SimTime>,
    /// Participants that vote No (always, or on one transaction).
    pub vote_no: Vec<NoVote>,
    /// Probability that a participant votes No on a transaction (its own seeded stream).
    pub no_probability: f64,
    /// How long the coordinator waits for every vote before it decides Abort.
    pub vote_timeout: SimTime,
    /// How long an uncertain participant waits before asking for the decision (and between
    /// asks); also the coordinator's resend period for unacknowledged decisions.
    pub retry: SimTime,
    /// Uncertain participants also ask each other (cooperative termination), not only the
    /// coordinator.
    pub cooperative: bool,
    /// Bug: an uncertain participant that waited `retry` aborts unilaterally.
    pub bug_abort_when_uncertain: bool,
}

impl Default for TwoPhaseConfig {
    fn default() -> Self {
        TwoPhaseConfig {
            coordinator: 0,
            transactions: Vec::new(),
            vote_no: Vec::new(),
            no_probability: 0.0,
            vote_timeout: SimTime::from_millis(100),
            retry: SimTime::from_millis(200),
            cooperative: true,
            bug_abort_when_uncertain: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TwoPcMsg {
    /// Coordinator → participants: vote on `tx` (phase 1).
    Prepare {
        tx: TxId,
    },
    /// The participant logged a Yes vote: it will commit if told to.
    VoteYes {
        tx: TxId,
    },
    /// The participant refuses (and has already aborted).
    VoteNo {
        tx: TxId,
    },
    /// The decision (phase 2), from the coordinator or from a participant that knows it.
    Commit {
        tx: TxId,
    },
    Abort {
        tx: TxId,
    },
    /// Participant → coordinator: the decision is logged; stop resending it.
    Ack {
        tx: TxId,
    },
    /// An uncertain participant asks for the outcome (termination protocol).
    DecisionRequest {
        tx: TxId,
    },
}

impl TwoPcMsg {
    fn decision(tx: TxId, d: Decision) -> Self {
        match d {
            Decision::Commit => TwoPcMsg::Commit { tx },
            Decision::Abort => TwoPcMsg::Abort { tx },
        }
    }
}

impl Message for TwoPcMsg {
    fn kind(&self) -> &'static str {
        match self {
            TwoPcMsg::Prepare { .. } => "Prepare",
            TwoPcMsg::VoteYes { .. } => "VoteYes",
            TwoPcMsg::VoteNo { .. } => "VoteNo",
            TwoPcMsg::Commit { .. } => "Commit",
            TwoPcMsg::Abort { .. } => "Abort",
            TwoPcMsg::Ack { .. } => "Ack",
            TwoPcMsg::DecisionRequest { .. } => "DecisionRequest",
        }
    }
    fn label(&self) -> String {
        let tx = match *self {
            TwoPcMsg::Prepare { tx }
            | TwoPcMsg::VoteYes { tx }
            | TwoPcMsg::VoteNo { tx }
            | TwoPcMsg::Commit { tx }
            | TwoPcMsg::Abort { tx }
            | TwoPcMsg::Ack { tx }
            | TwoPcMsg::DecisionRequest { tx } => tx,
        };
        format!("{} T{tx}", self.kind())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TwoPcTimer {
    /// Coordinator: start the `k`-th configured transaction.
    Begin(usize),
    /// Coordinator: votes for `tx` are overdue; decide Abort.
    VoteTimeout(TxId),
    /// Coordinator: resend the decision on `tx` to participants that have not acknowledged.
    Resend(TxId),
    /// Participant: still uncertain about `tx`; ask for the decision.
    DecisionTimeout(TxId),
}

/// What one node knows about one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxState {
    /// Coordinator: collecting votes.
    Voting,
    /// Participant: voted Yes, decision unknown.
    Uncertain,
    Decided(Decision),
}

/// The coordinator's phase-1 bookkeeping for one transaction.
#[derive(Clone, Debug, PartialEq)]
struct Round {
    /// Participants whose Yes vote has arrived.
    yes: BTreeSet<NodeId>,
    /// The client that asked for the transaction, answered with the outcome.
    client: Option<ClientRef>,
}

/// `PartialEq` lets handler tests compare recorded `Command`s.
#[derive(Clone, Debug, PartialEq)]
pub struct TwoPhaseCommit {
    /// The options (vote rules, timeouts, bug switches), kept for the handlers.
    cfg: TwoPhaseConfig,
    /// This node, so that `view()` can tell the coordinator from a participant.
    id: NodeId,
    /// The coordinator's id, to tell roles apart and to address requests.
    coordinator: NodeId,
    /// Every node but the coordinator: who votes, and who is told the outcome.
    participants: Vec<NodeId>,
    /// The volatile copy of the durable log; every append is persisted at once.
    wal: Wal,
    /// What this node knows about each transaction (the view draws the latest ones).
    txs: BTreeMap<TxId, TxState>,
    /// Coordinator: transactions still collecting votes.
    rounds: BTreeMap<TxId, Round>,
    /// Coordinator: decided transactions with participants that have not acknowledged yet.
    unacked: BTreeMap<TxId, BTreeSet<NodeId>>,
    /// Coordinator: the id of the next transaction.
    next_tx: TxId,
    /// Participant: transactions it voted Yes on and has no decision for (the view's warning).
    uncertain: BTreeSet<TxId>,
    committed: u64,
    aborted: u64,
    /// Running timers, for the view's arc.
    timers: TimerBook<TwoPcTimer>,
}

impl TwoPhaseCommit {
    fn new(cfg: &TwoPhaseConfig, ctx: &Ctx<Self>) -> Self {
        TwoPhaseCommit {
            cfg: cfg.clone(),
            id: ctx.id,
            coordinator: cfg.coordinator,
            participants: participants(cfg.coordinator, ctx.nodes),
            wal: Wal::default(),
            txs: BTreeMap::new(),
            rounds: BTreeMap::new(),
            unacked: BTreeMap::new(),
            next_tx: 1,
            uncertain: BTreeSet::new(),
            committed: 0,
            aborted: 0,
            timers: TimerBook::default(),
        }
    }

    pub fn is_coordinator(&self, id: NodeId) -> bool {
        id == self.coordinator
    }
    /// What this node knows about `tx` (for tests and the view).
    pub fn tx_state(&self, tx: TxId) -> Option<TxState> {
        self.txs.get(&tx).copied()
    }

    /// Appends to the log and persists it: the force-write that precedes every announcement.
    fn log(&mut self, r: Record, ctx: &mut Ctx<Self>) {
        self.wal.append(r);
        ctx.persist(self.wal.clone());
    }

    fn set_timer(&mut self, t: TwoPcTimer, after: SimTime, ctx: &mut Ctx<Self>) {
        let label = match &t {
            TwoPcTimer::Begin(k) => format!("begin #{k}"),
            TwoPcTimer::VoteTimeout(tx) => format!("votes for T{tx}"),
            TwoPcTimer::Resend(tx) => format!("resend T{tx}"),
            TwoPcTimer::DecisionTimeout(tx) => format!("uncertain T{tx}"),
        };
        self.timers.start(t.clone(), label, ctx.now, after);
        ctx.set_timer(t, after);
    }
    fn cancel_timer(&mut self, t: TwoPcTimer, ctx: &mut Ctx<Self>) {
        self.timers.stop(&t);
        ctx.cancel_timer(t);
    }

    /// Coordinator, phase 1: log `Begin`, ask every participant to vote.
    fn begin(&mut self, client: Option<ClientRef>, ctx: &mut Ctx<Self>) {
        let tx = self.next_tx;
        self.next_tx += 1;
        self.log(Record::Begin { tx }, ctx);
        self.txs.insert(tx, TxState::Voting);
        self.rounds.insert(
            tx,
            Round {
                yes: BTreeSet::new(),
                client,
            },
        );
        for &p in &self.participants {
            ctx.send(p, TwoPcMsg::Prepare { tx });
        }
        self.set_timer(TwoPcTimer::VoteTimeout(tx), self.cfg.vote_timeout, ctx);
        ctx.count("transactions", 1);
    }

    /// Coordinator, phase 2: log the decision, then send it to every participant.
    fn decide(&mut self, tx: TxId, d: Decision, ctx: &mut Ctx<Self>) {
        let round = self.rounds.remove(&tx);
        self.cancel_timer(TwoPcTimer::VoteTimeout(tx), ctx);
        self.record_decision(tx, d, ctx);
        ctx.note(format!("decides {} for T{tx}", d.as_str()));
        ctx.count(
            match d {
                Decision::Commit => "commits",
                Decision::Abort => "aborts",
            },
            1,
        );
        for &p in &self.participants {
            ctx.send(p, TwoPcMsg::decision(tx, d));
        }
        self.unacked
            .insert(tx, self.participants.iter().copied().collect());
        self.set_timer(TwoPcTimer::Resend(tx), self.cfg.retry, ctx);
        if let Some(client) = round.and_then(|r| r.client) {
            let reply = match d {
                Decision::Commit => ClientReply::Ok {
                    value: Some(format!("T{tx} committed")),
                },
                Decision::Abort => ClientReply::Fail {
                    reason: format!("T{tx} aborted"),
                },
            };
            ctx.reply_to_client(client, reply);
        }
    }

    /// Logs `d` for `tx` unless a decision is known; returns false on a conflicting decision.
    fn record_decision(&mut self, tx: TxId, d: Decision, ctx: &mut Ctx<Self>) -> bool {
        match self.txs.get(&tx) {
            Some(TxState::Decided(known)) => *known == d,
            _ => {
                self.log(Record::Decision { tx, decision: d }, ctx);
                self.txs.insert(tx, TxState::Decided(d));
                if self.uncertain.remove(&tx) {
                    self.cancel_timer(TwoPcTimer::DecisionTimeout(tx), ctx);
                }
                match d {
                    Decision::Commit => self.committed += 1,
                    Decision::Abort => self.aborted += 1,
                }
                true
            }
        }
    }

    /// Participant, phase 1: log the vote, then send it.
    fn on_prepare(&mut self, from: NodeId, tx: TxId, ctx: &mut Ctx<Self>) {
        match self.txs.get(&tx) {
            None => {
                let vote = choose_vote(
                    &self.cfg.vote_no,
                    self.cfg.no_probability,
                    ctx.id,
                    tx,
                    ctx.rng(),
                );
                self.log(Record::Vote { tx, vote }, ctx);
                match vote {
                    Vote::Yes => {
                        self.txs.insert(tx, TxState::Uncertain);
                        self.uncertain.insert(tx);
                        ctx.send(from, TwoPcMsg::VoteYes { tx });
                        self.set_timer(TwoPcTimer::DecisionTimeout(tx), self.cfg.retry, ctx);
                    }
                    Vote::No => {
                        // A No vote is a unilateral abort: nothing can commit `tx` now.
                        self.record_decision(tx, Decision::Abort, ctx);
                        ctx.send(from, TwoPcMsg::VoteNo { tx });
                    }
                }
            }
            // A duplicate Prepare: repeat the logged vote.
            Some(TxState::Uncertain) => ctx.send(from, TwoPcMsg::VoteYes { tx }),
            Some(TxState::Decided(Decision::Abort)) => ctx.send(from, TwoPcMsg::VoteNo { tx }),
            Some(TxState::Decided(Decision::Commit) | TxState::Voting) => {}
        }
    }

    /// A decision arrives (from the coordinator or a peer): log it, acknowledge it.
    fn on_decision(&mut self, from: NodeId, tx: TxId, d: Decision, ctx: &mut Ctx<Self>) {
        if self.is_coordinator(ctx.id) {
            return; // the coordinator only learns decisions it made
        }
        if !self.record_decision(tx, d, ctx) {
            ctx.note(format!(
                "T{tx}: told {} but already decided otherwise",
                d.as_str()
            ));
        }
        if from == self.coordinator {
            ctx.send(from, TwoPcMsg::Ack { tx });
        }
    }

    fn on_decision_request(&mut self, from: NodeId, tx: TxId, ctx: &mut Ctx<Self>) {
        match self.txs.get(&tx).copied() {
            Some(TxState::Decided(d)) => ctx.send(from, TwoPcMsg::decision(tx, d)),
            // Still collecting votes: the answer comes with the decision.
            Some(TxState::Voting) => {}
            // Uncertain too: it cannot help (this is what blocks).
            Some(TxState::Uncertain) => {}
            None if self.is_coordinator(ctx.id) => {
                // Presumed abort: a transaction the coordinator has no decision for after a
                // restart was aborted on restart; one it never began cannot commit either.
                self.record_decision(tx, Decision::Abort, ctx);
                ctx.send(from, TwoPcMsg::Abort { tx });
            }
            None => {
                // Not voted yet: this participant may still refuse, so `tx` cannot commit.
                ctx.note(format!("aborts T{tx} before voting (asked by a peer)"));
                self.record_decision(tx, Decision::Abort, ctx);
                ctx.send(from, TwoPcMsg::Abort { tx });
            }
        }
    }

    /// Uncertain participant: ask the coordinator, and in the cooperative protocol the peers.
    fn ask(&mut self, tx: TxId, ctx: &mut Ctx<Self>) {
        ctx.send(self.coordinator, TwoPcMsg::DecisionRequest { tx });
        if self.cfg.cooperative {
            for &p in &self.participants {
                if p != ctx.id {
                    ctx.send(p, TwoPcMsg::DecisionRequest { tx });
                }
            }
        }
        ctx.count("decision_requests", 1);
        self.set_timer(TwoPcTimer::DecisionTimeout(tx), self.cfg.retry, ctx);
    }

    fn arm_scheduled(&mut self, ctx: &mut Ctx<Self>) {
        let due: Vec<(usize, SimTime)> = self
            .cfg
            .transactions
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, at)| *at >= ctx.now)
            .collect();
        for (k, at) in due {
            self.set_timer(TwoPcTimer::Begin(k), at - ctx.now, ctx);
        }
    }
}

impl Protocol for TwoPhaseCommit {
    type Msg = TwoPcMsg;
    type Timer = TwoPcTimer;
    type Durable = Wal;
    type Config = TwoPhaseConfig;

    const NAME: &'static str = "two_phase_commit";
    const SUMMARY: &'static str = "two-phase commit: votes, decisions, and blocking";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "Prepare",
        "VoteYes",
        "VoteNo",
        "Commit",
        "Abort",
        "Ack",
        "DecisionRequest",
    ];

    fn validate_config(cfg: &TwoPhaseConfig, nodes: usize) -> Result<(), String> {
        validate_common(cfg.coordinator, &cfg.vote_no, cfg.no_probability, nodes)?;
        if cfg.vote_timeout == SimTime::ZERO || cfg.retry == SimTime::ZERO {
            return Err("`vote_timeout` and `retry` must be positive durations".into());
        }
        Ok(())
    }

    fn init(cfg: &TwoPhaseConfig, ctx: &mut Ctx<Self>) -> Self {
        let mut me = TwoPhaseCommit::new(cfg, ctx);
        if me.is_coordinator(ctx.id) {
            me.arm_scheduled(ctx);
        }
        me
    }

    fn on_restart(cfg: &TwoPhaseConfig, durable: &Wal, ctx: &mut Ctx<Self>) -> Self {
        let mut me = TwoPhaseCommit::new(cfg, ctx);
        me.wal = durable.clone();
        let mut ended = BTreeSet::new();
        for r in durable.records() {
            match *r {
                Record::Begin { tx } => {
                    me.txs.insert(tx, TxState::Voting);
                    me.next_tx = me.next_tx.max(tx + 1);
                }
                Record::Vote {
                    tx,
                    vote: Vote::Yes,
                } => {
                    me.txs.insert(tx, TxState::Uncertain);
                }
                Record::Vote { .. } | Record::PreCommit { .. } | Record::Up { .. } => {}
                Record::Decision { tx, decision } => {
                    if !matches!(me.txs.get(&tx), Some(TxState::Decided(_))) {
                        me.txs.insert(tx, TxState::Decided(decision));
                        match decision {
                            Decision::Commit => me.committed += 1,
                            Decision::Abort => me.aborted += 1,
                        }
                    }
                }
                Record::End { tx } => {
                    ended.insert(tx);
                }
            }
        }
        let states: Vec<(TxId, TxState)> = me.txs.iter().map(|(t, s)| (*t, *s)).collect();
        for (tx, s) in states {
            match s {
                TxState::Voting => {
                    ctx.note(format!("T{tx} has no decision in the log: presumed abort"));
                    me.decide(tx, Decision::Abort, ctx);
                }
                TxState::Decided(d) if me.is_coordinator(ctx.id) && !ended.contains(&tx) => {
                    for &p in &me.participants {
                        ctx.send(p, TwoPcMsg::decision(tx, d));
                    }
                    me.unacked
                        .insert(tx, me.participants.iter().copied().collect());
                    me.set_timer(TwoPcTimer::Resend(tx), me.cfg.retry, ctx);
                }
                TxState::Uncertain => {
                    me.uncertain.insert(tx);
                    me.ask(tx, ctx);
                }
                TxState::Decided(_) => {}
            }
        }
        if me.is_coordinator(ctx.id) {
            me.arm_scheduled(ctx);
        }
        me
    }

    fn on_message(&mut self, from: NodeId, msg: TwoPcMsg, ctx: &mut Ctx<Self>) {
        let coordinator = self.is_coordinator(ctx.id);
        match msg {
            TwoPcMsg::Prepare { tx } if !coordinator => self.on_prepare(from, tx, ctx),
            TwoPcMsg::VoteYes { tx } if coordinator => {
                let all = self.rounds.get_mut(&tx).is_some_and(|r| {
                    r.yes.insert(from);
                    r.yes.len() == self.participants.len()
                });
                if all {
                    self.decide(tx, Decision::Commit, ctx);
                }
            }
            TwoPcMsg::VoteNo { tx } if coordinator && self.rounds.contains_key(&tx) => {
                self.decide(tx, Decision::Abort, ctx);
            }
            TwoPcMsg::Commit { tx } => self.on_decision(from, tx, Decision::Commit, ctx),
            TwoPcMsg::Abort { tx } => self.on_decision(from, tx, Decision::Abort, ctx),
            TwoPcMsg::Ack { tx } if coordinator => {
                let done = self.unacked.get_mut(&tx).is_some_and(|w| {
                    w.remove(&from);
                    w.is_empty()
                });
                if done {
                    self.unacked.remove(&tx);
                    self.cancel_timer(TwoPcTimer::Resend(tx), ctx);
                    self.log(Record::End { tx }, ctx);
                }
            }
            TwoPcMsg::DecisionRequest { tx } => self.on_decision_request(from, tx, ctx),
            // A message for the other role (a misdirected duplicate): ignore it.
            _ => {}
        }
    }

    fn on_timer(&mut self, timer: TwoPcTimer, ctx: &mut Ctx<Self>) {
        self.timers.stop(&timer);
        match timer {
            TwoPcTimer::Begin(_) => self.begin(None, ctx),
            TwoPcTimer::VoteTimeout(tx) => {
                if self.rounds.contains_key(&tx) {
                    ctx.note(format!("votes for T{tx} overdue"));
                    self.decide(tx, Decision::Abort, ctx);
                }
            }
            TwoPcTimer::Resend(tx) => {
                let Some(waiting) = self.unacked.get(&tx) else {
                    return;
                };
                let Some(TxState::Decided(d)) = self.txs.get(&tx).copied() else {
                    return;
                };
                for &p in waiting {
                    ctx.send(p, TwoPcMsg::decision(tx, d));
                }
                self.set_timer(TwoPcTimer::Resend(tx), self.cfg.retry, ctx);
            }
            TwoPcTimer::DecisionTimeout(tx) => {
                if !self.uncertain.contains(&tx) {
                    return;
                }
                if self.cfg.bug_abort_when_uncertain {
                    ctx.note(format!("BUG: gives up waiting and aborts T{tx}"));
                    self.record_decision(tx, Decision::Abort, ctx);
                } else {
                    self.ask(tx, ctx);
                }
            }
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        if !self.is_coordinator(ctx.id) {
            ctx.reply_to_client(
                req.from,
                ClientReply::Redirect {
                    leader: Some(self.coordinator),
                },
            );
            return;
        }
        match req.op {
            Op::Request(_) => self.begin(Some(req.from), ctx),
            other => ctx.reply_to_client(
                req.from,
                ClientReply::Fail {
                    reason: format!("2PC runs transactions (Request), not `{other}`"),
                },
            ),
        }
    }

    fn view(&self) -> NodeView {
        let (role, tone) = if self.id == self.coordinator {
            ("coordinator", Tone::Leader)
        } else if !self.uncertain.is_empty() {
            ("uncertain", Tone::Warning)
        } else {
            match self.txs.values().next_back() {
                Some(TxState::Decided(Decision::Commit)) => ("committed", Tone::Good),
                Some(TxState::Decided(Decision::Abort)) => ("aborted", Tone::Bad),
                _ => ("participant", Tone::Follower),
            }
        };
        let mut v = NodeView::new(role, tone);
        if self.id == self.coordinator {
            v = v.field("voting", self.rounds.len());
        } else if let Some(tx) = self.uncertain.iter().next() {
            v = v.field("uncertain", format!("T{tx}"));
        }
        v = v
            .field("committed", self.committed)
            .field("aborted", self.aborted)
            .field("log", self.wal.records().len());
        v.entries = self
            .txs
            .iter()
            .rev()
            .take(VIEW_ENTRIES_MAX)
            .rev()
            .map(|(tx, s)| match s {
                TxState::Voting => entry_view(*tx, "voting", false),
                TxState::Uncertain => entry_view(*tx, "uncertain", false),
                TxState::Decided(d) => entry_view(*tx, d.as_str(), *d == Decision::Commit),
            })
            .collect();
        v.timer = self.timers.nearest();
        v
    }

    /// Every transaction ended: no live node is still voting or uncertain, and the coordinator
    /// (if live) has every participant's `Ack` for every decision it announced. Blocking is
    /// what this catches: an uncertain participant stays uncertain while the coordinator is
    /// down, and must not after it restarts.
    fn healed(_cfg: &TwoPhaseConfig, states: &[Option<Self>]) -> Option<Result<(), String>> {
        for s in states.iter().flatten() {
            let open = s
                .txs
                .iter()
                .find(|(_, t)| !matches!(t, TxState::Decided(_)));
            if let Some((tx, t)) = open {
                let what = if *t == TxState::Voting {
                    "voting on"
                } else {
                    "uncertain about"
                };
                return Some(Err(format!(
                    "n{} is still {what} transaction {tx}",
                    s.id + 1
                )));
            }
            if let Some((tx, waiting)) = s.unacked.iter().find(|(_, w)| !w.is_empty()) {
                let who: Vec<String> = waiting.iter().map(|n| format!("n{}", n + 1)).collect();
                return Some(Err(format!(
                    "coordinator n{} still waits for the Ack of transaction {tx} from {}",
                    s.id + 1,
                    who.join(", ")
                )));
            }
        }
        Some(Ok(()))
    }

    fn invariants(cfg: &TwoPhaseConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![
            Box::new(Atomicity::new(nodes)),
            Box::new(Validity::new(participants(cfg.coordinator, nodes), nodes)),
        ]
    }
}
