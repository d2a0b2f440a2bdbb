//! An acceptor never forgets a promise, for all slots at once: "an acceptor must remember this
//! information even if it fails and then restarts", which Paxos Made Simple (2.3) secures by
//! having "the acceptor record its intended response in stable storage before actually
//! sending it".
//!
//! The same rule as single-decree Paxos' Promise Durable (shared code): the checker remembers
//! the highest promise each acceptor ever held, in memory or on stable storage, and fails when
//! the promise in memory is above the one on stable storage after an event, or when either is
//! below the highest seen before (a restart forgot it).

use crate::protocols::multi_paxos::MultiPaxos;
use crate::protocols::paxos::Ballot;
use crate::protocols::paxos::invariants::{PromiseDurableOf, Promises};

impl Promises for MultiPaxos {
    fn promised(state: &Self) -> Ballot {
        state.durable.promised
    }
    fn promised_on_disk(durable: &Self::Durable) -> Ballot {
        durable.promised
    }
}

/// Promise Durable over every slot's acceptor: one promise covers them all.
pub type PromiseDurable = PromiseDurableOf<MultiPaxos>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::multi_paxos::invariants::test_world::Cluster;

    #[test]
    fn a_persisted_promise_passes_and_an_unpersisted_one_fails() {
        let mut c = Cluster::new(3);
        let mut inv = PromiseDurable::new(3);
        let b = Ballot::new(1, 2);
        c.states[1].as_mut().unwrap().durable.promised = b;
        c.durable[1].promised = b;
        assert_eq!(c.check(&mut inv, Some(1)), Ok(()));
        c.states[1].as_mut().unwrap().durable.promised = Ballot::new(2, 0);
        let f = c.check(&mut inv, Some(1)).expect_err("in memory only");
        assert!(
            f.explanation.contains("stable storage"),
            "{}",
            f.explanation
        );
    }

    #[test]
    fn a_restart_below_the_highest_promise_fails() {
        let mut c = Cluster::new(3);
        let mut inv = PromiseDurable::new(3);
        let b = Ballot::new(3, 1);
        c.states[0].as_mut().unwrap().durable.promised = b;
        c.durable[0].promised = b;
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
        c.durable[0].promised = Ballot::new(1, 0);
        c.restart(0);
        assert!(c.check(&mut inv, None).is_err());
    }
}
