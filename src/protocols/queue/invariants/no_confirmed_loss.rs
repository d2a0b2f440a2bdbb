//! No Confirmed Message Lost: the at-least-once promise of publisher confirms and manual
//! acknowledgements on a durable queue. RabbitMQ's reliability guide: a confirmed message
//! "has been persisted to disk" for a durable queue, and "a message that was delivered but
//! not acknowledged will be requeued" (<https://www.rabbitmq.com/docs/confirms>).
//!
//! Stated on disks, so that it covers a crash of anyone at any instant: every message whose
//! publish was confirmed is in the broker's durable queue (ready, unacknowledged, delayed or
//! dead-lettered) or in some consumer's processed log. A consumer writes its effect before
//! it acknowledges, and the broker deletes only on the acknowledgement, so the message is
//! always in one of them. Confirming before the write (`bug_confirm_before_persist`) or
//! deleting on delivery (`bug_delete_on_delivery`) opens a gap, and the checker names the
//! message in it.

use super::Names;
use crate::protocols::queue::{MsgId, Part, Queue};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

pub struct NoConfirmedMessageLost {
    names: Names,
    broker: Option<NodeId>,
    /// Per node: how much of its confirmed log and of its processed log has been read.
    confirmed_read: Vec<usize>,
    processed_read: Vec<usize>,
    /// Every id some consumer processed.
    processed: BTreeSet<MsgId>,
    /// Confirmed and not processed yet: id -> the producer it was confirmed to.
    outstanding: BTreeMap<MsgId, NodeId>,
}

impl NoConfirmedMessageLost {
    pub fn new(nodes: usize) -> Self {
        NoConfirmedMessageLost {
            names: Names::new(nodes),
            broker: None,
            confirmed_read: vec![0; nodes],
            processed_read: vec![0; nodes],
            processed: BTreeSet::new(),
            outstanding: BTreeMap::new(),
        }
    }
}

impl Invariant<Queue> for NoConfirmedMessageLost {
    fn name(&self) -> &'static str {
        "No Confirmed Message Lost"
    }
    fn statement(&self) -> &'static str {
        "every confirmed publish is on the broker's disk or in a consumer's processed log"
    }
    fn check(&mut self, w: &World<Queue>) -> Result<(), Failure> {
        self.names.learn(w);
        let mut broker_changed = false;
        let mut new_outstanding = false;
        for n in w.changed() {
            if let Some(Queue {
                part: Part::Broker(_),
                ..
            }) = &w.states[n]
            {
                self.broker = Some(n);
            }
            broker_changed |= self.broker == Some(n);
            let d = &w.durable[n];
            let from = self.confirmed_read[n].min(d.log.confirmed.len());
            for &id in &d.log.confirmed[from..] {
                if !self.processed.contains(&id) {
                    self.outstanding.insert(id, n);
                    new_outstanding = true;
                }
            }
            self.confirmed_read[n] = d.log.confirmed.len();
            let from = self.processed_read[n].min(d.processed.len());
            for &id in &d.processed[from..] {
                self.processed.insert(id);
                self.outstanding.remove(&id);
            }
            self.processed_read[n] = d.processed.len();
        }
        let Some(b) = self.broker else {
            return Ok(());
        };
        if self.outstanding.is_empty() || !(broker_changed || new_outstanding) {
            return Ok(());
        }
        let held: BTreeSet<MsgId> = w.durable[b].disk.ids().collect();
        if let Some((&id, &producer)) = self.outstanding.iter().find(|(id, _)| !held.contains(id)) {
            let down = if w.states[b].is_none() {
                " (the broker is down)"
            } else {
                ""
            };
            return Err(Failure::new(
                format!(
                    "m{id} was confirmed to {} but is neither on {}'s disk{down} nor in any \
                     consumer's processed log: a broker crash, or the loss of the delivery, \
                     loses it for good",
                    self.names.of(producer),
                    self.names.of(b)
                ),
                vec![producer, b],
            ));
        }
        Ok(())
    }
}
