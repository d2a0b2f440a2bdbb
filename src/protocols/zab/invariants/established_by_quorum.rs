//! A leader is established only by a quorum (Zab DSN 2011, IV, Phase 2: the prospective
//! leader "waits for ACK-LD from a quorum" before it commits and starts broadcasting; a
//! follower sends ACK-LD only after accepting the leader's history and setting its current
//! epoch f.a to the new epoch).
//!
//! So when a leader of epoch `e` is first seen broadcasting, a quorum of nodes (itself
//! included) must hold `current_epoch >= e` in durable state: each acknowledged `NEWLEADER(e)`
//! after persisting it (and may since have gone on to a later epoch, never back). A leader
//! established on fewer acknowledgements could commit a history that a later quorum, elected
//! without any of its followers, does not hold.

use crate::protocols::zab::{LeaderStage, Role, Zab};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::BTreeSet;

#[derive(Default)]
pub struct EstablishedByQuorum {
    /// (leader, epoch) pairs already checked when they became established.
    seen: BTreeSet<(NodeId, u64)>,
}

impl Invariant<Zab> for EstablishedByQuorum {
    fn name(&self) -> &'static str {
        "Established By Quorum"
    }
    fn statement(&self) -> &'static str {
        "A leader starts broadcasting only after a quorum has accepted its epoch's history."
    }
    fn check(&mut self, w: &World<Zab>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        let Role::Leading(l) = &s.role else {
            return Ok(());
        };
        if l.stage != LeaderStage::Broadcast || !self.seen.insert((n, l.epoch)) {
            return Ok(());
        }
        let quorum = w.durable.len() / 2 + 1;
        let holders = w
            .durable
            .iter()
            .filter(|d| d.current_epoch >= l.epoch)
            .count();
        if holders < quorum {
            return Err(Failure::new(
                format!(
                    "n{} started broadcasting in epoch {} while only {holders} of the {quorum} nodes a quorum needs had accepted its history",
                    n + 1,
                    l.epoch
                ),
                vec![n],
            ));
        }
        Ok(())
    }
}
