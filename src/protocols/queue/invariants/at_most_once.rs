//! At Most Once: the promise of automatic acknowledgement without publish retries
//! ("fire and forget"): no message is processed more than once, by any consumer.
//!
//! The broker forgets a message the moment it pushes it and producers do not retry, so no
//! path leads to a second delivery. A producer that retries an unconfirmed publish anyway
//! (`bug_retry_publish`) queues a message twice when only the confirm was lost, and the
//! checker names the message and the two consumers (or the one consumer) that processed it.
//! With several queues, "once" is per queue: each queue's copy is processed at most once by
//! that queue's consumers.

use super::{ConsumerQueues, Names};
use crate::protocols::queue::{MsgId, Queue};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::BTreeMap;

pub struct AtMostOnce {
    names: Names,
    queues: ConsumerQueues,
    /// Per node: how much of its processed log has been read.
    read: Vec<usize>,
    /// Every processed copy (queue, id), with the consumer that processed it first.
    first: BTreeMap<(usize, MsgId), NodeId>,
}

impl AtMostOnce {
    pub fn new(nodes: usize) -> Self {
        AtMostOnce {
            names: Names::new(nodes),
            queues: ConsumerQueues::new(nodes),
            read: vec![0; nodes],
            first: BTreeMap::new(),
        }
    }
}

impl Invariant<Queue> for AtMostOnce {
    fn name(&self) -> &'static str {
        "At Most Once"
    }
    fn statement(&self) -> &'static str {
        "no message is processed more than once"
    }
    fn check(&mut self, w: &World<Queue>) -> Result<(), Failure> {
        self.names.learn(w);
        self.queues.learn(w);
        for n in w.changed() {
            let q = self.queues.of(n);
            let log = &w.durable[n].processed;
            let from = self.read[n].min(log.len());
            self.read[n] = log.len();
            for &id in &log[from..] {
                if let Some(&m) = self.first.get(&(q, id)) {
                    let by = if m == n {
                        format!("twice by {}", self.names.of(n))
                    } else {
                        format!("by {} and again by {}", self.names.of(m), self.names.of(n))
                    };
                    return Err(Failure::new(
                        format!("m{id} was processed {by}"),
                        vec![m, n],
                    ));
                }
                self.first.insert((q, id), n);
            }
        }
        Ok(())
    }
}
