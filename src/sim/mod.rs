//! The simulation core: time, the event engine, the network, faults, clients, the trace,
//! invariants and metrics. Nothing here depends on Bevy, the wall clock or unseeded randomness.

pub mod actor;
pub mod chaos;
pub mod client;
pub mod control;
pub mod dynsim;
pub mod engine;
pub mod invariant;
pub mod linearizability;
pub mod load;
pub mod metrics;
pub mod network;
pub mod queue;
pub mod roles;
pub mod series;
pub mod service;
pub mod time;
pub mod trace;

pub use actor::{
    Command, CompactedView, Ctx, EntryView, Gauge, Message, NodeId, NodeView, PartGauge, Protocol,
    TimerView, Tone,
};
pub use client::{ClientRef, ClientReply, ClientRequest, History, HistoryEntry, Op, Outcome};
pub use control::Action;
pub use engine::{NodeStatus, Sim, SimSetup};
pub use invariant::{Failure, Invariant, Violation, World};
pub use roles::{RoleSpec, RoleTable};
pub use service::ServiceModel;
pub use time::SimTime;
pub use trace::{EventId, EventKind, Trace, TraceEvent, TraceLevel};
