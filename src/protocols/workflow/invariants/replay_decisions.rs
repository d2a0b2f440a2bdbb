//! Replay Reproduces Decisions. Temporal's docs: "Workflow code must be deterministic": on
//! replay, "the Workflow code is re-executed" and each command it issues must match the
//! event the history recorded for it, or the worker reports a non-determinism error.
//!
//! Stated on each worker's last replay against the server's durable history: for every
//! earlier workflow task of the replayed history, the commands the code issued again are
//! exactly those recorded after its `WorkflowTaskCompleted`. With
//! `nondeterministic_workflow` the code computes the pickup timer from the worker's clock,
//! and the replay's `StartTimer` differs from the recorded one.

use crate::protocols::workflow::code::{labels, recorded_tasks};
use crate::protocols::workflow::{Part, Workflow};
use crate::sim::{Failure, Invariant, World};

pub struct ReplayReproducesDecisions;

impl Invariant<Workflow> for ReplayReproducesDecisions {
    fn name(&self) -> &'static str {
        "Replay Reproduces Decisions"
    }
    fn statement(&self) -> &'static str {
        "replaying a workflow's history issues the same commands the history recorded"
    }
    fn check(&mut self, w: &World<Workflow>) -> Result<(), Failure> {
        let Some((server, d)) = super::server(w) else {
            return Ok(());
        };
        for n in w.changed() {
            let Some(Some(Workflow {
                part: Part::Worker(wk),
                ..
            })) = w.states.get(n)
            else {
                continue;
            };
            let r = &wk.last;
            if r.produced.is_empty() {
                continue;
            }
            let Some(ex) = d.server.executions.get(&r.workflow) else {
                continue;
            };
            let len = r.history.len().min(ex.history.len());
            let recorded = recorded_tasks(&ex.history[..len]);
            for (k, got) in r.produced.iter().enumerate() {
                let want = recorded.get(k).map(|(_, c)| c.as_slice()).unwrap_or(&[]);
                if got.as_slice() != want {
                    return Err(Failure::new(
                        format!(
                            "o{}: replaying workflow task {} on this worker issued [{}], the \
                             history recorded [{}]",
                            r.workflow,
                            k + 1,
                            labels(got),
                            labels(want)
                        ),
                        vec![n, server],
                    ));
                }
            }
        }
        Ok(())
    }
}
