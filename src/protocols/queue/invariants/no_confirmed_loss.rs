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
//!
//! With several queues the promise is per copy: a confirmed message is in every queue its
//! routing key is bound to (the bindings say which), or processed by a consumer of that queue.

use super::{ConsumerQueues, Names};
use crate::protocols::queue::{MsgId, Part, Queue, QueueConfig};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

pub struct NoConfirmedMessageLost {
    cfg: QueueConfig,
    names: Names,
    queues: ConsumerQueues,
    broker: Option<NodeId>,
    /// Per node: how much of its confirmed log and of its processed log has been read.
    confirmed_read: Vec<usize>,
    processed_read: Vec<usize>,
    /// Every copy (queue, id) some consumer of that queue processed.
    processed: BTreeSet<(usize, MsgId)>,
    /// Copies (queue, id) confirmed and not processed yet -> the producer it was confirmed to.
    outstanding: BTreeMap<(usize, MsgId), NodeId>,
}

impl NoConfirmedMessageLost {
    pub fn new(cfg: &QueueConfig, nodes: usize) -> Self {
        NoConfirmedMessageLost {
            cfg: cfg.clone(),
            names: Names::new(nodes),
            queues: ConsumerQueues::new(nodes),
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
        self.queues.learn(w);
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
                for q in self.cfg.bound_queues(self.cfg.routing_key(id)) {
                    if !self.processed.contains(&(q, id)) {
                        self.outstanding.insert((q, id), n);
                        new_outstanding = true;
                    }
                }
            }
            self.confirmed_read[n] = d.log.confirmed.len();
            let from = self.processed_read[n].min(d.processed.len());
            let q = self.queues.of(n);
            for &id in &d.processed[from..] {
                self.processed.insert((q, id));
                self.outstanding.remove(&(q, id));
            }
            self.processed_read[n] = d.processed.len();
        }
        let Some(b) = self.broker else {
            return Ok(());
        };
        if self.outstanding.is_empty() || !(broker_changed || new_outstanding) {
            return Ok(());
        }
        let held: BTreeSet<(usize, MsgId)> = w.durable[b]
            .disk
            .stored()
            .map(|m| (m.queue, m.id))
            .collect();
        if let Some((&(q, id), &producer)) =
            self.outstanding.iter().find(|(c, _)| !held.contains(c))
        {
            let down = if w.states[b].is_none() {
                " (the broker is down)"
            } else {
                ""
            };
            let (queue, consumer) = if self.cfg.queues.is_empty() {
                (String::new(), "any".to_string())
            } else {
                let name = self.cfg.queue_name(q);
                (format!("in queue `{name}` "), format!("a `{name}`"))
            };
            return Err(Failure::new(
                format!(
                    "m{id} was confirmed to {} but is neither {queue}on {}'s disk{down} nor in \
                     {consumer} consumer's processed log: a broker crash, or the loss of the \
                     delivery, loses it for good",
                    self.names.of(producer),
                    self.names.of(b)
                ),
                vec![producer, b],
            ));
        }
        Ok(())
    }
}
