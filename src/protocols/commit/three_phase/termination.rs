//! The termination protocol (BHG §7.5; Skeen 1981): what the operational participants do when
//! the coordinator falls silent.
//!
//! A participant that hears nothing for `termination_timeout + rank × termination_stagger`
//! becomes the backup coordinator: it broadcasts `StateRequest`, collects `StateReport`s for
//! `report_timeout`, and applies
//!
//! - TR1: if some process is aborted, decide Abort; TR2: if some process is committed, Commit;
//! - TR3: if all reporting processes are uncertain, decide Abort;
//! - TR4: if some process is committable, send `PreCommit` to the uncertain ones, wait for
//!   their `Ack`s (or `report_timeout`), then decide Commit.
//!
//! Before TR3 or TR4 the backup logs its UP set ([`Record::Up`]): itself and the participants
//! that reported. Under 3PC's synchrony assumption a silent node has crashed (or restarted and
//! is recovering, which takes it out of the protocol for good), so the UP set always contains
//! every node still operational. That record is what lets the recovering nodes find the last
//! process to fail after a total failure (see [`super::recovery`]).

use super::{Reported, Termination, ThreePcMsg, ThreePcTimer, ThreePhaseCommit, TxState};
use crate::protocols::commit::{Decision, Record, TxId};
use crate::sim::{Ctx, NodeId};
use std::collections::BTreeSet;

impl ThreePhaseCommit {
    /// The coordinator is silent about `tx`: this participant becomes the backup coordinator.
    pub(super) fn start_termination(&mut self, tx: TxId, ctx: &mut Ctx<Self>) {
        ctx.note(format!(
            "coordinator silent on T{tx}: runs the termination protocol"
        ));
        ctx.count("terminations", 1);
        self.terminating.insert(tx, Termination::default());
        ctx.broadcast(ThreePcMsg::StateRequest { tx });
        self.set_timer(ThreePcTimer::ReportsDue(tx), self.cfg.report_timeout, ctx);
    }

    /// This participant's state for a `StateReport`, if it may report (not recovering).
    pub(super) fn reportable(&self, tx: TxId) -> Option<Reported> {
        match self.txs.get(&tx)? {
            TxState::Decided(Decision::Commit) => Some(Reported::Committed),
            TxState::Decided(Decision::Abort) => Some(Reported::Aborted),
            _ if self.recovering.contains(&tx) => None,
            TxState::Uncertain => Some(Reported::Uncertain),
            TxState::Committable => Some(Reported::Committable),
            _ => None,
        }
    }

    pub(super) fn on_state_request(&mut self, from: NodeId, tx: TxId, ctx: &mut Ctx<Self>) {
        if self.is_coordinator() {
            if let Some(TxState::Decided(d)) = self.txs.get(&tx).copied() {
                let state = match d {
                    Decision::Commit => Reported::Committed,
                    Decision::Abort => Reported::Aborted,
                };
                ctx.send(from, ThreePcMsg::StateReport { tx, state });
            }
            return;
        }
        if !self.txs.contains_key(&tx) {
            // Never voted: this participant may refuse, so `tx` cannot commit (unilateral abort).
            ctx.note(format!("aborts T{tx} before voting (asked by a backup)"));
            self.learn(tx, Decision::Abort, ctx);
        }
        if self.terminating.contains_key(&tx) {
            if from > ctx.id {
                return; // a higher-ranked backup: it will defer to this one
            }
            ctx.note(format!("defers to a lower-ranked backup for T{tx}"));
            self.terminating.remove(&tx);
            for t in [ThreePcTimer::ReportsDue(tx), ThreePcTimer::AcksDue(tx)] {
                if self.timers.running(&t) {
                    self.cancel_timer(t, ctx);
                }
            }
        }
        let Some(state) = self.reportable(tx) else {
            return;
        };
        ctx.send(from, ThreePcMsg::StateReport { tx, state });
        if self.undecided.contains(&tx) {
            self.arm_timeout(tx, ctx); // defer: the backup is alive
        }
    }

    pub(super) fn on_state_report(
        &mut self,
        from: NodeId,
        tx: TxId,
        state: Reported,
        ctx: &mut Ctx<Self>,
    ) {
        let Some(t) = self.terminating.get_mut(&tx) else {
            return;
        };
        if t.acks.is_some() {
            return;
        }
        t.reports.insert(from, state);
        match state {
            Reported::Aborted => self.decide(tx, Decision::Abort, ctx), // TR1
            Reported::Committed => self.decide(tx, Decision::Commit, ctx), // TR2
            _ => {}
        }
    }

    /// The backup coordinator's rules, once the reports are in.
    pub(super) fn terminate(&mut self, tx: TxId, ctx: &mut Ctx<Self>) {
        if !self.terminating.contains_key(&tx) {
            return;
        }
        self.log_up(tx, ctx);
        let Some(t) = self.terminating.get(&tx) else {
            return;
        };
        let own = self.txs.get(&tx).copied();
        let committable = own == Some(TxState::Committable)
            || t.reports.values().any(|s| *s == Reported::Committable);
        if !committable {
            ctx.note(format!("T{tx}: every reachable participant is uncertain"));
            self.decide(tx, Decision::Abort, ctx); // TR3
            return;
        }
        // TR4: make everyone committable before anyone commits.
        let waiting: BTreeSet<NodeId> = t
            .reports
            .iter()
            .filter(|(_, s)| **s == Reported::Uncertain)
            .map(|(n, _)| *n)
            .collect();
        if own == Some(TxState::Uncertain) {
            self.log(Record::PreCommit { tx }, ctx);
            self.txs.insert(tx, TxState::Committable);
        }
        if waiting.is_empty() {
            self.decide(tx, Decision::Commit, ctx);
            return;
        }
        for &p in &waiting {
            ctx.send(p, ThreePcMsg::PreCommit { tx });
        }
        if let Some(t) = self.terminating.get_mut(&tx) {
            t.acks = Some(waiting);
        }
        self.set_timer(ThreePcTimer::AcksDue(tx), self.cfg.report_timeout, ctx);
    }

    /// Shrinks this node's logged UP set for `tx` to itself and the nodes that reported, if
    /// that removes anyone: the silent ones have crashed or are recovering (synchrony).
    fn log_up(&mut self, tx: TxId, ctx: &mut Ctx<Self>) {
        let Some(t) = self.terminating.get(&tx) else {
            return;
        };
        let heard: BTreeSet<NodeId> = t.reports.keys().copied().chain([ctx.id]).collect();
        let current = self.up_set(tx, ctx.nodes);
        let up: BTreeSet<NodeId> = current.intersection(&heard).copied().collect();
        if up != current {
            self.log(Record::Up { tx, up }, ctx);
        }
    }
}
