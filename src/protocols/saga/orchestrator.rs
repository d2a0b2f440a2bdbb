//! Saga orchestration: a coordinator that runs the order saga's steps one at a time
//! (`CreateOrder`, `Charge`, `Reserve`, `ApproveOrder`) and, when one is refused or given up,
//! the compensations of the steps before it in reverse order (`Release`, `Refund`,
//! `CancelOrder`). microservices.io, "Saga": "an orchestrator object tells the participants
//! what local transactions to execute".
//!
//! Every transition is written to the saga log (the node's durable state) before the next
//! command leaves, so a restarted orchestrator resumes each unfinished saga where its log
//! says, sending the current command again (the order id makes it idempotent).
//!
//! ```text
//!  CreateOrder ─► Charge ─► Reserve ─► ApproveOrder ─► completed
//!       │            │         │ refused / given up
//!       ▼            ▼         ▼
//!  completed ◄─ CancelOrder ◄─ Refund ◄─ Release      (compensated)
//! ```
//!
//! Retries: a transient `Error` or a `step_timeout` without a reply is retried after
//! `retry_backoff * 2^(k-1)`. A compensable step is given up after `max_attempts`, and then
//! compensated too (its request may have run: the tombstone handles the other case).
//! `ApproveOrder` and every compensation are retried until they succeed.
//!
//! The same coordinator, with compensation off and nothing logged, is the `Direct` client of
//! the guide's first picture.

use super::config::SagaConfig;
use super::message::{OrderId, Outcome, SagaEnd, SagaMsg, Step};
use super::{Saga, SagaDurable, SagaTimer};
use crate::sim::{Ctx, NodeId, SimTime};
use std::collections::BTreeMap;

/// One saga in flight: where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The client node to tell the result (`None`: the coordinator is the client).
    pub client: Option<NodeId>,
    /// The step being run, or compensated when `undo`.
    pub step: Step,
    pub undo: bool,
    /// Attempts of the current step or compensation (not logged: a restart starts again).
    pub attempts: u32,
}

/// A saga's end, as logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    pub order: OrderId,
    pub end: SagaEnd,
    pub at: SimTime,
}

/// The saga log: what an orchestrator keeps on disk (a client keeps its id counter here).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SagaLog {
    /// Client: orders placed so far (the next order id is derived from it).
    pub next: u64,
    /// Sagas in flight.
    pub runs: BTreeMap<OrderId, Run>,
    /// How each finished saga ended, in order (checkers read it with a cursor).
    pub ended: Vec<Ended>,
    /// The same, by order, to answer a repeated `PlaceOrder`.
    pub ends: BTreeMap<OrderId, SagaEnd>,
}

impl SagaLog {
    /// Logs `order`'s end.
    pub fn end(&mut self, order: OrderId, end: SagaEnd, at: SimTime) {
        self.ends.insert(order, end);
        self.ended.push(Ended { order, end, at });
    }
}

/// An orchestrator, or the `Direct` client's naive caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Coordinator {
    pub log: SagaLog,
    /// False for `Direct`: a failed step is not compensated.
    pub compensate: bool,
    /// False for `Direct`: sagas in flight are not logged, so a crash forgets them.
    pub durable_runs: bool,
    /// Sagas that ended in the last handler (the `Direct` client answers its users).
    pub just_ended: Vec<(OrderId, SagaEnd)>,
}

impl Coordinator {
    pub fn new(
        log: SagaLog,
        compensate: bool,
        durable_runs: bool,
        ctx: &mut Ctx<Saga>,
        cfg: &SagaConfig,
    ) -> Self {
        let mut c = Coordinator {
            log,
            compensate,
            durable_runs,
            just_ended: Vec::new(),
        };
        if !durable_runs {
            c.log.runs.clear();
        }
        // Recovery: resume every saga the log says is in flight.
        let orders: Vec<OrderId> = c.log.runs.keys().copied().collect();
        if !orders.is_empty() {
            ctx.note(format!(
                "recovering {} saga(s) from the saga log",
                orders.len()
            ));
        }
        for order in orders {
            c.log.runs.get_mut(&order).expect("listed").attempts = 0;
            c.send(order, cfg, ctx);
        }
        c
    }

    fn persist(&self, ctx: &mut Ctx<Saga>) {
        let mut log = self.log.clone();
        if !self.durable_runs {
            log.runs.clear();
        }
        ctx.persist(SagaDurable {
            log,
            ..Default::default()
        });
    }

    /// Starts the saga of `order` (or answers for it, if it is known).
    pub fn start(
        &mut self,
        order: OrderId,
        client: Option<NodeId>,
        cfg: &SagaConfig,
        ctx: &mut Ctx<Saga>,
    ) {
        if let Some(&end) = self.log.ends.get(&order) {
            if let Some(c) = client {
                ctx.send(c, SagaMsg::OrderResult { order, end });
            }
            return;
        }
        if let Some(run) = self.log.runs.get_mut(&order) {
            run.client = run.client.or(client);
            return;
        }
        self.log.runs.insert(
            order,
            Run {
                client,
                step: Step::Create,
                undo: false,
                attempts: 0,
            },
        );
        ctx.count("sagas_started", 1);
        self.persist(ctx);
        self.send(order, cfg, ctx);
    }

    /// Sends the current command of `order`'s saga and starts its timeout.
    fn send(&mut self, order: OrderId, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        let Some(run) = self.log.runs.get_mut(&order) else {
            return;
        };
        run.attempts += 1;
        let Some(&to) = ctx.nodes_of(run.step.service().role()).first() else {
            return;
        };
        let step = run.step;
        let msg = if run.undo {
            SagaMsg::Undo { order, step }
        } else {
            SagaMsg::Do { order, step }
        };
        ctx.send(to, msg);
        ctx.set_timer(SagaTimer::Step(order), cfg.step_timeout);
    }

    pub fn on_reply(
        &mut self,
        order: OrderId,
        step: Step,
        undo: bool,
        outcome: Outcome,
        cfg: &SagaConfig,
        ctx: &mut Ctx<Saga>,
    ) {
        let Some(run) = self.log.runs.get(&order) else {
            return;
        };
        // A reply to an earlier command of this saga (a late duplicate) is stale.
        if run.step != step || run.undo != undo {
            return;
        }
        ctx.cancel_timer(SagaTimer::Step(order));
        ctx.cancel_timer(SagaTimer::Retry(order));
        match outcome {
            Outcome::Done => self.advance(order, cfg, ctx),
            // A compensation is never refused (it is idempotent); a refused step failed.
            Outcome::Refused if undo => self.advance(order, cfg, ctx),
            Outcome::Refused => {
                ctx.note(format!("o{order}: {} refused", step.command()));
                self.fail(order, step, false, cfg, ctx);
            }
            Outcome::Error => self.retry_or_give_up(order, cfg, ctx),
        }
    }

    pub fn on_timer(&mut self, timer: SagaTimer, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        match timer {
            SagaTimer::Step(order) if self.log.runs.contains_key(&order) => {
                ctx.count("step_timeouts", 1);
                self.retry_or_give_up(order, cfg, ctx);
            }
            SagaTimer::Retry(order) => self.send(order, cfg, ctx),
            _ => {}
        }
    }

    /// The next compensation before `step` (in reverse order), if any.
    fn previous_compensation(step: Step, cfg: &SagaConfig) -> Option<Step> {
        let mut i = step.index();
        while i > 0 {
            i -= 1;
            let s = Step::ALL[i];
            if cfg.bug_skip_compensation && s == Step::Charge {
                // The bug: the refund is forgotten.
                continue;
            }
            return Some(s);
        }
        None
    }

    fn advance(&mut self, order: OrderId, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        let run = self
            .log
            .runs
            .get_mut(&order)
            .expect("checked by the caller");
        let next = if run.undo {
            Self::previous_compensation(run.step, cfg)
        } else {
            Step::ALL.get(run.step.index() + 1).copied()
        };
        match next {
            Some(step) => {
                run.step = step;
                run.attempts = 0;
                self.persist(ctx);
                self.send(order, cfg, ctx);
            }
            None if run.undo => self.finish(order, SagaEnd::Compensated, ctx),
            None => self.finish(order, SagaEnd::Completed, ctx),
        }
    }

    /// `step` failed: compensate the steps before it (and `step` itself when `inclusive`:
    /// its outcome is unknown), in reverse order.
    fn fail(
        &mut self,
        order: OrderId,
        step: Step,
        inclusive: bool,
        cfg: &SagaConfig,
        ctx: &mut Ctx<Saga>,
    ) {
        if !self.compensate {
            self.finish(order, SagaEnd::Failed, ctx);
            return;
        }
        let first = if inclusive && !(cfg.bug_skip_compensation && step == Step::Charge) {
            Some(step)
        } else {
            Self::previous_compensation(step, cfg)
        };
        let Some(first) = first else {
            self.finish(order, SagaEnd::Compensated, ctx);
            return;
        };
        ctx.count("compensations_started", 1);
        let run = self
            .log
            .runs
            .get_mut(&order)
            .expect("checked by the caller");
        run.step = first;
        run.undo = true;
        run.attempts = 0;
        self.persist(ctx);
        self.send(order, cfg, ctx);
    }

    fn retry_or_give_up(&mut self, order: OrderId, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        let run = self.log.runs.get(&order).expect("checked by the caller");
        let must_finish = run.undo || run.step.index() >= Step::COMPENSABLE;
        if must_finish || run.attempts < cfg.max_attempts {
            ctx.count(
                if run.undo {
                    "compensation_retries"
                } else {
                    "step_retries"
                },
                1,
            );
            ctx.set_timer(SagaTimer::Retry(order), cfg.backoff(run.attempts));
        } else {
            let step = run.step;
            ctx.note(format!(
                "o{order}: {} given up after {} attempts",
                step.command(),
                run.attempts
            ));
            self.fail(order, step, true, cfg, ctx);
        }
    }

    fn finish(&mut self, order: OrderId, end: SagaEnd, ctx: &mut Ctx<Saga>) {
        let run = self.log.runs.remove(&order).expect("checked by the caller");
        self.log.end(order, end, ctx.now);
        self.persist(ctx);
        ctx.count(
            match end {
                SagaEnd::Completed => "completed",
                SagaEnd::Compensated => "compensated",
                SagaEnd::Failed => "failed",
            },
            1,
        );
        if end != SagaEnd::Completed {
            ctx.note(format!("o{order} {}", end.word()));
        }
        if let Some(c) = run.client {
            ctx.send(c, SagaMsg::OrderResult { order, end });
        }
        self.just_ended.push((order, end));
    }
}
