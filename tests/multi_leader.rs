//! Multi-leader replication tests: conflict handling by last-writer-wins and by version
//! vectors (handler tests quoting DDIA ch. 5), the Lost Updates checker on hand-made
//! histories, and sweeps: no lost update with synchronised clocks, the bug switch caught; the
//! chaos scenario (crashes, partitions, pauses, loss): no violation and the leaders converge,
//! under both rules, and each bug switch caught there.

use distsim::cli;
use distsim::protocols::multi_leader::{Conflicts, MlConfig, MlMsg, MultiLeader, Sibling};
use distsim::protocols::storage::{LostUpdates, Version};
use distsim::sim::client::{
    ClientRef, ClientReply, ClientRequest, History, HistoryEntry, Op, Outcome,
};
use distsim::sim::{Command, Ctx, Invariant, NodeId, Protocol, SimTime, World};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn step<R>(
    id: NodeId,
    now_ms: u64,
    f: impl FnOnce(&mut Ctx<MultiLeader>) -> R,
) -> (R, Vec<Command<MultiLeader>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let r = {
        let mut ctx = Ctx::new(id, 2, SimTime::from_millis(now_ms), &mut rng, &mut out);
        f(&mut ctx)
    };
    (r, out)
}

fn leader(id: NodeId, cfg: &MlConfig) -> MultiLeader {
    step(id, 0, |ctx| MultiLeader::init(cfg, ctx)).0
}

fn client(l: &mut MultiLeader, id: NodeId, now_ms: u64, op: Op) -> (Vec<ClientReply>, Vec<MlMsg>) {
    let req = ClientRequest {
        from: ClientRef {
            client: 0,
            seq: 0,
            attempt: 1,
        },
        op,
    };
    let out = step(id, now_ms, |ctx| l.on_client_request(req, ctx)).1;
    let replies = out
        .iter()
        .filter_map(|c| match c {
            Command::Reply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .collect();
    let sends = out
        .iter()
        .filter_map(|c| match c {
            Command::Send { msg, .. } => Some(msg.clone()),
            _ => None,
        })
        .collect();
    (replies, sends)
}

fn put(v: &str) -> Op {
    Op::Put {
        key: "k".into(),
        value: v.into(),
    }
}

fn get() -> Op {
    Op::Get { key: "k".into() }
}

#[test]
fn last_writer_wins_keeps_the_highest_timestamp_even_when_it_was_written_first() {
    // "LWW ... attach a timestamp to each write, pick the biggest timestamp as the most
    // 'recent,' and discard any writes with an earlier timestamp" — with n2's clock 200 ms
    // slow, n2's later write carries the earlier timestamp.
    let c = MlConfig {
        clock_offsets_ms: vec![0, -200],
        ..Default::default()
    };
    let (mut n1, mut n2) = (leader(0, &c), leader(1, &c));
    let (r1, s1) = client(&mut n1, 0, 1000, put("first"));
    assert_eq!(
        r1,
        vec![ClientReply::Ok {
            value: Some("@1000000.3".into())
        }]
    );
    let (_, s2) = client(&mut n2, 1, 1050, put("second"));
    let [MlMsg::Replicate { key, sibling, .. }] = &s2[..] else {
        panic!("{s2:?}")
    };
    assert_eq!(sibling.stamp, Version::new(850_000, 4));
    let out = step(0, 1150, |ctx| {
        n1.on_message(
            1,
            MlMsg::Replicate {
                seq: 1,
                key: key.clone(),
                sibling: sibling.clone(),
            },
            ctx,
        )
    })
    .1;
    assert!(out.contains(&Command::Count {
        name: "lww_discarded",
        by: 1
    }));
    let [MlMsg::Replicate { key, sibling, .. }] = &s1[..] else {
        panic!()
    };
    step(1, 1100, |ctx| {
        n2.on_message(
            0,
            MlMsg::Replicate {
                seq: 1,
                key: key.clone(),
                sibling: sibling.clone(),
            },
            ctx,
        )
    });
    // Both converge on the first write; the second, acknowledged, is gone.
    assert_eq!(n1.store()["k"][0].value, "first");
    assert_eq!(n2.store()["k"][0].value, "first");
}

#[test]
fn version_vectors_keep_concurrent_writes_as_siblings_and_the_next_write_merges_them() {
    // "the server ... can overwrite all values with version number below or equal to the
    // version number received ..., but it must keep all values with a higher version number"
    // (siblings); "the client must merge them" with its next write.
    let c = MlConfig {
        conflicts: Conflicts::VersionVectors,
        ..Default::default()
    };
    let (mut n1, mut n2) = (leader(0, &c), leader(1, &c));
    let (_, s1) = client(&mut n1, 0, 1000, put("3"));
    let (_, s2) = client(&mut n2, 1, 1000, put("5"));
    let deliver = |l: &mut MultiLeader, id, from, msgs: &[MlMsg]| {
        for m in msgs {
            step(id, 1100, |ctx| l.on_message(from, m.clone(), ctx));
        }
    };
    deliver(&mut n1, 0, 1, &s2);
    deliver(&mut n2, 1, 0, &s1);
    let values = |l: &MultiLeader| -> Vec<String> {
        l.store()["k"].iter().map(|s| s.value.clone()).collect()
    };
    assert_eq!(values(&n1), ["3", "5"]);
    assert_eq!(values(&n2), ["5", "3"]);
    let (r, _) = client(&mut n1, 0, 1200, get());
    assert_eq!(
        r,
        vec![ClientReply::Ok {
            value: Some("{3|5}".into())
        }]
    );
    // The merge: n1's next write has seen both and replaces them everywhere.
    let (_, s3) = client(&mut n1, 0, 1300, put("8"));
    let [
        MlMsg::Replicate {
            sibling: Sibling { vv, .. },
            ..
        },
    ] = &s3[..]
    else {
        panic!()
    };
    assert_eq!(vv, &vec![2, 1]);
    deliver(&mut n2, 1, 0, &s3);
    assert_eq!(values(&n1), ["8"]);
    assert_eq!(values(&n2), ["8"]);
}

#[test]
fn clock_offsets_are_validated() {
    let c = MlConfig {
        clock_offsets_ms: vec![0, 0, 0],
        ..Default::default()
    };
    assert!(
        MultiLeader::validate_config(&c, 2)
            .unwrap_err()
            .contains("3 entries for 2 nodes")
    );
    let c = MlConfig {
        clock_offsets_ms: vec![7_200_000],
        ..Default::default()
    };
    assert!(
        MultiLeader::validate_config(&c, 2)
            .unwrap_err()
            .contains("at most")
    );
}

fn write(client: u32, from: u64, to: u64, version: &str) -> HistoryEntry {
    HistoryEntry {
        client,
        seq: from,
        op: put("x"),
        invoked_at: SimTime::from_millis(from),
        returned_at: Some(SimTime::from_millis(to)),
        outcome: Some(Outcome::Ok {
            value: Some(version.into()),
        }),
        attempts: 1,
        node: Some(0),
    }
}

#[test]
fn lost_updates_fails_on_a_later_write_ordered_before_an_earlier_acknowledged_one() {
    let run = |h: &[HistoryEntry]| {
        let mut inv = LostUpdates::new(true);
        let mut history = History::default();
        for e in h {
            history.entries.push(e.clone());
            let w: World<MultiLeader> = World {
                now: e.returned_at.unwrap(),
                states: &[],
                durable: &[],
                touched: None,
                last_event: &[],
                history: &history,
            };
            if let Err(f) = inv.check(&w) {
                return Some(f.explanation);
            }
        }
        None
    };
    // Concurrent writes may be ordered either way.
    assert_eq!(
        run(&[write(0, 0, 10, "@9.1"), write(1, 5, 15, "@3.2")]),
        None
    );
    // A write begun after another was acknowledged must come after it.
    let e = run(&[write(0, 0, 10, "@9.1"), write(1, 20, 25, "@3.2")]).expect("lost update");
    assert!(e.contains("version 9.1"), "{e}");
}

#[test]
fn synchronised_clocks_lose_no_update_and_the_cached_clock_bug_is_caught() {
    let file = "scenarios/storage/multi-leader-lww.ron";
    let text = distsim::bundled::get(file)
        .unwrap()
        .replace("clock_offsets_ms: [0, -200]", "clock_offsets_ms: [0, 0]");
    assert!(text.contains("[0, 0]"));
    let results = cli::sweep(&text, file, 0..100, false).unwrap();
    assert!(
        results.iter().all(|r| r.violation.is_none()),
        "{:?}",
        results.iter().find(|r| r.violation.is_some())
    );
    let bug = "scenarios/storage/bug-cached-clock.ron";
    let text = distsim::bundled::get(bug).unwrap();
    let results = cli::sweep(text, bug, 0..50, false).unwrap();
    let caught = results.iter().filter(|r| r.violation.is_some()).count();
    assert!(caught >= 40, "only {caught} of 50 seeds caught the bug");
    let fixed = text.replace("bug_cached_clock: true", "bug_cached_clock: false");
    assert_ne!(fixed, text);
    let results = cli::sweep(&fixed, bug, 0..50, false).unwrap();
    assert!(results.iter().all(|r| r.violation.is_none()));
}

const CHAOS: &str = "scenarios/storage/multi-leader-chaos.ron";

fn chaos_with(from: &str, to: &str) -> String {
    let text = distsim::bundled::get(CHAOS).unwrap();
    let changed = text.replace(from, to);
    assert_ne!(changed, text, "{from} is not in {CHAOS}");
    changed
}

#[test]
fn the_chaos_sweep_loses_no_update_and_the_leaders_converge() {
    // The scenario's own expectations include divergent_keys = 0 after the heal.
    distsim::testing::assert_sweep_passes(CHAOS, 0..40);
    let vv = chaos_with("conflicts: LastWriterWins", "conflicts: VersionVectors");
    let results = cli::sweep(&vv, CHAOS, 0..20, false).unwrap();
    for r in &results {
        assert!(
            r.violation.is_none() && r.expectations_failed.is_empty(),
            "version vectors, seed {}: {:?} {:?}",
            r.seed,
            r.violation,
            r.expectations_failed
        );
    }
}

#[test]
fn fire_and_forget_replication_never_converges_under_the_chaos() {
    // Without resending, a Replicate lost to a drop, a crash or a partition is gone: some key
    // stays divergent after the heal, and the scenario's convergence expectation fails.
    let text = chaos_with(
        "resend_interval: \"200ms\")",
        "resend_interval: \"200ms\", bug_fire_and_forget: true)",
    );
    let results = cli::sweep(&text, CHAOS, 0..20, false).unwrap();
    for r in &results {
        assert!(r.violation.is_none(), "seed {}: {:?}", r.seed, r.violation);
        assert!(
            r.expectations_failed
                .iter()
                .any(|e| e.contains("divergent_keys over 5.000s")),
            "seed {} converged without resending: {:?}",
            r.seed,
            r.expectations_failed
        );
    }
}

#[test]
fn the_chaos_sweep_catches_the_cached_clock() {
    let text = chaos_with(
        "resend_interval: \"200ms\")",
        "resend_interval: \"200ms\", bug_cached_clock: true)",
    );
    let results = cli::sweep(&text, CHAOS, 0..20, false).unwrap();
    let caught = results
        .iter()
        .filter(|r| {
            r.violation
                .as_ref()
                .is_some_and(|v| format!("{v:?}").contains("Lost Updates"))
        })
        .count();
    assert!(caught >= 5, "only {caught} of 20 seeds caught the bug");
}

#[test]
fn a_lost_replicate_is_sent_again_until_acknowledged_and_applied_once() {
    // Handler level: n1's write is shipped at once; the resend timer ships it again until n2
    // acknowledges it; n2 applies the duplicate once and acknowledges its prefix each time.
    let c = MlConfig::default();
    let mut n1 = leader(0, &c);
    let (_, first) = client(&mut n1, 0, 1000, put("3"));
    assert!(matches!(&first[..], [MlMsg::Replicate { seq: 1, .. }]));
    let resent = step(0, 1200, |ctx| {
        n1.on_timer(distsim::protocols::multi_leader::Timer::Resend, ctx)
    })
    .1;
    let again: Vec<&MlMsg> = resent
        .iter()
        .filter_map(|c| match c {
            Command::Send { to: 1, msg } => Some(msg),
            _ => None,
        })
        .collect();
    assert_eq!(again, vec![&first[0]]);
    let mut n2 = leader(1, &c);
    for _ in 0..2 {
        let out = step(1, 1300, |ctx| n2.on_message(0, first[0].clone(), ctx)).1;
        assert!(out.contains(&Command::Send {
            to: 0,
            msg: MlMsg::ReplicateAck { upto: 1 }
        }));
    }
    assert_eq!(n2.store()["k"].len(), 1);
    step(0, 1400, |ctx| {
        n1.on_message(1, MlMsg::ReplicateAck { upto: 1 }, ctx)
    });
    assert_eq!(n1.backlog(), 0);
    let quiet = step(0, 1600, |ctx| {
        n1.on_timer(distsim::protocols::multi_leader::Timer::Resend, ctx)
    })
    .1;
    assert!(!quiet.iter().any(|c| matches!(c, Command::Send { .. })));
}

#[test]
fn every_multi_leader_scenario_meets_its_expectations() {
    distsim::testing::assert_lesson_scenarios_pass("scenarios/storage/", "multi_leader", 4);
}
