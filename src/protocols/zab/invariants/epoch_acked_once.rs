//! A follower acknowledges each epoch to one prospective leader only (Zab DSN 2011, IV,
//! Phase 1: a follower that receives `NEWEPOCH(e')` acknowledges it only "if e' > f.p", its
//! last accepted epoch, and then sets f.p = e').
//!
//! This is what keeps two leaders from being established in one epoch: each needs a quorum of
//! acknowledgements of that epoch, and two quorums share a follower. This implementation lets
//! a follower re-acknowledge the epoch it accepted to the *same* leader (a lost `ACK-E`), so
//! the checker remembers, per node and epoch, the leader it was accepted from (in durable
//! state: `accepted_epoch` with `accepted_from`), across crashes.

use crate::protocols::zab::Zab;
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct EpochAckedOnce {
    /// (node, epoch) -> the leader that node accepted the epoch from.
    accepted: BTreeMap<(NodeId, u64), NodeId>,
}

impl Invariant<Zab> for EpochAckedOnce {
    fn name(&self) -> &'static str {
        "Epoch Acknowledged Once"
    }
    fn statement(&self) -> &'static str {
        "A follower acknowledges a new epoch to one prospective leader only."
    }
    fn check(&mut self, w: &World<Zab>) -> Result<(), Failure> {
        for n in w.changed() {
            let d = &w.durable[n];
            let Some(from) = d.accepted_from else {
                continue;
            };
            match self.accepted.get(&(n, d.accepted_epoch)) {
                None => {
                    self.accepted.insert((n, d.accepted_epoch), from);
                }
                Some(&first) if first != from => {
                    return Err(Failure::new(
                        format!(
                            "n{} acknowledged epoch {} to n{} and then to n{}",
                            n + 1,
                            d.accepted_epoch,
                            first + 1,
                            from + 1
                        ),
                        vec![n, first, from],
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
