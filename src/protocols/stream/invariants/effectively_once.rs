//! Effectively Once: no consumer applies a stream sequence twice. Redeliveries (after a lost
//! ack, a crash between applying and acking, or `ack_wait` passing) deliver a sequence again
//! (NATS, consumer `AckWait`: "If an acknowledgment is not received in time, the message will
//! be redelivered"); a consumer that remembers the sequences it applied acknowledges such a
//! duplicate without applying it: the idempotent consumer which, with the broker's dedup on
//! the publish side, makes delivery effectively once (issue 12). A consumer that applies
//! every delivery (`bug_consumer_no_dedup`) is caught at the second application.

use crate::protocols::queue::invariants::Names;
use crate::protocols::stream::{Seq, Stream};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::BTreeSet;

pub struct EffectivelyOnce {
    names: Names,
    /// Per node: how much of its applied log has been read.
    read: Vec<usize>,
    /// (consumer, sequence) pairs applied.
    applied: BTreeSet<(NodeId, Seq)>,
}

impl EffectivelyOnce {
    pub fn new(nodes: usize) -> Self {
        EffectivelyOnce {
            names: Names::new(nodes),
            read: vec![0; nodes],
            applied: BTreeSet::new(),
        }
    }
}

impl Invariant<Stream> for EffectivelyOnce {
    fn name(&self) -> &'static str {
        "Effectively Once"
    }
    fn statement(&self) -> &'static str {
        "no consumer applies a stream sequence more than once"
    }
    fn check(&mut self, w: &World<Stream>) -> Result<(), Failure> {
        self.names.learn(w);
        for n in w.changed() {
            let log = &w.durable[n].applied;
            let from = self.read[n].min(log.len());
            self.read[n] = log.len();
            for &(seq, id) in &log[from..] {
                if !self.applied.insert((n, seq)) {
                    return Err(Failure::new(
                        format!(
                            "{} applied s{seq} (m{id}) a second time: a redelivery was applied \
                             instead of acknowledged",
                            self.names.of(n)
                        ),
                        vec![n],
                    ));
                }
            }
        }
        Ok(())
    }
}
