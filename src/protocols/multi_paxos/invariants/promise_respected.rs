//! An acceptor keeps its promise in every slot: having answered `Prepare(n)`, it "promises
//! never again to accept a proposal numbered less than n" (Paxos Made Simple, 2.2, P1a; in
//! Multi-Paxos one `Prepare` covers every slot, section 3).
//!
//! The checker remembers the highest promise each acceptor ever held (in memory or on stable
//! storage, so a restart that lost it does not lower the bar) and its accepted proposals as of
//! the previous event. Every slot whose accepted proposal changed in an event must carry a
//! ballot at least that promise. A new leader's own acceptor may accept many slots in one
//! event, so all of the node's slots are compared, not one.

use crate::protocols::multi_paxos::{MultiPaxos, Slot, Value};
use crate::protocols::paxos::Ballot;
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeMap;

pub struct PromiseRespected {
    /// The highest promise seen per acceptor before the current event.
    highest: Vec<Ballot>,
    /// Accepted proposals per acceptor after the previous event (from memory while live).
    last: Vec<BTreeMap<Slot, (Ballot, Value)>>,
}

impl PromiseRespected {
    pub fn new(nodes: usize) -> Self {
        PromiseRespected {
            highest: vec![Ballot::ZERO; nodes],
            last: vec![BTreeMap::new(); nodes],
        }
    }
}

impl Invariant<MultiPaxos> for PromiseRespected {
    fn name(&self) -> &'static str {
        "Promise Respected"
    }
    fn statement(&self) -> &'static str {
        "An acceptor never accepts, in any slot, a proposal numbered below a ballot it has promised."
    }
    fn check(&mut self, w: &World<MultiPaxos>) -> Result<(), Failure> {
        for n in w.changed() {
            let d = &w.durable[n];
            let (accepted, memory) = match &w.states[n] {
                Some(s) => (&s.durable.accepted, s.durable.promised),
                None => (&d.accepted, d.promised),
            };
            if *accepted != self.last[n] {
                let before = self.highest[n];
                for (slot, (b, v)) in accepted {
                    if self.last[n].get(slot) != Some(&(*b, v.clone())) && *b < before {
                        return Err(Failure::new(
                            format!(
                                "n{} accepted {} in slot {slot} with ballot {b} after promising {before}",
                                n + 1,
                                v.label()
                            ),
                            vec![n],
                        ));
                    }
                }
                self.last[n] = accepted.clone();
            }
            self.highest[n] = self.highest[n].max(memory).max(d.promised);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::multi_paxos::invariants::test_world::Cluster;

    #[test]
    fn accepting_at_or_above_the_promise_passes() {
        let mut c = Cluster::new(3);
        let mut inv = PromiseRespected::new(3);
        c.promise(0, Ballot::new(2, 1));
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
        c.accept(0, 1, Ballot::new(2, 1));
        c.accept(0, 2, Ballot::new(2, 1));
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
        c.accept(0, 1, Ballot::new(3, 2));
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
    }

    #[test]
    fn accepting_below_the_promise_fails_even_after_a_restart_forgot_it() {
        let mut c = Cluster::new(3);
        let mut inv = PromiseRespected::new(3);
        c.promise(0, Ballot::new(2, 1));
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
        c.durable[0].promised = Ballot::ZERO; // never persisted
        c.restart(0);
        assert_eq!(c.check(&mut inv, None), Ok(()));
        c.accept(0, 1, Ballot::new(1, 0));
        let f = c.check(&mut inv, Some(0)).expect_err("below the promise");
        assert!(f.explanation.contains("slot 1"), "{}", f.explanation);
    }
}
