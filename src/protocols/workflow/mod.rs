//! Durable execution, Temporal-style (<https://docs.temporal.io/workflows>,
//! <https://docs.temporal.io/encyclopedia/event-history>), on the coffee shop of the seed
//! guide "Building Resilient Workflows with Temporal.io: A Coffee Shop Tutorial": an order is
//! a workflow (take the order, charge the card, brew, notify the customer) whose every step is
//! recorded in a persisted event history, so that a crashed worker's work is replayed on
//! another worker, which skips the activities already completed.
//!
//! Roles: `client` nodes start orders and send `cancel` signals; the `server` is the Temporal
//! service (event histories, task queues, timeouts, retries, durable timers); `worker` nodes
//! poll the task queues and run workflow tasks (replay + decide) and activity tasks (one
//! attempt: a call to a service); `payment` and `barista` are the services the activities act
//! on, each with its own store (drawn as the node's list). The history is the server's list,
//! and each worker's list is the history it last replayed.
//!
//! ```text
//!  client ──StartWorkflowExecution / SignalWorkflowExecution──► server (histories, durable)
//!                                     workflow task queue │ activity task queue
//!   worker ◄──WorkflowTask(history)── poll ◄──────────────┘        │
//!     replay the code over the history; commands ─► server          │
//!   worker ◄──ActivityTask(attempt)── poll ◄────────────────────────┘
//!     ──ChargeCard(key)──► payment │ ──TakeOrder/Brew/Notify(key)──► barista
//!     ◄──Invoked── ; RespondActivityTaskCompleted/Failed ─► server
//! ```
//!
//! What makes it durable: the server writes every event before anything leaves; every task
//! in flight has a timeout on the server (workflow task timeout, start-to-close), so a task
//! lost with its worker goes to another worker; activities retry per their `RetryPolicy` and
//! call services with the idempotency key `(workflow id, activity id)`; the workflow code is
//! deterministic, so replaying the history rebuilds the same state and the same decisions.
//!
//! Checkers (`invariants/`, after every event): Effect Once Per Completion, Ends Completed
//! Compensated or Cancelled, Replay Reproduces Decisions. At quiescence the `running` series
//! must be 0. Bug switches: `nondeterministic_workflow`, `bug_no_idempotency`.

mod client;
pub mod code;
mod config;
pub mod invariants;
mod message;
mod server;
mod service;
mod view;
mod worker;

pub use client::Client;
pub use config::{RetryPolicy, WorkflowConfig};
pub use message::{Activity, ActivityId, Command, End, Event, Outcome, Signal, WfMsg, WorkflowId};
pub use server::{Execution, PendingActivity, Server, ServerDb, TaskState};
pub use service::{Card, Effect, Store};
pub use worker::{ReplayRecord, Worker};

use crate::sim::{
    ClientReply, ClientRequest, Ctx, Gauge, Invariant, NodeId, NodeView, Protocol, RoleSpec,
};

/// The timers of every role.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkflowTimer {
    /// Server: the workflow task started at this history index is not answered.
    WorkflowTaskTimeout(WorkflowId, usize),
    /// Server: schedule a failed workflow task again.
    WorkflowTaskRetry(WorkflowId),
    /// Server: this attempt of the activity is not answered in `start_to_close_timeout`.
    StartToClose(WorkflowId, ActivityId, u32),
    /// Server: the retry interval of the activity is over; queue it again.
    ActivityRetry(WorkflowId, ActivityId),
    /// Server: a workflow's durable timer (the pickup deadline).
    Timer(WorkflowId, u32),
    /// Worker: poll the task queues again.
    Poll,
    /// Worker: give this attempt up (the server times it out too).
    AttemptDeadline(WorkflowId, ActivityId, u32),
    /// Client: no result yet; send the start (and the signal) again.
    Resend(WorkflowId),
    /// Client: send the random cancel signal of this order.
    CancelLater(WorkflowId),
}

/// What survives a crash; each role uses its own part (workers keep nothing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkflowDurable {
    pub server: ServerDb,
    pub store: Store,
    /// Client: orders started so far.
    pub next: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Client(Client),
    Server(Server),
    Worker(Worker),
    Service(Store),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Workflow {
    pub cfg: WorkflowConfig,
    pub part: Part,
}

impl Workflow {
    fn start(cfg: &WorkflowConfig, d: &WorkflowDurable, ctx: &mut Ctx<Self>) -> Self {
        let part = match ctx.role(ctx.id) {
            "client" => Part::Client(Client::start(d.next)),
            "server" => Part::Server(Server::start(d.server.clone(), cfg, ctx)),
            "worker" => Part::Worker(Worker::start(cfg, ctx)),
            role if d.store.role.is_empty() => Part::Service(Store::new(role)),
            _ => Part::Service(d.store.clone()),
        };
        Workflow {
            cfg: cfg.clone(),
            part,
        }
    }
}

impl Protocol for Workflow {
    type Msg = WfMsg;
    type Timer = WorkflowTimer;
    type Durable = WorkflowDurable;
    type Config = WorkflowConfig;

    const NAME: &'static str = "workflow";
    const SUMMARY: &'static str = "Temporal-like durable execution: a coffee-shop order workflow, event histories replayed on worker crashes, activity retries, signals, timers, compensation";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "StartWorkflowExecution",
        "SignalWorkflowExecution",
        "WorkflowResult",
        "PollWorkflowTaskQueue",
        "PollActivityTaskQueue",
        "WorkflowTask",
        "RespondWorkflowTaskCompleted",
        "RespondWorkflowTaskFailed",
        "ActivityTask",
        "RespondActivityTaskCompleted",
        "RespondActivityTaskFailed",
        "TakeOrder",
        "ChargeCard",
        "Brew",
        "Notify",
        "RefundCard",
        "Invoked",
    ];
    // Colours: workflow tasks, activities, timers, signals and failures each have their own
    // (`view.rs`'s `class`); a server's entry is filled once its order has ended.
    const ENTRIES_HEADING: &'static str = "history (colour: event; filled: done)";
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new(
            "client",
            1,
            usize::MAX,
            "starts orders and sends cancel signals",
        ),
        RoleSpec::new(
            "server",
            1,
            1,
            "the Temporal service: event histories, task queues, timeouts, timers",
        ),
        RoleSpec::new(
            "worker",
            1,
            usize::MAX,
            "runs workflow tasks (replay) and activity tasks",
        ),
        RoleSpec::new("payment", 1, 1, "charges and refunds cards (its store)"),
        RoleSpec::new("barista", 1, 1, "tickets, drinks and calls (its store)"),
    ];

    fn validate_config(cfg: &WorkflowConfig, _nodes: usize) -> Result<(), String> {
        cfg.validate()
    }

    fn init(cfg: &WorkflowConfig, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, &WorkflowDurable::default(), ctx)
    }

    /// The server restarts from its histories (re-arming every timeout and timer), services
    /// from their stores, clients from their order counter (their waiting users are lost),
    /// workers from nothing.
    fn on_restart(cfg: &WorkflowConfig, d: &WorkflowDurable, ctx: &mut Ctx<Self>) -> Self {
        Self::start(cfg, d, ctx)
    }

    fn on_message(&mut self, from: NodeId, msg: WfMsg, ctx: &mut Ctx<Self>) {
        let cfg = &self.cfg;
        match &mut self.part {
            Part::Client(c) => {
                if let WfMsg::WorkflowResult { workflow, end } = msg {
                    c.on_result(workflow, end, ctx);
                }
            }
            Part::Server(s) => {
                s.on_message(from, msg, cfg, ctx);
                s.flush(ctx);
            }
            Part::Worker(w) => w.on_message(from, msg, cfg, ctx),
            Part::Service(store) => {
                let WfMsg::Invoke {
                    workflow,
                    activity_id,
                    activity,
                    attempt,
                } = msg
                else {
                    return;
                };
                let before = (store.answered.len(), store.journal.len());
                let outcome = store.invoke(workflow, activity_id, activity, cfg, ctx.rng());
                if (store.answered.len(), store.journal.len()) != before {
                    ctx.persist(WorkflowDurable {
                        store: store.clone(),
                        ..Default::default()
                    });
                }
                let reply = WfMsg::Invoked {
                    workflow,
                    activity_id,
                    attempt,
                    outcome,
                };
                ctx.send(from, reply);
            }
        }
    }

    fn on_timer(&mut self, timer: WorkflowTimer, ctx: &mut Ctx<Self>) {
        let cfg = &self.cfg;
        match &mut self.part {
            Part::Client(c) => c.on_timer(timer, ctx),
            Part::Server(s) => {
                s.on_timer(timer, cfg, ctx);
                s.flush(ctx);
            }
            Part::Worker(w) => w.on_timer(timer, cfg, ctx),
            Part::Service(_) => {}
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        match &mut self.part {
            Part::Client(c) => c.on_client_request(req, &self.cfg, ctx),
            _ => ctx.reply_to_client(
                req.from,
                ClientReply::Fail {
                    reason: "orders are placed at a client node (target: Role(\"client\"))".into(),
                },
            ),
        }
    }

    fn view(&self) -> NodeView {
        view::node_view(self)
    }

    fn invariants(_cfg: &WorkflowConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        invariants::all(nodes)
    }

    /// `running` (workflows started and not ended), `completed`, `compensated`, `cancelled`,
    /// `task_backlog` (tasks waiting in the queues), and per service `balance` (payment) and
    /// `brewed` (barista).
    fn gauges(_cfg: &WorkflowConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        for (n, s) in states.iter().enumerate() {
            let Some(s) = s else { continue };
            match &s.part {
                Part::Server(srv) => {
                    let ex = &srv.db.executions;
                    let count = |e: Option<End>| ex.values().filter(|x| x.end == e).count();
                    for (name, value) in [
                        ("running", count(None)),
                        ("completed", count(Some(End::Completed))),
                        ("compensated", count(Some(End::Compensated))),
                        ("cancelled", count(Some(End::Cancelled))),
                        ("task_backlog", srv.backlog()),
                    ] {
                        out.push(gauge(name, None, value as f64));
                    }
                }
                Part::Service(st) if st.role == "payment" => {
                    out.push(gauge("balance", Some(n), st.balance as f64));
                }
                Part::Service(st) => {
                    let brewed = st.journal.iter().filter(|e| e.activity == Activity::Brew);
                    out.push(gauge("brewed", Some(n), brewed.count() as f64));
                }
                _ => {}
            }
        }
    }
}

fn gauge(name: &'static str, node: Option<NodeId>, value: f64) -> Gauge {
    Gauge { name, node, value }
}

#[cfg(test)]
mod tests;
