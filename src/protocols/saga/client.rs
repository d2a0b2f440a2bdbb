//! A client node: where the workload's orders are born. It gives each user request a new
//! order id (unique over the run, its counter on disk so a restart never reuses one) and
//! sends `PlaceOrder` to the saga's entry point (the orchestrator, or the order service in
//! choreography), again with back-off until it hears the `OrderResult`. In `Direct` mode it
//! calls the services itself, with no saga (see [`super::orchestrator`]).

use super::config::{Mode, SagaConfig};
use super::message::{OrderId, SagaEnd, SagaMsg, Service};
use super::orchestrator::{Coordinator, SagaLog};
use super::{Saga, SagaDurable, SagaTimer};
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx, NodeId};
use std::collections::BTreeMap;

/// A user waiting for an order's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub user: ClientRef,
    /// `PlaceOrder`s sent so far.
    pub attempts: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Client {
    /// Orders placed so far (on disk), and in `Direct` mode the ends of its own calls.
    pub coordinator: Coordinator,
    pub waiting: BTreeMap<OrderId, Waiting>,
    /// Orders given up (no result after `max_attempts`).
    pub gave_up: u64,
}

impl Client {
    pub fn start(log: SagaLog, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) -> Self {
        Client {
            // Direct: the client is the caller; it compensates nothing and logs no saga.
            coordinator: Coordinator::new(log, false, false, ctx, cfg),
            waiting: BTreeMap::new(),
            gave_up: 0,
        }
    }

    /// Where `PlaceOrder` goes.
    fn entry(cfg: &SagaConfig, ctx: &Ctx<Saga>) -> Option<NodeId> {
        let role = match cfg.mode {
            Mode::Orchestration => "orchestrator",
            _ => Service::Order.role(),
        };
        ctx.nodes_of(role).first().copied()
    }

    pub fn on_client_request(&mut self, req: ClientRequest, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        let clients = ctx.nodes_of("client");
        let index = clients.iter().position(|&c| c == ctx.id).unwrap_or(0) as u64;
        let order = self.coordinator.log.next * clients.len().max(1) as u64 + index;
        self.coordinator.log.next += 1;
        ctx.persist(SagaDurable {
            log: SagaLog {
                runs: BTreeMap::new(),
                ..self.coordinator.log.clone()
            },
            ..Default::default()
        });
        self.waiting.insert(
            order,
            Waiting {
                user: req.from,
                attempts: 0,
            },
        );
        if cfg.mode == Mode::Direct {
            self.coordinator.start(order, None, cfg, ctx);
            return;
        }
        if Self::entry(cfg, ctx).is_none() {
            let w = self.waiting.remove(&order).expect("just inserted");
            ctx.reply_to_client(
                w.user,
                ClientReply::Fail {
                    reason: "mode: Orchestration needs an `orchestrator` node".into(),
                },
            );
            return;
        }
        self.place(order, cfg, ctx);
    }

    fn place(&mut self, order: OrderId, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        let (Some(w), Some(to)) = (self.waiting.get_mut(&order), Self::entry(cfg, ctx)) else {
            return;
        };
        w.attempts += 1;
        ctx.send(to, SagaMsg::PlaceOrder { order });
        // A saga takes several steps: wait a few step timeouts, plus a back-off.
        let wait = cfg
            .step_timeout
            .saturating_mul(4)
            .saturating_add(cfg.backoff(w.attempts));
        ctx.set_timer(SagaTimer::Resend(order), wait);
    }

    pub fn on_message(&mut self, msg: SagaMsg, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        match msg {
            SagaMsg::OrderResult { order, end } => {
                ctx.cancel_timer(SagaTimer::Resend(order));
                self.answer(order, end, ctx);
            }
            SagaMsg::Reply {
                order,
                step,
                undo,
                outcome,
            } => {
                self.coordinator
                    .on_reply(order, step, undo, outcome, cfg, ctx);
                self.answer_ended(ctx);
            }
            _ => {}
        }
    }

    pub fn on_timer(&mut self, timer: SagaTimer, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        match timer {
            SagaTimer::Resend(order) => {
                let Some(w) = self.waiting.get(&order) else {
                    return;
                };
                if w.attempts < cfg.max_attempts {
                    self.place(order, cfg, ctx);
                } else {
                    let w = self.waiting.remove(&order).expect("just seen");
                    self.gave_up += 1;
                    ctx.count("orders_given_up", 1);
                    ctx.reply_to_client(
                        w.user,
                        ClientReply::Fail {
                            reason: format!("o{order}: no result after {} attempts", w.attempts),
                        },
                    );
                }
            }
            other => {
                self.coordinator.on_timer(other, cfg, ctx);
                self.answer_ended(ctx);
            }
        }
    }

    fn answer_ended(&mut self, ctx: &mut Ctx<Saga>) {
        for (order, end) in std::mem::take(&mut self.coordinator.just_ended) {
            self.answer(order, end, ctx);
        }
    }

    /// The service answered: the user hears how the order ended (a compensated order is an
    /// answer too: "your order was cancelled").
    fn answer(&mut self, order: OrderId, end: SagaEnd, ctx: &mut Ctx<Saga>) {
        if let Some(w) = self.waiting.remove(&order) {
            ctx.reply_to_client(
                w.user,
                ClientReply::Ok {
                    value: Some(format!("o{order} {}", end.word())),
                },
            );
        }
    }
}
