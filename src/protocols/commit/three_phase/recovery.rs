//! Recovery, and termination after a total failure (Skeen, "Nonblocking Commit Protocols",
//! SIGMOD 1981, §§ on recovery; Skeen, "Determining the Last Process to Fail", ACM TOCS 3(1),
//! 1985, <https://doi.org/10.1145/214451.214453>).
//!
//! A node that restarts with `tx` undecided in its log is *recovering* for `tx`: its state may
//! be stale (others may have terminated without it), so it takes no part in the termination
//! protocol and asks (`DecisionRequest`) until someone who knows answers.
//!
//! If every node failed while `tx` was undecided (a *total failure*), nobody who knows is left
//! and asking alone blocks forever. Skeen: the recovering processes wait until *the last process
//! to fail* has recovered, then terminate among themselves. They find it with UP sets:
//!
//! - every node's durable UP set for `tx` ([`Record::Up`], every node until a backup coordinator
//!   logs a smaller one) contains every node that was still operational when it failed, so
//!   for any node `p`, the nodes that failed after `p` are in `UP(p)`;
//! - a recovering node answers a peer's `DecisionRequest` with `Recovering { state, up }`: its
//!   logged state and UP set. A node that hears from a set `R` of recovering nodes (itself
//!   included) with `UP(p) ⊆ R` for some `p ∈ R` knows that the last process to fail is in
//!   `R`, and that nobody is operational (an operational node would be in `UP(p)`);
//! - the candidates for last process to fail are the nodes nobody saw fail: `⋂ UP(r)` over
//!   `r ∈ R`. The same set for every recovering node that gets this far, because a node
//!   excluded by someone outside `R` is excluded again by the `p` above (it ran termination
//!   after that someone failed). A node excluded from it may be stale; a candidate is not.
//! - the rule: if a candidate is committable, Commit, else Abort. If anyone had committed,
//!   every operational node, the last to fail among them, was committable first (TR4). If anyone
//!   had aborted, no operational node was committable then or after. If nobody decided, both
//!   are safe. Every recovering node computes the same answer from the same logs.
//!
//! It rests on 3PC's synchrony assumption like the rest: a node left out of an UP set really
//! was down. And it can still block: until the last process to fail recovers, nobody may decide.

use super::{Reported, ThreePcMsg, ThreePhaseCommit, ThreePhaseConfig, TxState};
use crate::protocols::commit::{Decision, Record, TxId, Vote, Wal};
use crate::sim::{Ctx, NodeId};
use std::collections::{BTreeMap, BTreeSet};

impl ThreePhaseCommit {
    /// A node coming back: rebuilt from its log; every undecided transaction is recovering.
    pub(super) fn restart(cfg: &ThreePhaseConfig, durable: &Wal, ctx: &mut Ctx<Self>) -> Self {
        let mut me = ThreePhaseCommit::new(cfg, ctx);
        me.wal = durable.clone();
        for r in durable.records() {
            match *r {
                Record::Begin { tx } => {
                    me.txs.insert(tx, TxState::Unknown);
                    me.next_tx = me.next_tx.max(tx + 1);
                }
                Record::Vote {
                    tx,
                    vote: Vote::Yes,
                } => {
                    me.txs.insert(tx, TxState::Uncertain);
                }
                Record::PreCommit { tx } => {
                    me.txs.insert(tx, TxState::Committable);
                }
                Record::Decision { tx, decision } => {
                    if !matches!(me.txs.get(&tx), Some(TxState::Decided(_))) {
                        me.txs.insert(tx, TxState::Decided(decision));
                        match decision {
                            Decision::Commit => me.committed += 1,
                            Decision::Abort => me.aborted += 1,
                        }
                    }
                }
                Record::Vote { .. } | Record::End { .. } | Record::Up { .. } => {}
            }
        }
        let open: Vec<TxId> = me
            .txs
            .iter()
            .filter(|(_, s)| !matches!(s, TxState::Decided(_)))
            .map(|(t, _)| *t)
            .collect();
        for tx in open {
            me.undecided.insert(tx);
            me.recovering.insert(tx);
            ctx.broadcast(ThreePcMsg::DecisionRequest { tx });
            me.arm_timeout(tx, ctx);
            // With an UP set of itself alone, this node was the last operational one.
            me.try_total_failure_termination(tx, ctx);
        }
        if me.is_coordinator() {
            me.arm_scheduled(ctx);
        }
        me
    }

    /// The UP set this node has logged for `tx`; every node if none.
    pub(super) fn up_set(&self, tx: TxId, nodes: usize) -> BTreeSet<NodeId> {
        match self.wal.up(tx) {
            Some(up) => up.clone(),
            None => (0..nodes).collect(),
        }
    }

    /// The state a recovering node tells its recovering peers: its log, nothing volatile.
    fn logged_state(&self, tx: TxId) -> Option<Reported> {
        match self.txs.get(&tx)? {
            TxState::Committable => Some(Reported::Committable),
            TxState::Decided(Decision::Commit) => Some(Reported::Committed),
            TxState::Decided(Decision::Abort) => Some(Reported::Aborted),
            // A coordinator's `Unknown` (it began `tx`, nothing more is logged) is uncertain.
            _ => Some(Reported::Uncertain),
        }
    }

    /// A recovering node asks `from` for the outcome of `tx`.
    pub(super) fn on_decision_request(&mut self, from: NodeId, tx: TxId, ctx: &mut Ctx<Self>) {
        match self.txs.get(&tx).copied() {
            Some(TxState::Decided(d)) => ctx.send(from, ThreePcMsg::decision(tx, d)),
            None if !self.is_coordinator() => {
                ctx.note(format!("aborts T{tx} before voting (asked by a peer)"));
                self.learn(tx, Decision::Abort, ctx);
                ctx.send(from, ThreePcMsg::Abort { tx });
            }
            Some(_) if self.recovering.contains(&tx) => {
                let Some(state) = self.logged_state(tx) else {
                    return;
                };
                let up = self.up_set(tx, ctx.nodes);
                ctx.send(from, ThreePcMsg::Recovering { tx, state, up });
            }
            _ => {} // operational and undecided: it will terminate and announce the outcome
        }
    }

    /// A recovering peer's logged state and UP set.
    pub(super) fn on_recovering(
        &mut self,
        from: NodeId,
        tx: TxId,
        state: Reported,
        up: BTreeSet<NodeId>,
        ctx: &mut Ctx<Self>,
    ) {
        if !self.recovering.contains(&tx) {
            return;
        }
        self.recovered_peers
            .entry(tx)
            .or_default()
            .insert(from, (state, up));
        self.try_total_failure_termination(tx, ctx);
    }

    /// Decides `tx` if the last process to fail is among the recovering nodes heard from.
    fn try_total_failure_termination(&mut self, tx: TxId, ctx: &mut Ctx<Self>) {
        let Some(own) = self.logged_state(tx) else {
            return;
        };
        let mut known: BTreeMap<NodeId, (Reported, BTreeSet<NodeId>)> =
            self.recovered_peers.get(&tx).cloned().unwrap_or_default();
        known.insert(ctx.id, (own, self.up_set(tx, ctx.nodes)));
        let Some(d) = total_failure_decision(&known) else {
            return;
        };
        let last = last_to_fail_candidates(&known);
        ctx.note(format!(
            "T{tx}: total failure; the last process to fail is back (one of {}): {}",
            names(&last),
            match d {
                Decision::Commit => "one of them is committable, commits",
                Decision::Abort => "none is committable, aborts",
            }
        ));
        ctx.count("total_failure_terminations", 1);
        self.decide(tx, d, ctx);
    }

    /// The recovering node's timeout: ask again.
    pub(super) fn ask_again(&mut self, tx: TxId, ctx: &mut Ctx<Self>) {
        ctx.broadcast(ThreePcMsg::DecisionRequest { tx });
        ctx.count("decision_requests", 1);
        self.arm_timeout(tx, ctx);
    }
}

/// The candidates for last process to fail: the nodes in every known UP set.
fn last_to_fail_candidates(
    known: &BTreeMap<NodeId, (Reported, BTreeSet<NodeId>)>,
) -> BTreeSet<NodeId> {
    let mut sets = known.values().map(|(_, up)| up);
    let first = sets.next().cloned().unwrap_or_default();
    sets.fold(first, |acc, up| acc.intersection(up).copied().collect())
}

/// Skeen's rule over the recovering nodes heard from (`node → (logged state, UP set)`): `None`
/// while the last process to fail may still be down, else the decision (see the module doc).
pub fn total_failure_decision(
    known: &BTreeMap<NodeId, (Reported, BTreeSet<NodeId>)>,
) -> Option<Decision> {
    let recovered: BTreeSet<NodeId> = known.keys().copied().collect();
    if !known.values().any(|(_, up)| up.is_subset(&recovered)) {
        return None;
    }
    let last = last_to_fail_candidates(known);
    let committable = last.iter().any(|n| {
        known
            .get(n)
            .is_some_and(|(s, _)| *s == Reported::Committable)
    });
    Some(if committable {
        Decision::Commit
    } else {
        Decision::Abort
    })
}

/// `n2, n3`: node names as the default scenario names them.
fn names(nodes: &BTreeSet<NodeId>) -> String {
    let v: Vec<String> = nodes.iter().map(|n| format!("n{}", n + 1)).collect();
    v.join(", ")
}
