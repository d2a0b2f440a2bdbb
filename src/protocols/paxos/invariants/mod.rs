//! The safety properties of "Paxos Made Simple", sections 2.1 to 2.3, one file each.

mod learned_implies_chosen;
mod learned_was_proposed;
mod learner_agreement;
mod promise_durable;
mod promise_respected;
mod single_value_chosen;

pub use learned_implies_chosen::LearnedImpliesChosen;
pub use learned_was_proposed::LearnedWasProposed;
pub use learner_agreement::LearnerAgreement;
pub use promise_durable::{PromiseDurable, PromiseDurableOf, Promises};
pub use promise_respected::PromiseRespected;
pub use single_value_chosen::SingleValueChosen;

/// Hand-built cluster states for the checkers' unit tests.
#[cfg(test)]
pub(crate) mod test_world {
    use crate::protocols::paxos::{Ballot, Paxos, PaxosConfig, PaxosDurable};
    use crate::sim::{Failure, History, Invariant, NodeId, SimTime, World};

    pub struct Cluster {
        pub states: Vec<Option<Paxos>>,
        pub durable: Vec<PaxosDurable>,
        last_event: Vec<Option<u64>>,
        history: History,
    }

    impl Cluster {
        pub fn new(nodes: usize) -> Self {
            let cfg = PaxosConfig::default();
            Cluster {
                states: (0..nodes)
                    .map(|_| Some(Paxos::fresh(&cfg, PaxosDurable::default())))
                    .collect(),
                durable: vec![PaxosDurable::default(); nodes],
                last_event: vec![None; nodes],
                history: History::default(),
            }
        }
        /// Restarts a node from its durable state.
        pub fn restart(&mut self, n: NodeId) {
            self.states[n] = Some(Paxos::fresh(
                &PaxosConfig::default(),
                self.durable[n].clone(),
            ));
        }
        pub fn check(
            &self,
            inv: &mut dyn Invariant<Paxos>,
            touched: Option<NodeId>,
        ) -> Result<(), Failure> {
            inv.check(&World {
                now: SimTime::ZERO,
                states: &self.states,
                durable: &self.durable,
                touched,
                last_event: &self.last_event,
                history: &self.history,
            })
        }
    }

    /// Node `n` accepts `value` in `b`, in memory and on stable storage.
    pub fn accepted(c: &mut Cluster, n: NodeId, b: Ballot, value: &str) {
        let a = Some((b, value.to_string()));
        let s = c.states[n].as_mut().expect("live");
        s.durable.promised = s.durable.promised.max(b);
        s.durable.accepted = a;
        c.durable[n] = s.durable.clone();
    }

    /// Node `n`'s learner learns `value`.
    pub fn learned(c: &mut Cluster, n: NodeId, value: &str) {
        c.states[n].as_mut().expect("live").learned = Some(value.to_string());
    }
}
