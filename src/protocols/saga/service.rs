//! A participant service (order, payment or inventory) and its own store. It answers an
//! orchestrator's commands (`Do`, `Undo` → `Reply`) and, in choreography, reacts to the
//! events it subscribes to and publishes its own.
//!
//! Choreography (microservices.io: "each local transaction publishes domain events that
//! trigger local transactions in other services"):
//!
//! ```text
//!  order ──OrderCreated──► payment ──PaymentCharged──► inventory ──StockReserved──► order: approve
//!    ▲                        │  ▲                        │
//!    │◄──PaymentDeclined──────┘  └──────StockRefused──────┘ (out of stock)
//!    │                        │ refund
//!    └──PaymentRefunded───────┘ → order: cancel (compensated)
//! ```
//!
//! An event is written to the store's outbox in the same local transaction as the change
//! that caused it, published, and published again (`step_timeout`, then with back-off)
//! until its subscriber acknowledges it: at least once. A subscriber recognises an event it
//! has handled by the order's row (the idempotent consumer) and only acknowledges it again.
//! A transient error is simply not acknowledged: the publisher's redelivery is the retry,
//! for compensations too.

use super::config::SagaConfig;
use super::message::{Event, OrderId, Outcome, SagaEnd, SagaMsg, Service, Step};
use super::orchestrator::SagaLog;
use super::store::{Row, Store};
use super::{Saga, SagaDurable, SagaTimer};
use crate::sim::{Ctx, NodeId};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Participant {
    pub store: Store,
    /// Order service in choreography: how each saga ended (it is the one that ends them).
    pub log: SagaLog,
    /// Choreography: publications of each outbox event so far (volatile).
    pub publications: BTreeMap<(OrderId, Event), u32>,
}

impl Participant {
    /// A fresh service, or one restarted from its store: it publishes its outbox again.
    pub fn start(
        service: Service,
        durable: &SagaDurable,
        cfg: &SagaConfig,
        ctx: &mut Ctx<Saga>,
    ) -> Self {
        let store = if durable.store.service.is_some() {
            durable.store.clone()
        } else {
            Store::new(service, cfg)
        };
        let mut p = Participant {
            store,
            log: durable.log.clone(),
            publications: BTreeMap::new(),
        };
        let pending: Vec<(OrderId, Event)> = p.store.outbox.keys().copied().collect();
        for (order, event) in pending {
            p.publish(order, event, cfg, ctx);
        }
        p
    }

    fn service(&self) -> Service {
        self.store
            .service
            .expect("a participant's store knows its service")
    }

    fn persist(&self, ctx: &mut Ctx<Saga>) {
        ctx.persist(SagaDurable {
            store: self.store.clone(),
            log: self.log.clone(),
        });
    }

    pub fn on_message(
        &mut self,
        from: NodeId,
        msg: SagaMsg,
        cfg: &SagaConfig,
        ctx: &mut Ctx<Saga>,
    ) {
        match msg {
            SagaMsg::Do { order, step } => {
                let before = self.store.journal.len();
                let outcome = self.store.apply_do(order, step, cfg, ctx.rng());
                if self.store.journal.len() != before {
                    self.persist(ctx);
                }
                ctx.send(
                    from,
                    SagaMsg::Reply {
                        order,
                        step,
                        undo: false,
                        outcome,
                    },
                );
            }
            SagaMsg::Undo { order, step } => {
                let before = self.store.journal.len();
                let outcome = self.store.apply_undo(order, cfg, ctx.rng());
                if self.store.journal.len() != before {
                    self.persist(ctx);
                }
                if outcome == Outcome::Error {
                    ctx.count("compensation_errors", 1);
                }
                ctx.send(
                    from,
                    SagaMsg::Reply {
                        order,
                        step,
                        undo: true,
                        outcome,
                    },
                );
            }
            SagaMsg::PlaceOrder { order } if self.service() == Service::Order => {
                self.place_order(order, from, cfg, ctx)
            }
            // Acknowledged once handled; not after a transient error (it comes again).
            SagaMsg::Publish { order, event }
                if event.subscriber() == self.service() && self.react(order, event, cfg, ctx) =>
            {
                ctx.send(from, SagaMsg::Ack { order, event });
            }
            SagaMsg::Ack { order, event }
                if self.store.outbox.remove(&(order, event)).is_some() =>
            {
                self.publications.remove(&(order, event));
                ctx.cancel_timer(SagaTimer::Redeliver(order, event));
                self.persist(ctx);
            }
            _ => {}
        }
    }

    /// Choreography, order service: a client's `PlaceOrder` creates the order and publishes
    /// `OrderCreated`; a repeated one is answered from the row.
    fn place_order(
        &mut self,
        order: OrderId,
        client: NodeId,
        cfg: &SagaConfig,
        ctx: &mut Ctx<Saga>,
    ) {
        if let Some(&end) = self.log.ends.get(&order) {
            ctx.send(client, SagaMsg::OrderResult { order, end });
            return;
        }
        if self.store.rows.contains_key(&order) {
            self.store.askers.insert(order, client);
            self.persist(ctx);
            return;
        }
        // A transient error: nothing is written, the client sends `PlaceOrder` again.
        if self.store.apply_do(order, Step::Create, cfg, ctx.rng()) != Outcome::Done {
            return;
        }
        ctx.count("sagas_started", 1);
        self.store.askers.insert(order, client);
        self.emit(order, Event::OrderCreated, cfg, ctx);
    }

    /// Writes `event` to the outbox with the change just made (one `persist`: one local
    /// transaction), then publishes it.
    fn emit(&mut self, order: OrderId, event: Event, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        let Some(&to) = ctx.nodes_of(event.subscriber().role()).first() else {
            return;
        };
        self.store.outbox.insert((order, event), to);
        self.persist(ctx);
        self.publish(order, event, cfg, ctx);
    }

    fn publish(&mut self, order: OrderId, event: Event, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        let Some(&to) = self.store.outbox.get(&(order, event)) else {
            return;
        };
        let n = self.publications.entry((order, event)).or_default();
        *n += 1;
        ctx.send(to, SagaMsg::Publish { order, event });
        ctx.set_timer(
            SagaTimer::Redeliver(order, event),
            cfg.step_timeout.saturating_add(cfg.backoff(*n)),
        );
    }

    pub fn on_timer(&mut self, timer: SagaTimer, cfg: &SagaConfig, ctx: &mut Ctx<Saga>) {
        if let SagaTimer::Redeliver(order, event) = timer {
            if self.store.outbox.contains_key(&(order, event)) {
                ctx.count("redeliveries", 1);
            }
            self.publish(order, event, cfg, ctx);
        }
    }

    /// Choreography: this service's reaction to `event`. Returns whether to acknowledge it
    /// (false after a transient error: the publisher will deliver it again).
    fn react(
        &mut self,
        order: OrderId,
        event: Event,
        cfg: &SagaConfig,
        ctx: &mut Ctx<Saga>,
    ) -> bool {
        let row = self.store.rows.get(&order).copied();
        match event {
            Event::OrderCreated => {
                // Seen before: already charged or declined (the bug charges again).
                if row.is_some() && !cfg.bug_no_idempotency {
                    return true;
                }
                match self.store.apply_do(order, Step::Charge, cfg, ctx.rng()) {
                    Outcome::Error => return false,
                    Outcome::Done => self.emit(order, Event::PaymentCharged, cfg, ctx),
                    Outcome::Refused => self.emit(order, Event::PaymentDeclined, cfg, ctx),
                }
            }
            Event::PaymentCharged => {
                if row.is_some() {
                    return true;
                }
                match self.store.apply_do(order, Step::Reserve, cfg, ctx.rng()) {
                    Outcome::Error => return false,
                    Outcome::Done => self.emit(order, Event::StockReserved, cfg, ctx),
                    Outcome::Refused => {
                        ctx.note(format!("o{order}: out of stock"));
                        self.emit(order, Event::StockRefused, cfg, ctx)
                    }
                }
            }
            Event::StockRefused => {
                // Compensate the charge: refund, then tell the order service.
                if matches!(row, Some(Row::Undone | Row::Voided)) {
                    return true;
                }
                if !cfg.bug_skip_compensation
                    && self.store.apply_undo(order, cfg, ctx.rng()) == Outcome::Error
                {
                    ctx.count("compensation_errors", 1);
                    return false;
                }
                ctx.count("compensations_started", 1);
                self.emit(order, Event::PaymentRefunded, cfg, ctx);
            }
            Event::StockReserved => {
                if row != Some(Row::Done) {
                    return true;
                }
                if self.store.apply_do(order, Step::Approve, cfg, ctx.rng()) == Outcome::Error {
                    return false;
                }
                self.end(order, SagaEnd::Completed, ctx);
            }
            Event::PaymentDeclined | Event::PaymentRefunded => {
                if row != Some(Row::Done) {
                    return true;
                }
                if self.store.apply_undo(order, cfg, ctx.rng()) == Outcome::Error {
                    ctx.count("compensation_errors", 1);
                    return false;
                }
                self.end(order, SagaEnd::Compensated, ctx);
            }
        }
        true
    }

    /// Order service in choreography: the saga of `order` ended; tell its client.
    fn end(&mut self, order: OrderId, end: SagaEnd, ctx: &mut Ctx<Saga>) {
        self.log.end(order, end, ctx.now);
        let client = self.store.askers.remove(&order);
        self.persist(ctx);
        ctx.count(end.word(), 1);
        if end != SagaEnd::Completed {
            ctx.note(format!("o{order} {}", end.word()));
        }
        if let Some(c) = client {
            ctx.send(c, SagaMsg::OrderResult { order, end });
        }
    }
}
