//! Committed Offsets Processed: the at-least-once promise of committing after processing.
//! A committed offset says "the group is done with everything before it" (Kafka
//! documentation, Consumer Position): so every offset below it must have been processed, by
//! some member. Checked against the coordinator's committed offsets on disk and the
//! consumers' processed logs. Committing what was only fetched (`bug_commit_on_fetch`, the
//! auto-commit of polled records) breaks it when a consumer dies with a fetched batch.

use super::Names;
use crate::protocols::log::{Log, Offset, Part, Partition};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

pub struct CommittedOffsetsProcessed {
    names: Names,
    coordinator: Option<NodeId>,
    read: Vec<usize>,
    /// Per partition: offsets processed beyond `low`, and the lowest not processed.
    done: BTreeMap<Partition, (Offset, BTreeSet<Offset>)>,
}

impl CommittedOffsetsProcessed {
    pub fn new(nodes: usize) -> Self {
        CommittedOffsetsProcessed {
            names: Names::new(nodes),
            coordinator: None,
            read: vec![0; nodes],
            done: BTreeMap::new(),
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
            let low = self.done.get(&p).map_or(0, |(low, _)| *low);
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
