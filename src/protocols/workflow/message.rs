//! The vocabulary of Temporal: the coffee shop's activities, the commands a workflow task
//! returns, the events of a workflow's event history, and the messages between the client,
//! the Temporal service (`server`), the workers and the services the activities act on.
//! Names follow Temporal's docs ("Events", "Commands", "Task Queues").

use crate::sim::{Message, NodeId, SimTime};

/// A workflow's id: the order number (`o3`). Each order is one workflow execution.
pub type WorkflowId = u64;
/// An activity's id within its workflow: the sequence number of its `ScheduleActivityTask`
/// command (1, 2, …). `(WorkflowId, ActivityId)` is the activity's idempotency key.
pub type ActivityId = u32;

/// The coffee shop's activities, and the service each acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Activity {
    /// Barista: put the order's ticket on the board.
    TakeOrder,
    /// Payment: charge the customer's card.
    ChargeCard,
    /// Barista: brew the drink. May fail for good (the machine is broken: non-retryable).
    Brew,
    /// Barista: call the customer's name.
    Notify,
    /// Payment: refund the charge (the compensation of `ChargeCard`).
    RefundCard,
}

impl Activity {
    pub fn name(self) -> &'static str {
        match self {
            Activity::TakeOrder => "TakeOrder",
            Activity::ChargeCard => "ChargeCard",
            Activity::Brew => "Brew",
            Activity::Notify => "Notify",
            Activity::RefundCard => "RefundCard",
        }
    }
    /// The role of the service it acts on.
    pub fn service(self) -> &'static str {
        match self {
            Activity::ChargeCard | Activity::RefundCard => "payment",
            _ => "barista",
        }
    }
}

/// How a workflow ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum End {
    /// Charged, brewed, the customer notified.
    Completed,
    /// Brewing (or an earlier step) failed; the charge, if any, was refunded.
    Compensated,
    /// A cancel signal or the pickup deadline came before the drink was brewed; refunded.
    Cancelled,
}

impl End {
    pub fn word(self) -> &'static str {
        match self {
            End::Completed => "completed",
            End::Compensated => "compensated",
            End::Cancelled => "cancelled",
        }
    }
}

/// What a workflow task returns: the decisions of the workflow code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `maximum_attempts: 0` means unlimited (Temporal's convention); the other fields of the
    /// retry policy come from the scenario's `retry`.
    ScheduleActivityTask {
        activity_id: ActivityId,
        activity: Activity,
        maximum_attempts: u32,
    },
    StartTimer {
        timer_id: u32,
        after: SimTime,
    },
    CancelTimer {
        timer_id: u32,
    },
    /// `CompleteWorkflowExecution` (completed or compensated) or `CancelWorkflowExecution`.
    Finish(End),
}

impl Command {
    pub fn label(&self) -> String {
        match self {
            Command::ScheduleActivityTask { activity, .. } => {
                format!("ScheduleActivityTask {}", activity.name())
            }
            Command::StartTimer { after, .. } => format!("StartTimer {after}"),
            Command::CancelTimer { .. } => "CancelTimer".into(),
            Command::Finish(End::Cancelled) => "CancelWorkflowExecution".into(),
            Command::Finish(e) => format!("CompleteWorkflowExecution {}", e.word()),
        }
    }
}

/// The workflow's signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// The customer cancels the order.
    Cancel,
}

/// One event of a workflow's event history (Temporal's "Events" reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// `at`: the start time, what `workflow.Now()` is measured from.
    WorkflowExecutionStarted {
        at: SimTime,
    },
    WorkflowTaskScheduled,
    WorkflowTaskStarted {
        worker: NodeId,
    },
    WorkflowTaskCompleted,
    WorkflowTaskTimedOut,
    /// The worker could not run the task: its replay diverged from the history.
    WorkflowTaskFailed,
    ActivityTaskScheduled {
        activity_id: ActivityId,
        activity: Activity,
        maximum_attempts: u32,
    },
    /// Written when the activity closes, with the attempt that closed it (Temporal writes
    /// `ActivityTaskStarted` of a retried activity only then).
    ActivityTaskStarted {
        activity_id: ActivityId,
        attempt: u32,
        worker: NodeId,
    },
    ActivityTaskCompleted {
        activity_id: ActivityId,
    },
    /// A non-retryable failure, or the last attempt's retryable one.
    ActivityTaskFailed {
        activity_id: ActivityId,
    },
    /// The last attempt exceeded its start-to-close timeout.
    ActivityTaskTimedOut {
        activity_id: ActivityId,
    },
    TimerStarted {
        timer_id: u32,
        after: SimTime,
    },
    TimerFired {
        timer_id: u32,
    },
    TimerCanceled {
        timer_id: u32,
    },
    WorkflowExecutionSignaled {
        signal: Signal,
    },
    WorkflowExecutionCompleted {
        result: End,
    },
    WorkflowExecutionCanceled,
}

impl Event {
    /// The command this event records, for events written from a workflow task's commands.
    pub fn command(&self) -> Option<Command> {
        Some(match *self {
            Event::ActivityTaskScheduled {
                activity_id,
                activity,
                maximum_attempts,
            } => Command::ScheduleActivityTask {
                activity_id,
                activity,
                maximum_attempts,
            },
            Event::TimerStarted { timer_id, after } => Command::StartTimer { timer_id, after },
            Event::TimerCanceled { timer_id } => Command::CancelTimer { timer_id },
            Event::WorkflowExecutionCompleted { result } => Command::Finish(result),
            Event::WorkflowExecutionCanceled => Command::Finish(End::Cancelled),
            _ => return None,
        })
    }

    /// The event a command is recorded as.
    pub fn of(c: Command) -> Event {
        match c {
            Command::ScheduleActivityTask {
                activity_id,
                activity,
                maximum_attempts,
            } => Event::ActivityTaskScheduled {
                activity_id,
                activity,
                maximum_attempts,
            },
            Command::StartTimer { timer_id, after } => Event::TimerStarted { timer_id, after },
            Command::CancelTimer { timer_id } => Event::TimerCanceled { timer_id },
            Command::Finish(End::Cancelled) => Event::WorkflowExecutionCanceled,
            Command::Finish(result) => Event::WorkflowExecutionCompleted { result },
        }
    }

    /// How the workflow ended, if this event closes it.
    pub fn end(&self) -> Option<End> {
        match *self {
            Event::WorkflowExecutionCompleted { result } => Some(result),
            Event::WorkflowExecutionCanceled => Some(End::Cancelled),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Event::WorkflowExecutionStarted { .. } => "WorkflowExecutionStarted",
            Event::WorkflowTaskScheduled => "WorkflowTaskScheduled",
            Event::WorkflowTaskStarted { .. } => "WorkflowTaskStarted",
            Event::WorkflowTaskCompleted => "WorkflowTaskCompleted",
            Event::WorkflowTaskTimedOut => "WorkflowTaskTimedOut",
            Event::WorkflowTaskFailed => "WorkflowTaskFailed",
            Event::ActivityTaskScheduled { .. } => "ActivityTaskScheduled",
            Event::ActivityTaskStarted { .. } => "ActivityTaskStarted",
            Event::ActivityTaskCompleted { .. } => "ActivityTaskCompleted",
            Event::ActivityTaskFailed { .. } => "ActivityTaskFailed",
            Event::ActivityTaskTimedOut { .. } => "ActivityTaskTimedOut",
            Event::TimerStarted { .. } => "TimerStarted",
            Event::TimerFired { .. } => "TimerFired",
            Event::TimerCanceled { .. } => "TimerCanceled",
            Event::WorkflowExecutionSignaled { .. } => "WorkflowExecutionSignaled",
            Event::WorkflowExecutionCompleted { .. } => "WorkflowExecutionCompleted",
            Event::WorkflowExecutionCanceled => "WorkflowExecutionCanceled",
        }
    }
}

/// What a service answers an activity's call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Done (or done before: the idempotency key was seen).
    Done,
    /// A business failure that retrying cannot fix (the machine is broken, the charge was
    /// already refunded): the activity fails with a non-retryable error.
    Refused,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WfMsg {
    /// Client → server: start the order's workflow (idempotent by workflow id).
    StartWorkflowExecution { workflow: WorkflowId },
    /// Client → server.
    SignalWorkflowExecution {
        workflow: WorkflowId,
        signal: Signal,
    },
    /// Server → client: the workflow ended.
    WorkflowResult { workflow: WorkflowId, end: End },
    /// Worker → server: a long poll of the workflow task queue.
    PollWorkflowTaskQueue,
    /// Worker → server: a long poll of the activity task queue.
    PollActivityTaskQueue,
    /// Server → worker: replay this history and decide. `started` is the index of its
    /// `WorkflowTaskStarted` event (the task token).
    WorkflowTask {
        workflow: WorkflowId,
        started: usize,
        history: Vec<Event>,
    },
    RespondWorkflowTaskCompleted {
        workflow: WorkflowId,
        started: usize,
        commands: Vec<Command>,
    },
    /// The replay did not match the history (Temporal's non-determinism error).
    RespondWorkflowTaskFailed {
        workflow: WorkflowId,
        started: usize,
    },
    /// Server → worker.
    ActivityTask {
        workflow: WorkflowId,
        activity_id: ActivityId,
        activity: Activity,
        attempt: u32,
    },
    RespondActivityTaskCompleted {
        workflow: WorkflowId,
        activity_id: ActivityId,
        attempt: u32,
    },
    RespondActivityTaskFailed {
        workflow: WorkflowId,
        activity_id: ActivityId,
        attempt: u32,
        non_retryable: bool,
    },
    /// Worker → payment or barista: perform the activity's effect under its idempotency key.
    Invoke {
        workflow: WorkflowId,
        activity_id: ActivityId,
        activity: Activity,
        attempt: u32,
    },
    /// Service → worker.
    Invoked {
        workflow: WorkflowId,
        activity_id: ActivityId,
        attempt: u32,
        outcome: Outcome,
    },
}

impl Message for WfMsg {
    fn kind(&self) -> &'static str {
        match self {
            WfMsg::StartWorkflowExecution { .. } => "StartWorkflowExecution",
            WfMsg::SignalWorkflowExecution { .. } => "SignalWorkflowExecution",
            WfMsg::WorkflowResult { .. } => "WorkflowResult",
            WfMsg::PollWorkflowTaskQueue => "PollWorkflowTaskQueue",
            WfMsg::PollActivityTaskQueue => "PollActivityTaskQueue",
            WfMsg::WorkflowTask { .. } => "WorkflowTask",
            WfMsg::RespondWorkflowTaskCompleted { .. } => "RespondWorkflowTaskCompleted",
            WfMsg::RespondWorkflowTaskFailed { .. } => "RespondWorkflowTaskFailed",
            WfMsg::ActivityTask { .. } => "ActivityTask",
            WfMsg::RespondActivityTaskCompleted { .. } => "RespondActivityTaskCompleted",
            WfMsg::RespondActivityTaskFailed { .. } => "RespondActivityTaskFailed",
            WfMsg::Invoke { activity, .. } => activity.name(),
            WfMsg::Invoked { .. } => "Invoked",
        }
    }
    fn label(&self) -> String {
        match self {
            WfMsg::StartWorkflowExecution { workflow }
            | WfMsg::SignalWorkflowExecution { workflow, .. }
            | WfMsg::RespondWorkflowTaskFailed { workflow, .. } => format!("o{workflow}"),
            WfMsg::WorkflowResult { workflow, end } => format!("o{workflow} {}", end.word()),
            WfMsg::PollWorkflowTaskQueue | WfMsg::PollActivityTaskQueue => String::new(),
            WfMsg::WorkflowTask {
                workflow, history, ..
            } => format!("o{workflow} ({} events)", history.len()),
            WfMsg::RespondWorkflowTaskCompleted {
                workflow, commands, ..
            } => {
                let c: Vec<String> = commands.iter().map(Command::label).collect();
                format!("o{workflow} {}", c.join(", "))
            }
            WfMsg::ActivityTask {
                workflow,
                activity,
                attempt,
                ..
            }
            | WfMsg::Invoke {
                workflow,
                activity,
                attempt,
                ..
            } => format!("o{workflow} {} #{attempt}", activity.name()),
            WfMsg::RespondActivityTaskCompleted {
                workflow,
                activity_id,
                attempt,
            } => format!("o{workflow} a{activity_id} #{attempt}"),
            WfMsg::RespondActivityTaskFailed {
                workflow,
                activity_id,
                attempt,
                ..
            } => format!("o{workflow} a{activity_id} #{attempt}"),
            WfMsg::Invoked {
                workflow,
                activity_id,
                outcome,
                ..
            } => format!("o{workflow} a{activity_id} {outcome:?}"),
        }
    }
}
