//! Handler tests: each feeds one input to one role and asserts the commands recorded, quoting
//! the NATS JetStream documentation rule it checks (docs.nats.io: "JetStream Model Deep
//! Dive", "Consumers", "Streams").

use super::invariants::{EffectivelyOnce, PublishedOnce};
use super::*;
use crate::sim::{ClientRef, ClientReply, Command, RoleTable, SimTime, World};
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
fn step(id: NodeId, now: SimTime, f: impl FnOnce(&mut Ctx<Stream>)) -> Vec<Command<Stream>> {
    let roles = roles();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, 4, now, &mut rng, &mut out).with_roles(&roles);
    f(&mut ctx);
    out
}

fn node(cfg: &StreamConfig, id: NodeId) -> Stream {
    let mut s = None;
    step(id, SimTime::ZERO, |ctx| s = Some(Stream::init(cfg, ctx)));
    s.expect("built")
}

fn sends(cmds: &[Command<Stream>]) -> Vec<(NodeId, StreamMsg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn counted(cmds: &[Command<Stream>], name: &str) -> u64 {
    cmds.iter()
        .map(|c| match c {
            Command::Count { name: n, by } if *n == name => *by,
            _ => 0,
        })
        .sum()
}

fn broker(s: &mut Stream) -> &mut Broker {
    match &mut s.part {
        Part::Broker(b) => b,
        _ => panic!("not a broker"),
    }
}

fn puback(msg_id: MsgId, seq: Seq, duplicate: bool) -> (NodeId, StreamMsg) {
    (
        PRODUCER,
        StreamMsg::PubAck {
            msg_id,
            seq,
            duplicate,
        },
    )
}

fn deliver(to: NodeId, seq: Seq, msg_id: MsgId, delivery: u32) -> (NodeId, StreamMsg) {
    (
        to,
        StreamMsg::Deliver {
            seq,
            msg_id,
            delivery,
        },
    )
}

/// A broker with the given consumers subscribed and nothing stored.
fn broker_with(cfg: &StreamConfig, consumers: &[NodeId]) -> Stream {
    let mut b = node(cfg, BROKER);
    for &c in consumers {
        step(BROKER, SimTime::ZERO, |ctx| {
            b.on_message(c, StreamMsg::Subscribe, ctx)
        });
    }
    b
}

fn publish(b: &mut Stream, msg_id: MsgId, now: SimTime) -> Vec<Command<Stream>> {
    step(BROKER, now, |ctx| {
        b.on_message(PRODUCER, StreamMsg::Publish { msg_id }, ctx)
    })
}

fn ack(b: &mut Stream, from: NodeId, seq: Seq, now: SimTime) -> Vec<Command<Stream>> {
    step(BROKER, now, |ctx| {
        b.on_message(from, StreamMsg::Ack { seq }, ctx)
    })
}

#[test]
fn rule_a_retry_with_the_same_msg_id_within_the_window_is_not_stored_again() {
    // "JetStream support idempotent message writes by ignoring duplicate messages as
    // indicated by the Nats-Msg-Id header." (JetStream Model Deep Dive, Message
    // Deduplication); the PubAck of the duplicate says so (`duplicate: true`) and carries the
    // sequence of the stored message.
    let cfg = StreamConfig::default();
    let mut b = broker_with(&cfg, &[]);
    assert_eq!(sends(&publish(&mut b, 7, ms(0))), vec![puback(7, 1, false)]);
    assert_eq!(sends(&publish(&mut b, 8, ms(1))), vec![puback(8, 2, false)]);
    let cmds = publish(&mut b, 7, ms(1_999));
    assert_eq!(sends(&cmds), vec![puback(7, 1, true)]);
    assert_eq!(counted(&cmds, "duplicates_suppressed"), 1);
    assert!(!cmds.iter().any(|c| matches!(c, Command::Persist(_))));
    assert_eq!(broker(&mut b).disk.last_seq(), 2);
}

#[test]
fn rule_after_the_duplicate_window_the_same_msg_id_is_stored_again() {
    // "The default window to track duplicates in is 2 minutes" (JetStream Model Deep Dive):
    // the window is all the server remembers, so a retry later than it is a new message.
    let cfg = StreamConfig {
        duplicate_window: ms(100),
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[]);
    publish(&mut b, 7, ms(0));
    let cmds = publish(&mut b, 7, ms(100));
    assert_eq!(sends(&cmds), vec![puback(7, 2, false)]);
    assert_eq!(counted(&cmds, "duplicates_stored"), 1);
    assert_eq!(broker(&mut b).disk.duplicates_stored(), 1);
}

#[test]
fn bug_no_dedup_stores_a_retry_within_the_window() {
    let cfg = StreamConfig {
        bug_no_dedup: true,
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[]);
    publish(&mut b, 7, ms(0));
    assert_eq!(
        sends(&publish(&mut b, 7, ms(10))),
        vec![puback(7, 2, false)]
    );
}

#[test]
fn rule_a_message_is_on_disk_before_its_puback_leaves() {
    // The PubAck is "the response returned by the JetStream server when a message is added to
    // a stream", with "the sequence number of the message as stored in JetStream".
    let cfg = StreamConfig::default();
    let mut b = broker_with(&cfg, &[]);
    let cmds = publish(&mut b, 3, ms(1));
    let persist = cmds
        .iter()
        .position(|c| matches!(c, Command::Persist(d) if d.disk.last_seq() == 1))
        .expect("written");
    let acked = cmds
        .iter()
        .position(|c| matches!(c, Command::Send { to: PRODUCER, .. }))
        .expect("acknowledged");
    assert!(persist < acked, "{cmds:?}");
}

#[test]
fn rule_every_durable_consumer_reads_the_whole_stream() {
    // A stream keeps its messages; each consumer is its own view of it, with its own
    // delivered and acknowledged sequences (Consumers: "a consumer is a stateful view of a
    // stream").
    let cfg = StreamConfig::default();
    let mut b = broker_with(&cfg, &[C1, C2]);
    let cmds = publish(&mut b, 5, ms(1));
    assert_eq!(
        sends(&cmds)[1..],
        [deliver(C1, 1, 5, 1), deliver(C2, 1, 5, 1)]
    );
}

#[test]
fn rule_max_ack_pending_suspends_delivery_until_an_ack() {
    // MaxAckPending: "Defines the maximum number of messages, without acknowledgment, that
    // can be outstanding. Once this limit is reached, message delivery will be suspended."
    // (Consumers)
    let cfg = StreamConfig {
        max_ack_pending: 2,
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[C1]);
    let delivered: Vec<_> = (0..4)
        .flat_map(|id| sends(&publish(&mut b, id, ms(1))))
        .filter(|(to, _)| *to == C1)
        .collect();
    assert_eq!(delivered, vec![deliver(C1, 1, 0, 1), deliver(C1, 2, 1, 1)]);
    assert_eq!(
        sends(&ack(&mut b, C1, 1, ms(2))),
        vec![deliver(C1, 3, 2, 1)]
    );
}

#[test]
fn rule_ack_all_acknowledges_every_earlier_message_and_explicit_only_the_one() {
    // "AckAll: In this mode if you acknowledge message 100 it will also acknowledge message
    // 1-99"; "AckExplicit: This requires every message to be specifically acknowledged"
    // (JetStream Model Deep Dive, Consumer Acknowledgement Modes)
    for (policy, left) in [(AckPolicy::All, 0), (AckPolicy::Explicit, 2)] {
        let cfg = StreamConfig {
            ack_policy: policy,
            ..Default::default()
        };
        let mut b = broker_with(&cfg, &[C1]);
        for id in 0..3 {
            publish(&mut b, id, ms(1));
        }
        let cmds = ack(&mut b, C1, 3, ms(2));
        let d = &broker(&mut b).disk.consumers[&C1];
        assert_eq!(d.pending.len(), left, "{policy:?}");
        assert_eq!(d.ack_floor, if left == 0 { 3 } else { 0 }, "{policy:?}");
        assert_eq!(counted(&cmds, "acked"), 3 - left as u64, "{policy:?}");
    }
}

#[test]
fn rule_ack_none_keeps_nothing_pending_and_never_redelivers() {
    // AckNone: "No acknowledgment needed; the server assumes acknowledgment on delivery."
    // (Consumers, AckPolicy); MaxAckPending does not apply.
    let cfg = StreamConfig {
        ack_policy: AckPolicy::None,
        max_ack_pending: 1,
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[C1]);
    for id in 0..3 {
        publish(&mut b, id, ms(1));
    }
    let d = &broker(&mut b).disk.consumers[&C1];
    assert!(d.pending.is_empty());
    assert_eq!((d.delivered, d.ack_floor), (3, 3));
    let cmds = step(BROKER, ms(5_000), |ctx| {
        b.on_timer(StreamTimer::AckCheck, ctx)
    });
    assert_eq!(sends(&cmds), vec![]);
    // Nor does the consumer ack.
    let mut c = node(&cfg, C1);
    let cmds = step(C1, ms(2), |ctx| {
        c.on_message(BROKER, deliver(C1, 1, 0, 1).1, ctx)
    });
    assert_eq!(sends(&cmds), vec![]);
}

#[test]
fn rule_an_unacknowledged_message_is_redelivered_after_ack_wait() {
    // AckWait: "The duration that the server will wait for an acknowledgment for any
    // individual message once it has been delivered to a consumer. If an acknowledgment is
    // not received in time, the message will be redelivered." (Consumers)
    let cfg = StreamConfig {
        ack_wait: ms(400),
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[C1]);
    publish(&mut b, 0, ms(0));
    publish(&mut b, 1, ms(100));
    let cmds = step(BROKER, ms(399), |ctx| {
        b.on_timer(StreamTimer::AckCheck, ctx)
    });
    assert_eq!(sends(&cmds), vec![]);
    assert!(cmds.contains(&Command::SetTimer {
        timer: StreamTimer::AckCheck,
        after: ms(100)
    }));
    let cmds = step(BROKER, ms(400), |ctx| {
        b.on_timer(StreamTimer::AckCheck, ctx)
    });
    assert_eq!(sends(&cmds), vec![deliver(C1, 1, 0, 2)]);
    assert_eq!(counted(&cmds, "redelivered"), 1);
}

#[test]
fn rule_max_deliver_stops_redelivery() {
    // MaxDeliver: "The maximum number of times a specific message delivery will be
    // attempted. Applies to any message that is re-sent due to acknowledgment policy"
    // (Consumers)
    let cfg = StreamConfig {
        ack_wait: ms(100),
        max_deliver: 2,
        ..Default::default()
    };
    let mut b = broker_with(&cfg, &[C1]);
    publish(&mut b, 0, ms(0));
    let cmds = step(BROKER, ms(100), |ctx| {
        b.on_timer(StreamTimer::AckCheck, ctx)
    });
    assert_eq!(sends(&cmds), vec![deliver(C1, 1, 0, 2)]);
    let cmds = step(BROKER, ms(200), |ctx| {
        b.on_timer(StreamTimer::AckCheck, ctx)
    });
    assert_eq!(sends(&cmds), vec![]);
    assert_eq!(counted(&cmds, "max_deliver_reached"), 1);
    let d = &broker(&mut b).disk.consumers[&C1];
    assert!(d.pending.is_empty());
    assert_eq!(d.ack_floor, 1);
}

#[test]
fn a_restarted_broker_keeps_its_stream_consumers_and_dedup_window() {
    let cfg = StreamConfig::default();
    let mut b = broker_with(&cfg, &[C1]);
    publish(&mut b, 7, ms(0));
    let disk = broker(&mut b).disk.clone();
    let mut r = None;
    step(BROKER, ms(500), |ctx| {
        r = Some(Stream::on_restart(&cfg, &StreamDurable::broker(disk), ctx))
    });
    let mut r = r.expect("restarted");
    assert_eq!(
        sends(&publish(&mut r, 7, ms(600))),
        vec![puback(7, 1, true)]
    );
    assert_eq!(broker(&mut r).disk.consumers[&C1].pending.len(), 1);
    // The pending delivery is still redelivered after ack_wait.
    let cmds = step(BROKER, ms(1_000), |ctx| {
        r.on_timer(StreamTimer::AckCheck, ctx)
    });
    assert_eq!(sends(&cmds), vec![deliver(C1, 1, 7, 2)]);
}

#[test]
fn a_consumer_applies_a_sequence_once_and_acks_every_delivery_of_it() {
    let cfg = StreamConfig::default();
    let mut c = node(&cfg, C1);
    let cmds = step(C1, ms(5), |ctx| {
        c.on_message(BROKER, deliver(C1, 4, 9, 1).1, ctx)
    });
    assert_eq!(
        cmds,
        vec![
            Command::Count {
                name: "applied",
                by: 1
            },
            Command::Persist(StreamDurable::consumer(vec![(4, 9)])),
            Command::Send {
                to: BROKER,
                msg: StreamMsg::Ack { seq: 4 }
            },
        ]
    );
    let cmds = step(C1, ms(6), |ctx| {
        c.on_message(BROKER, deliver(C1, 4, 9, 2).1, ctx)
    });
    assert_eq!(
        cmds,
        vec![
            Command::Count {
                name: "duplicates_delivered",
                by: 1
            },
            Command::Send {
                to: BROKER,
                msg: StreamMsg::Ack { seq: 4 }
            },
        ]
    );
    // A restarted consumer still knows what it applied.
    let mut r = None;
    step(C1, ms(7), |ctx| {
        r = Some(Stream::on_restart(
            &cfg,
            &StreamDurable::consumer(vec![(4, 9)]),
            ctx,
        ))
    });
    let mut r = r.expect("restarted");
    let cmds = step(C1, ms(8), |ctx| {
        r.on_message(BROKER, deliver(C1, 4, 9, 3).1, ctx)
    });
    assert_eq!(counted(&cmds, "applied"), 0);
    // With the bug it applies the duplicate.
    let bug = StreamConfig {
        bug_consumer_no_dedup: true,
        ..Default::default()
    };
    let mut c = node(&bug, C1);
    for _ in 0..2 {
        step(C1, ms(5), |ctx| {
            c.on_message(BROKER, deliver(C1, 4, 9, 1).1, ctx)
        });
    }
    match &c.part {
        Part::Consumer(c) => assert_eq!(c.applied, vec![(4, 9), (4, 9)]),
        _ => unreachable!(),
    }
}

fn user(seq: u64) -> ClientRef {
    ClientRef {
        client: 0,
        seq,
        attempt: 1,
    }
}

#[test]
fn a_producer_retries_with_the_same_msg_id_and_answers_on_the_first_puback() {
    // Nats-Msg-Id: "Client-defined unique identifier for a message that will be used by the
    // server apply de-duplication within the configured Duplicate Window." (Headers): a
    // retry must carry the same id.
    let cfg = StreamConfig::default();
    let mut p = node(&cfg, PRODUCER);
    let req = ClientRequest {
        from: user(0),
        op: crate::sim::Op::Request("x".into()),
    };
    let cmds = step(PRODUCER, ms(1), |ctx| p.on_client_request(req, ctx));
    assert_eq!(
        sends(&cmds),
        vec![(BROKER, StreamMsg::Publish { msg_id: 0 })]
    );
    let cmds = step(PRODUCER, ms(201), |ctx| {
        p.on_timer(StreamTimer::PubAckTimeout(0), ctx)
    });
    assert_eq!(
        sends(&cmds),
        vec![(BROKER, StreamMsg::Publish { msg_id: 0 })]
    );
    assert!(cmds.contains(&Command::SetTimer {
        timer: StreamTimer::PubAckTimeout(0),
        after: ms(400)
    }));
    let cmds = step(PRODUCER, ms(210), |ctx| {
        p.on_message(BROKER, puback(0, 1, true).1, ctx)
    });
    assert!(cmds.contains(&Command::Reply {
        to: user(0),
        reply: ClientReply::Ok {
            value: Some("m0@s1".into())
        }
    }));
    assert!(
        cmds.contains(&Command::Persist(StreamDurable::producer(PubLog {
            next: 1,
            acked: vec![(0, 1)]
        })))
    );
    assert_eq!(counted(&cmds, "duplicate_acks"), 1);
}

#[test]
fn config_validation_says_what_was_expected() {
    let bad = |f: fn(&mut StreamConfig)| {
        let mut c = StreamConfig::default();
        f(&mut c);
        c.validate().unwrap_err()
    };
    assert!(bad(|c| c.max_ack_pending = 0).contains("max_ack_pending between 1 and"));
    assert!(bad(|c| c.ack_wait = SimTime::ZERO).contains("ack_wait must be positive"));
    assert!(
        bad(|c| {
            c.duplicate_window = SimTime::ZERO;
            c.bug_no_dedup = true
        })
        .contains("positive duplicate_window")
    );
    assert!(StreamConfig::default().validate().is_ok());
}

/// Runs a checker once over hand-made durable state, every node changed.
fn check(
    inv: &mut dyn crate::sim::Invariant<Stream>,
    states: &[Option<Stream>],
    durable: &[StreamDurable],
) -> Result<(), crate::sim::Failure> {
    let history = crate::sim::client::History::default();
    let last = vec![None; states.len()];
    inv.check(&World {
        now: ms(0),
        states,
        durable,
        touched: None,
        last_event: &last,
        history: &history,
    })
}

fn stream_of(stored: &[(MsgId, u64)]) -> StreamDisk {
    StreamDisk {
        messages: stored
            .iter()
            .enumerate()
            .map(|(i, &(msg_id, at))| Stored {
                seq: i as Seq + 1,
                msg_id,
                stored_at: ms(at),
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn published_once_flags_an_id_stored_twice_within_the_window_only() {
    let cfg = StreamConfig {
        duplicate_window: ms(100),
        ..Default::default()
    };
    let states: Vec<Option<Stream>> = (0..4).map(|n| Some(node(&cfg, n))).collect();
    let run = |stored: &[(MsgId, u64)], acked: Vec<(MsgId, Seq)>| {
        let mut durable = vec![StreamDurable::default(); 4];
        durable[BROKER] = StreamDurable::broker(stream_of(stored));
        durable[PRODUCER] = StreamDurable::producer(PubLog { next: 9, acked });
        check(
            &mut PublishedOnce::new(4, cfg.duplicate_window),
            &states,
            &durable,
        )
    };
    assert!(run(&[(7, 0), (8, 1), (7, 100)], vec![(7, 1), (8, 2)]).is_ok());
    let e = run(&[(7, 0), (7, 99)], vec![(7, 1)]).unwrap_err();
    assert!(e.explanation.contains("m7 is stored twice"), "{e:?}");
    let e = run(&[(7, 0)], vec![(7, 1), (8, 2)]).unwrap_err();
    assert!(e.explanation.contains("s2 is not in the stream"), "{e:?}");
}

#[test]
fn effectively_once_flags_a_sequence_applied_twice_by_one_consumer() {
    let cfg = StreamConfig::default();
    let states: Vec<Option<Stream>> = (0..4).map(|n| Some(node(&cfg, n))).collect();
    let mut durable = vec![StreamDurable::default(); 4];
    // Each consumer applying s1 once is fine.
    durable[C1] = StreamDurable::consumer(vec![(1, 7), (2, 8)]);
    durable[C2] = StreamDurable::consumer(vec![(1, 7)]);
    let mut inv = EffectivelyOnce::new(4);
    assert!(check(&mut inv, &states, &durable).is_ok());
    durable[C2] = StreamDurable::consumer(vec![(1, 7), (1, 7)]);
    let e = check(&mut inv, &states, &durable).unwrap_err();
    assert!(e.explanation.contains("consumer2 applied s1"), "{e:?}");
}
