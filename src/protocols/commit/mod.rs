//! Atomic commitment: two-phase commit ([`two_phase`]) and three-phase commit ([`three_phase`]).
//!
//! A transaction touches several nodes; each must either make its part permanent (commit) or
//! undo it (abort), and all must agree. One node, the *coordinator* (n1 unless configured), asks
//! the others, the *participants*, to vote; a participant that votes Yes gives up its right to
//! abort on its own and waits for the decision. The properties, from Bernstein, Hadzilacos and
//! Goodman, *Concurrency Control and Recovery in Database Systems* (1987), chapter 7
//! (<https://www.microsoft.com/en-us/research/people/philbe/book/>):
//!
//! - AC1: all processes that reach a decision reach the same one (checked by [`Atomicity`]);
//! - AC2: a process cannot reverse its decision (also [`Atomicity`]);
//! - AC3: the Commit decision can only be reached if all processes voted Yes ([`Validity`]);
//! - AC4/AC5: without failures and with all Yes votes the decision is Commit, and the protocol
//!   terminates once failures are repaired (checked by the scenarios and the seed sweeps).
//!
//! Both protocols keep a write-ahead log ([`Wal`]), their durable state: a vote or decision is
//! appended (forced) *before* the message that announces it is sent, so a node that crashes and
//! restarts replays its log and never contradicts what it said before the crash. The
//! invariants read the logs, so a decision counts even while its node is down.
//!
//! [`Atomicity`]: invariants::atomicity::Atomicity
//! [`Validity`]: invariants::validity::Validity

pub mod invariants;
pub mod three_phase;
pub mod two_phase;

use crate::sim::{EntryView, NodeId, SimTime, TimerView};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Transaction identifier, assigned by the coordinator from 1 upwards (never reused: the next
/// id is recovered from the `Begin` records of its log).
pub type TxId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Vote {
    Yes,
    No,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Decision {
    Commit,
    Abort,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Commit => "commit",
            Decision::Abort => "abort",
        }
    }
}

/// One record of a node's write-ahead log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// Coordinator: transaction `tx` was started (written before the first vote request), so a
    /// restarted coordinator knows which transactions it left undecided and which ids are used.
    Begin { tx: TxId },
    /// Participant: its vote, forced before the vote is sent (a Yes is a promise to commit).
    Vote { tx: TxId, vote: Vote },
    /// 3PC participant: it received `PreCommit` and is *committable*, forced before the `Ack`.
    PreCommit { tx: TxId },
    /// The outcome as this node knows it, forced before it is announced or acknowledged.
    Decision { tx: TxId, decision: Decision },
    /// Coordinator: every participant acknowledged the decision; no more resends needed.
    End { tx: TxId },
    /// 3PC backup coordinator: the nodes it still believes operational for `tx` (itself and
    /// the participants that reported), forced before it acts on their reports. Skeen's UP
    /// set: after a total failure it tells who can have failed last (`three_phase::recovery`).
    /// Absent, the UP set is every node.
    Up { tx: TxId, up: BTreeSet<NodeId> },
}

impl Record {
    pub fn tx(&self) -> TxId {
        match *self {
            Record::Begin { tx }
            | Record::Vote { tx, .. }
            | Record::PreCommit { tx }
            | Record::Decision { tx, .. }
            | Record::End { tx }
            | Record::Up { tx, .. } => tx,
        }
    }
}

/// A write-ahead log: the durable state of both commit protocols. Append-only, so checkers can
/// read it incrementally with a cursor per node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Wal {
    records: Vec<Record>,
}

impl Wal {
    pub fn records(&self) -> &[Record] {
        &self.records
    }
    pub fn append(&mut self, r: Record) {
        self.records.push(r);
    }
    /// The decision logged for `tx`, if any (the first one: a second is a bug the checker sees).
    pub fn decision(&self, tx: TxId) -> Option<Decision> {
        self.records.iter().find_map(|r| match *r {
            Record::Decision { tx: t, decision } if t == tx => Some(decision),
            _ => None,
        })
    }
    /// The last UP set logged for `tx` (Skeen's "processes believed operational"); `None`
    /// when none was logged, which means every node.
    pub fn up(&self, tx: TxId) -> Option<&BTreeSet<NodeId>> {
        self.records.iter().rev().find_map(|r| match r {
            Record::Up { tx: t, up } if *t == tx => Some(up),
            _ => None,
        })
    }
}

/// A participant that votes No: on every transaction, or only on `tx`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoVote {
    /// The participant's position in the node list (0 is the first node, n1).
    pub node: NodeId,
    /// Only this transaction (ids count from 1 in the order the coordinator starts them).
    #[serde(default)]
    pub tx: Option<TxId>,
}

/// The vote a participant casts, from the configuration and (for `no_probability`) its own
/// seeded stream; the stream is untouched when the probability is zero.
pub(crate) fn choose_vote(
    vote_no: &[NoVote],
    no_probability: f64,
    id: NodeId,
    tx: TxId,
    rng: &mut ChaCha8Rng,
) -> Vote {
    let configured = vote_no
        .iter()
        .any(|v| v.node == id && v.tx.is_none_or(|t| t == tx));
    if configured || (no_probability > 0.0 && rng.random_bool(no_probability)) {
        Vote::No
    } else {
        Vote::Yes
    }
}

/// Checks shared by both configurations; the message says what was expected.
pub(crate) fn validate_common(
    coordinator: NodeId,
    vote_no: &[NoVote],
    no_probability: f64,
    nodes: usize,
) -> Result<(), String> {
    if nodes < 2 {
        return Err(format!(
            "a commit protocol needs a coordinator and at least one participant: expected 2 or more nodes, got {nodes}"
        ));
    }
    crate::protocols::check_all_to_all_nodes("an atomic commit protocol", nodes)?;
    if coordinator >= nodes {
        return Err(format!(
            "`coordinator` is a node position: expected 0..{} (0 is n1), got {coordinator}",
            nodes - 1
        ));
    }
    for v in vote_no {
        if v.node >= nodes || v.node == coordinator {
            return Err(format!(
                "`vote_no` names node position {}: expected a participant (0..{}, not the coordinator {coordinator})",
                v.node,
                nodes - 1
            ));
        }
        if v.tx == Some(0) {
            return Err("`vote_no` transaction ids count from 1, got 0".into());
        }
    }
    if !(0.0..=1.0).contains(&no_probability) {
        return Err(format!(
            "`no_probability` is a probability: expected a number in [0, 1], got {no_probability}"
        ));
    }
    Ok(())
}

/// The participants: every node but the coordinator, in id order.
pub(crate) fn participants(coordinator: NodeId, nodes: usize) -> Vec<NodeId> {
    (0..nodes).filter(|&n| n != coordinator).collect()
}

/// Running timers with their start and end, so `view()` can draw the nearest one.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TimerBook<T: Ord> {
    running: BTreeMap<T, TimerView>,
}

impl<T: Ord> Default for TimerBook<T> {
    fn default() -> Self {
        TimerBook {
            running: BTreeMap::new(),
        }
    }
}

impl<T: Ord + Clone> TimerBook<T> {
    pub fn start(&mut self, key: T, label: String, now: SimTime, after: SimTime) {
        self.running.insert(
            key,
            TimerView {
                label,
                started_at: now,
                fires_at: now + after,
            },
        );
    }
    pub fn stop(&mut self, key: &T) {
        self.running.remove(key);
    }
    pub fn running(&self, key: &T) -> bool {
        self.running.contains_key(key)
    }
    /// The timer that fires first.
    pub fn nearest(&self) -> Option<TimerView> {
        self.running.values().min_by_key(|t| t.fires_at).cloned()
    }
}

/// How many transactions a node draws as boxes (the most recent ones).
pub(crate) const VIEW_ENTRIES_MAX: usize = 8;

/// A drawn box for one transaction: `T3 uncertain`, committed boxes filled.
pub(crate) fn entry_view(tx: TxId, state: &str, committed: bool) -> EntryView {
    EntryView {
        index: tx,
        term: 0,
        label: format!("T{tx} {state}"),
        committed,
    }
}
