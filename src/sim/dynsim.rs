//! The one type-erased boundary: the CLI and the app drive any protocol's run through
//! `dyn DynSim` (step, run until a time, apply a control command, read trace and views).

use crate::sim::actor::{NodeId, NodeView, Protocol};
use crate::sim::client::History;
use crate::sim::control::Action;
use crate::sim::engine::{NodeStatus, Sim};
use crate::sim::invariant::Violation;
use crate::sim::metrics::Metrics;
use crate::sim::network::Network;
use crate::sim::roles::RoleTable;
use crate::sim::time::SimTime;
use crate::sim::trace::Trace;
use std::collections::BTreeMap;

pub trait DynSim: Send {
    fn protocol(&self) -> &'static str;
    /// Message kinds in legend order.
    fn message_kinds(&self) -> &'static [&'static str];
    fn entries_heading(&self) -> &'static str;
    fn names(&self) -> &[String];
    fn nodes(&self) -> usize {
        self.names().len()
    }
    fn now(&self) -> SimTime;
    fn duration(&self) -> SimTime;
    fn seed(&self) -> u64;
    /// Processes one queued item; false when nothing is left before the end.
    fn step(&mut self) -> bool;
    fn run_until(&mut self, t: SimTime);
    fn next_event_at(&self) -> Option<SimTime>;
    /// Applies a user action now and records it.
    fn apply(&mut self, action: Action) -> Result<(), String>;
    fn trace(&self) -> &Trace;
    /// To stream or bound the trace (`distsim run --trace --keep-events`).
    fn trace_mut(&mut self) -> &mut Trace;
    fn view(&self, node: NodeId) -> NodeView;
    fn status(&self, node: NodeId) -> NodeStatus;
    /// Pending timers of a node: (label, started, fires).
    fn timers_of(&self, node: NodeId) -> Vec<(String, SimTime, SimTime)>;
    fn metrics(&self) -> &Metrics;
    fn history(&self) -> &History;
    fn violations(&self) -> &[Violation];
    fn network(&self) -> &Network;
    /// User actions applied so far, with their times.
    fn recorded(&self) -> &[(SimTime, Action)];
    fn role_first_seen(&self) -> &BTreeMap<String, SimTime>;
    fn step_limit_hit(&self) -> bool;
    /// Why the run stopped because simulated time stood still (it also counts as the step
    /// limit, and is recorded as a note).
    fn stalled(&self) -> Option<&str> {
        None
    }
    fn steps(&self) -> u64;
    /// Which node plays which role.
    fn roles(&self) -> &RoleTable;
    /// Waiting inputs and busy workers of a node with a service model.
    fn station_load(&self, node: NodeId) -> Option<(usize, u32)>;
    /// The protocol's liveness condition now ([`Protocol::healed`]).
    fn healed(&self) -> Option<Result<(), String>>;
}

impl<P: Protocol> DynSim for Sim<P> {
    fn protocol(&self) -> &'static str {
        P::NAME
    }
    fn message_kinds(&self) -> &'static [&'static str] {
        P::MESSAGE_KINDS
    }
    fn entries_heading(&self) -> &'static str {
        P::ENTRIES_HEADING
    }
    fn names(&self) -> &[String] {
        &self.setup().names
    }
    fn now(&self) -> SimTime {
        Sim::now(self)
    }
    fn duration(&self) -> SimTime {
        self.setup().duration
    }
    fn seed(&self) -> u64 {
        self.setup().seed
    }
    fn step(&mut self) -> bool {
        Sim::step(self)
    }
    fn run_until(&mut self, t: SimTime) {
        Sim::run_until(self, t)
    }
    fn next_event_at(&self) -> Option<SimTime> {
        Sim::next_event_at(self)
    }
    fn apply(&mut self, action: Action) -> Result<(), String> {
        Sim::apply(self, action)
    }
    fn trace(&self) -> &Trace {
        Sim::trace(self)
    }
    fn trace_mut(&mut self) -> &mut Trace {
        Sim::trace_mut(self)
    }
    fn view(&self, node: NodeId) -> NodeView {
        Sim::view(self, node)
    }
    fn status(&self, node: NodeId) -> NodeStatus {
        Sim::status(self, node)
    }
    fn timers_of(&self, node: NodeId) -> Vec<(String, SimTime, SimTime)> {
        Sim::timers_of(self, node)
    }
    fn metrics(&self) -> &Metrics {
        Sim::metrics(self)
    }
    fn history(&self) -> &History {
        Sim::history(self)
    }
    fn violations(&self) -> &[Violation] {
        Sim::violations(self)
    }
    fn network(&self) -> &Network {
        Sim::network(self)
    }
    fn recorded(&self) -> &[(SimTime, Action)] {
        Sim::recorded(self)
    }
    fn role_first_seen(&self) -> &BTreeMap<String, SimTime> {
        Sim::role_first_seen(self)
    }
    fn step_limit_hit(&self) -> bool {
        self.step_limit_hit
    }
    fn stalled(&self) -> Option<&str> {
        Sim::stalled(self)
    }
    fn steps(&self) -> u64 {
        Sim::steps(self)
    }
    fn roles(&self) -> &RoleTable {
        Sim::roles(self)
    }
    fn station_load(&self, node: NodeId) -> Option<(usize, u32)> {
        Sim::station_load(self, node)
    }
    fn healed(&self) -> Option<Result<(), String>> {
        P::healed(&self.setup().config, self.states())
    }
}
