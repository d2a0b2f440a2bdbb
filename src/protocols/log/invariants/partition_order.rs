//! Partition Order: Kafka guarantees order within a partition — "a consumer instance sees
//! records in the order they are stored in the log" (Kafka documentation, Guarantees).
//!
//! Checked on each consumer's processed log: within one generation of the group, the offsets
//! it processes of one partition follow each other (each the previous + 1). A new generation
//! may restart from the committed offset (a rebalance, a replay), and a record processed right
//! after an offset reset (`OffsetOutOfRange` under retention, marked `resumed`) may follow the
//! reset instead of the previous record. Processing batches in
//! parallel (`bug_parallel_batches`) lets a later batch finish first, and is caught.

use super::Names;
use crate::protocols::log::{Log, Offset, Partition};
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeMap;

pub struct PartitionOrder {
    names: Names,
    read: Vec<usize>,
    /// Per (consumer, partition): the generation and offset last processed.
    last: BTreeMap<(usize, Partition), (u64, Offset)>,
}

impl PartitionOrder {
    pub fn new(nodes: usize) -> Self {
        PartitionOrder {
            names: Names::new(nodes),
            read: vec![0; nodes],
            last: BTreeMap::new(),
        }
    }
}

impl Invariant<Log> for PartitionOrder {
    fn name(&self) -> &'static str {
        "Partition Order"
    }
    fn statement(&self) -> &'static str {
        "a consumer processes the records of a partition in offset order"
    }
    fn check(&mut self, w: &World<Log>) -> Result<(), Failure> {
        self.names.learn(w);
        for n in w.changed() {
            let log = &w.durable[n].processed;
            let from = self.read[n].min(log.len());
            self.read[n] = log.len();
            for r in &log[from..] {
                if let Some(&(g, o)) = self.last.get(&(n, r.partition))
                    && g == r.generation
                    && !r.resumed
                    && r.offset != o + 1
                {
                    return Err(Failure::new(
                        format!(
                            "{} processed p{}@{} right after p{}@{o} (generation {g})",
                            self.names.of(n),
                            r.partition,
                            r.offset,
                            r.partition
                        ),
                        vec![n],
                    ));
                }
                self.last.insert((n, r.partition), (r.generation, r.offset));
            }
        }
        Ok(())
    }
}
