//! The coffee-shop workflow's code, and the worker SDK's replay of it.
//!
//! The workflow is ordinary sequential code (Temporal: "a Workflow Definition is the code
//! that defines your Workflow"); here it is written as the state machine the SDK turns it
//! into. Each workflow task runs it from the start over the whole history: results of
//! activities already closed come from their events (the activity is not run again), and the
//! commands of earlier tasks must come out exactly as the history recorded them.
//!
//! ```text
//!  StartTimer(pickup_deadline)
//!  TakeOrder ─► ChargeCard ─► Brew ─► CancelTimer ─► Notify ─► Complete(completed)
//!      │ failed     │ failed    │ failed
//!      ▼            ▼           ▼
//!  Complete(compensated) ◄── RefundCard ◄──┘   (refund: unlimited attempts)
//!
//!  cancel signal or TimerFired before Brew completed:
//!      wait for the activity in flight ─► RefundCard (if ChargeCard was scheduled) ─► Cancel
//! ```

use super::config::WorkflowConfig;
use super::message::{Activity, ActivityId, Command, End, Event, Signal};
use crate::sim::SimTime;
use std::collections::BTreeMap;

/// The forward steps, in order.
const STEPS: [Activity; 4] = [
    Activity::TakeOrder,
    Activity::ChargeCard,
    Activity::Brew,
    Activity::Notify,
];
/// The pickup deadline's timer id.
pub const DEADLINE: u32 = 1;

/// The time sources the code can read. Deterministic code reads only the history's
/// (`workflow.Now()`); `worker_now` is the worker's own clock (`time.Now()`).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub started_at: SimTime,
    pub worker_now: SimTime,
}

/// The workflow code's local variables, rebuilt on every replay.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderCode {
    /// Forward steps scheduled so far.
    step: usize,
    last_id: ActivityId,
    /// The activity the code is blocked on.
    waiting: Option<(ActivityId, Activity)>,
    /// Closed activities: true when completed.
    results: BTreeMap<ActivityId, bool>,
    timer_started: bool,
    charge_scheduled: bool,
    brewed: bool,
    failed: bool,
    cancel: bool,
    deadline: bool,
    /// Refunding, then ending like this.
    compensating: Option<End>,
    finished: bool,
}

impl OrderCode {
    /// Feeds one non-command event of the history to the code.
    fn see(&mut self, e: &Event) {
        match *e {
            Event::ActivityTaskCompleted { activity_id } => {
                self.results.insert(activity_id, true);
            }
            Event::ActivityTaskFailed { activity_id }
            | Event::ActivityTaskTimedOut { activity_id } => {
                self.results.insert(activity_id, false);
            }
            Event::TimerFired { timer_id: DEADLINE } => self.deadline = true,
            Event::WorkflowExecutionSignaled {
                signal: Signal::Cancel,
            } => self.cancel = true,
            _ => {}
        }
    }

    fn schedule(&mut self, activity: Activity, cfg: &WorkflowConfig, out: &mut Vec<Command>) {
        self.last_id += 1;
        self.waiting = Some((self.last_id, activity));
        // Notify comes after the drink is made and the refund must happen: both retry forever.
        let maximum_attempts = match activity {
            Activity::Notify | Activity::RefundCard => 0,
            _ => cfg.retry.maximum_attempts,
        };
        out.push(Command::ScheduleActivityTask {
            activity_id: self.last_id,
            activity,
            maximum_attempts,
        });
    }

    fn finish(&mut self, end: End, out: &mut Vec<Command>) {
        self.finished = true;
        out.push(Command::Finish(end));
    }

    /// Runs the code until it blocks; returns the commands it issued.
    pub fn decide(&mut self, cfg: &WorkflowConfig, clock: Clock) -> Vec<Command> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        if !self.timer_started {
            self.timer_started = true;
            let after = if cfg.nondeterministic_workflow {
                // The bug: time left to the deadline by the worker's clock.
                let deadline_at = clock.started_at.saturating_add(cfg.pickup_deadline);
                deadline_at.saturating_sub(clock.worker_now)
            } else {
                cfg.pickup_deadline
            };
            out.push(Command::StartTimer {
                timer_id: DEADLINE,
                after,
            });
        }
        if let Some((id, activity)) = self.waiting {
            let Some(&ok) = self.results.get(&id) else {
                return out;
            };
            self.waiting = None;
            self.on_result(activity, ok, &mut out);
        }
        if let Some(end) = self.compensating {
            self.finish(end, &mut out);
            return out;
        }
        let stop = (self.cancel || self.deadline) && !self.brewed;
        if self.failed || stop {
            let end = if self.failed {
                End::Compensated
            } else {
                End::Cancelled
            };
            if self.charge_scheduled {
                self.compensating = Some(end);
                self.schedule(Activity::RefundCard, cfg, &mut out);
            } else {
                self.finish(end, &mut out);
            }
            return out;
        }
        match STEPS.get(self.step) {
            Some(&a) => {
                self.step += 1;
                self.charge_scheduled |= a == Activity::ChargeCard;
                self.schedule(a, cfg, &mut out);
            }
            None => self.finish(End::Completed, &mut out),
        }
        out
    }

    fn on_result(&mut self, activity: Activity, ok: bool, out: &mut Vec<Command>) {
        match activity {
            // The refund retries forever; it is done when it closes.
            Activity::RefundCard => {}
            Activity::Brew if ok => {
                self.brewed = true;
                if !self.deadline {
                    out.push(Command::CancelTimer { timer_id: DEADLINE });
                }
            }
            _ if !ok => self.failed = true,
            _ => {}
        }
    }
}

/// What a worker's replay of a history produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    /// The current task's new commands.
    pub commands: Vec<Command>,
    /// Per completed earlier workflow task, in order: the commands the code issued again.
    pub produced: Vec<Vec<Command>>,
    /// The first difference from the history (a non-determinism error).
    pub diverged: Option<String>,
    /// Activities whose completion came from the history instead of being run again.
    pub skipped: usize,
}

/// Where each workflow task that completed recorded its commands: `(started index,
/// commands)`. Shared with the replay checker, which reads the server's history.
pub fn recorded_tasks(history: &[Event]) -> Vec<(usize, Vec<Command>)> {
    let mut out = Vec::new();
    for (i, e) in history.iter().enumerate() {
        if !matches!(e, Event::WorkflowTaskStarted { .. }) {
            continue;
        }
        let close = history[i + 1..].iter().position(|e| {
            matches!(
                e,
                Event::WorkflowTaskCompleted
                    | Event::WorkflowTaskTimedOut
                    | Event::WorkflowTaskFailed
            )
        });
        let Some(j) = close.map(|j| i + 1 + j) else {
            continue;
        };
        if history[j] == Event::WorkflowTaskCompleted {
            let cmds = history[j + 1..].iter().map_while(Event::command).collect();
            out.push((i, cmds));
        }
    }
    out
}

/// The SDK's replay: runs the code over `history` (which ends with the current task's
/// `WorkflowTaskStarted`), comparing each earlier task's commands with the recorded ones.
pub fn replay(history: &[Event], cfg: &WorkflowConfig, worker_now: SimTime) -> Replay {
    let started_at = match history.first() {
        Some(Event::WorkflowExecutionStarted { at }) => *at,
        _ => SimTime::ZERO,
    };
    let clock = Clock {
        started_at,
        worker_now,
    };
    let recorded: BTreeMap<usize, Vec<Command>> = recorded_tasks(history).into_iter().collect();
    let last_started = history
        .iter()
        .rposition(|e| matches!(e, Event::WorkflowTaskStarted { .. }));
    let mut code = OrderCode::default();
    let mut r = Replay::default();
    for (i, e) in history.iter().enumerate() {
        if !matches!(e, Event::WorkflowTaskStarted { .. }) {
            if matches!(e, Event::ActivityTaskCompleted { .. }) {
                r.skipped += 1;
            }
            code.see(e);
            continue;
        }
        if let Some(want) = recorded.get(&i) {
            let got = code.decide(cfg, clock);
            if &got != want {
                r.diverged = Some(format!(
                    "workflow task at event {}: the history recorded [{}], the code now issues [{}]",
                    i + 1,
                    labels(want),
                    labels(&got)
                ));
                r.produced.push(got);
                return r;
            }
            r.produced.push(got);
        } else if Some(i) == last_started {
            r.commands = code.decide(cfg, clock);
        }
    }
    r
}

pub fn labels(cmds: &[Command]) -> String {
    cmds.iter()
        .map(Command::label)
        .collect::<Vec<_>>()
        .join(", ")
}
