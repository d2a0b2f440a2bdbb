//! The Temporal service: it keeps each workflow execution's event history and mutable state
//! durably, matches tasks to the workers polling its two task queues, and owns every timeout
//! and timer, so that nothing a worker holds needs to survive a crash.
//!
//! ```text
//!  StartWorkflowExecution ─► WorkflowExecutionStarted, WorkflowTaskScheduled ─► (queue)
//!  poll ─► WorkflowTaskStarted ─► WorkflowTask(history) ─► worker replays, decides
//!        RespondWorkflowTaskCompleted ─► WorkflowTaskCompleted + one event per command
//!        (no answer in workflow_task_timeout ─► WorkflowTaskTimedOut, scheduled again)
//!  ActivityTaskScheduled ─► (queue) ─► poll ─► ActivityTask(attempt k)
//!        RespondActivityTaskCompleted ─► ActivityTaskStarted(k), ActivityTaskCompleted
//!        failed / no answer in start_to_close_timeout ─► retry after
//!            initial_interval * backoff_coefficient^(k-1)  … until maximum_attempts:
//!            ActivityTaskStarted(k), ActivityTaskFailed / ActivityTaskTimedOut
//!  TimerStarted ─► (durable, fires on the server) ─► TimerFired
//!  every event a workflow must see ─► WorkflowTaskScheduled (one at a time)
//! ```
//!
//! Everything in [`ServerDb`] is written before anything leaves the node; a restarted
//! service re-arms the timeouts of tasks in flight and the timers from it. The pollers are
//! in memory (workers poll again every `poll_interval`).

use super::config::WorkflowConfig;
use super::message::{Activity, ActivityId, Command, End, Event, Signal, WfMsg, WorkflowId};
use super::{Workflow, WorkflowDurable, WorkflowTimer};
use crate::sim::{Ctx, NodeId, SimTime};
use std::collections::{BTreeMap, VecDeque};

/// Records a poll of `worker`, or refreshes its time.
fn poll(q: &mut VecDeque<(NodeId, SimTime)>, worker: NodeId, now: SimTime) {
    match q.iter_mut().find(|(w, _)| *w == worker) {
        Some(p) => p.1 = now,
        None => q.push_back((worker, now)),
    }
}

/// A workflow task's state in the mutable state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// In the workflow task queue.
    Queued,
    /// Handed to a worker; the index of its `WorkflowTaskStarted` event.
    Started(usize),
    /// Failed (non-determinism); waiting to be scheduled again.
    Backoff,
}

/// An activity scheduled and not closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingActivity {
    pub activity: Activity,
    pub maximum_attempts: u32,
    /// Attempts handed out so far.
    pub attempt: u32,
    /// `None`: queued or backing off (`backoff`); `Some(w)`: attempt running on worker `w`.
    pub worker: Option<NodeId>,
    pub backoff: bool,
}

/// One workflow execution: its event history and its mutable state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Execution {
    pub history: Vec<Event>,
    /// The client node waiting for the result.
    pub client: Option<NodeId>,
    pub task: Option<TaskState>,
    /// Events came while a workflow task was started: schedule one more when it closes.
    pub task_needed: bool,
    pub task_failures: u32,
    pub activities: BTreeMap<ActivityId, PendingActivity>,
    /// Timers started and not fired or cancelled: when each fires.
    pub timers: BTreeMap<u32, SimTime>,
    pub end: Option<End>,
}

impl Execution {
    fn append(&mut self, e: Event) {
        self.history.push(e);
    }
    /// Something the workflow must see happened: make sure a workflow task will run.
    fn needs_task(&mut self) {
        match self.task {
            None => {
                self.append(Event::WorkflowTaskScheduled);
                self.task = Some(TaskState::Queued);
            }
            Some(TaskState::Started(_)) => self.task_needed = true,
            Some(_) => {}
        }
    }
}

/// The service's durable state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerDb {
    pub executions: BTreeMap<WorkflowId, Execution>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Server {
    pub db: ServerDb,
    /// Workers waiting on each task queue, in arrival order, with the time of their last
    /// poll (volatile). A poll expires after two `poll_interval`s (the long poll's timeout):
    /// a crashed worker stops being handed tasks.
    pub workflow_pollers: VecDeque<(NodeId, SimTime)>,
    pub activity_pollers: VecDeque<(NodeId, SimTime)>,
    dirty: bool,
}

impl Server {
    pub fn start(db: ServerDb, cfg: &WorkflowConfig, ctx: &mut Ctx<Workflow>) -> Self {
        let mut s = Server {
            db,
            workflow_pollers: VecDeque::new(),
            activity_pollers: VecDeque::new(),
            dirty: false,
        };
        let now = ctx.now;
        for (&wf, e) in &mut s.db.executions {
            if e.end.is_some() {
                continue;
            }
            match e.task {
                Some(TaskState::Started(i)) => ctx.set_timer(
                    WorkflowTimer::WorkflowTaskTimeout(wf, i),
                    cfg.workflow_task_timeout,
                ),
                Some(TaskState::Backoff) => e.task = Some(TaskState::Queued),
                _ => {}
            }
            for (&id, a) in &mut e.activities {
                if a.worker.is_some() {
                    ctx.set_timer(
                        WorkflowTimer::StartToClose(wf, id, a.attempt),
                        cfg.start_to_close_timeout,
                    );
                } else {
                    a.backoff = false;
                }
            }
            for (&t, &at) in &e.timers {
                ctx.set_timer(WorkflowTimer::Timer(wf, t), at.saturating_sub(now));
            }
        }
        s
    }

    /// Writes the mutable state and histories if a handler changed them.
    pub fn flush(&mut self, ctx: &mut Ctx<Workflow>) {
        if std::mem::take(&mut self.dirty) {
            ctx.persist(WorkflowDurable {
                server: self.db.clone(),
                ..Default::default()
            });
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
            WfMsg::StartWorkflowExecution { workflow } => self.start_workflow(workflow, from, ctx),
            WfMsg::SignalWorkflowExecution { workflow, signal } => {
                self.signal(workflow, signal, from, ctx)
            }
            WfMsg::PollWorkflowTaskQueue => poll(&mut self.workflow_pollers, from, ctx.now),
            WfMsg::PollActivityTaskQueue => poll(&mut self.activity_pollers, from, ctx.now),
            WfMsg::RespondWorkflowTaskCompleted {
                workflow,
                started,
                commands,
            } => self.task_completed(workflow, started, &commands, ctx),
            WfMsg::RespondWorkflowTaskFailed { workflow, started } => {
                self.task_failed(workflow, started, cfg, ctx)
            }
            WfMsg::RespondActivityTaskCompleted {
                workflow,
                activity_id,
                attempt,
            } => self.activity_closed(workflow, activity_id, attempt, None, cfg, ctx),
            WfMsg::RespondActivityTaskFailed {
                workflow,
                activity_id,
                attempt,
                non_retryable,
            } => {
                let failure = Some(non_retryable);
                self.activity_closed(workflow, activity_id, attempt, failure, cfg, ctx)
            }
            _ => {}
        }
        self.dispatch(cfg, ctx);
    }

    fn start_workflow(&mut self, workflow: WorkflowId, client: NodeId, ctx: &mut Ctx<Workflow>) {
        if let Some(e) = self.db.executions.get_mut(&workflow) {
            // WorkflowIdReusePolicy: the id is taken; the client hears the result when it ends.
            match e.end {
                Some(end) => ctx.send(client, WfMsg::WorkflowResult { workflow, end }),
                None if e.client != Some(client) => {
                    e.client = Some(client);
                    self.dirty = true;
                }
                None => {}
            }
            return;
        }
        let mut e = Execution {
            client: Some(client),
            ..Default::default()
        };
        e.append(Event::WorkflowExecutionStarted { at: ctx.now });
        e.needs_task();
        self.db.executions.insert(workflow, e);
        ctx.count("workflows_started", 1);
        self.dirty = true;
    }

    fn signal(
        &mut self,
        workflow: WorkflowId,
        signal: Signal,
        from: NodeId,
        ctx: &mut Ctx<Workflow>,
    ) {
        let Some(e) = self.db.executions.get_mut(&workflow) else {
            return;
        };
        if let Some(end) = e.end {
            ctx.send(from, WfMsg::WorkflowResult { workflow, end });
            return;
        }
        let signaled = Event::WorkflowExecutionSignaled { signal };
        // A resent signal (same order, same signal) is recorded once.
        if e.history.contains(&signaled) {
            return;
        }
        e.append(signaled);
        e.needs_task();
        ctx.count("signals", 1);
        self.dirty = true;
    }

    /// Hands queued tasks to waiting pollers.
    fn dispatch(&mut self, cfg: &WorkflowConfig, ctx: &mut Ctx<Workflow>) {
        let expiry = cfg.poll_interval.saturating_mul(2);
        let now = ctx.now;
        for q in [&mut self.workflow_pollers, &mut self.activity_pollers] {
            q.retain(|&(_, at)| at.saturating_add(expiry) >= now);
        }
        while !self.workflow_pollers.is_empty() {
            let Some((&wf, e)) = self
                .db
                .executions
                .iter_mut()
                .find(|(_, e)| e.task == Some(TaskState::Queued))
            else {
                break;
            };
            let (worker, _) = self.workflow_pollers.pop_front().expect("not empty");
            let started = e.history.len();
            e.append(Event::WorkflowTaskStarted { worker });
            e.task = Some(TaskState::Started(started));
            ctx.send(
                worker,
                WfMsg::WorkflowTask {
                    workflow: wf,
                    started,
                    history: e.history.clone(),
                },
            );
            ctx.set_timer(
                WorkflowTimer::WorkflowTaskTimeout(wf, started),
                cfg.workflow_task_timeout,
            );
            self.dirty = true;
        }
        while !self.activity_pollers.is_empty() {
            let queued = self.db.executions.iter_mut().find_map(|(&wf, e)| {
                e.activities
                    .iter_mut()
                    .find(|(_, a)| a.worker.is_none() && !a.backoff)
                    .map(|(&id, a)| (wf, id, a))
            });
            let Some((wf, id, a)) = queued else {
                break;
            };
            let (worker, _) = self.activity_pollers.pop_front().expect("not empty");
            a.attempt += 1;
            a.worker = Some(worker);
            ctx.send(
                worker,
                WfMsg::ActivityTask {
                    workflow: wf,
                    activity_id: id,
                    activity: a.activity,
                    attempt: a.attempt,
                },
            );
            ctx.set_timer(
                WorkflowTimer::StartToClose(wf, id, a.attempt),
                cfg.start_to_close_timeout,
            );
            self.dirty = true;
        }
    }

    fn task_completed(
        &mut self,
        workflow: WorkflowId,
        started: usize,
        commands: &[Command],
        ctx: &mut Ctx<Workflow>,
    ) {
        let Some(e) = self.db.executions.get_mut(&workflow) else {
            return;
        };
        if e.task != Some(TaskState::Started(started)) {
            ctx.count("stale_responses", 1);
            return;
        }
        ctx.cancel_timer(WorkflowTimer::WorkflowTaskTimeout(workflow, started));
        e.append(Event::WorkflowTaskCompleted);
        e.task = None;
        e.task_failures = 0;
        for &c in commands {
            e.append(Event::of(c));
            match c {
                Command::ScheduleActivityTask {
                    activity_id,
                    activity,
                    maximum_attempts,
                } => {
                    let a = PendingActivity {
                        activity,
                        maximum_attempts,
                        attempt: 0,
                        worker: None,
                        backoff: false,
                    };
                    e.activities.insert(activity_id, a);
                }
                Command::StartTimer { timer_id, after } => {
                    e.timers.insert(timer_id, ctx.now.saturating_add(after));
                    ctx.set_timer(WorkflowTimer::Timer(workflow, timer_id), after);
                }
                Command::CancelTimer { timer_id } => {
                    e.timers.remove(&timer_id);
                    ctx.cancel_timer(WorkflowTimer::Timer(workflow, timer_id));
                }
                Command::Finish(end) => {
                    e.end = Some(end);
                    break;
                }
            }
        }
        self.dirty = true;
        if let Some(end) = e.end {
            Self::close(workflow, e, end, ctx);
        } else if std::mem::take(&mut e.task_needed) {
            e.needs_task();
        }
    }

    /// The workflow ended: drop what is still open and tell the client.
    fn close(workflow: WorkflowId, e: &mut Execution, end: End, ctx: &mut Ctx<Workflow>) {
        for (id, a) in std::mem::take(&mut e.activities) {
            ctx.cancel_timer(WorkflowTimer::StartToClose(workflow, id, a.attempt));
            ctx.cancel_timer(WorkflowTimer::ActivityRetry(workflow, id));
        }
        for t in std::mem::take(&mut e.timers).into_keys() {
            ctx.cancel_timer(WorkflowTimer::Timer(workflow, t));
        }
        ctx.count(end.word(), 1);
        if end != End::Completed {
            ctx.note(format!("o{workflow} {}", end.word()));
        }
        if let Some(c) = e.client {
            ctx.send(c, WfMsg::WorkflowResult { workflow, end });
        }
    }

    fn task_failed(
        &mut self,
        workflow: WorkflowId,
        started: usize,
        cfg: &WorkflowConfig,
        ctx: &mut Ctx<Workflow>,
    ) {
        let Some(e) = self.db.executions.get_mut(&workflow) else {
            return;
        };
        if e.task != Some(TaskState::Started(started)) {
            return;
        }
        ctx.cancel_timer(WorkflowTimer::WorkflowTaskTimeout(workflow, started));
        ctx.count("workflow_task_failures", 1);
        ctx.note(format!(
            "o{workflow}: workflow task failed (non-determinism)"
        ));
        e.append(Event::WorkflowTaskFailed);
        e.task = Some(TaskState::Backoff);
        e.task_needed = false;
        e.task_failures += 1;
        ctx.set_timer(
            WorkflowTimer::WorkflowTaskRetry(workflow),
            cfg.retry.backoff(e.task_failures),
        );
        self.dirty = true;
    }

    /// An attempt answered: `failure` is `None` for success, else whether it is final.
    fn activity_closed(
        &mut self,
        workflow: WorkflowId,
        id: ActivityId,
        attempt: u32,
        failure: Option<bool>,
        cfg: &WorkflowConfig,
        ctx: &mut Ctx<Workflow>,
    ) {
        let Some(e) = self.db.executions.get_mut(&workflow) else {
            return;
        };
        let Some(&a) = e.activities.get(&id) else {
            return;
        };
        if a.attempt != attempt || a.worker.is_none() {
            // An attempt that already timed out: its answer is stale.
            ctx.count("stale_responses", 1);
            return;
        }
        ctx.cancel_timer(WorkflowTimer::StartToClose(workflow, id, attempt));
        let close = match failure {
            None => Some(Event::ActivityTaskCompleted { activity_id: id }),
            Some(true) => Some(Event::ActivityTaskFailed { activity_id: id }),
            Some(false) => None,
        };
        self.dirty = true;
        match close {
            Some(ev) => Self::close_activity(e, id, ev),
            None => Self::retry(
                workflow,
                id,
                Event::ActivityTaskFailed { activity_id: id },
                cfg,
                ctx,
                e,
            ),
        }
    }

    fn close_activity(e: &mut Execution, id: ActivityId, ev: Event) {
        let a = e.activities.remove(&id).expect("checked by the caller");
        e.append(Event::ActivityTaskStarted {
            activity_id: id,
            attempt: a.attempt,
            worker: a.worker.unwrap_or_default(),
        });
        e.append(ev);
        e.needs_task();
    }

    /// The attempt failed or timed out: back off and retry, unless attempts are used up
    /// (then the activity closes with `last`).
    fn retry(
        workflow: WorkflowId,
        id: ActivityId,
        last: Event,
        cfg: &WorkflowConfig,
        ctx: &mut Ctx<Workflow>,
        e: &mut Execution,
    ) {
        let a = e.activities.get_mut(&id).expect("checked by the caller");
        if a.maximum_attempts != 0 && a.attempt >= a.maximum_attempts {
            ctx.note(format!(
                "o{workflow}: {} gave up after {} attempts",
                a.activity.name(),
                a.attempt
            ));
            Self::close_activity(e, id, last);
            return;
        }
        a.worker = None;
        a.backoff = true;
        ctx.count("activity_retries", 1);
        ctx.set_timer(
            WorkflowTimer::ActivityRetry(workflow, id),
            cfg.retry.backoff(a.attempt),
        );
    }

    pub fn on_timer(
        &mut self,
        timer: WorkflowTimer,
        cfg: &WorkflowConfig,
        ctx: &mut Ctx<Workflow>,
    ) {
        match timer {
            WorkflowTimer::WorkflowTaskTimeout(wf, started) => {
                let Some(e) = self.db.executions.get_mut(&wf) else {
                    return;
                };
                if e.task == Some(TaskState::Started(started)) {
                    ctx.count("workflow_task_timeouts", 1);
                    e.append(Event::WorkflowTaskTimedOut);
                    e.task = None;
                    e.task_needed = false;
                    e.needs_task();
                    self.dirty = true;
                }
            }
            WorkflowTimer::WorkflowTaskRetry(wf) => {
                if let Some(e) = self.db.executions.get_mut(&wf)
                    && e.task == Some(TaskState::Backoff)
                {
                    e.append(Event::WorkflowTaskScheduled);
                    e.task = Some(TaskState::Queued);
                    self.dirty = true;
                }
            }
            WorkflowTimer::StartToClose(wf, id, attempt) => {
                let Some(e) = self.db.executions.get_mut(&wf) else {
                    return;
                };
                let running = e
                    .activities
                    .get(&id)
                    .is_some_and(|a| a.attempt == attempt && a.worker.is_some());
                if running {
                    ctx.count("start_to_close_timeouts", 1);
                    let last = Event::ActivityTaskTimedOut { activity_id: id };
                    Self::retry(wf, id, last, cfg, ctx, e);
                    self.dirty = true;
                }
            }
            WorkflowTimer::ActivityRetry(wf, id) => {
                if let Some(a) = self
                    .db
                    .executions
                    .get_mut(&wf)
                    .and_then(|e| e.activities.get_mut(&id))
                    && a.backoff
                {
                    a.backoff = false;
                    self.dirty = true;
                }
            }
            WorkflowTimer::Timer(wf, t) => {
                let Some(e) = self.db.executions.get_mut(&wf) else {
                    return;
                };
                let Some(&at) = e.timers.get(&t) else {
                    return;
                };
                if at > ctx.now {
                    // A fast clock (drift) fired it early: wait for the rest.
                    ctx.set_timer(WorkflowTimer::Timer(wf, t), at.saturating_sub(ctx.now));
                } else {
                    e.timers.remove(&t);
                    e.append(Event::TimerFired { timer_id: t });
                    e.needs_task();
                    self.dirty = true;
                }
            }
            _ => {}
        }
        self.dispatch(cfg, ctx);
    }

    /// Tasks waiting in the two queues.
    pub fn backlog(&self) -> usize {
        self.db
            .executions
            .values()
            .map(|e| {
                let queued = e
                    .activities
                    .values()
                    .filter(|a| a.worker.is_none() && !a.backoff)
                    .count();
                queued + usize::from(e.task == Some(TaskState::Queued))
            })
            .sum()
    }
}
