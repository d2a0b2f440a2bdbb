//! Compaction of decided slots (`compact_decided`, off by default).
//!
//! A decided slot's value never changes, so once an acceptor knows a slot is decided its
//! accepted proposal for that slot carries nothing more: the acceptor drops it (counter
//! `compacted`) and keeps the decision. Phase 1 must then learn such slots from the decision,
//! since the proposal that P2c would pick is gone: a `Promise` reports, from the candidate's
//! `first_unchosen` on, the acceptor's decided slots as decisions and its accepted proposals
//! only for the rest, and the candidate decides the reported ones at once. (An acceptor that
//! dropped its proposal without reporting the decision could leave a chosen value unreported
//! by every majority, and a new leader would fill its slot with a no-op.)

use super::{MultiPaxos, Reported, Slot, Value};

impl MultiPaxos {
    /// What a `Promise` reports from slot `first` on: accepted proposals, and decisions.
    pub(super) fn promise_report(&self, first: Slot) -> (Vec<Reported>, Vec<(Slot, Value)>) {
        let d = &self.durable;
        if !self.cfg.compact_decided {
            let accepted = d.accepted.range(first..);
            return (
                accepted.map(|(s, (b, v))| (*s, *b, v.clone())).collect(),
                vec![],
            );
        }
        let accepted = d
            .accepted
            .range(first..)
            .filter(|(s, _)| !d.decided.contains_key(s))
            .map(|(s, (b, v))| (*s, *b, v.clone()))
            .collect();
        let decided = d
            .decided
            .range(first..)
            .map(|(s, v)| (*s, v.clone()))
            .collect();
        (accepted, decided)
    }
}
