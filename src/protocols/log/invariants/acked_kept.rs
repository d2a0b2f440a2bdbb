//! Acknowledged Records Kept: the promise of `acks=all` — "a committed message will not be
//! lost, as long as there is at least one in sync replica alive, at all times" (Kafka
//! documentation, Replication). A record is acknowledged under `acks=all` only once every
//! in-sync replica has it, and only an in-sync replica may become leader, so every record a
//! producer was acknowledged must stay, at the offset the ack named, in the log of every
//! replica the controller lists in the partition's ISR.
//!
//! Read from durable state with a cursor per producer: the producers' acknowledged records,
//! the controller's ISRs, the brokers' logs on disk (so a crashed broker's disk still counts).
//! A broker's partition is checked when its disk or the controller's changes, a new
//! acknowledgement against the whole ISR. Checked when the configuration promises it
//! (`acks: All`, no unclean election); `bug_ack_on_append` (acknowledging on the leader's own
//! append, as `acks=1` does) breaks it when the leader dies before its followers copied the
//! record. Under `acks: One` the same loss is measured (the `lost` series), not flagged.

use super::Names;
use crate::protocols::log::{Log, Offset, Partition, RecordId};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

pub struct AckedRecordsKept {
    names: Names,
    /// How much of each producer's acknowledged list has been read.
    read: Vec<usize>,
    /// Per partition: offset → the record acknowledged there.
    acked: BTreeMap<Partition, BTreeMap<Offset, RecordId>>,
}

impl AckedRecordsKept {
    pub fn new(nodes: usize) -> Self {
        AckedRecordsKept {
            names: Names::new(nodes),
            read: vec![0; nodes],
            acked: BTreeMap::new(),
        }
    }

    /// Whether broker `n`'s disk holds every record acknowledged in `p`.
    fn holds(&self, w: &World<Log>, n: NodeId, p: Partition) -> Result<(), Failure> {
        let log = w.durable[n].broker.logs.get(&p);
        let Some(acked) = self.acked.get(&p) else {
            return Ok(());
        };
        for (&o, &id) in acked {
            let there = log.and_then(|l| l.get(o as usize)).map(|r| r.id);
            if there != Some(id) {
                let found = there.map_or("nothing".to_string(), |x| format!("r{x}"));
                return Err(Failure::new(
                    format!(
                        "r{id} was acknowledged at p{p}@{o}, but {} — in the ISR — has {found} \
                         there: an acknowledged record is lost",
                        self.names.of(n)
                    ),
                    vec![n],
                ));
            }
        }
        Ok(())
    }
}

impl Invariant<Log> for AckedRecordsKept {
    fn name(&self) -> &'static str {
        "Acknowledged Records Kept"
    }
    fn statement(&self) -> &'static str {
        "every record acknowledged under acks=all stays at its offset in every in-sync replica"
    }
    fn check(&mut self, w: &World<Log>) -> Result<(), Failure> {
        self.names.learn(w);
        let mut fresh: BTreeSet<Partition> = BTreeSet::new();
        let mut disks: BTreeSet<NodeId> = BTreeSet::new();
        let mut all = false;
        for n in w.changed() {
            let d = &w.durable[n];
            let from = self.read[n].min(d.acked.len());
            self.read[n] = d.acked.len();
            for a in &d.acked[from..] {
                self.acked
                    .entry(a.partition)
                    .or_default()
                    .insert(a.offset, a.id);
                fresh.insert(a.partition);
            }
            all |= !d.broker.controller.partitions.is_empty();
            disks.insert(n);
        }
        let Some(c) =
            (0..w.durable.len()).find(|&n| !w.durable[n].broker.controller.partitions.is_empty())
        else {
            return Ok(());
        };
        for (&p, s) in &w.durable[c].broker.controller.partitions {
            for &n in &s.isr {
                if all || fresh.contains(&p) || disks.contains(&n) {
                    self.holds(w, n, p)?;
                }
            }
        }
        Ok(())
    }
}
