//! Handler tests: each feeds one input to one role and asserts the exact commands recorded,
//! quoting the rule (the guide, microservices.io's *Transactional outbox* and *Idempotent
//! consumer*) it checks.

use super::*;
use crate::sim::{ClientRef, Command, Op, RoleTable, SimTime};
use rand::SeedableRng;

const ORDER: NodeId = 0;
const BUS: NodeId = 1;
const SHIPPING: NodeId = 2;

fn roles() -> RoleTable {
    RoleTable::new(
        &["order", "bus", "shipping"],
        &["order", "bus", "shipping"].map(String::from),
    )
}

/// Runs `f` as node `id` at `now` and returns what it recorded.
fn step_at(id: NodeId, now: SimTime, f: impl FnOnce(&mut Ctx<Outbox>)) -> Vec<Command<Outbox>> {
    let roles = roles();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, 3, now, &mut rng, &mut out).with_roles(&roles);
    f(&mut ctx);
    out
}

fn step(id: NodeId, f: impl FnOnce(&mut Ctx<Outbox>)) -> Vec<Command<Outbox>> {
    step_at(id, SimTime::ZERO, f)
}

fn node(cfg: &OutboxConfig, id: NodeId) -> Outbox {
    let mut s = None;
    step(id, |ctx| s = Some(Outbox::init(cfg, ctx)));
    s.expect("built")
}

fn sends(cmds: &[Command<Outbox>]) -> Vec<(NodeId, OutboxMsg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn place(s: &mut Outbox) -> Vec<Command<Outbox>> {
    let req = ClientRequest {
        from: ClientRef {
            client: 0,
            seq: 1,
            attempt: 1,
        },
        op: Op::Request("x".into()),
    };
    step(ORDER, |ctx| s.on_client_request(req, ctx))
}

fn db(s: &Outbox) -> &OrderDb {
    match &s.part {
        Part::Order(o) => &o.db,
        _ => panic!("not the order service"),
    }
}

#[test]
fn an_order_and_its_outbox_row_are_one_local_transaction_and_nothing_is_sent() {
    // microservices.io: "the service inserts messages/events into an outbox table as part of
    // the local transaction". The publish is the relay's job, later.
    let cfg = OutboxConfig::default();
    let mut s = node(&cfg, ORDER);
    let cmds = place(&mut s);
    let persists: Vec<&OutboxDurable> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Persist(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(persists.len(), 1, "one write");
    assert_eq!(persists[0].orders.orders.len(), 1);
    assert_eq!(persists[0].orders.outbox.get(&1), Some(&false));
    assert!(sends(&cmds).is_empty());
}

#[test]
fn the_relay_publishes_unpublished_rows_and_marks_them_only_after_the_bus_confirms() {
    // microservices.io: "a separate Message Relay process publishes the events inserted into
    // database to a message broker".
    let cfg = OutboxConfig::default();
    let mut s = node(&cfg, ORDER);
    place(&mut s);
    let cmds = step(ORDER, |ctx| s.on_timer(OutboxTimer::Poll, ctx));
    assert_eq!(sends(&cmds), vec![(BUS, OutboxMsg::Publish { order: 1 })]);
    assert!(!db(&s).outbox[&1], "not marked before the Confirm");
    let cmds = step(ORDER, |ctx| {
        s.on_message(BUS, OutboxMsg::Confirm { order: 1 }, ctx)
    });
    assert!(matches!(&cmds[..], [Command::Persist(d)] if d.orders.outbox[&1]));
    let cmds = step(ORDER, |ctx| s.on_timer(OutboxTimer::Poll, ctx));
    assert!(sends(&cmds).is_empty(), "a published row is not sent again");
}

#[test]
fn an_unconfirmed_row_is_published_again_after_confirm_timeout_not_before() {
    // The guide's table: the outbox pattern guarantees "at-least-once" publishing.
    let cfg = OutboxConfig::default();
    let mut s = node(&cfg, ORDER);
    place(&mut s);
    step(ORDER, |ctx| s.on_timer(OutboxTimer::Poll, ctx));
    let soon = step_at(ORDER, SimTime::from_millis(100), |ctx| {
        s.on_timer(OutboxTimer::Poll, ctx)
    });
    assert!(sends(&soon).is_empty());
    let late = step_at(ORDER, cfg.confirm_timeout, |ctx| {
        s.on_timer(OutboxTimer::Poll, ctx)
    });
    assert_eq!(sends(&late), vec![(BUS, OutboxMsg::Publish { order: 1 })]);
}

#[test]
fn a_restarted_order_service_publishes_its_outbox_rows_again() {
    let cfg = OutboxConfig::default();
    let mut s = node(&cfg, ORDER);
    place(&mut s);
    let durable = OutboxDurable {
        orders: db(&s).clone(),
        ..Default::default()
    };
    let mut r = None;
    step(ORDER, |ctx| {
        r = Some(Outbox::on_restart(&cfg, &durable, ctx))
    });
    let mut r = r.unwrap();
    let cmds = step(ORDER, |ctx| r.on_timer(OutboxTimer::Poll, ctx));
    assert_eq!(sends(&cmds), vec![(BUS, OutboxMsg::Publish { order: 1 })]);
}

#[test]
fn the_dual_writer_commits_first_and_publishes_after_its_broker_call() {
    // The dual write: "write the database, then publish" - two steps, not one transaction.
    let cfg = OutboxConfig {
        bug_dual_write: true,
        ..Default::default()
    };
    let mut s = node(&cfg, ORDER);
    let cmds = place(&mut s);
    assert!(matches!(&cmds[0], Command::Persist(d) if d.orders.outbox.is_empty()));
    assert!(cmds.contains(&Command::SetTimer {
        timer: OutboxTimer::BrokerCall(1),
        after: cfg.publish_delay
    }));
    assert!(sends(&cmds).is_empty());
    let cmds = step(ORDER, |ctx| s.on_timer(OutboxTimer::BrokerCall(1), ctx));
    assert_eq!(sends(&cmds), vec![(BUS, OutboxMsg::Publish { order: 1 })]);
    // After a crash, the restarted service has no trace of the event to send.
    let durable = OutboxDurable {
        orders: db(&s).clone(),
        ..Default::default()
    };
    let mut r = None;
    let cmds = step(ORDER, |ctx| {
        r = Some(Outbox::on_restart(&cfg, &durable, ctx))
    });
    assert!(cmds.is_empty());
}

#[test]
fn the_consumer_applies_an_event_once_and_acknowledges_every_delivery() {
    // microservices.io, *Idempotent consumer*: "recording in the database the IDs of the
    // messages that it has processed successfully" and discarding duplicates.
    let cfg = OutboxConfig::default();
    let mut c = node(&cfg, SHIPPING);
    let deliver = |offset| OutboxMsg::Deliver { offset, order: 4 };
    let first = step(SHIPPING, |ctx| c.on_message(BUS, deliver(0), ctx));
    assert!(matches!(&first[1], Command::Persist(d) if d.shipping.shipments == vec![4]));
    let again = step(SHIPPING, |ctx| c.on_message(BUS, deliver(1), ctx));
    assert_eq!(sends(&again), vec![(BUS, OutboxMsg::Ack { offset: 1 })]);
    let Part::Shipping(sh) = &c.part else {
        panic!()
    };
    assert_eq!((sh.db.shipments.len(), sh.db.duplicates), (1, 1));
}

#[test]
fn without_the_processed_ids_lookup_a_duplicate_is_applied_again() {
    let cfg = OutboxConfig {
        bug_no_dedup: true,
        ..Default::default()
    };
    let mut c = node(&cfg, SHIPPING);
    for offset in 0..2 {
        step(SHIPPING, |ctx| {
            c.on_message(BUS, OutboxMsg::Deliver { offset, order: 4 }, ctx)
        });
    }
    let Part::Shipping(sh) = &c.part else {
        panic!()
    };
    assert_eq!(sh.db.shipments, vec![4, 4]);
}

#[test]
fn the_bus_confirms_to_the_publisher_and_delivers_to_the_consumer() {
    let cfg = OutboxConfig::default();
    let mut b = node(&cfg, BUS);
    let cmds = step(BUS, |ctx| {
        b.on_message(ORDER, OutboxMsg::Publish { order: 3 }, ctx)
    });
    assert_eq!(
        sends(&cmds),
        vec![
            (ORDER, OutboxMsg::Confirm { order: 3 }),
            (
                SHIPPING,
                OutboxMsg::Deliver {
                    offset: 0,
                    order: 3
                }
            ),
        ]
    );
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Persist(d) if d.bus.events == vec![3]))
    );
}
