//! Safety of the replicated log and of its acceptors, one property per file.

mod compacts_only_decided;
mod promise_durable;
mod promise_respected;
mod promised_ballot_pre_approved;
mod slot_agreement;
mod state_machine_safety;

pub use compacts_only_decided::CompactsOnlyDecided;
pub use promise_durable::PromiseDurable;
pub use promise_respected::PromiseRespected;
pub use promised_ballot_pre_approved::PromisedBallotPreApproved;
pub use slot_agreement::SlotAgreement;
pub use state_machine_safety::StateMachineSafety;

/// Hand-built cluster states for the checkers' unit tests.
#[cfg(test)]
pub(crate) mod test_world {
    use crate::protocols::multi_paxos::{
        MultiPaxos, MultiPaxosConfig, MultiPaxosDurable, Slot, Value,
    };
    use crate::protocols::paxos::Ballot;
    use crate::sim::{Failure, History, Invariant, NodeId, SimTime, World};

    pub struct Cluster {
        pub states: Vec<Option<MultiPaxos>>,
        pub durable: Vec<MultiPaxosDurable>,
        last_event: Vec<Option<u64>>,
        history: History,
    }

    impl Cluster {
        pub fn new(nodes: usize) -> Self {
            let cfg = MultiPaxosConfig::default();
            Cluster {
                states: (0..nodes)
                    .map(|_| Some(MultiPaxos::fresh(&cfg, MultiPaxosDurable::default())))
                    .collect(),
                durable: vec![MultiPaxosDurable::default(); nodes],
                last_event: vec![None; nodes],
                history: History::default(),
            }
        }
        pub fn restart(&mut self, n: NodeId) {
            let cfg = MultiPaxosConfig::default();
            self.states[n] = Some(MultiPaxos::fresh(&cfg, self.durable[n].clone()));
        }
        /// Node `n` promises `b`, in memory and on stable storage.
        pub fn promise(&mut self, n: NodeId, b: Ballot) {
            let s = self.states[n].as_mut().expect("live");
            s.durable.promised = b;
            self.durable[n] = s.durable.clone();
        }
        /// Node `n` accepts a no-op in `slot` with `b` (raising its promise, as the protocol
        /// does), in memory and on stable storage.
        pub fn accept(&mut self, n: NodeId, slot: Slot, b: Ballot) {
            let s = self.states[n].as_mut().expect("live");
            s.durable.promised = s.durable.promised.max(b);
            s.durable.accepted.insert(slot, (b, Value::NoOp));
            self.durable[n] = s.durable.clone();
        }
        pub fn check(
            &self,
            inv: &mut dyn Invariant<MultiPaxos>,
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
}
