//! At most one established leader per epoch: a leader is *established* in epoch `e` once a
//! quorum has acknowledged its `NewLeader(e)`; two leaders established in one epoch could
//! propose different transactions with the same zxids (Zab DSN 2011, IV: "a new epoch ... is
//! accepted by a quorum", so no two leaders share one).

use crate::protocols::zab::{LeaderStage, Role, Zab};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct OneLeaderPerEpoch {
    /// The node established in each epoch.
    leaders: BTreeMap<u64, NodeId>,
}

impl Invariant<Zab> for OneLeaderPerEpoch {
    fn name(&self) -> &'static str {
        "One Leader Per Epoch"
    }
    fn statement(&self) -> &'static str {
        "At most one leader is established in each epoch."
    }
    fn check(&mut self, w: &World<Zab>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        let Role::Leading(l) = &s.role else {
            return Ok(());
        };
        if l.stage != LeaderStage::Broadcast {
            return Ok(());
        }
        match self.leaders.get(&l.epoch) {
            None => {
                self.leaders.insert(l.epoch, n);
                Ok(())
            }
            Some(&other) if other != n => Err(Failure::new(
                format!(
                    "n{} and n{} are both established leaders of epoch {}",
                    other + 1,
                    n + 1,
                    l.epoch
                ),
                vec![other, n],
            )),
            Some(_) => Ok(()),
        }
    }
}
