//! The workflow's promises, one checker per file, checked after every event.
//!
//! | checker | promise | broken by |
//! |---|---|---|
//! | Effect Once Per Completion | each activity's effect is applied at most once, however often it is retried or redelivered, and a completed activity's effect was applied | `bug_no_idempotency` |
//! | Ends Completed, Compensated or Cancelled | a workflow that ended left the stores as its end says: completed means charged, brewed and called; compensated or cancelled means no charge in effect | a late charge without the tombstone |
//! | Replay Reproduces Decisions | every replay of a history issues, for each earlier workflow task, exactly the commands the history recorded | `nondeterministic_workflow` |
//!
//! The first two read durable state only (the stores' journals and the server's histories),
//! with cursors; the third compares what a live worker's code produced on its last replay
//! with the server's durable history. "Every started workflow ends" is measured: the
//! `running` series must reach 0 at quiescence, which the scenarios assert.

mod effect_once;
mod ends_settled;
mod replay_decisions;

pub use effect_once::EffectOncePerCompletion;
pub use ends_settled::EndsSettled;
pub use replay_decisions::ReplayReproducesDecisions;

use super::{Workflow, WorkflowDurable};
use crate::sim::{Invariant, NodeId, World};

pub fn all(nodes: usize) -> Vec<Box<dyn Invariant<Workflow>>> {
    vec![
        Box::new(EffectOncePerCompletion::new(nodes)),
        Box::new(EndsSettled::new(nodes)),
        Box::new(ReplayReproducesDecisions),
    ]
}

/// The server node: the one whose durable state holds histories.
fn server<'a>(w: &World<'a, Workflow>) -> Option<(NodeId, &'a WorkflowDurable)> {
    w.durable
        .iter()
        .enumerate()
        .find(|(_, d)| !d.server.executions.is_empty())
}
