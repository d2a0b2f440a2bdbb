//! The delivery promises, one checker per file, checked after every event. Which checkers run
//! depends on what the configuration promises:
//!
//! | `delivery` | promise | checker |
//! |---|---|---|
//! | `AtLeastOnce`, `durable: true` | nothing confirmed is lost, even if the broker crashes | No Confirmed Message Lost |
//! | `AtMostOnce` | nothing is processed twice | At Most Once |
//! | any, with `queues` | each message goes to exactly the queues whose binding matches | Exchange Routing |
//!
//! With several queues a message has one copy per queue it is routed to: "lost" and
//! "processed twice" are about one copy, in one queue, processed by that queue's consumers.
//!
//! `AtLeastOnce` allows duplicates and `AtMostOnce` allows losses: those are counted (the
//! `duplicates` and `lost` series), not flagged. A transient queue (`durable: false`) promises
//! nothing across a broker crash.
//!
//! Both read durable state only (the producers' confirmed logs, the consumers' processed logs
//! and the broker's disk), incrementally with a cursor per node, so what a node did is counted
//! while it is down.

mod at_most_once;
mod exchange_routing;
mod no_confirmed_loss;

pub use at_most_once::AtMostOnce;
pub use exchange_routing::ExchangeRouting;
pub use no_confirmed_loss::NoConfirmedMessageLost;

use super::{Delivery, Queue, QueueConfig};
use crate::sim::{Invariant, NodeId, Protocol, World};

/// The checkers of the promise `cfg` makes.
pub fn all(cfg: &QueueConfig, nodes: usize) -> Vec<Box<dyn Invariant<Queue>>> {
    let mut v: Vec<Box<dyn Invariant<Queue>>> = Vec::new();
    if !cfg.queues.is_empty() {
        v.push(Box::new(ExchangeRouting::new(cfg)));
    }
    match cfg.delivery {
        Delivery::AtLeastOnce if cfg.durable => {
            v.push(Box::new(NoConfirmedMessageLost::new(cfg, nodes)))
        }
        Delivery::AtLeastOnce => {}
        Delivery::AtMostOnce => v.push(Box::new(AtMostOnce::new(nodes))),
    }
    v
}

/// The queue each consumer consumes, learnt from live states (a crashed consumer keeps the
/// queue it had; 0, the default queue, until known).
#[derive(Clone, Debug, Default)]
pub(crate) struct ConsumerQueues(Vec<Option<usize>>);

impl ConsumerQueues {
    pub(crate) fn new(nodes: usize) -> Self {
        ConsumerQueues(vec![None; nodes])
    }
    pub(crate) fn learn(&mut self, w: &World<Queue>) {
        for n in w.changed() {
            if let Some(Queue {
                part: super::Part::Consumer(c),
                ..
            }) = &w.states[n]
            {
                self.0[n] = Some(c.queue);
            }
        }
    }
    pub(crate) fn of(&self, n: NodeId) -> usize {
        self.0[n].unwrap_or(0)
    }
}

/// A protocol state that knows its node's name (`consumer2`), for checkers' explanations.
pub(crate) trait Named {
    fn node_name(&self) -> &str;
}

impl Named for Queue {
    fn node_name(&self) -> &str {
        &self.name
    }
}

/// Node names learnt from live states (a crashed node keeps the name it had). Shared with the
/// `stream` protocol's checkers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names(Vec<Option<String>>);

impl Names {
    pub(crate) fn new(nodes: usize) -> Self {
        Names(vec![None; nodes])
    }
    pub(crate) fn learn<P: Protocol + Named>(&mut self, w: &World<P>) {
        for n in w.changed() {
            if self.0[n].is_none()
                && let Some(s) = &w.states[n]
            {
                self.0[n] = Some(s.node_name().to_string());
            }
        }
    }
    pub(crate) fn of(&self, n: NodeId) -> String {
        self.0[n].clone().unwrap_or_else(|| format!("n{}", n + 1))
    }
}
