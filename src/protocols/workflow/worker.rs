//! A worker: it long-polls both task queues of the service and runs what it is handed.
//!
//! - A **workflow task** carries the workflow's whole event history. The worker replays it
//!   through the workflow code ([`super::code::replay`]): activities already completed are not
//!   run again, their results come from their events; the code's commands for earlier tasks
//!   must match the history. A match: `RespondWorkflowTaskCompleted` with the new commands.
//!   A mismatch: `RespondWorkflowTaskFailed` (Temporal's non-determinism error).
//! - An **activity task** is one attempt of an activity: the worker calls the service the
//!   activity acts on with the idempotency key `(workflow, activity id)` and reports the
//!   outcome. It gives the attempt up after `start_to_close_timeout` (the service times it
//!   out too, and retries it elsewhere).
//!
//! A worker keeps nothing on disk: a crash loses the tasks it holds, and the service's
//! timeouts hand them to another worker.

use super::code::{self, Replay};
use super::config::WorkflowConfig;
use super::message::{Activity, ActivityId, Command, Event, Outcome, WfMsg, WorkflowId};
use super::{Workflow, WorkflowTimer};
use crate::sim::{Ctx, NodeId};
use std::collections::BTreeMap;

/// A worker's last replay, kept for the replay checker.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayRecord {
    /// Replays run so far by this worker incarnation (the checker's cursor).
    pub seq: u64,
    pub workflow: WorkflowId,
    /// The history it replayed (the task's), for the node's drawn list.
    pub history: Vec<Event>,
    /// Per completed earlier workflow task: the commands the code issued on replay.
    pub produced: Vec<Vec<Command>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Worker {
    /// Activity attempts in progress: (workflow, activity id) → (activity, attempt).
    pub running: BTreeMap<(WorkflowId, ActivityId), (Activity, u32)>,
    pub last: ReplayRecord,
    pub workflow_tasks: u64,
    pub activity_tasks: u64,
    /// Completed activities taken from histories instead of run again.
    pub skipped: u64,
}

impl Worker {
    pub fn start(cfg: &WorkflowConfig, ctx: &mut Ctx<Workflow>) -> Self {
        let w = Worker::default();
        w.poll(ctx);
        ctx.set_timer(WorkflowTimer::Poll, cfg.poll_interval);
        w
    }

    fn server(ctx: &Ctx<Workflow>) -> Option<NodeId> {
        ctx.nodes_of("server").first().copied()
    }

    fn poll(&self, ctx: &mut Ctx<Workflow>) {
        if let Some(s) = Self::server(ctx) {
            ctx.send(s, WfMsg::PollWorkflowTaskQueue);
            ctx.send(s, WfMsg::PollActivityTaskQueue);
        }
    }

    pub fn on_timer(
        &mut self,
        timer: WorkflowTimer,
        cfg: &WorkflowConfig,
        ctx: &mut Ctx<Workflow>,
    ) {
        match timer {
            WorkflowTimer::Poll => {
                self.poll(ctx);
                ctx.set_timer(WorkflowTimer::Poll, cfg.poll_interval);
            }
            WorkflowTimer::AttemptDeadline(wf, id, attempt)
                if self.running.get(&(wf, id)).is_some_and(|r| r.1 == attempt) =>
            {
                self.running.remove(&(wf, id));
                ctx.count("attempts_abandoned", 1);
            }
            _ => {}
        }
    }

    pub fn on_message(
        &mut self,
        from: NodeId,
        msg: WfMsg,
        cfg: &WorkflowConfig,
        ctx: &mut Ctx<Workflow>,
    ) {
        match msg {
            WfMsg::WorkflowTask {
                workflow,
                started,
                history,
            } => {
                self.workflow_task(from, workflow, started, history, cfg, ctx);
                ctx.send(from, WfMsg::PollWorkflowTaskQueue);
            }
            WfMsg::ActivityTask {
                workflow,
                activity_id,
                activity,
                attempt,
            } => {
                self.activity_tasks += 1;
                self.running
                    .insert((workflow, activity_id), (activity, attempt));
                if let Some(&to) = ctx.nodes_of(activity.service()).first() {
                    let call = WfMsg::Invoke {
                        workflow,
                        activity_id,
                        activity,
                        attempt,
                    };
                    ctx.send(to, call);
                }
                ctx.set_timer(
                    WorkflowTimer::AttemptDeadline(workflow, activity_id, attempt),
                    cfg.start_to_close_timeout,
                );
                ctx.send(from, WfMsg::PollActivityTaskQueue);
            }
            WfMsg::Invoked {
                workflow,
                activity_id,
                attempt,
                outcome,
            } => self.invoked(workflow, activity_id, attempt, outcome, ctx),
            _ => {}
        }
    }

    fn workflow_task(
        &mut self,
        server: NodeId,
        workflow: WorkflowId,
        started: usize,
        history: Vec<Event>,
        cfg: &WorkflowConfig,
        ctx: &mut Ctx<Workflow>,
    ) {
        self.workflow_tasks += 1;
        let Replay {
            commands,
            produced,
            diverged,
            skipped,
        } = code::replay(&history, cfg, ctx.now);
        self.skipped += skipped as u64;
        if skipped > 0 {
            ctx.count("activities_replayed", skipped as u64);
        }
        self.last = ReplayRecord {
            seq: self.last.seq + 1,
            workflow,
            history,
            produced,
        };
        match diverged {
            Some(why) => {
                ctx.note(format!("o{workflow}: non-determinism: {why}"));
                ctx.send(
                    server,
                    WfMsg::RespondWorkflowTaskFailed { workflow, started },
                );
            }
            None => ctx.send(
                server,
                WfMsg::RespondWorkflowTaskCompleted {
                    workflow,
                    started,
                    commands,
                },
            ),
        }
    }

    fn invoked(
        &mut self,
        workflow: WorkflowId,
        activity_id: ActivityId,
        attempt: u32,
        outcome: Outcome,
        ctx: &mut Ctx<Workflow>,
    ) {
        if self
            .running
            .get(&(workflow, activity_id))
            .is_none_or(|r| r.1 != attempt)
        {
            return;
        }
        self.running.remove(&(workflow, activity_id));
        ctx.cancel_timer(WorkflowTimer::AttemptDeadline(
            workflow,
            activity_id,
            attempt,
        ));
        let Some(server) = Self::server(ctx) else {
            return;
        };
        let msg = match outcome {
            Outcome::Done => WfMsg::RespondActivityTaskCompleted {
                workflow,
                activity_id,
                attempt,
            },
            Outcome::Refused => WfMsg::RespondActivityTaskFailed {
                workflow,
                activity_id,
                attempt,
                non_retryable: true,
            },
        };
        ctx.send(server, msg);
    }
}
