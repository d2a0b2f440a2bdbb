//! Three-phase commit (3PC), after Skeen, "Nonblocking Commit Protocols" (SIGMOD 1981,
//! <https://doi.org/10.1145/582318.582339>), with the termination protocol as given by
//! Bernstein, Hadzilacos and Goodman, *Concurrency Control and Recovery in Database Systems*
//! (1987), §7.5 (<https://www.microsoft.com/en-us/research/people/philbe/book/>).
//!
//! ```text
//!  coordinator                          participant
//!   log Begin ─── CanCommit ─────────►  log Vote(Yes)        uncertain
//!             ◄── VoteYes / VoteNo ───
//!   (all Yes) ─── PreCommit ─────────►  log PreCommit        committable
//!             ◄── Ack ────────────────
//!   log Commit ── DoCommit ──────────►  log Commit           (a No or a vote timeout: Abort)
//! ```
//!
//! The extra phase removes 2PC's blocking: no node commits while another is still uncertain,
//! because everyone is first made *committable*. So when the coordinator fails, the operational
//! participants can finish alone. The termination protocol: a participant that hears nothing
//! for `termination_timeout` (plus `termination_stagger` per rank, so that the lowest-ranked
//! live participant leads and the others defer to its `StateRequest`) becomes the backup
//! coordinator, collects `StateReport`s for `report_timeout`, and applies the rules:
//!
//! - TR1: if some process is aborted, decide Abort; TR2: if some process is committed, Commit;
//! - TR3: if all reporting processes are uncertain, decide Abort;
//! - TR4: if some process is committable, send `PreCommit` to the uncertain ones, wait for
//!   their `Ack`s (or `report_timeout`), then decide Commit.
//!
//! A node that restarts with a transaction undecided in its log is *recovering* for it: it
//! takes no part in termination and asks (`DecisionRequest`) until someone who knows answers.
//! After a *total failure* (every node failed before anyone decided) nobody who knows is left;
//! the recovering nodes then wait for the last process to fail, found from the UP sets that
//! backups log, and terminate among themselves ([`recovery`]).
//!
//! Files: this one has the messages, the state and the failure-free path; [`termination`] the
//! backup coordinator's rules; [`recovery`] restarts and the total-failure rule.
//!
//! The price: 3PC is correct only if the network is synchronous — every message arrives within
//! a known bound and a timeout means a crash. A partition or a lost message breaks that: each
//! side believes the other crashed, a side holding a committable node commits while a side of
//! uncertain nodes aborts (TR3), and atomicity is lost. `scenarios/three_phase_commit/partition.ron`
//! shows it; this is why practical systems run 2PC over a consensus-replicated coordinator.

pub mod recovery;
mod termination;

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
pub struct ThreePhaseConfig {
    /// The coordinator's position in the node list (0 is the first node, n1).
    pub coordinator: NodeId,
    /// Times at which the coordinator starts a transaction by itself, besides client requests.
    pub transactions: Vec<SimTime>,
    /// Participants that vote No (always, or on one transaction).
    pub vote_no: Vec<NoVote>,
    /// Probability that a participant votes No on a transaction (its own seeded stream).
    pub no_probability: f64,
    /// How long the coordinator waits for every vote before it decides Abort.
    pub vote_timeout: SimTime,
    /// How long the coordinator waits for `Ack`s of `PreCommit` before it commits anyway
    /// (a participant that did not answer crashed; it will learn the outcome on recovery).
    pub ack_timeout: SimTime,
    /// How long an uncertain or committable participant waits for the coordinator before it
    /// starts the termination protocol; must exceed both coordinator timeouts.
    pub termination_timeout: SimTime,
    /// Extra wait per participant rank, so the lowest-ranked live participant leads the
    /// termination and the others defer to it; must exceed two `report_timeout`s.
    pub termination_stagger: SimTime,
    /// How long a backup coordinator waits for `StateReport`s (and then for `Ack`s); the
    /// synchrony assumption is that a round trip fits in it.
    pub report_timeout: SimTime,
    /// How often a recovering node asks for the decision.
    pub retry: SimTime,
}

impl Default for ThreePhaseConfig {
    fn default() -> Self {
        ThreePhaseConfig {
            coordinator: 0,
            transactions: Vec::new(),
            vote_no: Vec::new(),
            no_probability: 0.0,
            vote_timeout: SimTime::from_millis(100),
            ack_timeout: SimTime::from_millis(100),
            termination_timeout: SimTime::from_millis(300),
            termination_stagger: SimTime::from_millis(250),
            report_timeout: SimTime::from_millis(50),
            retry: SimTime::from_millis(200),
        }
    }
}

/// A participant's state as reported to a backup coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reported {
    Uncertain,
    Committable,
    Committed,
    Aborted,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThreePcMsg {
    /// Coordinator → participants: can you commit `tx`? (phase 1)
    CanCommit {
        tx: TxId,
    },
    /// The participant logged a Yes vote and is uncertain.
    VoteYes {
        tx: TxId,
    },
    /// The participant refuses (and has already aborted).
    VoteNo {
        tx: TxId,
    },
    /// Everyone voted Yes: become committable (phase 2), from the coordinator or a backup.
    PreCommit {
        tx: TxId,
    },
    /// The participant logged `PreCommit`.
    Ack {
        tx: TxId,
    },
    /// The decision (phase 3).
    DoCommit {
        tx: TxId,
    },
    Abort {
        tx: TxId,
    },
    /// A backup coordinator asks for the participants' states (termination protocol).
    StateRequest {
        tx: TxId,
    },
    StateReport {
        tx: TxId,
        state: Reported,
    },
    /// A recovering node asks for the outcome.
    DecisionRequest {
        tx: TxId,
    },
    /// A recovering node's answer to another recovering node: nobody here knows, but this is
    /// my logged state and UP set (to find the last process to fail after a total failure).
    Recovering {
        tx: TxId,
        state: Reported,
        up: BTreeSet<NodeId>,
    },
}

impl ThreePcMsg {
    fn decision(tx: TxId, d: Decision) -> Self {
        match d {
            Decision::Commit => ThreePcMsg::DoCommit { tx },
            Decision::Abort => ThreePcMsg::Abort { tx },
        }
    }
    fn tx(&self) -> TxId {
        match *self {
            ThreePcMsg::CanCommit { tx }
            | ThreePcMsg::VoteYes { tx }
            | ThreePcMsg::VoteNo { tx }
            | ThreePcMsg::PreCommit { tx }
            | ThreePcMsg::Ack { tx }
            | ThreePcMsg::DoCommit { tx }
            | ThreePcMsg::Abort { tx }
            | ThreePcMsg::StateRequest { tx }
            | ThreePcMsg::StateReport { tx, .. }
            | ThreePcMsg::DecisionRequest { tx }
            | ThreePcMsg::Recovering { tx, .. } => tx,
        }
    }
}

impl Message for ThreePcMsg {
    fn kind(&self) -> &'static str {
        match self {
            ThreePcMsg::CanCommit { .. } => "CanCommit",
            ThreePcMsg::VoteYes { .. } => "VoteYes",
            ThreePcMsg::VoteNo { .. } => "VoteNo",
            ThreePcMsg::PreCommit { .. } => "PreCommit",
            ThreePcMsg::Ack { .. } => "Ack",
            ThreePcMsg::DoCommit { .. } => "DoCommit",
            ThreePcMsg::Abort { .. } => "Abort",
            ThreePcMsg::StateRequest { .. } => "StateRequest",
            ThreePcMsg::StateReport { .. } => "StateReport",
            ThreePcMsg::DecisionRequest { .. } => "DecisionRequest",
            ThreePcMsg::Recovering { .. } => "Recovering",
        }
    }
    fn label(&self) -> String {
        match self {
            ThreePcMsg::StateReport { tx, state } => format!("StateReport T{tx} {state:?}"),
            ThreePcMsg::Recovering { tx, state, up } => {
                let up: Vec<String> = up.iter().map(|n| format!("n{}", n + 1)).collect();
                format!("Recovering T{tx} {state:?} up {{{}}}", up.join(","))
            }
            m => format!("{} T{}", m.kind(), m.tx()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ThreePcTimer {
    /// Coordinator: start the `k`-th configured transaction.
    Begin(usize),
    /// Coordinator: votes for `tx` are overdue; decide Abort.
    VoteTimeout(TxId),
    /// Coordinator: `Ack`s are overdue; decide Commit.
    AckTimeout(TxId),
    /// Participant: the coordinator is silent about `tx`; start termination (or, recovering,
    /// ask for the decision).
    Timeout(TxId),
    /// Backup coordinator: stop collecting state reports and apply the rules.
    ReportsDue(TxId),
    /// Backup coordinator: stop waiting for `Ack`s of its `PreCommit`; decide Commit.
    AcksDue(TxId),
}

/// What one node knows about one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxState {
    /// Coordinator: collecting votes.
    Voting,
    /// Coordinator: sent `PreCommit`, collecting `Ack`s.
    PreCommitting,
    /// Coordinator after a restart: began `tx`, no decision logged.
    Unknown,
    /// Participant: voted Yes.
    Uncertain,
    /// Participant: received `PreCommit`.
    Committable,
    Decided(Decision),
}

/// The coordinator's bookkeeping for one transaction in progress.
#[derive(Clone, Debug, PartialEq)]
struct Round {
    /// Participants whose Yes vote has arrived.
    yes: BTreeSet<NodeId>,
    /// Participants that acknowledged `PreCommit`.
    acks: BTreeSet<NodeId>,
    /// The client to answer with the outcome.
    client: Option<ClientRef>,
}

/// A termination protocol run by this node as backup coordinator.
#[derive(Clone, Debug, Default, PartialEq)]
struct Termination {
    /// The states reported so far.
    reports: BTreeMap<NodeId, Reported>,
    /// After TR4's `PreCommit`: the participants whose `Ack` is awaited.
    acks: Option<BTreeSet<NodeId>>,
}

/// `PartialEq` lets handler tests compare recorded `Command`s.
#[derive(Clone, Debug, PartialEq)]
pub struct ThreePhaseCommit {
    /// The options (timeouts, vote rules), kept for the handlers.
    cfg: ThreePhaseConfig,
    /// This node, so that `view()` can tell the coordinator from a participant.
    id: NodeId,
    /// Position among the participants: the termination protocol's precedence (0 leads).
    rank: usize,
    /// Every node but the coordinator.
    participants: Vec<NodeId>,
    /// The volatile copy of the durable log; every append is persisted at once.
    wal: Wal,
    /// What this node knows about each transaction.
    txs: BTreeMap<TxId, TxState>,
    /// Coordinator: transactions in progress.
    rounds: BTreeMap<TxId, Round>,
    /// Coordinator: the id of the next transaction.
    next_tx: TxId,
    /// Transactions undecided here (uncertain, committable, or unknown after a restart).
    undecided: BTreeSet<TxId>,
    /// Undecided transactions this node restarted with: it asks, it does not terminate.
    recovering: BTreeSet<TxId>,
    /// Recovering: the logged state and UP set of each recovering peer heard from, per
    /// transaction (Skeen's total-failure rule needs them all).
    recovered_peers: BTreeMap<TxId, BTreeMap<NodeId, (Reported, BTreeSet<NodeId>)>>,
    /// Termination protocols this node leads.
    terminating: BTreeMap<TxId, Termination>,
    committed: u64,
    aborted: u64,
    /// Running timers, for the view's arc.
    timers: TimerBook<ThreePcTimer>,
}

impl ThreePhaseCommit {
    fn new(cfg: &ThreePhaseConfig, ctx: &Ctx<Self>) -> Self {
        let participants = participants(cfg.coordinator, ctx.nodes);
        ThreePhaseCommit {
            cfg: cfg.clone(),
            id: ctx.id,
            rank: participants.iter().position(|&p| p == ctx.id).unwrap_or(0),
            participants,
            wal: Wal::default(),
            txs: BTreeMap::new(),
            rounds: BTreeMap::new(),
            next_tx: 1,
            undecided: BTreeSet::new(),
            recovering: BTreeSet::new(),
            recovered_peers: BTreeMap::new(),
            terminating: BTreeMap::new(),
            committed: 0,
            aborted: 0,
            timers: TimerBook::default(),
        }
    }

    fn is_coordinator(&self) -> bool {
        self.id == self.cfg.coordinator
    }
    /// What this node knows about `tx` (for tests and the view).
    pub fn tx_state(&self, tx: TxId) -> Option<TxState> {
        self.txs.get(&tx).copied()
    }
    /// Is this node leading a termination protocol for `tx`?
    pub fn is_terminating(&self, tx: TxId) -> bool {
        self.terminating.contains_key(&tx)
    }

    fn log(&mut self, r: Record, ctx: &mut Ctx<Self>) {
        self.wal.append(r);
        ctx.persist(self.wal.clone());
    }

    fn set_timer(&mut self, t: ThreePcTimer, after: SimTime, ctx: &mut Ctx<Self>) {
        let label = match &t {
            ThreePcTimer::Begin(k) => format!("begin #{k}"),
            ThreePcTimer::VoteTimeout(tx) => format!("votes for T{tx}"),
            ThreePcTimer::AckTimeout(tx) => format!("acks for T{tx}"),
            ThreePcTimer::Timeout(tx) => format!("waiting on T{tx}"),
            ThreePcTimer::ReportsDue(tx) => format!("reports for T{tx}"),
            ThreePcTimer::AcksDue(tx) => format!("backup acks for T{tx}"),
        };
        self.timers.start(t.clone(), label, ctx.now, after);
        ctx.set_timer(t, after);
    }
    fn cancel_timer(&mut self, t: ThreePcTimer, ctx: &mut Ctx<Self>) {
        self.timers.stop(&t);
        ctx.cancel_timer(t);
    }

    /// The participant's wait for the coordinator, longer by rank (the election of a backup).
    fn arm_timeout(&mut self, tx: TxId, ctx: &mut Ctx<Self>) {
        let after = if self.recovering.contains(&tx) {
            self.cfg.retry
        } else {
            let stagger = self
                .cfg
                .termination_stagger
                .saturating_mul(self.rank as u64);
            self.cfg.termination_timeout + stagger
        };
        self.set_timer(ThreePcTimer::Timeout(tx), after, ctx);
    }

    fn begin(&mut self, client: Option<ClientRef>, ctx: &mut Ctx<Self>) {
        let tx = self.next_tx;
        self.next_tx += 1;
        self.log(Record::Begin { tx }, ctx);
        self.txs.insert(tx, TxState::Voting);
        self.rounds.insert(
            tx,
            Round {
                yes: BTreeSet::new(),
                acks: BTreeSet::new(),
                client,
            },
        );
        for &p in &self.participants {
            ctx.send(p, ThreePcMsg::CanCommit { tx });
        }
        self.set_timer(ThreePcTimer::VoteTimeout(tx), self.cfg.vote_timeout, ctx);
        ctx.count("transactions", 1);
    }

    /// Decides `tx` (as coordinator or backup): log, then tell every other node.
    fn decide(&mut self, tx: TxId, d: Decision, ctx: &mut Ctx<Self>) {
        if !self.learn(tx, d, ctx) {
            return;
        }
        ctx.note(format!("decides {} for T{tx}", d.as_str()));
        ctx.count(
            match d {
                Decision::Commit => "commits",
                Decision::Abort => "aborts",
            },
            1,
        );
        ctx.broadcast(ThreePcMsg::decision(tx, d));
    }

    /// Logs a decision and ends everything pending on `tx`. False if it was decided already.
    fn learn(&mut self, tx: TxId, d: Decision, ctx: &mut Ctx<Self>) -> bool {
        if let Some(TxState::Decided(known)) = self.txs.get(&tx).copied() {
            if known != d {
                ctx.note(format!(
                    "T{tx}: told {} but already decided {}",
                    d.as_str(),
                    known.as_str()
                ));
            }
            return false;
        }
        self.log(Record::Decision { tx, decision: d }, ctx);
        self.txs.insert(tx, TxState::Decided(d));
        match d {
            Decision::Commit => self.committed += 1,
            Decision::Abort => self.aborted += 1,
        }
        self.undecided.remove(&tx);
        self.recovering.remove(&tx);
        self.recovered_peers.remove(&tx);
        self.terminating.remove(&tx);
        for t in [
            ThreePcTimer::VoteTimeout(tx),
            ThreePcTimer::AckTimeout(tx),
            ThreePcTimer::Timeout(tx),
            ThreePcTimer::ReportsDue(tx),
            ThreePcTimer::AcksDue(tx),
        ] {
            if self.timers.running(&t) {
                self.cancel_timer(t, ctx);
            }
        }
        if let Some(client) = self.rounds.remove(&tx).and_then(|r| r.client) {
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
        true
    }

    fn on_can_commit(&mut self, from: NodeId, tx: TxId, ctx: &mut Ctx<Self>) {
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
                        self.undecided.insert(tx);
                        ctx.send(from, ThreePcMsg::VoteYes { tx });
                        self.arm_timeout(tx, ctx);
                    }
                    Vote::No => {
                        self.learn(tx, Decision::Abort, ctx);
                        ctx.send(from, ThreePcMsg::VoteNo { tx });
                    }
                }
            }
            Some(TxState::Uncertain | TxState::Committable) if !self.recovering.contains(&tx) => {
                ctx.send(from, ThreePcMsg::VoteYes { tx });
            }
            Some(TxState::Decided(Decision::Abort)) => ctx.send(from, ThreePcMsg::VoteNo { tx }),
            Some(_) => {}
        }
    }

    fn on_pre_commit(&mut self, from: NodeId, tx: TxId, ctx: &mut Ctx<Self>) {
        if self.recovering.contains(&tx) {
            return; // a recovering node only takes the decision
        }
        match self.txs.get(&tx) {
            Some(TxState::Uncertain) => {
                self.log(Record::PreCommit { tx }, ctx);
                self.txs.insert(tx, TxState::Committable);
                ctx.send(from, ThreePcMsg::Ack { tx });
                if !self.terminating.contains_key(&tx) {
                    self.arm_timeout(tx, ctx);
                }
            }
            Some(TxState::Committable) => ctx.send(from, ThreePcMsg::Ack { tx }),
            Some(TxState::Decided(Decision::Abort)) => {
                ctx.note(format!("T{tx}: PreCommit arrives, but it is aborted here"));
            }
            _ => {}
        }
    }

    fn on_ack(&mut self, from: NodeId, tx: TxId, ctx: &mut Ctx<Self>) {
        if let Some(TxState::PreCommitting) = self.txs.get(&tx) {
            let all = self.rounds.get_mut(&tx).is_some_and(|r| {
                r.acks.insert(from);
                r.acks.len() == self.participants.len()
            });
            if all {
                self.decide(tx, Decision::Commit, ctx);
            }
            return;
        }
        let done = self
            .terminating
            .get_mut(&tx)
            .and_then(|t| t.acks.as_mut())
            .is_some_and(|waiting| {
                waiting.remove(&from);
                waiting.is_empty()
            });
        if done {
            self.decide(tx, Decision::Commit, ctx);
        }
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
            self.set_timer(ThreePcTimer::Begin(k), at - ctx.now, ctx);
        }
    }
}

impl Protocol for ThreePhaseCommit {
    type Msg = ThreePcMsg;
    type Timer = ThreePcTimer;
    type Durable = Wal;
    type Config = ThreePhaseConfig;

    const NAME: &'static str = "three_phase_commit";
    const SUMMARY: &'static str =
        "three-phase commit: non-blocking under crashes, unsafe under partitions";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "CanCommit",
        "VoteYes",
        "VoteNo",
        "PreCommit",
        "Ack",
        "DoCommit",
        "Abort",
        "StateRequest",
        "StateReport",
        "DecisionRequest",
        "Recovering",
    ];

    fn validate_config(cfg: &ThreePhaseConfig, nodes: usize) -> Result<(), String> {
        validate_common(cfg.coordinator, &cfg.vote_no, cfg.no_probability, nodes)?;
        let c = cfg;
        if [c.vote_timeout, c.ack_timeout, c.report_timeout, c.retry].contains(&SimTime::ZERO) {
            return Err("every timeout must be a positive duration".into());
        }
        if c.termination_timeout <= c.vote_timeout.max(c.ack_timeout) {
            return Err(format!(
                "`termination_timeout` must exceed `vote_timeout` and `ack_timeout` (so a live coordinator decides first): got {} against {} and {}",
                c.termination_timeout, c.vote_timeout, c.ack_timeout
            ));
        }
        if c.termination_stagger <= c.report_timeout.saturating_mul(2) {
            return Err(format!(
                "`termination_stagger` must exceed two `report_timeout`s (one backup finishes before the next starts): got {} against {}",
                c.termination_stagger, c.report_timeout
            ));
        }
        Ok(())
    }

    fn init(cfg: &ThreePhaseConfig, ctx: &mut Ctx<Self>) -> Self {
        let mut me = ThreePhaseCommit::new(cfg, ctx);
        if me.is_coordinator() {
            me.arm_scheduled(ctx);
        }
        me
    }

    fn on_restart(cfg: &ThreePhaseConfig, durable: &Wal, ctx: &mut Ctx<Self>) -> Self {
        ThreePhaseCommit::restart(cfg, durable, ctx)
    }

    fn on_message(&mut self, from: NodeId, msg: ThreePcMsg, ctx: &mut Ctx<Self>) {
        let coordinator = self.is_coordinator();
        match msg {
            ThreePcMsg::CanCommit { tx } if !coordinator => self.on_can_commit(from, tx, ctx),
            ThreePcMsg::VoteYes { tx } if coordinator => {
                if self.txs.get(&tx) != Some(&TxState::Voting) {
                    return;
                }
                let all = self.rounds.get_mut(&tx).is_some_and(|r| {
                    r.yes.insert(from);
                    r.yes.len() == self.participants.len()
                });
                if all {
                    self.txs.insert(tx, TxState::PreCommitting);
                    self.cancel_timer(ThreePcTimer::VoteTimeout(tx), ctx);
                    for &p in &self.participants {
                        ctx.send(p, ThreePcMsg::PreCommit { tx });
                    }
                    self.set_timer(ThreePcTimer::AckTimeout(tx), self.cfg.ack_timeout, ctx);
                }
            }
            ThreePcMsg::VoteNo { tx }
                if coordinator && self.txs.get(&tx) == Some(&TxState::Voting) =>
            {
                self.decide(tx, Decision::Abort, ctx);
            }
            ThreePcMsg::PreCommit { tx } if !coordinator => self.on_pre_commit(from, tx, ctx),
            ThreePcMsg::Ack { tx } => self.on_ack(from, tx, ctx),
            ThreePcMsg::DoCommit { tx } => {
                self.learn(tx, Decision::Commit, ctx);
            }
            ThreePcMsg::Abort { tx } => {
                self.learn(tx, Decision::Abort, ctx);
            }
            ThreePcMsg::StateRequest { tx } => self.on_state_request(from, tx, ctx),
            ThreePcMsg::StateReport { tx, state } => self.on_state_report(from, tx, state, ctx),
            ThreePcMsg::DecisionRequest { tx } => self.on_decision_request(from, tx, ctx),
            ThreePcMsg::Recovering { tx, state, up } => {
                self.on_recovering(from, tx, state, up, ctx)
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, timer: ThreePcTimer, ctx: &mut Ctx<Self>) {
        self.timers.stop(&timer);
        match timer {
            ThreePcTimer::Begin(_) => self.begin(None, ctx),
            ThreePcTimer::VoteTimeout(tx) => {
                if self.txs.get(&tx) == Some(&TxState::Voting) {
                    ctx.note(format!("votes for T{tx} overdue"));
                    self.decide(tx, Decision::Abort, ctx);
                }
            }
            ThreePcTimer::AckTimeout(tx) => {
                if self.txs.get(&tx) == Some(&TxState::PreCommitting) {
                    ctx.note(format!(
                        "acks for T{tx} overdue: commits anyway (the silent ones crashed)"
                    ));
                    self.decide(tx, Decision::Commit, ctx);
                }
            }
            ThreePcTimer::Timeout(tx) => {
                if !self.undecided.contains(&tx) || self.terminating.contains_key(&tx) {
                    return;
                }
                if self.recovering.contains(&tx) {
                    self.ask_again(tx, ctx);
                } else {
                    self.start_termination(tx, ctx);
                }
            }
            ThreePcTimer::ReportsDue(tx) => self.terminate(tx, ctx),
            ThreePcTimer::AcksDue(tx) => {
                if self.terminating.get(&tx).is_some_and(|t| t.acks.is_some()) {
                    self.decide(tx, Decision::Commit, ctx);
                }
            }
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        if !self.is_coordinator() {
            ctx.reply_to_client(
                req.from,
                ClientReply::Redirect {
                    leader: Some(self.cfg.coordinator),
                },
            );
            return;
        }
        match req.op {
            Op::Request(_) => self.begin(Some(req.from), ctx),
            other => ctx.reply_to_client(
                req.from,
                ClientReply::Fail {
                    reason: format!("3PC runs transactions (Request), not `{other}`"),
                },
            ),
        }
    }

    fn view(&self) -> NodeView {
        let any = |s: TxState| self.undecided.iter().any(|t| self.txs.get(t) == Some(&s));
        let (role, tone) = if !self.terminating.is_empty() {
            ("terminator", Tone::Candidate)
        } else if !self.recovering.is_empty() {
            ("recovering", Tone::Warning)
        } else if self.is_coordinator() {
            ("coordinator", Tone::Leader)
        } else if any(TxState::Uncertain) {
            ("uncertain", Tone::Warning)
        } else if any(TxState::Committable) {
            ("committable", Tone::Candidate)
        } else {
            match self.txs.values().next_back() {
                Some(TxState::Decided(Decision::Commit)) => ("committed", Tone::Good),
                Some(TxState::Decided(Decision::Abort)) => ("aborted", Tone::Bad),
                _ => ("participant", Tone::Follower),
            }
        };
        let mut v = NodeView::new(role, tone);
        if let Some(tx) = self.undecided.iter().next() {
            v = v.field("waiting on", format!("T{tx}"));
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
                TxState::PreCommitting => entry_view(*tx, "precommitting", false),
                TxState::Unknown => entry_view(*tx, "unknown", false),
                TxState::Uncertain => entry_view(*tx, "uncertain", false),
                TxState::Committable => entry_view(*tx, "committable", false),
                TxState::Decided(d) => entry_view(*tx, d.as_str(), *d == Decision::Commit),
            })
            .collect();
        v.timer = self.timers.nearest();
        v
    }

    /// Every transaction ended: no live node holds one undecided (voting, pre-committing,
    /// uncertain, committable, or unknown after a restart) and no termination protocol is
    /// still running. Under 3PC's fault model (crashes, no partitions) the operational nodes
    /// decide without waiting for the crashed ones, and the restarted ones learn the outcome.
    fn healed(_cfg: &ThreePhaseConfig, states: &[Option<Self>]) -> Option<Result<(), String>> {
        for s in states.iter().flatten() {
            let open = s
                .txs
                .iter()
                .find(|(_, t)| !matches!(t, TxState::Decided(_)));
            if let Some((tx, t)) = open {
                return Some(Err(format!(
                    "n{} has not decided transaction {tx} (still {t:?})",
                    s.id + 1
                )));
            }
            if let Some(tx) = s.undecided.iter().chain(s.terminating.keys()).next() {
                return Some(Err(format!(
                    "n{} still runs the termination protocol of transaction {tx}",
                    s.id + 1
                )));
            }
        }
        Some(Ok(()))
    }

    fn invariants(cfg: &ThreePhaseConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![
            Box::new(Atomicity::new(nodes)),
            Box::new(Validity::new(participants(cfg.coordinator, nodes), nodes)),
        ]
    }
}
