//! A synchronized follower's history is a prefix of its established leader's (Zab DSN 2011,
//! IV, Phase 2 and 3: the follower accepts the leader's initial history with `NEWLEADER` and
//! then only the leader's proposals of that epoch, in zxid order, so it holds the leader's
//! history up to the last proposal it accepted).
//!
//! Checked incrementally: at synchronization the follower's history *is* the leader's, and it
//! then grows by one appended transaction at a time, so after each event on a synchronized
//! follower its last transaction must be the leader's transaction at the same position. A
//! transaction the leader does not hold (an old epoch's proposal arriving late, say) fails at
//! once, long before it could be committed.

use crate::protocols::zab::{LeaderStage, Role, Zab};
use crate::sim::{Failure, Invariant, World};

#[derive(Default)]
pub struct FollowerPrefix;

impl Invariant<Zab> for FollowerPrefix {
    fn name(&self) -> &'static str {
        "Follower Prefix"
    }
    fn statement(&self) -> &'static str {
        "A synchronized follower's history is a prefix of its established leader's."
    }
    fn check(&mut self, w: &World<Zab>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        let Role::Following {
            leader,
            synced: true,
        } = s.role
        else {
            return Ok(());
        };
        let Some(l) = &w.states[leader] else {
            return Ok(());
        };
        let Role::Leading(lead) = &l.role else {
            return Ok(());
        };
        let epoch = s.durable.current_epoch;
        if lead.epoch != epoch || lead.stage == LeaderStage::Discovery {
            return Ok(());
        }
        let (mine, theirs) = (&s.durable.history, &l.durable.history);
        let Some(last) = mine.last() else {
            return Ok(());
        };
        let at = mine.len() - 1;
        if theirs.get(at) != Some(last) {
            return Err(Failure::new(
                format!(
                    "n{} (following n{} in epoch {epoch}) holds {:?} at position {}, where its leader holds {}",
                    n + 1,
                    leader + 1,
                    last.zxid,
                    at + 1,
                    theirs
                        .get(at)
                        .map_or("nothing".to_string(), |t| format!("{:?}", t.zxid))
                ),
                vec![n, leader],
            ));
        }
        Ok(())
    }
}
