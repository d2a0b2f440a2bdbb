//! Handler tests: each feeds one input to one role and asserts the exact commands recorded,
//! quoting the rule (RabbitMQ's documentation) it checks.

use super::*;
use crate::sim::{ClientRef, ClientReply, Command, RoleTable, SimTime};
use rand::SeedableRng;

const PRODUCER: NodeId = 0;
const BROKER: NodeId = 1;
const C1: NodeId = 2;
const C2: NodeId = 3;

fn roles() -> RoleTable {
    RoleTable::new(
        &["producer", "broker", "consumer"],
        &["producer", "broker", "consumer", "consumer"].map(String::from),
    )
}

fn ms(v: u64) -> SimTime {
    SimTime::from_millis(v)
}

/// Runs `f` as node `id` at `now` and returns what it recorded.
fn step(id: NodeId, now: SimTime, f: impl FnOnce(&mut Ctx<Queue>)) -> Vec<Command<Queue>> {
    let roles = roles();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, 4, now, &mut rng, &mut out).with_roles(&roles);
    f(&mut ctx);
    out
}

fn node(cfg: &QueueConfig, id: NodeId) -> Queue {
    let mut q = None;
    step(id, SimTime::ZERO, |ctx| q = Some(Queue::init(cfg, ctx)));
    q.expect("built")
}

fn sends(cmds: &[Command<Queue>]) -> Vec<(NodeId, QueueMsg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn broker(q: &mut Queue) -> &mut Broker {
    match &mut q.part {
        Part::Broker(b) => b,
        _ => panic!("not a broker"),
    }
}

fn deliver(tag: Tag, id: MsgId, delivery: u32) -> QueueMsg {
    QueueMsg::Deliver {
        tag,
        id,
        poison: false,
        redelivered: delivery > 1,
        delivery,
    }
}

/// A broker with consumers `C1` (and `C2`) subscribed and nothing queued.
fn broker_with(cfg: &QueueConfig, consumers: &[NodeId]) -> Queue {
    let mut b = node(cfg, BROKER);
    for &c in consumers {
        step(BROKER, SimTime::ZERO, |ctx| {
            b.on_message(c, QueueMsg::Subscribe { session: 0 }, ctx)
        });
    }
    b
}

fn publish(b: &mut Queue, id: MsgId, now: SimTime) -> Vec<Command<Queue>> {
    step(BROKER, now, |ctx| {
        b.on_message(
            PRODUCER,
            QueueMsg::Publish {
                id,
                poison: false,
                key: RoutingKey::default(),
            },
            ctx,
        )
    })
}

#[test]
fn rule_a_persistent_message_is_confirmed_only_after_it_is_written_to_disk() {
    // "For routable messages, the basic.ack is sent when a message has been accepted by all
    // the queues. For persistent messages routed to durable queues, this means persisting to
    // disk." (RabbitMQ, Consumer Acknowledgements and Publisher Confirms)
    let cfg = QueueConfig::default();
    let mut b = broker_with(&cfg, &[]);
    let cmds = publish(&mut b, 7, ms(1));
    let persist = cmds
        .iter()
        .position(|c| matches!(c, Command::Persist(d) if d.disk.ready.len() == 1))
        .expect("written to disk");
    let confirm = cmds
        .iter()
        .position(|c| {
            matches!(
                c,
                Command::Send {
                    to: PRODUCER,
                    msg: QueueMsg::Confirm { id: 7 }
                }
            )
        })
        .expect("confirmed");
    assert!(persist < confirm, "{cmds:?}");
}

#[test]
fn bug_confirm_before_persist_confirms_from_memory_and_writes_on_the_flush_timer() {
    let cfg = QueueConfig {
        bug_confirm_before_persist: true,
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[]);
    let cmds = publish(&mut b, 7, ms(1));
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::Persist(_))),
        "{cmds:?}"
    );
    assert_eq!(sends(&cmds), vec![(PRODUCER, QueueMsg::Confirm { id: 7 })]);
    let cmds = step(BROKER, ms(100), |ctx| b.on_timer(QueueTimer::Flush, ctx));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Persist(d) if d.disk.ready.len() == 1))
    );
}

#[test]
fn rule_prefetch_limits_the_unacknowledged_deliveries_of_a_consumer() {
    // "The value defines the max number of unacknowledged deliveries that are permitted on a
    // channel. Once the number reaches the configured count, RabbitMQ will stop delivering
    // more messages" (RabbitMQ, Consumer Prefetch)
    let cfg = QueueConfig {
        prefetch: 2,
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[C1]);
    let mut delivered = Vec::new();
    for id in 0..4 {
        delivered.extend(
            sends(&publish(&mut b, id, ms(1)))
                .into_iter()
                .filter(|(to, _)| *to == C1),
        );
    }
    assert_eq!(
        delivered,
        vec![(C1, deliver(0, 0, 1)), (C1, deliver(1, 1, 1))]
    );
    assert_eq!(broker(&mut b).disk.ready.len(), 2);
    // One Ack makes room for exactly one more.
    let cmds = step(BROKER, ms(2), |ctx| {
        b.on_message(C1, QueueMsg::Ack { tag: 0 }, ctx)
    });
    assert_eq!(sends(&cmds), vec![(C1, deliver(2, 2, 1))]);
    assert_eq!(broker(&mut b).disk.unacked.len(), 2);
}

#[test]
fn rule_competing_consumers_get_messages_round_robin() {
    // "By default, RabbitMQ will send each message to the next consumer, in sequence."
    // (RabbitMQ tutorial 2, Work Queues)
    let cfg = QueueConfig::default();
    let mut b = broker_with(&cfg, &[C1, C2]);
    let to: Vec<NodeId> = (0..4)
        .flat_map(|id| sends(&publish(&mut b, id, ms(1))))
        .filter(|(_, m)| matches!(m, QueueMsg::Deliver { .. }))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(to, vec![C1, C2, C1, C2]);
}

#[test]
fn rule_unacknowledged_messages_of_a_lost_consumer_are_requeued_and_marked_redelivered() {
    // "When a consumer's connection is closed ... any unacknowledged deliveries will be
    // requeued ... such deliveries will have the redelivered flag set" (RabbitMQ, Consumer
    // Acknowledgements)
    let cfg = QueueConfig::default();
    let mut b = broker_with(&cfg, &[C1, C2]);
    for id in 0..2 {
        publish(&mut b, id, ms(1));
    }
    // C2 keeps sending heartbeats, C1 falls silent.
    step(BROKER, ms(400), |ctx| {
        b.on_message(C2, QueueMsg::Heartbeat { session: 0 }, ctx)
    });
    let cmds = step(BROKER, ms(600), |ctx| {
        b.on_timer(QueueTimer::ConsumerCheck, ctx)
    });
    // m0 was C1's: it goes back and, C1 being dead, to C2 marked redelivered. m1 stays with
    // C2 (tag 1).
    assert_eq!(sends(&cmds), vec![(C2, deliver(2, 0, 2))]);
    assert!(cmds.iter().any(|c| matches!(
        c,
        Command::Count {
            name: "consumers_declared_dead",
            by: 1
        }
    )));
    assert!(!broker(&mut b).consumers.contains_key(&C1));
}

#[test]
fn a_restarted_consumer_is_a_new_session_and_its_earlier_deliveries_are_requeued() {
    let cfg = QueueConfig::default();
    let mut b = broker_with(&cfg, &[C1]);
    publish(&mut b, 0, ms(1));
    let cmds = step(BROKER, ms(50), |ctx| {
        b.on_message(C1, QueueMsg::Subscribe { session: 50_000 }, ctx)
    });
    assert_eq!(sends(&cmds), vec![(C1, deliver(1, 0, 2))]);
    // The same session again changes nothing.
    let cmds = step(BROKER, ms(60), |ctx| {
        b.on_message(C1, QueueMsg::Heartbeat { session: 50_000 }, ctx)
    });
    assert_eq!(sends(&cmds), vec![]);
}

#[test]
fn rule_a_delivery_not_acknowledged_within_the_timeout_is_requeued() {
    // "RabbitMQ enforces a timeout on consumer delivery acknowledgement." (RabbitMQ,
    // Delivery Acknowledgement Timeout)
    let cfg = QueueConfig {
        ack_timeout: ms(300),
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[C1]);
    publish(&mut b, 0, ms(1));
    step(BROKER, ms(350), |ctx| {
        b.on_message(C1, QueueMsg::Heartbeat { session: 0 }, ctx)
    });
    let cmds = step(BROKER, ms(400), |ctx| {
        b.on_timer(QueueTimer::ConsumerCheck, ctx)
    });
    assert_eq!(sends(&cmds), vec![(C1, deliver(1, 0, 2))]);
    // The late Ack of the first delivery settles nothing.
    step(BROKER, ms(401), |ctx| {
        b.on_message(C1, QueueMsg::Ack { tag: 0 }, ctx)
    });
    assert_eq!(broker(&mut b).disk.unacked.len(), 1);
}

#[test]
fn rule_a_nacked_message_goes_back_to_the_head_until_its_delivery_limit_then_to_the_dead_letter_queue()
 {
    // "When a message has been returned more times than the limit the message will be
    // dropped or dead-lettered" (RabbitMQ, Quorum Queues: Poison Message Handling)
    let cfg = QueueConfig {
        max_deliveries: 2,
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[C1]);
    publish(&mut b, 0, ms(1));
    let cmds = step(BROKER, ms(2), |ctx| {
        b.on_message(C1, QueueMsg::Nack { tag: 0 }, ctx)
    });
    assert_eq!(sends(&cmds), vec![(C1, deliver(1, 0, 2))]);
    let cmds = step(BROKER, ms(3), |ctx| {
        b.on_message(C1, QueueMsg::Nack { tag: 1 }, ctx)
    });
    assert_eq!(sends(&cmds), vec![]);
    let d = &broker(&mut b).disk;
    assert_eq!(d.dead.len(), 1);
    assert!(d.ready.is_empty() && d.unacked.is_empty());
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Persist(p) if p.disk.dead.len() == 1))
    );
}

#[test]
fn a_nack_with_back_off_waits_then_the_message_is_ready_again() {
    let cfg = QueueConfig {
        retry_backoff: ms(50),
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[C1]);
    publish(&mut b, 0, ms(1));
    let cmds = step(BROKER, ms(10), |ctx| {
        b.on_message(C1, QueueMsg::Nack { tag: 0 }, ctx)
    });
    assert_eq!(sends(&cmds), vec![]);
    assert!(cmds.contains(&Command::SetTimer {
        timer: QueueTimer::Retry,
        after: ms(50)
    }));
    assert_eq!(broker(&mut b).disk.depth(), 1);
    let cmds = step(BROKER, ms(60), |ctx| b.on_timer(QueueTimer::Retry, ctx));
    assert_eq!(sends(&cmds), vec![(C1, deliver(1, 0, 2))]);
    // The second failure waits twice as long.
    let cmds = step(BROKER, ms(70), |ctx| {
        b.on_message(C1, QueueMsg::Nack { tag: 1 }, ctx)
    });
    assert!(cmds.contains(&Command::SetTimer {
        timer: QueueTimer::Retry,
        after: ms(100)
    }));
}

#[test]
fn rule_with_automatic_acknowledgement_a_message_is_deleted_when_sent_and_prefetch_is_ignored() {
    // "In automatic acknowledgement mode, a message is considered to be successfully
    // delivered immediately after it is sent." (RabbitMQ, Consumer Acknowledgements); and
    // prefetch does not apply to auto-ack consumers (RabbitMQ, Consumer Prefetch).
    let cfg = QueueConfig {
        delivery: Delivery::AtMostOnce,
        prefetch: 1,
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[C1]);
    for id in 0..3 {
        publish(&mut b, id, ms(1));
    }
    let d = &broker(&mut b).disk;
    assert!(d.ready.is_empty() && d.unacked.is_empty(), "{d:?}");
    assert_eq!(d.next_tag, 3);
}

#[test]
fn bug_delete_on_delivery_keeps_no_copy_of_a_delivery_under_manual_acks() {
    let cfg = QueueConfig {
        bug_delete_on_delivery: true,
        prefetch: 1,
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[C1]);
    publish(&mut b, 0, ms(1));
    publish(&mut b, 1, ms(1));
    let d = &broker(&mut b).disk;
    assert!(d.unacked.is_empty());
    // Prefetch still holds: m1 waits for the Ack of m0.
    assert_eq!(d.ready.len(), 1);
}

#[test]
fn a_restarted_broker_makes_its_unacknowledged_messages_ready_first() {
    let cfg = QueueConfig::default();
    let mut b = broker_with(&cfg, &[C1]);
    for id in 0..3 {
        publish(&mut b, id, ms(1));
    }
    let disk = broker(&mut b).disk.clone();
    let mut r = None;
    step(BROKER, ms(5), |ctx| {
        r = Some(Queue::on_restart(&cfg, &QueueDurable::broker(disk), ctx))
    });
    let mut r = r.expect("restarted");
    let ids: Vec<MsgId> = broker(&mut r).disk.ready.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![0, 1, 2]);
    assert!(broker(&mut r).consumers.is_empty());
}

#[test]
fn rule_a_consumer_records_the_effect_before_it_acknowledges() {
    // "consumers should acknowledge only after processing is done" (RabbitMQ, Reliability
    // Guide): the effect is on disk before the Ack leaves.
    let cfg = QueueConfig::default();
    let mut c = node(&cfg, C1);
    let cmds = step(C1, ms(5), |ctx| c.on_message(BROKER, deliver(4, 9, 1), ctx));
    assert_eq!(
        cmds,
        vec![
            Command::Count {
                name: "processed",
                by: 1
            },
            Command::Persist(QueueDurable::consumer(vec![9])),
            Command::Send {
                to: BROKER,
                msg: QueueMsg::Ack { tag: 4 }
            },
        ]
    );
}

#[test]
fn a_poison_message_is_nacked_and_under_auto_ack_nothing_is_sent_back() {
    let cfg = QueueConfig::default();
    let mut c = node(&cfg, C1);
    let poison = QueueMsg::Deliver {
        tag: 1,
        id: 3,
        poison: true,
        redelivered: false,
        delivery: 1,
    };
    let cmds = step(C1, ms(5), |ctx| c.on_message(BROKER, poison.clone(), ctx));
    assert_eq!(sends(&cmds), vec![(BROKER, QueueMsg::Nack { tag: 1 })]);
    let auto = QueueConfig {
        delivery: Delivery::AtMostOnce,
        ..Default::default()
    };
    let mut c = node(&auto, C1);
    let cmds = step(C1, ms(5), |ctx| c.on_message(BROKER, deliver(2, 8, 1), ctx));
    assert_eq!(sends(&cmds), vec![]);
    assert!(cmds.contains(&Command::Persist(QueueDurable::consumer(vec![8]))));
}

fn user(seq: u64) -> ClientRef {
    ClientRef {
        client: 0,
        seq,
        attempt: 1,
    }
}

#[test]
fn a_producer_answers_its_user_on_the_confirm_and_retries_with_back_off_without_it() {
    let cfg = QueueConfig::default();
    let mut p = node(&cfg, PRODUCER);
    let req = ClientRequest {
        from: user(0),
        op: crate::sim::Op::Request("x".into()),
    };
    let cmds = step(PRODUCER, ms(1), |ctx| p.on_client_request(req.clone(), ctx));
    assert_eq!(
        sends(&cmds),
        vec![(
            BROKER,
            QueueMsg::Publish {
                id: 0,
                poison: false,
                key: RoutingKey::default(),
            }
        )]
    );
    // No confirm: the first retry waits confirm_timeout * 2.
    let cmds = step(PRODUCER, ms(201), |ctx| {
        p.on_timer(QueueTimer::ConfirmTimeout(0), ctx)
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            BROKER,
            QueueMsg::Publish {
                id: 0,
                poison: false,
                key: RoutingKey::default(),
            }
        )]
    );
    assert!(cmds.contains(&Command::SetTimer {
        timer: QueueTimer::ConfirmTimeout(0),
        after: ms(400)
    }));
    let cmds = step(PRODUCER, ms(210), |ctx| {
        p.on_message(BROKER, QueueMsg::Confirm { id: 0 }, ctx)
    });
    assert!(cmds.contains(&Command::Reply {
        to: user(0),
        reply: ClientReply::Ok {
            value: Some("m0".into())
        }
    }));
    // A second confirm (of the retry) is ignored.
    let cmds = step(PRODUCER, ms(211), |ctx| {
        p.on_message(BROKER, QueueMsg::Confirm { id: 0 }, ctx)
    });
    assert_eq!(cmds, vec![]);
}

#[test]
fn an_at_most_once_producer_gives_up_instead_of_retrying() {
    let cfg = QueueConfig {
        delivery: Delivery::AtMostOnce,
        ..Default::default()
    };
    let mut p = node(&cfg, PRODUCER);
    let req = ClientRequest {
        from: user(0),
        op: crate::sim::Op::Request("x".into()),
    };
    step(PRODUCER, ms(1), |ctx| p.on_client_request(req, ctx));
    let cmds = step(PRODUCER, ms(201), |ctx| {
        p.on_timer(QueueTimer::ConfirmTimeout(0), ctx)
    });
    assert_eq!(sends(&cmds), vec![]);
    assert!(cmds.iter().any(|c| matches!(
        c,
        Command::Reply {
            reply: ClientReply::Fail { .. },
            ..
        }
    )));
}

#[test]
fn config_validation_says_what_was_expected() {
    let bad = |f: fn(&mut QueueConfig)| {
        let mut c = QueueConfig::default();
        f(&mut c);
        c.validate().unwrap_err()
    };
    assert!(bad(|c| c.prefetch = 0).contains("prefetch between 1 and"));
    assert!(bad(|c| c.consumer_timeout = c.heartbeat).contains("consumer_timeout > heartbeat"));
    assert!(bad(|c| c.fail_probability = 1.5).contains("fail_probability is a probability"));
    assert!(bad(|c| c.ack_timeout = SimTime::ZERO).contains("ack_timeout must be positive"));
    assert!(
        bad(|c| {
            c.durable = false;
            c.bug_confirm_before_persist = true
        })
        .contains("needs durable: true")
    );
    assert!(bad(|c| c.bug_retry_publish = true).contains("set delivery: AtMostOnce"));
    assert!(
        bad(|c| {
            c.delivery = Delivery::AtMostOnce;
            c.bug_delete_on_delivery = true
        })
        .contains("set delivery: AtLeastOnce")
    );
    assert!(QueueConfig::default().validate().is_ok());
}

fn topic_cfg(bug: bool) -> QueueConfig {
    let q = |name: &str, b: &str| QueueSpec {
        name: name.into(),
        bindings: vec![b.into()],
    };
    QueueConfig {
        exchange: Exchange::Topic,
        queues: vec![q("eu", "orders.*.eu"), q("orders", "orders.#")],
        routing_keys: vec!["orders.new.eu".into(), "payments.eu".into()],
        bug_topic_hash: bug,
        ..QueueConfig::default()
    }
}

fn publish_key(b: &mut Queue, id: MsgId, key: &str) -> Vec<Command<Queue>> {
    step(BROKER, ms(1), |ctx| {
        b.on_message(
            PRODUCER,
            QueueMsg::Publish {
                id,
                poison: false,
                key: RoutingKey(key.into()),
            },
            ctx,
        )
    })
}

#[test]
fn rule_a_topic_exchange_puts_a_copy_in_every_matching_queue_each_pushed_to_its_own_consumer() {
    // "Messages are routed to one or many queues based on a match between a message routing
    // key and the pattern that was used to bind a queue to an exchange." (AMQP 0-9-1 Model
    // Explained). C1 consumes `eu`, C2 consumes `orders`.
    let cfg = topic_cfg(false);
    let mut b = broker_with(&cfg, &[C1, C2]);
    let cmds = publish_key(&mut b, 7, "orders.new.eu");
    assert_eq!(
        sends(&cmds),
        vec![
            (PRODUCER, QueueMsg::Confirm { id: 7 }),
            (C1, deliver(0, 7, 1)),
            (C2, deliver(1, 7, 1)),
        ]
    );
    let r = broker(&mut b).routed.clone().expect("routed");
    assert_eq!((r.seq, r.id, r.queues), (1, 7, vec![0, 1]));
    // Unroutable: confirmed, queued nowhere.
    let cmds = publish_key(&mut b, 8, "payments.eu");
    assert_eq!(sends(&cmds), vec![(PRODUCER, QueueMsg::Confirm { id: 8 })]);
    assert!(cmds.contains(&Command::Count {
        name: "unroutable",
        by: 1
    }));
}

#[test]
fn rule_a_fanout_exchange_gives_every_bound_queue_a_copy_and_a_full_queue_does_not_block_the_others()
 {
    // "A fanout exchange routes messages to all of the queues that are bound to it and the
    // routing key is ignored."
    let cfg = QueueConfig {
        exchange: Exchange::Fanout,
        queues: vec![
            QueueSpec {
                name: "a".into(),
                bindings: vec![],
            },
            QueueSpec {
                name: "b".into(),
                bindings: vec![],
            },
        ],
        prefetch: 1,
        ..QueueConfig::default()
    };
    // Only C1 (queue a) subscribed: b's copies wait, a's go one at a time.
    let mut b = broker_with(&cfg, &[C1]);
    publish_key(&mut b, 1, "");
    let cmds = publish_key(&mut b, 2, "");
    assert_eq!(sends(&cmds), vec![(PRODUCER, QueueMsg::Confirm { id: 2 })]);
    let queued: Vec<(usize, MsgId)> = broker(&mut b)
        .disk
        .ready
        .iter()
        .map(|m| (m.queue, m.id))
        .collect();
    assert_eq!(queued, vec![(1, 1), (0, 2), (1, 2)]);
    // C2 subscribes to b: b's first copy goes to it though a's copy of m2 is ahead.
    let cmds = step(BROKER, ms(2), |ctx| {
        b.on_message(C2, QueueMsg::Subscribe { session: 0 }, ctx)
    });
    assert_eq!(sends(&cmds), vec![(C2, deliver(1, 1, 1))]);
}

#[test]
fn bug_topic_hash_leaves_a_multi_word_key_out_of_a_hash_binding() {
    let cfg = topic_cfg(true);
    let mut b = broker_with(&cfg, &[C1, C2]);
    let cmds = publish_key(&mut b, 7, "orders.new.eu");
    assert_eq!(
        sends(&cmds),
        vec![
            (PRODUCER, QueueMsg::Confirm { id: 7 }),
            (C1, deliver(0, 7, 1)),
        ]
    );
}

#[test]
fn exchange_config_errors_say_what_was_expected() {
    let bad = |c: QueueConfig| c.validate().unwrap_err();
    let e = bad(QueueConfig {
        exchange: Exchange::Fanout,
        ..QueueConfig::default()
    });
    assert!(e.contains("needs queues"), "{e}");
    let mut c = topic_cfg(false);
    c.routing_keys.clear();
    assert!(bad(c).contains("give routing_keys"));
    let mut c = topic_cfg(false);
    c.queues[1].name = "eu".into();
    assert!(bad(c).contains("used twice"));
    let mut c = topic_cfg(false);
    c.queues[0].bindings = vec!["orders.e#".into()];
    assert!(bad(c).contains("whole words"));
    let mut c = topic_cfg(true);
    c.exchange = Exchange::Direct;
    c.queues[0].bindings = vec!["orders.new.eu".into()];
    c.queues[1].bindings = vec!["payments.eu".into()];
    assert!(bad(c).contains("set exchange: Topic"));
    assert!(topic_cfg(false).validate().is_ok());
}
