//! Multi-Paxos: a replicated key-value log, one Paxos instance per slot, one stable leader.
//!
//! After Lamport, "Paxos Made Simple" (2001), section 3 ("Implementing a State Machine"),
//! <https://lamport.azurewebsites.net/pubs/paxos-simple.pdf>, with the message flow of van
//! Renesse and Altinbuken, "Paxos Made Moderately Complex" (2015).
//!
//! - **Leader election by ballots.** A node that hears no `Heartbeat` for a randomized election
//!   timeout becomes a *candidate*: it picks a ballot `round.node` above every ballot it has
//!   seen and runs Phase 1 *once for every slot* from its first undecided one:
//!   `Prepare { ballot, first_unchosen }`. Each acceptor promises and reports, in `Promise`,
//!   every proposal it has accepted from that slot on.
//! - **Recovery and gap filling.** With a majority of promises the candidate is *leader*. For
//!   every slot up to the highest reported one it re-proposes the value of the
//!   highest-numbered accepted proposal (rule P2c, per slot) and fills the slots nobody reported
//!   with a **no-op**, so the log has no holes and later commands can be applied.
//! - **Phase 2 per slot.** Each client command gets the next slot: `Accept { ballot, slot,
//!   value }`; acceptors answer `Accepted`; on a majority the leader broadcasts `Decision`.
//!   Every node applies decided slots in order to the key-value store.
//! - **Stable leader.** The leader sends `Heartbeat { ballot, decided_upto }` (and re-sends
//!   unacknowledged `Accept`s) every `heartbeat`; a follower behind `decided_upto` asks for
//!   the missing decisions with `CatchUp`. A leader or candidate that meets a higher ballot
//!   (`Nack`, `Prepare`, `Heartbeat`) steps down.
//! - **Clients.** A follower answers `Redirect` to the leader it knows; the leader answers once
//!   the command is applied. Commands carry `(client, seq)`, so a retried command that ends up
//!   in two slots takes effect once.
//!
//! Durable: the promise, the accepted proposals, the decided slots and the last round used.
//!
//! Options, off by default (rules in `guards.rs` and `compaction.rs`):
//! - `check_quorum`: followers answer heartbeats with `HeartbeatAck`; a leader that hears from
//!   no majority in a window of `election_timeout_min` steps down.
//! - `pre_prepare`: before Phase 1, `PrePrepare` asks whether a majority would promise; nodes
//!   that heard a leader within `election_timeout_min` say no, and no state changes.
//! - `compact_decided`: acceptors drop decided slots' proposals; `Promise` reports decisions.
//!
//! ```text
//!   Follower --timeout--> [PreCandidate --majority of PrePromise yes-->] Candidate
//!   Candidate --majority of Promise--> Leader --higher ballot / no quorum--> Follower
//! ```
//!
//! Bug variant (off by default): `ignore_promised_values` — a new leader fills every slot it
//! has not decided itself with a no-op, ignoring the accepted values reported in promises; a
//! command chosen under the old leader is then overwritten (Slot Agreement).

mod compaction;
mod guards;
pub mod invariants;
pub mod kv;

use crate::protocols::paxos::Ballot;
use crate::sim::client::ClientRef;
use crate::sim::{
    ClientReply, ClientRequest, Ctx, EntryView, Invariant, Message, NodeId, NodeView, Op, Protocol,
    SimTime, TimerView, Tone,
};
use kv::{ClientOp, KvStore};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Slots are numbered from 1.
pub type Slot = u64;

/// What a slot holds: a client command, or a no-op that fills a gap after a leader change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    NoOp,
    Client(ClientOp),
}

impl Value {
    fn label(&self) -> String {
        match self {
            Value::NoOp => "no-op".into(),
            Value::Client(c) => c.to_string(),
        }
    }
    fn op(&self) -> Option<&ClientOp> {
        match self {
            Value::NoOp => None,
            Value::Client(c) => Some(c),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiPaxosConfig {
    /// Shortest election timeout: a follower that hears no leader for a random time in
    /// `[election_timeout_min, election_timeout_max]` runs Phase 1.
    #[serde(default = "default_election_min")]
    pub election_timeout_min: SimTime,
    #[serde(default = "default_election_max")]
    pub election_timeout_max: SimTime,
    /// The leader's heartbeat (and retransmission) period.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: SimTime,
    /// Bug: a new leader ignores the values reported in promises and fills with no-ops.
    #[serde(default)]
    pub ignore_promised_values: bool,
    /// A leader that has not heard from a majority (itself included) within
    /// `election_timeout_min` steps down, so a leader cut off in a minority stops serving
    /// (followers answer heartbeats with `HeartbeatAck` for it to count).
    #[serde(default)]
    pub check_quorum: bool,
    /// Before Phase 1 with a new ballot, a node asks whether a majority would promise it
    /// (`PrePrepare`, like Raft's PreVote). A node that has heard from a leader within
    /// `election_timeout_min` says no, and nobody's state changes, so one stray node cannot
    /// depose a healthy leader by raising the ballot.
    #[serde(default)]
    pub pre_prepare: bool,
    /// Acceptors drop a slot's accepted proposal once the slot is decided (the decision
    /// supersedes it) and report decided slots in `Promise` as decisions.
    #[serde(default)]
    pub compact_decided: bool,
}

fn default_election_min() -> SimTime {
    SimTime::from_millis(150)
}
fn default_election_max() -> SimTime {
    SimTime::from_millis(300)
}
fn default_heartbeat() -> SimTime {
    SimTime::from_millis(50)
}

impl Default for MultiPaxosConfig {
    fn default() -> Self {
        MultiPaxosConfig {
            election_timeout_min: default_election_min(),
            election_timeout_max: default_election_max(),
            heartbeat: default_heartbeat(),
            ignore_promised_values: false,
            check_quorum: false,
            pre_prepare: false,
            compact_decided: false,
        }
    }
}

/// An accepted proposal as reported in a `Promise`.
pub type Reported = (Slot, Ballot, Value);

/// Decisions sent in one `Decision` message at most (catch-up is batched).
const DECISION_BATCH: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MultiPaxosMsg {
    /// Phase 1a for every slot from `first_unchosen` on.
    Prepare {
        ballot: Ballot,
        first_unchosen: Slot,
    },
    /// Phase 1b: every proposal accepted from `first_unchosen` on (with `compact_decided`,
    /// the slots known decided are reported as decisions instead).
    Promise {
        ballot: Ballot,
        accepted: Vec<Reported>,
        decided: Vec<(Slot, Value)>,
    },
    /// Phase 2a for one slot.
    Accept {
        ballot: Ballot,
        slot: Slot,
        value: Value,
    },
    /// Phase 2b, to the leader.
    Accepted { ballot: Ballot, slot: Slot },
    /// A refusal: the sender promised `promised`, above `ballot`.
    Nack { ballot: Ballot, promised: Ballot },
    /// Chosen values, broadcast by the leader or sent to a node catching up.
    Decision { decided: Vec<(Slot, Value)> },
    /// The leader is alive; every slot up to `decided_upto` is decided.
    Heartbeat { ballot: Ballot, decided_upto: Slot },
    /// A follower asks for the decisions from `from` on.
    CatchUp { from: Slot },
    /// `check_quorum`: a follower answers its leader's heartbeat.
    HeartbeatAck { ballot: Ballot },
    /// `pre_prepare`: would you promise `ballot`? Changes no state.
    PrePrepare { ballot: Ballot },
    /// The answer: yes only if the ballot is above the promise and no leader was heard from
    /// within `election_timeout_min`.
    PrePromise { ballot: Ballot, granted: bool },
}

impl Message for MultiPaxosMsg {
    fn kind(&self) -> &'static str {
        match self {
            MultiPaxosMsg::Prepare { .. } => "Prepare",
            MultiPaxosMsg::Promise { .. } => "Promise",
            MultiPaxosMsg::Accept { .. } => "Accept",
            MultiPaxosMsg::Accepted { .. } => "Accepted",
            MultiPaxosMsg::Nack { .. } => "Nack",
            MultiPaxosMsg::Decision { .. } => "Decision",
            MultiPaxosMsg::Heartbeat { .. } => "Heartbeat",
            MultiPaxosMsg::CatchUp { .. } => "CatchUp",
            MultiPaxosMsg::HeartbeatAck { .. } => "HeartbeatAck",
            MultiPaxosMsg::PrePrepare { .. } => "PrePrepare",
            MultiPaxosMsg::PrePromise { .. } => "PrePromise",
        }
    }
    fn label(&self) -> String {
        match self {
            MultiPaxosMsg::Prepare {
                ballot,
                first_unchosen,
            } => format!("prepare {ballot} from slot {first_unchosen}"),
            MultiPaxosMsg::Promise {
                ballot,
                accepted,
                decided,
            } => match decided.len() {
                0 => format!("promise {ballot} ({} accepted)", accepted.len()),
                d => format!(
                    "promise {ballot} ({} accepted, {d} decided)",
                    accepted.len()
                ),
            },
            MultiPaxosMsg::Accept {
                ballot,
                slot,
                value,
            } => format!("accept #{slot} {} @{ballot}", value.label()),
            MultiPaxosMsg::Accepted { ballot, slot } => format!("accepted #{slot} @{ballot}"),
            MultiPaxosMsg::Nack { ballot, promised } => {
                format!("nack {ballot} (promised {promised})")
            }
            MultiPaxosMsg::Decision { decided } => match decided.as_slice() {
                [(s, v)] => format!("decided #{s} {}", v.label()),
                d => format!("decided {} slots", d.len()),
            },
            MultiPaxosMsg::Heartbeat {
                ballot,
                decided_upto,
            } => format!("heartbeat {ballot}, decided up to #{decided_upto}"),
            MultiPaxosMsg::CatchUp { from } => format!("catch up from #{from}"),
            MultiPaxosMsg::HeartbeatAck { ballot } => format!("heartbeat ack {ballot}"),
            MultiPaxosMsg::PrePrepare { ballot } => format!("pre-prepare {ballot}"),
            MultiPaxosMsg::PrePromise { ballot, granted } => {
                format!(
                    "pre-promise {ballot} {}",
                    if *granted { "yes" } else { "no" }
                )
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MultiPaxosTimer {
    /// No leader heard from: run Phase 1.
    Election,
    /// Leader: send heartbeats and re-send unacknowledged `Accept`s.
    Heartbeat,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MultiPaxosDurable {
    /// Highest ballot promised (for every slot at once).
    pub promised: Ballot,
    /// Accepted proposal per slot.
    pub accepted: BTreeMap<Slot, (Ballot, Value)>,
    /// Values known to be chosen (safe to keep: a chosen value never changes).
    pub decided: BTreeMap<Slot, Value>,
    /// Highest round used as a candidate, so a ballot is never reused.
    pub last_round: u64,
}

/// A slot the leader is getting chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct InFlight {
    pub value: Value,
    /// Acceptors that accepted it in the leader's ballot.
    pub acks: BTreeSet<NodeId>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    Follower,
    /// `pre_prepare`: asking whether a majority would promise `ballot` (nothing promised or
    /// persisted yet); `grants` holds the yes answers, ours included.
    PreCandidate {
        ballot: Ballot,
        grants: BTreeSet<NodeId>,
    },
    /// Phase 1 in progress: promises so far, with what each reported.
    Candidate {
        promises: BTreeMap<NodeId, Vec<Reported>>,
        /// The pre-promises that let this ballot start (empty without `pre_prepare`).
        pre_grants: BTreeSet<NodeId>,
    },
    /// Phase 1 done for every slot: proposes in Phase 2 directly.
    Leader {
        next_slot: Slot,
        in_flight: BTreeMap<Slot, InFlight>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct MultiPaxos {
    /// Promise, accepted proposals, decisions: persisted on every change.
    pub durable: MultiPaxosDurable,
    pub role: Role,
    /// This node's ballot as candidate or leader.
    pub ballot: Ballot,
    /// Highest round seen anywhere, so a new ballot outbids every known one.
    pub seen_round: u64,
    /// Who we believe leads (for redirects).
    pub leader: Option<NodeId>,
    /// The applied state machine, rebuilt from `durable.decided` on restart.
    pub kv: KvStore,
    /// Clients waiting for their command to be applied, by `(client, seq)`.
    pub waiting: BTreeMap<(u32, u64), ClientRef>,
    /// Requests received while a candidate, proposed once leader.
    pub queued: Vec<ClientRequest>,
    /// The election timer, for the view's arc.
    pub election: Option<TimerView>,
    /// When this node last heard from a leader (a heartbeat or an accept): `pre_prepare`
    /// refuses while it is recent.
    pub leader_heard_at: Option<SimTime>,
    /// `check_quorum`, leader: the nodes heard from in the current window, and its start.
    pub quorum_heard: BTreeSet<NodeId>,
    pub quorum_since: SimTime,
    pub cfg: MultiPaxosConfig,
}

impl MultiPaxos {
    fn fresh(cfg: &MultiPaxosConfig, durable: MultiPaxosDurable) -> Self {
        let mut me = MultiPaxos {
            seen_round: durable.promised.round.max(durable.last_round),
            durable,
            role: Role::Follower,
            ballot: Ballot::ZERO,
            leader: None,
            kv: KvStore::default(),
            waiting: BTreeMap::new(),
            queued: Vec::new(),
            election: None,
            leader_heard_at: None,
            quorum_heard: BTreeSet::new(),
            quorum_since: SimTime::ZERO,
            cfg: cfg.clone(),
        };
        me.apply_decided(None);
        me
    }

    fn majority(nodes: usize) -> usize {
        nodes / 2 + 1
    }

    /// The first slot not known to be decided (everything below it is).
    pub fn first_unchosen(&self) -> Slot {
        let mut s = 1;
        while self.durable.decided.contains_key(&s) {
            s += 1;
        }
        s
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader { .. })
    }

    fn post(&mut self, to: NodeId, msg: MultiPaxosMsg, ctx: &mut Ctx<Self>) {
        if to == ctx.id {
            self.handle(to, msg, ctx);
        } else {
            ctx.send(to, msg);
        }
    }

    fn post_all(&mut self, msg: MultiPaxosMsg, ctx: &mut Ctx<Self>) {
        ctx.broadcast(msg.clone());
        self.handle(ctx.id, msg, ctx);
    }

    fn arm_election(&mut self, ctx: &mut Ctx<Self>) {
        let (lo, hi) = (
            self.cfg.election_timeout_min.as_micros(),
            self.cfg.election_timeout_max.as_micros(),
        );
        let after = SimTime(ctx.rng().random_range(lo..=hi));
        ctx.set_timer(MultiPaxosTimer::Election, after);
        self.election = Some(TimerView {
            label: "election timeout".into(),
            started_at: ctx.now,
            fires_at: ctx.now + after,
        });
    }

    // ------------------------------------------------------------ role changes

    /// Back to follower: drops candidate or leader state; waiting clients are redirected.
    fn become_follower(&mut self, leader: Option<NodeId>, ctx: &mut Ctx<Self>) {
        if self.is_leader() {
            ctx.cancel_timer(MultiPaxosTimer::Heartbeat);
            ctx.note(format!("steps down from ballot {}", self.ballot));
        }
        self.role = Role::Follower;
        self.leader = leader;
        for (_, c) in std::mem::take(&mut self.waiting) {
            ctx.reply_to_client(c, ClientReply::Redirect { leader });
        }
        for r in std::mem::take(&mut self.queued) {
            ctx.reply_to_client(r.from, ClientReply::Redirect { leader });
        }
        self.arm_election(ctx);
    }

    /// Phase 1 for every undecided slot, with a fresh ballot (`pre_grants`: the
    /// pre-promises that allowed it, empty without `pre_prepare`).
    fn become_candidate(&mut self, pre_grants: BTreeSet<NodeId>, ctx: &mut Ctx<Self>) {
        assert!(
            !self.is_leader(),
            "invalid transition [leader -> candidate]"
        );
        let round = self.seen_round.max(self.durable.last_round) + 1;
        self.seen_round = round;
        self.durable.last_round = round;
        ctx.persist(self.durable.clone());
        self.ballot = Ballot::new(round, ctx.id);
        self.role = Role::Candidate {
            promises: BTreeMap::new(),
            pre_grants,
        };
        self.leader = None;
        ctx.count("elections", 1);
        self.arm_election(ctx);
        let first_unchosen = self.first_unchosen();
        self.post_all(
            MultiPaxosMsg::Prepare {
                ballot: self.ballot,
                first_unchosen,
            },
            ctx,
        );
    }

    /// Phase 1 succeeded: re-propose reported values, fill gaps with no-ops, then serve.
    fn become_leader(&mut self, promises: BTreeMap<NodeId, Vec<Reported>>, ctx: &mut Ctx<Self>) {
        let Role::Candidate { .. } = self.role else {
            panic!("invalid transition [{:?} -> leader]", self.role);
        };
        ctx.note(format!("leader with ballot {}", self.ballot));
        ctx.count("leaders", 1);
        ctx.cancel_timer(MultiPaxosTimer::Election);
        self.election = None;
        self.leader = Some(ctx.id);
        self.quorum_heard.clear();
        self.quorum_since = ctx.now;
        let mut best: BTreeMap<Slot, (Ballot, Value)> = BTreeMap::new();
        for (slot, b, v) in promises.into_values().flatten() {
            if best.get(&slot).is_none_or(|(have, _)| b > *have) {
                best.insert(slot, (b, v));
            }
        }
        let first = self.first_unchosen();
        // New commands go above every slot reported accepted and every slot known decided:
        // with `compact_decided` a decided slot is no longer among the accepted ones.
        let decided_top = self
            .durable
            .decided
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0);
        let reported_top = best.keys().next_back().copied().unwrap_or(0);
        let last = reported_top.max(decided_top).max(first - 1);
        self.role = Role::Leader {
            next_slot: last + 1,
            in_flight: BTreeMap::new(),
        };
        for slot in first..=last {
            if self.durable.decided.contains_key(&slot) {
                continue;
            }
            let value = match best.remove(&slot) {
                Some((_, v)) if !self.cfg.ignore_promised_values => v,
                _ => {
                    ctx.count("noops", 1);
                    Value::NoOp
                }
            };
            self.propose_at(slot, value, ctx);
        }
        self.send_heartbeats(false, ctx);
        for r in std::mem::take(&mut self.queued) {
            self.on_client_request(r, ctx);
        }
    }

    // ------------------------------------------------------------ leader

    fn propose_at(&mut self, slot: Slot, value: Value, ctx: &mut Ctx<Self>) {
        let Role::Leader { in_flight, .. } = &mut self.role else {
            return;
        };
        in_flight.insert(
            slot,
            InFlight {
                value: value.clone(),
                acks: BTreeSet::new(),
            },
        );
        let ballot = self.ballot;
        self.post_all(
            MultiPaxosMsg::Accept {
                ballot,
                slot,
                value,
            },
            ctx,
        );
    }

    /// Heartbeats to every follower; with `retransmit`, also `Accept` again for every slot
    /// still waiting, to the acceptors that have not answered (messages may be lost).
    fn send_heartbeats(&mut self, retransmit: bool, ctx: &mut Ctx<Self>) {
        let decided_upto = self.first_unchosen() - 1;
        ctx.broadcast(MultiPaxosMsg::Heartbeat {
            ballot: self.ballot,
            decided_upto,
        });
        if let (true, Role::Leader { in_flight, .. }) = (retransmit, &self.role) {
            let (me, nodes) = (ctx.id, ctx.nodes);
            for (slot, f) in in_flight {
                for to in (0..nodes).filter(|n| *n != me && !f.acks.contains(n)) {
                    ctx.send(
                        to,
                        MultiPaxosMsg::Accept {
                            ballot: self.ballot,
                            slot: *slot,
                            value: f.value.clone(),
                        },
                    );
                }
            }
        }
        ctx.set_timer(MultiPaxosTimer::Heartbeat, self.cfg.heartbeat);
    }

    // ------------------------------------------------------------ handlers

    fn handle(&mut self, from: NodeId, msg: MultiPaxosMsg, ctx: &mut Ctx<Self>) {
        match msg {
            MultiPaxosMsg::Prepare {
                ballot,
                first_unchosen,
            } => self.on_prepare(from, ballot, first_unchosen, ctx),
            MultiPaxosMsg::Promise {
                ballot,
                accepted,
                decided,
            } => self.on_promise(from, ballot, accepted, decided, ctx),
            MultiPaxosMsg::Accept {
                ballot,
                slot,
                value,
            } => self.on_accept(from, ballot, slot, value, ctx),
            MultiPaxosMsg::Accepted { ballot, slot } => self.on_accepted(from, ballot, slot, ctx),
            MultiPaxosMsg::Nack { ballot, promised } => {
                self.seen_round = self.seen_round.max(promised.round);
                if ballot == self.ballot && promised > self.ballot && self.role != Role::Follower {
                    self.become_follower(None, ctx);
                }
            }
            MultiPaxosMsg::Decision { decided } => {
                for (slot, value) in decided {
                    self.decide(slot, value, ctx);
                }
            }
            MultiPaxosMsg::Heartbeat {
                ballot,
                decided_upto,
            } => self.on_heartbeat(from, ballot, decided_upto, ctx),
            MultiPaxosMsg::CatchUp { from: first } => {
                let decided: Vec<(Slot, Value)> = self
                    .durable
                    .decided
                    .range(first..)
                    .take(DECISION_BATCH)
                    .map(|(s, v)| (*s, v.clone()))
                    .collect();
                if !decided.is_empty() {
                    ctx.send(from, MultiPaxosMsg::Decision { decided });
                }
            }
            MultiPaxosMsg::HeartbeatAck { ballot } => self.heard_from(from, ballot),
            MultiPaxosMsg::PrePrepare { ballot } => self.on_pre_prepare(from, ballot, ctx),
            MultiPaxosMsg::PrePromise { ballot, granted } => {
                self.on_pre_promise(from, ballot, granted, ctx)
            }
        }
    }

    /// A higher ballot than ours exists: a leader or candidate steps down.
    fn outbid(&mut self, by: Ballot, ctx: &mut Ctx<Self>) {
        self.seen_round = self.seen_round.max(by.round);
        if by > self.ballot && self.role != Role::Follower {
            self.become_follower(Some(by.node), ctx);
        }
    }

    fn on_prepare(&mut self, from: NodeId, ballot: Ballot, first: Slot, ctx: &mut Ctx<Self>) {
        if ballot < self.durable.promised {
            let promised = self.durable.promised;
            self.post(from, MultiPaxosMsg::Nack { ballot, promised }, ctx);
            return;
        }
        if ballot > self.durable.promised {
            self.durable.promised = ballot;
            ctx.persist(self.durable.clone());
        }
        if from != ctx.id {
            self.outbid(ballot, ctx);
            if self.role == Role::Follower {
                // Give the candidate time to finish Phase 1 before competing with it.
                self.leader = Some(from);
                self.arm_election(ctx);
            }
        }
        let (accepted, decided) = self.promise_report(first);
        self.post(
            from,
            MultiPaxosMsg::Promise {
                ballot,
                accepted,
                decided,
            },
            ctx,
        );
    }

    fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        accepted: Vec<Reported>,
        decided: Vec<(Slot, Value)>,
        ctx: &mut Ctx<Self>,
    ) {
        if ballot != self.ballot || !matches!(self.role, Role::Candidate { .. }) {
            return;
        }
        // Reported decisions are learned at once: a compacted acceptor no longer holds the
        // accepted proposal behind them.
        for (slot, value) in decided {
            self.decide(slot, value, ctx);
        }
        let Role::Candidate { promises, .. } = &mut self.role else {
            return;
        };
        promises.insert(from, accepted);
        if promises.len() >= Self::majority(ctx.nodes) {
            let promises = std::mem::take(promises);
            self.become_leader(promises, ctx);
        }
    }

    fn on_accept(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        slot: Slot,
        value: Value,
        ctx: &mut Ctx<Self>,
    ) {
        if ballot < self.durable.promised {
            let promised = self.durable.promised;
            self.post(from, MultiPaxosMsg::Nack { ballot, promised }, ctx);
            return;
        }
        if from != ctx.id {
            self.outbid(ballot, ctx);
            if matches!(self.role, Role::PreCandidate { .. }) {
                self.become_follower(Some(from), ctx);
            }
            self.leader = Some(from);
            self.leader_heard_at = Some(ctx.now);
            self.arm_election(ctx);
        }
        let same = self.durable.accepted.get(&slot) == Some(&(ballot, value.clone()));
        let compacted = self.cfg.compact_decided && self.durable.decided.contains_key(&slot);
        if compacted {
            if ballot > self.durable.promised {
                self.durable.promised = ballot;
                ctx.persist(self.durable.clone());
            }
        } else if ballot > self.durable.promised || !same {
            self.durable.promised = ballot;
            self.durable.accepted.insert(slot, (ballot, value));
            ctx.persist(self.durable.clone());
        }
        self.post(from, MultiPaxosMsg::Accepted { ballot, slot }, ctx);
    }

    fn on_accepted(&mut self, from: NodeId, ballot: Ballot, slot: Slot, ctx: &mut Ctx<Self>) {
        if ballot != self.ballot {
            return;
        }
        self.quorum_heard.insert(from);
        let Role::Leader { in_flight, .. } = &mut self.role else {
            return;
        };
        let Some(f) = in_flight.get_mut(&slot) else {
            return;
        };
        f.acks.insert(from);
        if f.acks.len() < Self::majority(ctx.nodes) {
            return;
        }
        let value = in_flight.remove(&slot).expect("present").value;
        ctx.broadcast(MultiPaxosMsg::Decision {
            decided: vec![(slot, value.clone())],
        });
        self.decide(slot, value, ctx);
    }

    fn on_heartbeat(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        decided_upto: Slot,
        ctx: &mut Ctx<Self>,
    ) {
        if ballot < self.durable.promised {
            let promised = self.durable.promised;
            ctx.send(from, MultiPaxosMsg::Nack { ballot, promised });
            return;
        }
        self.outbid(ballot, ctx);
        if matches!(self.role, Role::PreCandidate { .. }) {
            self.become_follower(Some(from), ctx);
        }
        if self.role != Role::Follower {
            return; // our own ballot: cannot happen from another node
        }
        self.leader = Some(from);
        self.leader_heard_at = Some(ctx.now);
        self.arm_election(ctx);
        if self.cfg.check_quorum {
            ctx.send(from, MultiPaxosMsg::HeartbeatAck { ballot });
        }
        let first = self.first_unchosen();
        if first <= decided_upto {
            ctx.send(from, MultiPaxosMsg::CatchUp { from: first });
        }
    }

    /// Learns that `slot` holds `value`, persists it, and applies what became contiguous.
    fn decide(&mut self, slot: Slot, value: Value, ctx: &mut Ctx<Self>) {
        if self.durable.decided.contains_key(&slot) {
            return;
        }
        self.durable.decided.insert(slot, value);
        if self.cfg.compact_decided && self.durable.accepted.remove(&slot).is_some() {
            ctx.count("compacted", 1);
        }
        ctx.persist(self.durable.clone());
        self.apply_decided(Some(ctx));
    }

    /// Applies decided slots in order, answering the clients waiting here.
    fn apply_decided(&mut self, mut ctx: Option<&mut Ctx<Self>>) {
        while let Some(v) = self.durable.decided.get(&(self.kv.applied + 1)) {
            let reply = self.kv.apply(v.op());
            let Some(ctx) = ctx.as_deref_mut() else {
                continue;
            };
            ctx.count("commits", 1);
            if let (Some(c), Some(reply)) = (v.op(), reply)
                && let Some(to) = self.waiting.remove(&(c.client, c.seq))
            {
                ctx.reply_to_client(to, reply);
            }
        }
    }
}

impl Protocol for MultiPaxos {
    type Msg = MultiPaxosMsg;
    type Timer = MultiPaxosTimer;
    type Durable = MultiPaxosDurable;
    type Config = MultiPaxosConfig;

    const NAME: &'static str = "multi_paxos";
    const SUMMARY: &'static str =
        "Multi-Paxos: stable leader, one Phase 1 for all slots, no-op gap filling, key-value log";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "Prepare",
        "Promise",
        "Accept",
        "Accepted",
        "Nack",
        "Decision",
        "Heartbeat",
        "CatchUp",
        "HeartbeatAck",
        "PrePrepare",
        "PrePromise",
    ];

    fn validate_config(cfg: &MultiPaxosConfig, nodes: usize) -> Result<(), String> {
        crate::protocols::check_all_to_all_nodes("Multi-Paxos", nodes)?;
        if cfg.election_timeout_min > cfg.election_timeout_max {
            return Err(format!(
                "expected election_timeout_min <= election_timeout_max, got {} > {}",
                cfg.election_timeout_min, cfg.election_timeout_max
            ));
        }
        if cfg.heartbeat == SimTime::ZERO || cfg.heartbeat >= cfg.election_timeout_min {
            return Err(format!(
                "expected 0 < heartbeat < election_timeout_min, got heartbeat {} and minimum timeout {}",
                cfg.heartbeat, cfg.election_timeout_min
            ));
        }
        Ok(())
    }

    fn init(cfg: &MultiPaxosConfig, ctx: &mut Ctx<Self>) -> Self {
        let mut me = MultiPaxos::fresh(cfg, MultiPaxosDurable::default());
        me.arm_election(ctx);
        me
    }

    fn on_restart(
        cfg: &MultiPaxosConfig,
        durable: &MultiPaxosDurable,
        ctx: &mut Ctx<Self>,
    ) -> Self {
        let mut me = MultiPaxos::fresh(cfg, durable.clone());
        me.arm_election(ctx);
        me
    }

    fn on_message(&mut self, from: NodeId, msg: MultiPaxosMsg, ctx: &mut Ctx<Self>) {
        self.handle(from, msg, ctx);
    }

    fn on_timer(&mut self, timer: MultiPaxosTimer, ctx: &mut Ctx<Self>) {
        match timer {
            MultiPaxosTimer::Election => {
                self.election = None;
                if self.is_leader() {
                } else if self.cfg.pre_prepare {
                    self.become_pre_candidate(ctx);
                } else {
                    self.become_candidate(BTreeSet::new(), ctx);
                }
            }
            MultiPaxosTimer::Heartbeat => {
                if self.is_leader() && self.quorum_still_heard(ctx) {
                    self.send_heartbeats(true, ctx);
                }
            }
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        if matches!(req.op, Op::Request(_)) {
            let reason = "multi_paxos serves get, put and cas".into();
            ctx.reply_to_client(req.from, ClientReply::Fail { reason });
            return;
        }
        match &self.role {
            Role::Follower | Role::PreCandidate { .. } => {
                let leader = self.leader;
                ctx.reply_to_client(req.from, ClientReply::Redirect { leader });
            }
            Role::Candidate { .. } => self.queued.push(req),
            Role::Leader { .. } => {
                let (client, seq) = (req.from.client, req.from.seq);
                if let Some(reply) = self.kv.answered(client, seq) {
                    ctx.reply_to_client(req.from, reply.clone());
                    return;
                }
                let again = self.waiting.insert((client, seq), req.from).is_some();
                if again {
                    return; // a retry of a command already in a slot: answer when applied
                }
                let Role::Leader { next_slot, .. } = &mut self.role else {
                    unreachable!()
                };
                let slot = *next_slot;
                *next_slot += 1;
                let value = Value::Client(ClientOp {
                    client,
                    seq,
                    op: req.op,
                });
                self.propose_at(slot, value, ctx);
            }
        }
    }

    fn view(&self) -> NodeView {
        let (role, tone) = match self.role {
            Role::Follower => ("follower", Tone::Follower),
            Role::PreCandidate { .. } => ("pre-candidate", Tone::Candidate),
            Role::Candidate { .. } => ("candidate", Tone::Candidate),
            Role::Leader { .. } => ("leader", Tone::Leader),
        };
        let decided_upto = self.first_unchosen() - 1;
        let mut v = NodeView::new(role, tone)
            .field("promised", self.durable.promised)
            .field("ballot", self.ballot)
            .field(
                "leader",
                self.leader.map_or("?".into(), |l| format!("n{}", l + 1)),
            )
            .field("decided", decided_upto)
            .field("applied", self.kv.applied);
        if let Role::Leader { next_slot, .. } = &self.role {
            v = v.field("next slot", next_slot);
        }
        v.term = Some(self.durable.promised.round);
        const SHOWN: usize = 20;
        // Only the newest slots: the view is rebuilt after every event.
        let mut slots: BTreeSet<Slot> = self
            .durable
            .accepted
            .keys()
            .rev()
            .take(SHOWN)
            .copied()
            .collect();
        slots.extend(self.durable.decided.keys().rev().take(SHOWN).copied());
        let skip = slots.len().saturating_sub(SHOWN);
        for slot in slots.into_iter().skip(skip) {
            let accepted = self.durable.accepted.get(&slot);
            let decided = self.durable.decided.get(&slot);
            let value = decided.or(accepted.map(|(_, v)| v)).expect("listed");
            v.entries.push(EntryView {
                index: slot,
                term: accepted.map_or(0, |(b, _)| b.round),
                label: value.label(),
                committed: decided.is_some(),
            });
        }
        v.timer = self.election.clone();
        v
    }

    /// Every get, put and cas is decided in a slot and answered when applied in slot order, so
    /// the client history must be linearizable.
    /// One leader with nothing in flight, and every live node has decided and applied the
    /// same slots.
    fn healed(_cfg: &MultiPaxosConfig, states: &[Option<Self>]) -> Option<Result<(), String>> {
        let live: Vec<(usize, &MultiPaxos)> = states
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
            .collect();
        let leaders: Vec<usize> = live
            .iter()
            .filter(|(_, s)| s.is_leader())
            .map(|(i, _)| *i)
            .collect();
        let [lead] = leaders.as_slice() else {
            let ids: Vec<String> = leaders.iter().map(|i| format!("n{}", i + 1)).collect();
            return Some(Err(format!(
                "expected one leader, found [{}]",
                ids.join(", ")
            )));
        };
        let l = states[*lead].as_ref().expect("live");
        if let Role::Leader { in_flight, .. } = &l.role
            && let Some(slot) = in_flight.keys().next()
        {
            return Some(Err(format!(
                "leader n{} still waits for slot {slot} to be chosen",
                lead + 1
            )));
        }
        let upto = l.first_unchosen() - 1;
        for (i, s) in &live {
            if s.first_unchosen() - 1 != upto || s.kv.applied != upto {
                return Some(Err(format!(
                    "n{} has decided up to {} and applied {}, leader n{} decided up to {upto}",
                    i + 1,
                    s.first_unchosen() - 1,
                    s.kv.applied,
                    lead + 1
                )));
            }
        }
        Some(Ok(()))
    }

    fn linearizable(_cfg: &MultiPaxosConfig) -> bool {
        true
    }

    fn invariants(cfg: &MultiPaxosConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        let mut all: Vec<Box<dyn Invariant<Self>>> = vec![
            Box::new(invariants::SlotAgreement::new(nodes)),
            Box::new(invariants::StateMachineSafety::default()),
            Box::new(invariants::PromiseRespected::new(nodes)),
            Box::new(invariants::PromiseDurable::new(nodes)),
        ];
        if cfg.pre_prepare {
            all.push(Box::new(invariants::PromisedBallotPreApproved::new()));
        }
        if cfg.compact_decided {
            all.push(Box::new(invariants::CompactsOnlyDecided::new(nodes)));
        }
        all
    }
}
