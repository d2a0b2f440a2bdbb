//! Handler tests: each feeds one input to one role and asserts the commands recorded,
//! quoting the rule (Kafka's documentation) it checks.

use super::*;
use crate::sim::{Command, RoleTable, SimTime};
use rand::SeedableRng;

pub(super) const PRODUCER: NodeId = 0;
pub(super) const BROKER: NodeId = 1; // the coordinator, holds p0 and p2 of 4 partitions
pub(super) const BROKER2: NodeId = 2; // holds p1 and p3
const C1: NodeId = 3;
const C2: NodeId = 4;

fn roles() -> RoleTable {
    RoleTable::new(
        &["producer", "broker", "consumer"],
        &["producer", "broker", "broker", "consumer", "consumer"].map(String::from),
    )
}

pub(super) fn ms(v: u64) -> SimTime {
    SimTime::from_millis(v)
}

fn cfg() -> LogConfig {
    LogConfig {
        partitions: 4,
        fetch_max: 2,
        ..Default::default()
    }
}

pub(super) fn step(id: NodeId, now: SimTime, f: impl FnOnce(&mut Ctx<Log>)) -> Vec<Command<Log>> {
    let roles = roles();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, 5, now, &mut rng, &mut out).with_roles(&roles);
    f(&mut ctx);
    out
}

pub(super) fn node(cfg: &LogConfig, id: NodeId) -> Log {
    let mut n = None;
    step(id, SimTime::ZERO, |ctx| n = Some(Log::init(cfg, ctx)));
    n.expect("built")
}

pub(super) fn sends(cmds: &[Command<Log>]) -> Vec<(NodeId, LogMsg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn rec(id: RecordId) -> Record {
    Record {
        id,
        key: format!("k{id}"),
    }
}

fn join(session: u64, generation: u64) -> LogMsg {
    LogMsg::JoinGroup {
        session,
        generation,
    }
}

#[test]
fn rule_records_with_the_same_key_go_to_the_same_partition() {
    // Kafka's default partitioner hashes the key, so every record of one key goes to one
    // partition (Kafka documentation, Producer: load balancing); here, the key's number
    // modulo the partitions.
    assert_eq!(partition_of("k17", 3), 2);
    assert_eq!(partition_of("k17", 3), partition_of("k17", 3));
    let c = cfg();
    let mut p = node(&c, PRODUCER);
    let req = ClientRequest {
        from: crate::sim::ClientRef {
            client: 0,
            seq: 0,
            attempt: 1,
        },
        op: crate::sim::Op::Put {
            key: "k5".into(),
            value: "x".into(),
        },
    };
    let cmds = step(PRODUCER, ms(1), |ctx| p.on_client_request(req, ctx));
    // k5 -> partition 1, held by the second broker.
    assert_eq!(
        sends(&cmds),
        vec![(
            BROKER2,
            LogMsg::Produce {
                partition: 1,
                record: Record {
                    id: 0,
                    key: "k5".into()
                }
            }
        )]
    );
}

#[test]
fn rule_a_broker_appends_writes_to_disk_then_acknowledges_with_the_offset() {
    let c = cfg();
    let mut b = node(&c, BROKER);
    for id in 0..2 {
        step(BROKER, ms(1), |ctx| {
            b.on_message(
                PRODUCER,
                LogMsg::Produce {
                    partition: 2,
                    record: rec(id),
                },
                ctx,
            )
        });
    }
    let cmds = step(BROKER, ms(2), |ctx| {
        b.on_message(
            PRODUCER,
            LogMsg::Produce {
                partition: 2,
                record: rec(9),
            },
            ctx,
        )
    });
    let persist = cmds
        .iter()
        .position(|c| matches!(c, Command::Persist(d) if d.broker.logs[&2].len() == 3))
        .expect("on disk");
    let ack = cmds
        .iter()
        .position(|c| {
            matches!(
                c,
                Command::Send {
                    msg: LogMsg::ProduceAck {
                        id: 9,
                        partition: 2,
                        offset: 2
                    },
                    ..
                }
            )
        })
        .expect("acknowledged at offset 2");
    assert!(persist < ack);
    // A fetch returns at most fetch_max records from the offset asked.
    let cmds = step(BROKER, ms(3), |ctx| {
        b.on_message(
            C1,
            LogMsg::Fetch {
                partition: 2,
                offset: 1,
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            C1,
            LogMsg::Records {
                partition: 2,
                offset: 1,
                records: vec![rec(1), rec(9)]
            }
        )]
    );
}

#[test]
fn rule_a_join_starts_a_generation_and_partitions_are_dealt_over_the_members() {
    // Consumption "is implemented in Kafka by dividing up the partitions in the log over the
    // consumer instances so that each instance is the exclusive consumer of a 'fair share' of
    // partitions at any point in time" (Kafka documentation, Consumers).
    let c = cfg();
    let mut b = node(&c, BROKER);
    step(BROKER, ms(1), |ctx| b.on_message(C1, join(1, 0), ctx));
    let cmds = step(BROKER, ms(2), |ctx| b.on_message(C2, join(2, 0), ctx));
    assert_eq!(
        sends(&cmds),
        vec![
            (
                C1,
                LogMsg::Assignment {
                    generation: 2,
                    partitions: vec![(0, 0), (2, 0)]
                }
            ),
            (
                C2,
                LogMsg::Assignment {
                    generation: 2,
                    partitions: vec![(1, 0), (3, 0)]
                }
            ),
        ]
    );
}

#[test]
fn rule_a_silent_member_leaves_the_group_and_the_rest_rebalance() {
    let c = cfg();
    let mut b = node(&c, BROKER);
    step(BROKER, ms(1), |ctx| b.on_message(C1, join(1, 0), ctx));
    step(BROKER, ms(1), |ctx| b.on_message(C2, join(2, 0), ctx));
    step(BROKER, ms(450), |ctx| b.on_message(C2, join(2, 2), ctx));
    let cmds = step(BROKER, ms(600), |ctx| b.on_timer(LogTimer::GroupCheck, ctx));
    assert_eq!(
        sends(&cmds),
        vec![(
            C2,
            LogMsg::Assignment {
                generation: 3,
                partitions: vec![(0, 0), (1, 0), (2, 0), (3, 0)]
            }
        )]
    );
}

#[test]
fn rule_commits_from_an_old_generation_or_for_another_members_partition_are_refused() {
    // Fencing: the coordinator refuses an offset commit carrying an older generation, or for a
    // partition that is not the sender's (Kafka's ILLEGAL_GENERATION error).
    let c = cfg();
    let mut b = node(&c, BROKER);
    step(BROKER, ms(1), |ctx| b.on_message(C1, join(1, 0), ctx));
    step(BROKER, ms(1), |ctx| b.on_message(C2, join(2, 0), ctx));
    let commit = |generation, partition, offset| LogMsg::Commit {
        generation,
        partition,
        offset,
    };
    let mut committed = |from, msg| {
        step(BROKER, ms(5), |ctx| b.on_message(from, msg, ctx));
        match &b.part {
            Part::Broker(b) => b.disk.group.committed.clone(),
            _ => unreachable!(),
        }
    };
    assert!(committed(C1, commit(1, 0, 4)).is_empty()); // generation 1 is over
    assert!(committed(C1, commit(2, 1, 4)).is_empty()); // p1 is C2's
    assert_eq!(committed(C1, commit(2, 0, 4)).get(&0), Some(&4));
}

#[test]
fn rule_a_consumer_commits_after_processing_the_whole_batch() {
    // At-least-once: "read the messages, process the messages, and finally save its
    // position" (Kafka documentation, Message Delivery Semantics).
    let c = cfg();
    let mut k = node(&c, C1);
    let cmds = step(C1, ms(1), |ctx| {
        k.on_message(
            BROKER,
            LogMsg::Assignment {
                generation: 1,
                partitions: vec![(0, 3)],
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            BROKER,
            LogMsg::Fetch {
                partition: 0,
                offset: 3
            }
        )]
    );
    let cmds = step(C1, ms(2), |ctx| {
        k.on_message(
            BROKER,
            LogMsg::Records {
                partition: 0,
                offset: 3,
                records: vec![rec(7), rec(8)],
            },
            ctx,
        )
    });
    assert_eq!(sends(&cmds), vec![]);
    let cmds = step(C1, ms(12), |ctx| k.on_timer(LogTimer::Process(0, 3), ctx));
    assert_eq!(sends(&cmds), vec![]);
    let cmds = step(C1, ms(22), |ctx| k.on_timer(LogTimer::Process(0, 3), ctx));
    assert_eq!(
        sends(&cmds),
        vec![
            (
                BROKER,
                LogMsg::Commit {
                    generation: 1,
                    partition: 0,
                    offset: 5
                }
            ),
            (
                BROKER,
                LogMsg::Fetch {
                    partition: 0,
                    offset: 5
                }
            ),
        ]
    );
    let Part::Consumer(k) = &k.part else {
        unreachable!()
    };
    let offsets: Vec<Offset> = k.processed.iter().map(|p| p.offset).collect();
    assert_eq!(offsets, vec![3, 4]);
}

#[test]
fn rule_at_most_once_commits_before_processing() {
    // At-most-once: "read the messages, then save its position in the log, and finally
    // process the messages" (Kafka documentation, Message Delivery Semantics).
    let c = LogConfig {
        commit: CommitMode::BeforeProcessing,
        ..cfg()
    };
    let mut k = node(&c, C1);
    step(C1, ms(1), |ctx| {
        k.on_message(
            BROKER,
            LogMsg::Assignment {
                generation: 1,
                partitions: vec![(0, 0)],
            },
            ctx,
        )
    });
    let cmds = step(C1, ms(2), |ctx| {
        k.on_message(
            BROKER,
            LogMsg::Records {
                partition: 0,
                offset: 0,
                records: vec![rec(1)],
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            BROKER,
            LogMsg::Commit {
                generation: 1,
                partition: 0,
                offset: 1
            }
        )]
    );
}

#[test]
fn a_new_assignment_abandons_the_batches_of_the_old_generation() {
    let c = cfg();
    let mut k = node(&c, C1);
    let assign = |generation, partitions| LogMsg::Assignment {
        generation,
        partitions,
    };
    step(C1, ms(1), |ctx| {
        k.on_message(BROKER, assign(1, vec![(0, 0)]), ctx)
    });
    step(C1, ms(2), |ctx| {
        k.on_message(
            BROKER,
            LogMsg::Records {
                partition: 0,
                offset: 0,
                records: vec![rec(1), rec(2)],
            },
            ctx,
        )
    });
    let cmds = step(C1, ms(3), |ctx| {
        k.on_message(BROKER, assign(2, vec![(1, 0)]), ctx)
    });
    assert!(cmds.contains(&Command::CancelTimer {
        timer: LogTimer::Process(0, 0)
    }));
    assert_eq!(
        sends(&cmds),
        vec![(
            BROKER2,
            LogMsg::Fetch {
                partition: 1,
                offset: 0
            }
        )]
    );
    // An older assignment arriving late is ignored.
    let cmds = step(C1, ms(4), |ctx| {
        k.on_message(BROKER, assign(1, vec![(0, 0)]), ctx)
    });
    assert_eq!(cmds, vec![]);
}

#[test]
fn a_late_answer_to_an_old_fetch_does_not_start_a_second_batch_of_the_partition() {
    // Found by the chaos sweep (seed 990): a fetch of generation 8 at offset 34 answered
    // after generation 9 restarted the partition at 29 carries exactly the offset the new
    // batch ends at; taken as a second batch, p2@34 was processed before p2@30.
    let c = cfg();
    let mut k = node(&c, C1);
    let assign = |generation, partitions| LogMsg::Assignment {
        generation,
        partitions,
    };
    let records = |offset, ids: &[RecordId]| LogMsg::Records {
        partition: 0,
        offset,
        records: ids.iter().map(|&i| rec(i)).collect(),
    };
    step(C1, ms(1), |ctx| {
        k.on_message(BROKER, assign(1, vec![(0, 0)]), ctx)
    });
    step(C1, ms(2), |ctx| {
        k.on_message(BROKER, records(0, &[1, 2]), ctx)
    });
    let cmds = step(C1, ms(3), |ctx| k.on_message(BROKER, records(2, &[3]), ctx));
    assert_eq!(cmds, vec![], "ignored while the batch at 0 is processed");
    let Part::Consumer(kc) = &k.part else {
        unreachable!()
    };
    assert_eq!(kc.batches.len(), 1);
}

#[test]
fn a_replay_resets_every_committed_offset_and_rebalances() {
    let c = LogConfig {
        replay: Some(Replay {
            at: ms(100),
            offset: 0,
        }),
        ..cfg()
    };
    let mut b = node(&c, BROKER);
    step(BROKER, ms(1), |ctx| b.on_message(C1, join(1, 0), ctx));
    step(BROKER, ms(2), |ctx| {
        b.on_message(
            C1,
            LogMsg::Commit {
                generation: 1,
                partition: 0,
                offset: 9,
            },
            ctx,
        )
    });
    let cmds = step(BROKER, ms(100), |ctx| b.on_timer(LogTimer::Replay, ctx));
    assert_eq!(
        sends(&cmds),
        vec![(
            C1,
            LogMsg::Assignment {
                generation: 2,
                partitions: vec![(0, 0), (1, 0), (2, 0), (3, 0)]
            }
        )]
    );
}

#[test]
fn config_validation_says_what_was_expected() {
    let bad = |f: fn(&mut LogConfig)| {
        let mut c = LogConfig::default();
        f(&mut c);
        c.validate().unwrap_err()
    };
    assert!(bad(|c| c.partitions = 0).contains("partitions between 1 and"));
    assert!(bad(|c| c.session_timeout = c.heartbeat).contains("session_timeout > heartbeat"));
    assert!(bad(|c| c.poll_interval = SimTime::ZERO).contains("poll_interval must be positive"));
    assert!(
        bad(|c| {
            c.commit = CommitMode::BeforeProcessing;
            c.bug_commit_on_fetch = true
        })
        .contains("set commit: AfterProcessing")
    );
    assert!(LogConfig::default().validate().is_ok());
}

fn produce(b: &mut Log, p: Partition, id: RecordId, now: SimTime) {
    step(BROKER, now, |ctx| {
        b.on_message(
            PRODUCER,
            LogMsg::Produce {
                partition: p,
                record: rec(id),
            },
            ctx,
        )
    });
}

fn retention_cfg() -> LogConfig {
    LogConfig {
        partitions: 4,
        fetch_max: 2,
        segment_records: 2,
        retention_time: Some(ms(100)),
        auto_offset_reset: OffsetReset::Earliest,
        ..Default::default()
    }
}

#[test]
fn rule_retention_deletes_whole_closed_segments_older_than_the_retention_time() {
    // "The Kafka cluster durably persists all published records—whether or not they have been
    // consumed—using a configurable retention period." Retention deletes closed segments only:
    // the active segment stays (Kafka documentation, log.retention.ms, log.segment.bytes).
    let c = retention_cfg();
    let mut b = node(&c, BROKER);
    for (id, t) in [(0, 0), (1, 10), (2, 150), (3, 160), (4, 170)] {
        produce(&mut b, 0, id, ms(t));
    }
    // At 200 ms: segment [0,2) is newest at 10 ms (190 ms old): deleted. Segment [2,4) is
    // newest at 160 ms (40 ms old): kept. [4,..) is active.
    let cmds = step(BROKER, ms(200), |ctx| b.on_timer(LogTimer::Retention, ctx));
    assert!(cmds.contains(&Command::Count {
        name: "retention_deleted",
        by: 2
    }));
    let Part::Broker(br) = &b.part else { panic!() };
    assert_eq!((br.disk.start_of(0), br.disk.end_of(0)), (2, 5));
    // Much later everything closed goes, the active segment [4, 5) stays.
    let cmds = step(BROKER, ms(5000), |ctx| b.on_timer(LogTimer::Retention, ctx));
    assert!(cmds.contains(&Command::Count {
        name: "retention_deleted",
        by: 2
    }));
    let Part::Broker(br) = &b.part else { panic!() };
    assert_eq!((br.disk.start_of(0), br.disk.end_of(0)), (4, 5));
    // Offsets keep their numbers: a fetch from 4 gets r4 at offset 4.
    let cmds = step(BROKER, ms(5001), |ctx| {
        b.on_message(
            C1,
            LogMsg::Fetch {
                partition: 0,
                offset: 4,
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&cmds),
        vec![(
            C1,
            LogMsg::Records {
                partition: 0,
                offset: 4,
                records: vec![rec(4)]
            }
        )]
    );
}

#[test]
fn rule_size_retention_keeps_at_least_retention_records() {
    let c = LogConfig {
        retention_time: None,
        retention_records: Some(4),
        ..retention_cfg()
    };
    let mut b = node(&c, BROKER);
    for id in 0..7 {
        produce(&mut b, 0, id, ms(id));
    }
    step(BROKER, ms(10), |ctx| b.on_timer(LogTimer::Retention, ctx));
    // 7 records in segments [0,2) [2,4) [4,6) [6,7): dropping [0,2) leaves 5 >= 4, dropping
    // [2,4) too would leave 3.
    let Part::Broker(br) = &b.part else { panic!() };
    assert_eq!((br.disk.start_of(0), br.disk.end_of(0)), (2, 7));
}

#[test]
fn rule_a_fetch_below_the_log_start_is_out_of_range_and_the_consumer_resets_per_auto_offset_reset()
{
    // "auto.offset.reset: What to do when there is no initial offset in Kafka or if the
    // current offset does not exist any more on the server (e.g. because that data has been
    // deleted): earliest: automatically reset the offset to the earliest offset; latest:
    // automatically reset the offset to the latest offset." (Kafka consumer configs)
    let c = retention_cfg();
    let mut b = node(&c, BROKER);
    for id in 0..5 {
        produce(&mut b, 0, id, ms(0));
    }
    step(BROKER, ms(500), |ctx| b.on_timer(LogTimer::Retention, ctx));
    let cmds = step(BROKER, ms(501), |ctx| {
        b.on_message(
            C1,
            LogMsg::Fetch {
                partition: 0,
                offset: 1,
            },
            ctx,
        )
    });
    let oor = LogMsg::OffsetOutOfRange {
        partition: 0,
        offset: 1,
        start: 4,
        end: 5,
    };
    assert_eq!(sends(&cmds), vec![(C1, oor.clone())]);
    for (reset, to) in [(OffsetReset::Earliest, 4), (OffsetReset::Latest, 5)] {
        let c = LogConfig {
            auto_offset_reset: reset,
            ..retention_cfg()
        };
        let mut k = node(&c, C1);
        step(C1, ms(1), |ctx| {
            k.on_message(
                BROKER,
                LogMsg::Assignment {
                    generation: 1,
                    partitions: vec![(0, 1)],
                },
                ctx,
            )
        });
        let cmds = step(C1, ms(502), |ctx| k.on_message(BROKER, oor.clone(), ctx));
        assert_eq!(
            sends(&cmds),
            vec![(
                BROKER,
                LogMsg::Fetch {
                    partition: 0,
                    offset: to
                }
            )]
        );
        assert!(cmds.contains(&Command::Count {
            name: "reset_skipped",
            by: to - 1
        }));
        let Part::Consumer(kc) = &k.part else {
            panic!()
        };
        assert_eq!(
            kc.resets,
            vec![Reset {
                partition: 0,
                generation: 1,
                from: 1,
                to
            }]
        );
        assert!(kc.resumed.contains(&0));
    }
}

#[test]
fn retention_config_errors_say_what_was_expected() {
    let e = LogConfig {
        retention_records: Some(3),
        segment_records: 10,
        ..LogConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.contains("retention_records >= segment_records"), "{e}");
    let e = LogConfig {
        segment_records: 0,
        ..LogConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.contains("segment_records between 1"), "{e}");
}
