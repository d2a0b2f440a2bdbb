//! A synchronized follower's history is a prefix of its established leader's (Zab DSN 2011,
//! IV, Phase 2 and 3: the follower accepts the leader's initial history with `NEWLEADER` and
//! then only the leader's proposals of that epoch, in zxid order, so it holds the leader's
//! history up to the last proposal it accepted).
//!
//! Synchronization is where the follower's history may go wrong: with ZooKeeper's DIFF and
//! TRUNC the leader sends only part of its history and the follower keeps, or truncates, its
//! own, so a wrong truncation point or a DIFF from a zxid whose prefix differs leaves a
//! transaction the leader does not hold *inside* the history. So after each synchronization
//! (the follower's `syncs` ghost variable moved, or it was not synchronized when last checked)
//! the whole history is compared with the leader's. Between synchronizations the history only
//! grows by appended proposals, so after each event only its last transaction is compared with
//! the leader's at the same position: a transaction the leader does not hold (an old epoch's
//! proposal arriving late, say) fails at once, long before it could be committed.

use crate::protocols::zab::{LeaderStage, Role, Zab};
use crate::sim::{Failure, Invariant, World};

#[derive(Default)]
pub struct FollowerPrefix {
    /// Per node, the `syncs` count at which its whole history was last found a prefix of its
    /// leader's (`None`: not verified since it last synchronized or stopped following).
    verified: Vec<Option<u64>>,
}

impl Invariant<Zab> for FollowerPrefix {
    fn name(&self) -> &'static str {
        "Follower Prefix"
    }
    fn statement(&self) -> &'static str {
        "A synchronized follower's history (after DIFF, TRUNC or SNAP, and as it grows) is a prefix of its established leader's."
    }
    fn check(&mut self, w: &World<Zab>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        if self.verified.len() < w.states.len() {
            self.verified.resize(w.states.len(), None);
        }
        let verified = self.verified[n].take();
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
        let fail = |at: usize| {
            Failure::new(
                format!(
                    "n{} (following n{} in epoch {epoch}) holds {} at position {}, where its leader holds {}",
                    n + 1,
                    leader + 1,
                    mine[at].zxid,
                    at + 1,
                    theirs
                        .get(at)
                        .map_or("nothing".to_string(), |t| t.zxid.to_string())
                ),
                vec![n, leader],
            )
        };
        if verified == Some(s.syncs) {
            if let Some(last) = mine.last()
                && theirs.get(mine.len() - 1) != Some(last)
            {
                return Err(fail(mine.len() - 1));
            }
        } else if let Some(at) = (0..mine.len()).find(|&i| theirs.get(i) != Some(&mine[i])) {
            return Err(fail(at));
        }
        self.verified[n] = Some(s.syncs);
        Ok(())
    }
}
