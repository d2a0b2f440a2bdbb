//! Safety properties checked after every event.
//!
//! A protocol returns one checker per property (one file per property, named after the paper).
//! A checker sees every node's volatile state (`None` while crashed) and durable state, and
//! which node the last event touched so it can work incrementally. The first failure of each
//! checker becomes a `Violation` event in the trace; the checker is not asked again.

use crate::sim::actor::{NodeId, Protocol};
use crate::sim::client::History;
use crate::sim::network::Network;
use crate::sim::time::SimTime;
use crate::sim::trace::EventId;
use serde::Serialize;

/// What a checker sees after an event.
pub struct World<'a, P: Protocol> {
    pub now: SimTime,
    /// Volatile state per node, `None` while crashed.
    pub states: &'a [Option<P>],
    /// Durable state per node (what a restart would be given).
    pub durable: &'a [P::Durable],
    /// The node the last event happened on, if any (checkers may check only it).
    pub touched: Option<NodeId>,
    /// The last trace event of each node, to cite in violations.
    pub last_event: &'a [Option<EventId>],
    pub history: &'a History,
}

impl<P: Protocol> World<'_, P> {
    /// The live nodes with their ids.
    pub fn live(&self) -> impl Iterator<Item = (NodeId, &P)> {
        self.states
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
    }
    /// The nodes whose state may have changed in the last event: the touched node, or every
    /// node when the event was not one node's (an action such as a partition or a restart).
    /// Incremental checkers look only at these.
    pub fn changed(&self) -> std::ops::Range<NodeId> {
        match self.touched {
            Some(n) => n..n + 1,
            None => 0..self.states.len(),
        }
    }

    /// Event ids to cite for a set of nodes (their latest events).
    pub fn events_of(&self, nodes: &[NodeId]) -> Vec<EventId> {
        nodes.iter().filter_map(|&n| self.last_event[n]).collect()
    }
}

pub trait Invariant<P: Protocol>: Send {
    /// The property's name as in the paper ("Election Safety").
    fn name(&self) -> &'static str;
    /// One sentence stating the property, shown with a violation.
    fn statement(&self) -> &'static str;
    fn check(&mut self, world: &World<P>) -> Result<(), Failure>;
    /// What the engine calls. A property stated for nodes that can reach each other (a
    /// liveness bound such as Bounded Waiting) overrides this to see the network; the rest
    /// keep the default, which ignores it.
    fn check_with_network(&mut self, world: &World<P>, network: &Network) -> Result<(), Failure> {
        let _ = network;
        self.check(world)
    }
    /// Anomalies this checker counts without failing, as `(counter, total so far)`: a stale
    /// read where the configuration does not promise fresh reads is an outcome to measure,
    /// not a bug. The engine copies them into the protocol counters after every check.
    fn counts(&self, out: &mut Vec<(&'static str, u64)>) {
        let _ = out;
    }
}

/// A checker's report: what went wrong, and which nodes show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub explanation: String,
    pub nodes: Vec<NodeId>,
}

impl Failure {
    pub fn new(explanation: impl Into<String>, nodes: Vec<NodeId>) -> Self {
        Failure {
            explanation: explanation.into(),
            nodes,
        }
    }
}

/// A violation as recorded in the trace and reported by the CLI.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    pub invariant: String,
    pub statement: String,
    pub explanation: String,
    pub at: SimTime,
    pub nodes: Vec<NodeId>,
    /// The events involved: the latest event of each node concerned, and the triggering one.
    pub events: Vec<EventId>,
}
