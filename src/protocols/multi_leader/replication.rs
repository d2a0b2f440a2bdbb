//! Asynchronous replication between leaders: each leader appends the writes it accepts to its
//! *replication log* and ships every entry to every other leader (DDIA ch. 5, "Multi-Leader
//! Replication"), sending again whatever a peer has not acknowledged every `resend_interval`,
//! like the retransmission of a replication stream from the peer's last position. A receiver
//! applies each entry once (it tracks, per origin, the prefix applied and the entries that
//! arrived ahead of it) and acknowledges the prefix.
//!
//! ```text
//!   client ─put─► n1: log #7 k=3 ──Replicate #7──► n2: apply, ack ──ReplicateAck upto 7──► n1
//!                  └── every resend_interval: #acked+1.. again, until acknowledged
//! ```

use super::config::Conflicts;
use super::conflicts::{Applied, Sibling, apply};
use super::message::MlMsg;
use super::{MultiLeader, Timer};
use crate::protocols::storage::Version;
use crate::sim::{Ctx, NodeId, SimTime};

/// At most this many entries per peer per resend, so a long outage does not burst.
pub const RESEND_BATCH: u64 = 32;

impl MultiLeader {
    /// This node's clock, in microseconds.
    fn clock_us(&self, now: SimTime) -> u64 {
        if self.cfg.bug_cached_clock {
            return self.cached_clock_us;
        }
        (now.0 as i64 + self.cfg.offset_us(self.id)).max(0) as u64
    }

    /// Accepts a client's write: stamps it, stores it, appends it to the replication log and
    /// ships it to every other leader. The caller acknowledges it at once (asynchronous).
    pub(super) fn write(&mut self, key: String, value: String, ctx: &mut Ctx<Self>) -> Sibling {
        self.stamped += 1;
        let stamp = Version::new(
            self.clock_us(ctx.now),
            self.stamped * self.nodes as u64 + self.id as u64 + 1,
        );
        let mut vv = Vec::new();
        if self.cfg.conflicts == Conflicts::VersionVectors {
            // The new value has seen every sibling here: it replaces (merges) them all.
            vv = vec![0; self.nodes];
            for s in self.store.get(&key).into_iter().flatten() {
                for (i, c) in s.vv.iter().enumerate() {
                    vv[i] = vv[i].max(*c);
                }
            }
            vv[self.id] += 1;
        }
        let sibling = Sibling { value, stamp, vv };
        self.store.insert(key.clone(), vec![sibling.clone()]);
        self.log.push((key.clone(), sibling.clone()));
        self.persist(ctx);
        let seq = self.log.len() as u64;
        for to in (0..self.nodes).filter(|&n| n != self.id) {
            ctx.send(
                to,
                MlMsg::Replicate {
                    seq,
                    key: key.clone(),
                    sibling: sibling.clone(),
                },
            );
        }
        sibling
    }

    /// Entry `seq` of `from`'s log: applied unless already applied, then acknowledged.
    pub(super) fn on_replicate(
        &mut self,
        from: NodeId,
        seq: u64,
        key: String,
        incoming: Sibling,
        ctx: &mut Ctx<Self>,
    ) {
        let now = (ctx.now.0 as i64 + self.cfg.offset_us(self.id)).max(0) as u64;
        self.cached_clock_us = now;
        if seq > self.applied[from] && !self.ahead[from].contains(&seq) {
            let mine = self.store.entry(key).or_default();
            match apply(self.cfg.conflicts, mine, incoming) {
                Applied::Discarded => ctx.count("lww_discarded", 1),
                Applied::Sibling => ctx.count("conflicts", 1),
                Applied::Replaced | Applied::Duplicate => {}
            }
            self.ahead[from].insert(seq);
            while self.ahead[from].remove(&(self.applied[from] + 1)) {
                self.applied[from] += 1;
            }
            self.persist(ctx);
        }
        ctx.send(
            from,
            MlMsg::ReplicateAck {
                upto: self.applied[from],
            },
        );
    }

    pub(super) fn on_ack(&mut self, from: NodeId, upto: u64) {
        let upto = upto.min(self.log.len() as u64);
        self.acked[from] = self.acked[from].max(upto);
    }

    /// Sends every peer the next entries it has not acknowledged, and re-arms.
    pub(super) fn on_resend(&mut self, ctx: &mut Ctx<Self>) {
        let len = self.log.len() as u64;
        for to in (0..self.nodes).filter(|&n| n != self.id) {
            let first = self.acked[to] + 1;
            for seq in first..=len.min(self.acked[to] + RESEND_BATCH) {
                let (key, sibling) = &self.log[seq as usize - 1];
                ctx.send(
                    to,
                    MlMsg::Replicate {
                        seq,
                        key: key.clone(),
                        sibling: sibling.clone(),
                    },
                );
            }
        }
        self.arm_resend(ctx);
    }

    pub(super) fn arm_resend(&self, ctx: &mut Ctx<Self>) {
        if !self.cfg.bug_fire_and_forget {
            ctx.set_timer(Timer::Resend, self.cfg.resend_interval);
        }
    }

    /// Entries of this leader's log some peer has not acknowledged yet.
    pub fn backlog(&self) -> u64 {
        let len = self.log.len() as u64;
        (0..self.nodes)
            .filter(|&n| n != self.id)
            .map(|n| len - self.acked[n].min(len))
            .max()
            .unwrap_or(0)
    }
}
