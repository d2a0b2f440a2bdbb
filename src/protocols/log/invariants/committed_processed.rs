//! Committed Offsets Processed: the at-least-once promise of committing after processing.
//! A committed offset says "the group is done with everything before it" (Kafka
//! documentation, Consumer Position): so every offset below it must have been processed, by
//! some member. Checked against the coordinator's committed offsets on disk and the
//! consumers' processed logs. Committing what was only fetched (`bug_commit_on_fetch`, the
//! auto-commit of polled records) breaks it when a consumer dies with a fetched batch.
//!
//! Under retention an offset may also have been jumped over by an offset reset (the record
//! was deleted before it was read, or `Latest` skipped it): those are in the consumers'
//! `resets` on disk, are counted (`reset_skipped`) and not flagged here. Only offsets a
//! reset covers are excused; any other gap is still a violation.

use super::Names;
use crate::protocols::log::{Log, Offset, Part, Partition};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

pub struct CommittedOffsetsProcessed {
    names: Names,
    coordinator: Option<NodeId>,
    read: Vec<usize>,
    /// Per node: how much of its resets has been read.
    resets_read: Vec<usize>,
    /// Per partition: offsets processed beyond `low`, and the lowest not processed.
    done: BTreeMap<Partition, (Offset, BTreeSet<Offset>)>,
    /// Per partition: offset ranges `[from, to)` jumped over by resets.
    skipped: BTreeMap<Partition, Vec<(Offset, Offset)>>,
}

impl CommittedOffsetsProcessed {
    pub fn new(nodes: usize) -> Self {
        CommittedOffsetsProcessed {
            names: Names::new(nodes),
            coordinator: None,
            read: vec![0; nodes],
            resets_read: vec![0; nodes],
            done: BTreeMap::new(),
            skipped: BTreeMap::new(),
        }
    }
}

impl CommittedOffsetsProcessed {
    /// The lowest offset of `p` neither processed nor jumped over by a reset.
    fn first_gap(&self, p: Partition) -> Offset {
        let empty = BTreeSet::new();
        let (mut low, above) = self.done.get(&p).map_or((0, &empty), |(l, a)| (*l, a));
        let ranges = self.skipped.get(&p).map_or(&[][..], |v| v.as_slice());
        loop {
            if above.contains(&low) {
                low += 1;
            } else if let Some(&(_, to)) = ranges.iter().find(|(f, t)| *f <= low && low < *t) {
                low = to;
            } else {
                return low;
            }
        }
    }
}

impl Invariant<Log> for CommittedOffsetsProcessed {
    fn name(&self) -> &'static str {
        "Committed Offsets Processed"
    }
    fn statement(&self) -> &'static str {
        "every offset below a committed offset has been processed"
    }
    fn check(&mut self, w: &World<Log>) -> Result<(), Failure> {
        self.names.learn(w);
        let mut changed = false;
        for n in w.changed() {
            if let Some(Log {
                part: Part::Broker(b),
                ..
            }) = &w.states[n]
                && b.coordinator
            {
                self.coordinator = Some(n);
            }
            changed |= self.coordinator == Some(n);
            let resets = &w.durable[n].resets;
            let from = self.resets_read[n].min(resets.len());
            self.resets_read[n] = resets.len();
            for r in &resets[from..] {
                if r.to > r.from {
                    self.skipped
                        .entry(r.partition)
                        .or_default()
                        .push((r.from, r.to));
                }
            }
            let log = &w.durable[n].processed;
            let from = self.read[n].min(log.len());
            self.read[n] = log.len();
            for r in &log[from..] {
                let (low, above) = self.done.entry(r.partition).or_default();
                if r.offset >= *low {
                    above.insert(r.offset);
                }
                while above.remove(low) {
                    *low += 1;
                }
            }
        }
        let Some(c) = self.coordinator else {
            return Ok(());
        };
        if !changed {
            return Ok(());
        }
        for (&p, &committed) in &w.durable[c].broker.group.committed {
            let low = self.first_gap(p);
            if committed > low {
                return Err(Failure::new(
                    format!(
                        "p{p} is committed up to offset {committed} on {}, but p{p}@{low} was \
                         never processed: the group will not read it again",
                        self.names.of(c)
                    ),
                    vec![c],
                ));
            }
        }
        Ok(())
    }
}
