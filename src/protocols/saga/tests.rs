//! Handler tests: each feeds one input to one role and asserts the exact commands recorded,
//! quoting the rule (the Sagas paper, the guide, microservices.io) it checks.

use super::*;
use crate::sim::{Command, RoleTable};
use rand::SeedableRng;

const CLIENT: NodeId = 0;
const ORCH: NodeId = 1;
const ORDER: NodeId = 2;
const PAYMENT: NodeId = 3;
const INVENTORY: NodeId = 4;

fn roles() -> RoleTable {
    RoleTable::new(
        &["client", "orchestrator", "order", "payment", "inventory"],
        &["client", "orchestrator", "order", "payment", "inventory"].map(String::from),
    )
}

/// Runs `f` as node `id` and returns what it recorded.
fn step(id: NodeId, f: impl FnOnce(&mut Ctx<Saga>)) -> Vec<Command<Saga>> {
    let roles = roles();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, 5, SimTime::ZERO, &mut rng, &mut out).with_roles(&roles);
    f(&mut ctx);
    out
}

fn node(cfg: &SagaConfig, id: NodeId) -> Saga {
    let mut s = None;
    step(id, |ctx| s = Some(Saga::init(cfg, ctx)));
    s.expect("built")
}

fn sends(cmds: &[Command<Saga>]) -> Vec<(NodeId, SagaMsg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn reply(order: OrderId, step: Step, undo: bool, outcome: Outcome) -> SagaMsg {
    SagaMsg::Reply {
        order,
        step,
        undo,
        outcome,
    }
}

/// An orchestrator that has run `o1` up to (and sent) `Reserve`.
fn orchestrator_at_reserve(cfg: &SagaConfig) -> Saga {
    let mut o = node(cfg, ORCH);
    step(ORCH, |ctx| {
        o.on_message(CLIENT, SagaMsg::PlaceOrder { order: 1 }, ctx);
        o.on_message(ORDER, reply(1, Step::Create, false, Outcome::Done), ctx);
        o.on_message(PAYMENT, reply(1, Step::Charge, false, Outcome::Done), ctx);
    });
    o
}

#[test]
fn the_orchestrator_runs_the_steps_in_order_and_logs_each_before_sending_it() {
    // microservices.io: "an orchestrator object tells the participants what local
    // transactions to execute". The log is written before the command leaves.
    let cfg = SagaConfig::default();
    let mut o = node(&cfg, ORCH);
    let cmds = step(ORCH, |ctx| {
        o.on_message(CLIENT, SagaMsg::PlaceOrder { order: 1 }, ctx)
    });
    assert!(matches!(&cmds[1], Command::Persist(d) if d.log.runs[&1].step == Step::Create));
    assert_eq!(
        sends(&cmds),
        vec![(
            ORDER,
            SagaMsg::Do {
                order: 1,
                step: Step::Create
            }
        )]
    );
    let cmds = step(ORCH, |ctx| {
        o.on_message(ORDER, reply(1, Step::Create, false, Outcome::Done), ctx)
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            PAYMENT,
            SagaMsg::Do {
                order: 1,
                step: Step::Charge
            }
        )]
    );
}

#[test]
fn a_refused_step_compensates_the_steps_before_it_in_reverse_order() {
    // Garcia-Molina & Salem: "T1, T2, ..., Tj, Cj, ..., C2, C1".
    let cfg = SagaConfig::default();
    let mut o = orchestrator_at_reserve(&cfg);
    let cmds = step(ORCH, |ctx| {
        o.on_message(
            INVENTORY,
            reply(1, Step::Reserve, false, Outcome::Refused),
            ctx,
        )
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            PAYMENT,
            SagaMsg::Undo {
                order: 1,
                step: Step::Charge
            }
        )]
    );
    let cmds = step(ORCH, |ctx| {
        o.on_message(PAYMENT, reply(1, Step::Charge, true, Outcome::Done), ctx)
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            ORDER,
            SagaMsg::Undo {
                order: 1,
                step: Step::Create
            }
        )]
    );
    let cmds = step(ORCH, |ctx| {
        o.on_message(ORDER, reply(1, Step::Create, true, Outcome::Done), ctx)
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            CLIENT,
            SagaMsg::OrderResult {
                order: 1,
                end: SagaEnd::Compensated
            }
        )]
    );
    let Part::Orchestrator(c) = &o.part else {
        panic!()
    };
    assert_eq!(c.log.ends[&1], SagaEnd::Compensated);
    assert!(c.log.runs.is_empty());
}

#[test]
fn with_the_skip_bug_the_refund_is_left_out() {
    let cfg = SagaConfig {
        bug_skip_compensation: true,
        ..Default::default()
    };
    let mut o = orchestrator_at_reserve(&cfg);
    let cmds = step(ORCH, |ctx| {
        o.on_message(
            INVENTORY,
            reply(1, Step::Reserve, false, Outcome::Refused),
            ctx,
        )
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            ORDER,
            SagaMsg::Undo {
                order: 1,
                step: Step::Create
            }
        )]
    );
}

#[test]
fn a_transient_error_is_retried_after_a_back_off_and_a_step_given_up_is_compensated_too() {
    // The guide: retries with back-off; a step whose outcome is unknown may have run, so its
    // compensation runs as well (the tombstone covers the case where it did not).
    let cfg = SagaConfig {
        max_attempts: 2,
        ..Default::default()
    };
    let mut o = orchestrator_at_reserve(&cfg);
    let cmds = step(ORCH, |ctx| {
        o.on_message(
            INVENTORY,
            reply(1, Step::Reserve, false, Outcome::Error),
            ctx,
        )
    });
    assert!(cmds.contains(&Command::SetTimer {
        timer: SagaTimer::Retry(1),
        after: cfg.backoff(1)
    }));
    let cmds = step(ORCH, |ctx| o.on_timer(SagaTimer::Retry(1), ctx));
    assert_eq!(
        sends(&cmds),
        vec![(
            INVENTORY,
            SagaMsg::Do {
                order: 1,
                step: Step::Reserve
            }
        )]
    );
    // Second attempt times out: given up, and compensated starting with itself.
    let cmds = step(ORCH, |ctx| o.on_timer(SagaTimer::Step(1), ctx));
    assert_eq!(
        sends(&cmds),
        vec![(
            INVENTORY,
            SagaMsg::Undo {
                order: 1,
                step: Step::Reserve
            }
        )]
    );
}

#[test]
fn a_compensation_that_fails_is_retried_until_it_succeeds() {
    let cfg = SagaConfig {
        max_attempts: 1,
        ..Default::default()
    };
    let mut o = orchestrator_at_reserve(&cfg);
    step(ORCH, |ctx| {
        o.on_message(
            INVENTORY,
            reply(1, Step::Reserve, false, Outcome::Refused),
            ctx,
        )
    });
    for _ in 0..5 {
        let cmds = step(ORCH, |ctx| {
            o.on_message(PAYMENT, reply(1, Step::Charge, true, Outcome::Error), ctx)
        });
        assert!(
            cmds.iter().any(|c| matches!(
                c,
                Command::SetTimer {
                    timer: SagaTimer::Retry(1),
                    ..
                }
            )),
            "{cmds:?}"
        );
        let cmds = step(ORCH, |ctx| o.on_timer(SagaTimer::Retry(1), ctx));
        assert_eq!(
            sends(&cmds),
            vec![(
                PAYMENT,
                SagaMsg::Undo {
                    order: 1,
                    step: Step::Charge
                }
            )]
        );
    }
}

#[test]
fn a_restarted_orchestrator_resumes_each_saga_from_its_log() {
    let cfg = SagaConfig::default();
    let o = orchestrator_at_reserve(&cfg);
    let Part::Orchestrator(c) = &o.part else {
        panic!()
    };
    let durable = SagaDurable {
        log: c.log.clone(),
        ..Default::default()
    };
    let cmds = step(ORCH, |ctx| {
        Saga::on_restart(&cfg, &durable, ctx);
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            INVENTORY,
            SagaMsg::Do {
                order: 1,
                step: Step::Reserve
            }
        )]
    );
}

#[test]
fn choreography_payment_refunds_on_stock_refused_and_leaves_a_failed_refund_unacknowledged() {
    // microservices.io: "each local transaction publishes domain events that trigger local
    // transactions in other services"; the refund's event is written with the refund.
    let cfg = SagaConfig {
        mode: Mode::Choreography,
        ..Default::default()
    };
    let mut p = node(&cfg, PAYMENT);
    let cmds = step(PAYMENT, |ctx| {
        p.on_message(
            ORDER,
            SagaMsg::Publish {
                order: 1,
                event: Event::OrderCreated,
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&cmds),
        vec![
            (
                INVENTORY,
                SagaMsg::Publish {
                    order: 1,
                    event: Event::PaymentCharged
                }
            ),
            (
                ORDER,
                SagaMsg::Ack {
                    order: 1,
                    event: Event::OrderCreated
                }
            ),
        ]
    );
    // The refund fails every time: no refund, no event, no Ack (inventory will publish again).
    let mut failing = p.clone();
    failing.cfg.compensation_error_rate = 0.999_999;
    let cmds = step(PAYMENT, |ctx| {
        failing.on_message(
            INVENTORY,
            SagaMsg::Publish {
                order: 1,
                event: Event::StockRefused,
            },
            ctx,
        )
    });
    assert_eq!(sends(&cmds), vec![]);
    let cmds = step(PAYMENT, |ctx| {
        p.on_message(
            INVENTORY,
            SagaMsg::Publish {
                order: 1,
                event: Event::StockRefused,
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&cmds),
        vec![
            (
                ORDER,
                SagaMsg::Publish {
                    order: 1,
                    event: Event::PaymentRefunded
                }
            ),
            (
                INVENTORY,
                SagaMsg::Ack {
                    order: 1,
                    event: Event::StockRefused
                }
            ),
        ]
    );
    let Part::Service(s) = &p.part else { panic!() };
    assert_eq!(s.store.rows[&1], Row::Undone);
    assert_eq!(s.store.balance, 0);
    // A duplicate is only acknowledged.
    let cmds = step(PAYMENT, |ctx| {
        p.on_message(
            INVENTORY,
            SagaMsg::Publish {
                order: 1,
                event: Event::StockRefused,
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            INVENTORY,
            SagaMsg::Ack {
                order: 1,
                event: Event::StockRefused
            }
        )]
    );
}

#[test]
fn an_unacknowledged_event_is_published_again_and_after_a_restart() {
    // The outbox: the event survives the crash with the change that caused it.
    let cfg = SagaConfig {
        mode: Mode::Choreography,
        ..Default::default()
    };
    let mut p = node(&cfg, PAYMENT);
    step(PAYMENT, |ctx| {
        p.on_message(
            ORDER,
            SagaMsg::Publish {
                order: 1,
                event: Event::OrderCreated,
            },
            ctx,
        )
    });
    let again = SagaMsg::Publish {
        order: 1,
        event: Event::PaymentCharged,
    };
    let cmds = step(PAYMENT, |ctx| {
        p.on_timer(SagaTimer::Redeliver(1, Event::PaymentCharged), ctx)
    });
    assert_eq!(sends(&cmds), vec![(INVENTORY, again.clone())]);
    let Part::Service(s) = &p.part else { panic!() };
    let durable = SagaDurable {
        store: s.store.clone(),
        ..Default::default()
    };
    let cmds = step(PAYMENT, |ctx| {
        Saga::on_restart(&cfg, &durable, ctx);
    });
    assert_eq!(sends(&cmds), vec![(INVENTORY, again)]);
}

#[test]
fn unsettled_names_orders_whose_stores_disagree() {
    let cfg = SagaConfig::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut order = Store::new(Service::Order, &cfg);
    let mut payment = Store::new(Service::Payment, &cfg);
    let mut inventory = Store::new(Service::Inventory, &cfg);
    for o in [1, 2] {
        order.apply_do(o, Step::Create, &cfg, &mut rng);
        payment.apply_do(o, Step::Charge, &cfg, &mut rng);
    }
    inventory.apply_do(1, Step::Reserve, &cfg, &mut rng);
    order.apply_do(1, Step::Approve, &cfg, &mut rng);
    // o1 completed everywhere; o2 is charged and pending with no reservation.
    assert_eq!(unsettled(&[&order, &payment, &inventory]), vec![2]);
}
