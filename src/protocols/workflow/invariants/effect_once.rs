//! Effect Once Per Completion. Temporal runs an activity at least once: an attempt whose
//! answer is lost or late is retried, possibly on another worker, so "Activities should be
//! idempotent". Here each call carries the idempotency key `(workflow id, activity id)`.
//!
//! Stated on the services' journals and the server's histories: no key's effect is applied
//! twice, and every `ActivityTaskCompleted` in a history has its effect in the service's
//! journal. With `bug_no_idempotency` a retried `ChargeCard` whose first attempt charged
//! charges again, and the checker names the order.

use crate::protocols::workflow::{ActivityId, Event, Workflow, WorkflowId};
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeMap;

pub struct EffectOncePerCompletion {
    /// Per node: how much of its store's journal has been read.
    journal_read: Vec<usize>,
    /// Per workflow: how much of its history has been read.
    history_read: BTreeMap<WorkflowId, usize>,
    /// Effects applied per idempotency key, and the node that applied them.
    applied: BTreeMap<(WorkflowId, ActivityId), (u32, usize)>,
}

impl EffectOncePerCompletion {
    pub fn new(nodes: usize) -> Self {
        EffectOncePerCompletion {
            journal_read: vec![0; nodes],
            history_read: BTreeMap::new(),
            applied: BTreeMap::new(),
        }
    }
}

impl Invariant<Workflow> for EffectOncePerCompletion {
    fn name(&self) -> &'static str {
        "Effect Once Per Completion"
    }
    fn statement(&self) -> &'static str {
        "each activity's effect is applied at most once, and a completed activity's effect was applied"
    }
    fn check(&mut self, w: &World<Workflow>) -> Result<(), Failure> {
        for n in w.changed() {
            let journal = &w.durable[n].store.journal;
            let from = self.journal_read[n].min(journal.len());
            self.journal_read[n] = journal.len();
            for e in &journal[from..] {
                let k = self
                    .applied
                    .entry((e.workflow, e.activity_id))
                    .or_insert((0, n));
                k.0 += 1;
                if k.0 > 1 {
                    return Err(Failure::new(
                        format!(
                            "o{} {} (activity {}) took effect {} times: a retried attempt ran \
                             again instead of being answered from its idempotency key",
                            e.workflow,
                            e.activity.name(),
                            e.activity_id,
                            k.0
                        ),
                        vec![n],
                    ));
                }
            }
        }
        let Some((server, d)) = super::server(w) else {
            return Ok(());
        };
        if !w.changed().contains(&server) {
            return Ok(());
        }
        for (&wf, ex) in &d.server.executions {
            let read = self.history_read.entry(wf).or_default();
            let from = (*read).min(ex.history.len());
            *read = ex.history.len();
            for e in &ex.history[from..] {
                if let Event::ActivityTaskCompleted { activity_id } = *e
                    && !self.applied.contains_key(&(wf, activity_id))
                {
                    return Err(Failure::new(
                        format!(
                            "o{wf}: activity {activity_id} completed, but no service applied \
                             its effect"
                        ),
                        vec![server],
                    ));
                }
            }
        }
        Ok(())
    }
}
