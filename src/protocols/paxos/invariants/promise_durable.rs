//! An acceptor never forgets a promise: "an acceptor must remember this information even if it
//! fails and then restarts", which Paxos Made Simple (2.3) secures by having "the acceptor
//! record its intended response in stable storage before actually sending it".
//!
//! Promise Respected reads the promise from stable storage, so a promise made only in memory
//! is invisible to it. This checker remembers, per acceptor, the highest promise it ever saw in
//! volatile *or* durable state, and fails when
//! - after an event, the promise in memory is above the promise on stable storage (the answer
//!   went out before the promise was persisted), or
//! - a promise, in memory or on stable storage, is below the highest one seen before (the
//!   acceptor restarted and forgot it).

use crate::protocols::paxos::{Ballot, Paxos};
use crate::sim::{Failure, Invariant, Protocol, World};
use std::marker::PhantomData;

/// What the checker reads of an acceptor: its promise in memory and on stable storage (Paxos
/// and Multi-Paxos keep it under the same name).
pub trait Promises: Protocol {
    fn promised(state: &Self) -> Ballot;
    fn promised_on_disk(durable: &Self::Durable) -> Ballot;
}

impl Promises for Paxos {
    fn promised(state: &Self) -> Ballot {
        state.durable.promised
    }
    fn promised_on_disk(durable: &Self::Durable) -> Ballot {
        durable.promised
    }
}

/// Promise Durable for any protocol whose acceptors keep a promise ([`Promises`]).
pub struct PromiseDurableOf<P> {
    /// The highest promise ever seen per acceptor.
    highest: Vec<Ballot>,
    protocol: PhantomData<fn() -> P>,
}

/// Promise Durable for single-decree Paxos.
pub type PromiseDurable = PromiseDurableOf<Paxos>;

impl<P> PromiseDurableOf<P> {
    pub fn new(nodes: usize) -> Self {
        PromiseDurableOf {
            highest: vec![Ballot::ZERO; nodes],
            protocol: PhantomData,
        }
    }
}

/// The rule: `memory` (None while crashed) and `disk` against the highest promise seen so
/// far, which is raised.
fn check_promise(
    n: usize,
    memory: Option<Ballot>,
    disk: Ballot,
    highest: &mut Ballot,
) -> Result<(), Failure> {
    if let Some(m) = memory
        && m > disk
    {
        return Err(Failure::new(
            format!(
                "n{} promised ballot {m} but only {disk} is on stable storage",
                n + 1
            ),
            vec![n],
        ));
    }
    for (what, b) in [("on stable storage", Some(disk)), ("in memory", memory)] {
        if let Some(b) = b
            && b < *highest
        {
            return Err(Failure::new(
                format!(
                    "n{} promised ballot {} before, and now holds {b} {what}",
                    n + 1,
                    *highest
                ),
                vec![n],
            ));
        }
    }
    *highest = (*highest).max(disk).max(memory.unwrap_or(Ballot::ZERO));
    Ok(())
}

impl<P: Promises> Invariant<P> for PromiseDurableOf<P> {
    fn name(&self) -> &'static str {
        "Promise Durable"
    }
    fn statement(&self) -> &'static str {
        "An acceptor's promise is on stable storage before it answers, and never goes back, even across a restart."
    }
    fn check(&mut self, w: &World<P>) -> Result<(), Failure> {
        for n in w.changed() {
            let memory = w.states[n].as_ref().map(P::promised);
            let disk = P::promised_on_disk(&w.durable[n]);
            check_promise(n, memory, disk, &mut self.highest[n])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::paxos::invariants::test_world::Cluster;

    #[test]
    fn a_persisted_promise_kept_across_a_restart_passes() {
        let mut c = Cluster::new(3);
        let mut inv = PromiseDurable::new(3);
        let b = Ballot::new(2, 1);
        c.states[0].as_mut().unwrap().durable.promised = b;
        c.durable[0].promised = b;
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
        c.states[0] = None;
        assert_eq!(c.check(&mut inv, None), Ok(()));
        c.restart(0);
        assert_eq!(c.check(&mut inv, None), Ok(()));
    }

    #[test]
    fn a_promise_only_in_memory_fails() {
        let mut c = Cluster::new(3);
        let mut inv = PromiseDurable::new(3);
        c.states[0].as_mut().unwrap().durable.promised = Ballot::new(2, 1);
        let f = c.check(&mut inv, Some(0)).expect_err("not persisted");
        assert!(
            f.explanation.contains("stable storage"),
            "{}",
            f.explanation
        );
    }

    #[test]
    fn a_restart_that_forgets_the_promise_fails() {
        let mut c = Cluster::new(3);
        let mut inv = PromiseDurable::new(3);
        let b = Ballot::new(2, 1);
        c.states[0].as_mut().unwrap().durable.promised = b;
        c.durable[0].promised = b;
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
        // Stable storage lost the promise (it was never written by this path).
        c.durable[0].promised = Ballot::ZERO;
        c.restart(0);
        let f = c.check(&mut inv, None).expect_err("forgotten");
        assert!(f.explanation.contains("before"), "{}", f.explanation);
    }
}
