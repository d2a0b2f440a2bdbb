//! Durability: "once a write is acknowledged, it is not lost" — some replica keeps it.
//!
//! DDIA ch. 5 ("Handling Node Outages: Leader failover"): "If asynchronous replication is
//! used, the new leader may not have received all the writes from the old leader before it
//! failed. If the former leader rejoins the cluster after a new leader has been chosen ... the
//! most common solution is for the old leader's unreplicated writes to simply be discarded,
//! which may violate clients' durability expectations." Also lost: a crash of a replica whose
//! log is not on disk, and the writes a split brain overwrites.
//!
//! Incremental: each replica's log is followed by its length and its truncation count; a log
//! that only grew is read from where it was, a log that was cut back (or a replica that
//! crashed or restarted) is rescanned. A write acknowledged to a client (the history) whose
//! last copy disappears from every replica is lost.

use super::log_of;
use crate::protocols::leader_follower::{LeaderFollower, WriteId};
use crate::sim::client::{Op, Outcome};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

pub struct Durability {
    promised: bool,
    /// Per replica: (live, truncations, length) of its log when last read.
    seen: Vec<(bool, u64, usize)>,
    /// Per replica: the writes its log holds.
    holds: Vec<BTreeSet<WriteId>>,
    /// Per write: how many replicas hold it.
    copies: BTreeMap<WriteId, usize>,
    /// Invocations seen in the history, to find acknowledgements as they come.
    cursor: usize,
    open: BTreeSet<usize>,
    /// Writes acknowledged to their clients.
    acked: BTreeSet<WriteId>,
    /// Acknowledged writes no replica holds any more.
    lost: BTreeSet<WriteId>,
}

impl Durability {
    pub fn new(promised: bool, nodes: usize) -> Self {
        Durability {
            promised,
            seen: vec![(true, 0, 0); nodes],
            holds: vec![BTreeSet::new(); nodes],
            copies: BTreeMap::new(),
            cursor: 0,
            open: BTreeSet::new(),
            acked: BTreeSet::new(),
            lost: BTreeSet::new(),
        }
    }

    /// Brings replica `n`'s holdings up to date; returns the writes it no longer holds.
    fn update(&mut self, w: &World<LeaderFollower>, n: NodeId) -> Vec<WriteId> {
        let live = w.states[n].is_some();
        let (log, cuts) = log_of(w, n);
        let (was_live, was_cuts, was_len) = self.seen[n];
        self.seen[n] = (live, cuts, log.len());
        if live == was_live && cuts == was_cuts && log.len() >= was_len {
            for e in &log[was_len..] {
                if self.holds[n].insert(e.write) {
                    *self.copies.entry(e.write).or_default() += 1;
                }
            }
            return Vec::new();
        }
        let now: BTreeSet<WriteId> = log.iter().map(|e| e.write).collect();
        for id in now.difference(&self.holds[n]) {
            *self.copies.entry(*id).or_default() += 1;
        }
        let gone: Vec<WriteId> = self.holds[n].difference(&now).copied().collect();
        for id in &gone {
            *self.copies.get_mut(id).expect("held") -= 1;
        }
        self.holds[n] = now;
        gone
    }
}

fn describe(id: WriteId) -> String {
    format!("client {}'s write #{}", id.client, id.seq)
}

impl Invariant<LeaderFollower> for Durability {
    fn name(&self) -> &'static str {
        "Durability"
    }
    fn statement(&self) -> &'static str {
        "a write acknowledged to its client is never lost: some replica keeps it"
    }
    fn check(&mut self, w: &World<LeaderFollower>) -> Result<(), Failure> {
        let mut suspects: Vec<(WriteId, NodeId)> = Vec::new();
        for n in w.changed() {
            for id in self.update(w, n) {
                suspects.push((id, n));
            }
        }
        // Writes acknowledged since the last event.
        let h = &w.history.entries;
        self.open.extend(self.cursor..h.len());
        self.cursor = h.len();
        let done: Vec<usize> = self
            .open
            .iter()
            .copied()
            .filter(|&i| h[i].outcome.is_some())
            .collect();
        for i in done {
            self.open.remove(&i);
            let e = &h[i];
            if matches!(e.op, Op::Put { .. } | Op::Cas { .. })
                && matches!(e.outcome, Some(Outcome::Ok { .. }))
            {
                let id = WriteId {
                    client: e.client,
                    seq: e.seq,
                };
                self.acked.insert(id);
                suspects.push((id, e.node.unwrap_or(0)));
            }
        }
        let mut failure = None;
        for (id, n) in suspects {
            if self.acked.contains(&id)
                && self.copies.get(&id).copied().unwrap_or(0) == 0
                && self.lost.insert(id)
                && self.promised
                && failure.is_none()
            {
                failure = Some(Failure::new(
                    format!(
                        "{} was acknowledged, and n{} dropped the last copy of it",
                        describe(id),
                        n + 1
                    ),
                    vec![n],
                ));
            }
        }
        failure.map_or(Ok(()), Err)
    }
    fn counts(&self, out: &mut Vec<(&'static str, u64)>) {
        out.push(("lost_writes", self.lost.len() as u64));
    }
}
