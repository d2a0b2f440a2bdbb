//! Handler tests of replication, each quoting the rule (Kafka's documentation, "Replication";
//! KIP-101) it checks. Two brokers, replication factor 2: broker1 (the controller) leads p0
//! and p2, broker2 leads p1 and p3, each following the other's.

use super::tests::{BROKER, BROKER2, PRODUCER, ms, node, rec, sends, step};
use super::*;
use crate::sim::Command;

fn cfg(acks: Acks) -> LogConfig {
    LogConfig {
        partitions: 4,
        replication_factor: 2,
        acks,
        ..Default::default()
    }
}

fn broker(n: &mut Log) -> &mut Broker {
    match &mut n.part {
        Part::Broker(b) => b,
        _ => unreachable!(),
    }
}

fn produce(b: &mut Log, id: RecordId) -> Vec<Command<Log>> {
    let msg = LogMsg::Produce {
        partition: 0,
        record: rec(id),
    };
    step(BROKER, ms(1), |ctx| b.on_message(PRODUCER, msg, ctx))
}

fn replica_fetch(b: &mut Log, offset: Offset) -> Vec<Command<Log>> {
    let msg = LogMsg::ReplicaFetch {
        partition: 0,
        leader_epoch: 1,
        offset,
        last_fetched_epoch: if offset == 0 { 0 } else { 1 },
    };
    step(BROKER, ms(2), |ctx| b.on_message(BROKER2, msg, ctx))
}

fn acked(cmds: &[Command<Log>]) -> Vec<Offset> {
    sends(cmds)
        .into_iter()
        .filter_map(|(_, m)| match m {
            LogMsg::ProduceAck { offset, .. } => Some(offset),
            _ => None,
        })
        .collect()
}

#[test]
fn rule_the_high_watermark_is_the_smallest_log_end_offset_in_the_isr() {
    // "The leader keeps track of the high watermark ... the offset of the last committed
    // message": a message is committed "when all in sync replicas for that partition have
    // applied it to their log"; under acks=all the producer is answered then.
    let c = cfg(Acks::All);
    let mut b = node(&c, BROKER);
    assert_eq!(acked(&produce(&mut b, 7)), Vec::<Offset>::new());
    assert_eq!(acked(&produce(&mut b, 8)), Vec::<Offset>::new());
    // The follower fetches from 1: it has offset 0, so the high watermark is 1.
    assert_eq!(acked(&replica_fetch(&mut b, 0)), Vec::<Offset>::new());
    let cmds = replica_fetch(&mut b, 1);
    assert_eq!(acked(&cmds), vec![0]);
    assert_eq!(broker(&mut b).replicas[&0].hw, 1);
    assert_eq!(acked(&replica_fetch(&mut b, 2)), vec![1]);
}

#[test]
fn rule_acks_one_answers_after_the_leaders_own_append() {
    // acks=1: "the leader will write the record to its local log but will respond without
    // awaiting full acknowledgement from all followers" (producer configs, acks).
    let c = cfg(Acks::One);
    let mut b = node(&c, BROKER);
    assert_eq!(acked(&produce(&mut b, 7)), vec![0]);
    assert_eq!(broker(&mut b).replicas[&0].hw, 0, "not committed yet");
}

#[test]
fn rule_a_produce_to_a_broker_that_does_not_lead_the_partition_gets_not_leader() {
    let c = cfg(Acks::All);
    let mut b = node(&c, BROKER);
    let msg = LogMsg::Produce {
        partition: 1,
        record: rec(1),
    };
    let cmds = step(BROKER, ms(1), |ctx| b.on_message(PRODUCER, msg, ctx));
    assert_eq!(
        sends(&cmds),
        vec![(
            PRODUCER,
            LogMsg::NotLeader {
                partition: 1,
                leader: Some(BROKER2),
                leader_epoch: 1
            }
        )]
    );
}

#[test]
fn rule_a_diverging_follower_truncates_to_where_its_epoch_ends_on_the_leader() {
    // KIP-101: the follower asks the leader for the end offset of its latest epoch and
    // truncates there, instead of to its high watermark.
    let mut leader = BrokerDisk::default();
    let mut follower = BrokerDisk::default();
    for (o, e) in [(0, 1), (1, 1), (2, 2), (3, 2)] {
        follower.append(0, e, rec(o));
    }
    for (o, e) in [(0, 1), (1, 1), (2, 3)] {
        leader.append(0, e, rec(o + 10));
    }
    // The follower's last epoch is 2; the leader never had it: its largest epoch <= 2 is 1,
    // ending at 2. The follower's own epoch 1 also ends at 2: truncate to 2.
    assert_eq!(leader.epoch_end(0, 2), (1, 2));
    assert_eq!(follower.epoch_end(0, 1), (1, 2));
    follower.truncate(0, 2);
    assert_eq!(follower.end_of(0), 2);
    assert_eq!(follower.last_epoch(0), 1);
    assert_eq!(follower.entries(0, 0, 5).len(), 2);
}

#[test]
fn rule_the_controller_elects_a_new_leader_from_the_isr_in_a_new_epoch() {
    // "Only members of this set [the ISR] are eligible for election as leader."
    let s = PartitionState {
        replicas: vec![1, 2, 3],
        leader: Some(1),
        leader_epoch: 4,
        partition_epoch: 9,
        isr: vec![1, 3],
    };
    let mut clean = s.clone();
    assert!(on_broker_dead(&mut clean, 1, |n| n == 1, false));
    assert_eq!((clean.leader, clean.leader_epoch), (Some(3), 5));
    assert_eq!(clean.isr, vec![3]);
    // No live ISR member: offline, and the last ISR member stays (only it may hold every
    // acknowledged record), unless unclean election takes broker 2, out of sync.
    let mut offline = s.clone();
    assert!(on_broker_dead(&mut offline, 1, |n| n != 2, false));
    assert_eq!((offline.leader, offline.isr.clone()), (None, vec![3]));
    let mut unclean = s;
    assert!(on_broker_dead(&mut unclean, 1, |n| n != 2, true));
    assert_eq!((unclean.leader, unclean.isr), (Some(2), vec![2]));
    // Broker 3 back: it leads the offline partition, as the last ISR member.
    assert!(on_broker_back(&mut offline, 3, false));
    assert_eq!(offline.leader, Some(3));
}

#[test]
fn replication_config_errors_say_what_was_expected() {
    let bad = |f: fn(&mut LogConfig)| {
        let mut c = LogConfig::default();
        f(&mut c);
        c.validate().unwrap_err()
    };
    assert!(bad(|c| c.min_insync_replicas = 2).contains("min_insync_replicas between 1 and"));
    assert!(bad(|c| c.bug_ack_on_append = true).contains("set acks: All"));
    assert!(
        bad(|c| {
            c.replication_factor = 2;
            c.retention_records = Some(10)
        })
        .contains("retention is not modelled with replication")
    );
}
