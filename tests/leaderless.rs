//! Leaderless (Dynamo-style) quorum tests, in layers (see `shared/STYLE.md`):
//! 1. handler tests on the exact commands, quoting Dynamo (SOSP 2007) §4.5 and §4.8;
//! 2. the quorum scenarios across seeds: stale reads with R + W <= N, none with R + W > N;
//! 3. the bug switch caught, and safe when off; a chaos sweep of R = W = 2.

use distsim::cli;
use distsim::protocols::leaderless::{Leaderless, LlConfig, LlDurable, LlMsg, LlTimer};
use distsim::protocols::storage::Version;
use distsim::registry::{self, RunOptions};
use distsim::sim::client::{ClientRef, ClientReply, ClientRequest, Op};
use distsim::sim::trace::TraceLevel;
use distsim::sim::{Command, Ctx, NodeId, Protocol, SimTime};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

fn step<R>(
    id: NodeId,
    now_us: u64,
    f: impl FnOnce(&mut Ctx<Leaderless>) -> R,
) -> (R, Vec<Command<Leaderless>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let r = {
        let mut ctx = Ctx::new(id, 3, SimTime(now_us), &mut rng, &mut out);
        f(&mut ctx)
    };
    (r, out)
}

fn node(id: NodeId, cfg: &LlConfig) -> Leaderless {
    step(id, 0, |ctx| Leaderless::init(cfg, ctx)).0
}

fn client(n: &mut Leaderless, id: NodeId, op: Op) -> Vec<Command<Leaderless>> {
    let req = ClientRequest {
        from: ClientRef {
            client: 0,
            seq: 0,
            attempt: 1,
        },
        op,
    };
    step(id, 1000, |ctx| n.on_client_request(req, ctx)).1
}

fn deliver(n: &mut Leaderless, id: NodeId, from: NodeId, msg: LlMsg) -> Vec<Command<Leaderless>> {
    step(id, 2000, |ctx| n.on_message(from, msg, ctx)).1
}

fn replies(out: &[Command<Leaderless>]) -> Vec<ClientReply> {
    out.iter()
        .filter_map(|c| match c {
            Command::Reply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .collect()
}

fn cfg(r: usize, w: usize) -> LlConfig {
    LlConfig {
        n: 3,
        r,
        w,
        ..Default::default()
    }
}

#[test]
fn a_write_is_sent_to_the_n_replicas_and_acknowledged_after_w() {
    // "the coordinator generates the vector clock for the new version and writes the new
    // version locally. The coordinator then sends the new version ... to the N highest-ranked
    // reachable nodes. If at least W-1 nodes respond then the write is considered successful."
    let c = cfg(2, 2);
    let mut n1 = node(0, &c);
    let out = client(
        &mut n1,
        0,
        Op::Put {
            key: "k0".into(),
            value: "7".into(),
        },
    );
    let v = Version::new(1000, 4); // (clock, first stamp of n1 in a cluster of 3)
    let write = |to| Command::Send {
        to,
        msg: LlMsg::Write {
            id: 1,
            key: "k0".into(),
            value: "7".into(),
            version: v,
            hint: None,
        },
    };
    assert_eq!(
        out,
        vec![
            Command::SetTimer {
                timer: LlTimer::Request(1),
                after: SimTime::from_millis(200)
            },
            Command::Persist(LlDurable {
                store: [("k0".to_string(), ("7".to_string(), v))].into(),
                hints: Default::default(),
            }),
            write(1),
            write(2),
        ]
    );
    let out = deliver(&mut n1, 0, 2, LlMsg::WriteAck { id: 1 });
    // A duplicated acknowledgement is not a second replica.
    assert!(replies(&deliver(&mut n1, 0, 2, LlMsg::WriteAck { id: 1 })).is_empty());
    assert_eq!(
        replies(&out),
        vec![ClientReply::Ok {
            value: Some(format!("@{v}"))
        }]
    );
}

#[test]
fn a_read_answers_the_newest_of_r_replies_and_repairs_the_stale_ones() {
    // "If the coordinator ends up gathering multiple versions of the data, it returns all the
    // versions it deems to be causally unrelated" (here: the newest); read repair (§4.8)
    // updates the replicas that answered with an older version.
    let c = cfg(2, 2);
    let mut n1 = node(0, &c);
    let out = client(&mut n1, 0, Op::Get { key: "k0".into() });
    assert!(
        replies(&out).is_empty(),
        "n1's own empty reply is one of two"
    );
    let newer = Version::new(500, 5);
    let out = deliver(
        &mut n1,
        0,
        2,
        LlMsg::ReadReply {
            id: 1,
            value: Some(("9".into(), newer)),
        },
    );
    assert_eq!(
        replies(&out),
        vec![ClientReply::Ok {
            value: Some("9@500.5".into())
        }]
    );
    // n1 itself answered with nothing: it is repaired locally.
    assert_eq!(n1.store().get("k0"), Some(&("9".to_string(), newer)));
    // A late, stale third reply gets a Repair.
    let out = deliver(&mut n1, 0, 1, LlMsg::ReadReply { id: 1, value: None });
    assert!(out.contains(&Command::Send {
        to: 1,
        msg: LlMsg::Repair {
            key: "k0".into(),
            value: "9".into(),
            version: newer
        }
    }));
}

#[test]
fn a_replica_keeps_the_newest_version_last_writer_wins() {
    let mut n2 = node(1, &cfg(2, 2));
    let w = |v: Version, val: &str| LlMsg::Write {
        id: 1,
        key: "k".into(),
        value: val.into(),
        version: v,
        hint: None,
    };
    deliver(&mut n2, 1, 0, w(Version::new(10, 1), "new"));
    let out = deliver(&mut n2, 1, 0, w(Version::new(5, 1), "old"));
    assert_eq!(n2.store()["k"].0, "new");
    assert_eq!(
        out,
        vec![Command::Send {
            to: 0,
            msg: LlMsg::WriteAck { id: 1 }
        }]
    );
}

#[test]
fn a_coordinator_without_its_quorum_fails_the_request_at_the_timeout() {
    let mut n1 = node(0, &cfg(1, 3));
    client(
        &mut n1,
        0,
        Op::Put {
            key: "k0".into(),
            value: "7".into(),
        },
    );
    let out = step(0, 300_000, |ctx| n1.on_timer(LlTimer::Request(1), ctx)).1;
    assert_eq!(
        replies(&out),
        vec![ClientReply::Fail {
            reason: "write quorum of 3 not reached".into()
        }]
    );
}

#[test]
fn quorum_sizes_are_validated() {
    let e = Leaderless::validate_config(&cfg(4, 1), 3).unwrap_err();
    assert!(e.contains("1 <= r <= n"), "{e}");
    let e = Leaderless::validate_config(&LlConfig { n: 4, ..cfg(1, 1) }, 3).unwrap_err();
    assert!(e.contains("between 1 and the 3 nodes"), "{e}");
}

/// Stale reads of one run of `text` at `seed`, and whether any invariant failed.
fn stale(text: &str, file: &str, seed: u64) -> (u64, bool) {
    let opts = RunOptions {
        seed: Some(seed),
        trace_level: TraceLevel::Off,
        ..Default::default()
    };
    let mut l = registry::load(text, file, &opts).unwrap();
    l.sim.run_until(l.info.duration);
    (
        l.sim.metrics().counter("stale_reads"),
        !l.sim.violations().is_empty(),
    )
}

#[test]
fn stale_reads_appear_only_when_r_plus_w_is_not_above_n() {
    // DDIA: "as long as w + r > n, we expect to get an up-to-date value when reading".
    for (file, promised) in [
        ("scenarios/storage/quorum-1-1.ron", false),
        ("scenarios/storage/quorum-2-2.ron", true),
        ("scenarios/storage/quorum-1-3.ron", true),
    ] {
        let text = distsim::bundled::get(file).unwrap();
        let runs: Vec<(u64, bool)> = (0..40u64)
            .into_par_iter()
            .map(|s| stale(text, file, s))
            .collect();
        assert!(runs.iter().all(|(_, violated)| !violated), "{file}");
        let with_stale = runs.iter().filter(|(n, _)| *n > 0).count();
        if promised {
            assert_eq!(with_stale, 0, "{file}: stale reads with R + W > N");
        } else {
            assert!(
                with_stale >= 35,
                "{file}: only {with_stale} of 40 seeds had stale reads"
            );
        }
    }
}

#[test]
fn the_first_reply_bug_is_caught_and_safe_when_off() {
    let file = "scenarios/storage/bug-first-reply-wins.ron";
    let text = distsim::bundled::get(file).unwrap();
    let results = cli::sweep(text, file, 0..40, false).unwrap();
    let caught = results.iter().filter(|r| r.violation.is_some()).count();
    assert!(caught >= 30, "only {caught} of 40 seeds caught the bug");
    let fixed = text.replace("bug_first_reply_wins: true", "bug_first_reply_wins: false");
    assert_ne!(fixed, text);
    let results = cli::sweep(&fixed, file, 0..40, false).unwrap();
    assert!(results.iter().all(|r| r.violation.is_none()));
}

#[test]
fn sweep_quorum_chaos_300_seeds_no_violation() {
    distsim::testing::assert_sweep_passes("scenarios/storage/quorum-chaos.ron", 0..300);
}

fn step5<R>(
    id: NodeId,
    now_us: u64,
    f: impl FnOnce(&mut Ctx<Leaderless>) -> R,
) -> (R, Vec<Command<Leaderless>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let r = {
        let mut ctx = Ctx::new(id, 5, SimTime(now_us), &mut rng, &mut out);
        f(&mut ctx)
    };
    (r, out)
}

#[test]
fn a_sloppy_write_short_of_w_asks_the_next_node_of_the_ring_to_keep_a_hint() {
    // Dynamo §4.6: "if node A is temporarily down or unreachable during a write operation
    // then a replica that would normally have lived on A will now be sent to node D ... The
    // replica sent to D will have a hint in its metadata that suggests which node was the
    // intended recipient ... Once such hosts detect that A has recovered, D will attempt to
    // deliver the replica to A. Once the transfer succeeds, D may delete the object".
    let c = LlConfig {
        sloppy_quorum: true,
        ..cfg(2, 2)
    };
    let mut n1 = step5(0, 0, |ctx| Leaderless::init(&c, ctx)).0;
    let req = ClientRequest {
        from: ClientRef {
            client: 0,
            seq: 0,
            attempt: 1,
        },
        op: Op::Put {
            key: "k0".into(),
            value: "7".into(),
        },
    };
    step5(0, 1000, |ctx| n1.on_client_request(req, ctx));
    // Only n1 itself has answered: n2 and n3 are replaced by n4 and n5.
    let out = step5(0, 101_000, |ctx| n1.on_timer(LlTimer::Sloppy(1), ctx)).1;
    let hinted: Vec<(NodeId, Option<NodeId>)> = out
        .iter()
        .filter_map(|c| match c {
            Command::Send {
                to,
                msg: LlMsg::Write { hint, .. },
            } => Some((*to, *hint)),
            _ => None,
        })
        .collect();
    assert_eq!(hinted, vec![(3, Some(1)), (4, Some(2))]);
    let out = step5(0, 110_000, |ctx| {
        n1.on_message(3, LlMsg::WriteAck { id: 1 }, ctx)
    })
    .1;
    assert_eq!(replies(&out).len(), 1, "W = 2 met with a stand-in");

    // The stand-in keeps the hint apart from its own data and hands it off until acknowledged.
    let mut n4 = step5(3, 0, |ctx| Leaderless::init(&c, ctx)).0;
    let v = Version::new(1000, 6);
    let hinted_write = LlMsg::Write {
        id: 1,
        key: "k0".into(),
        value: "7".into(),
        version: v,
        hint: Some(1),
    };
    step5(3, 105_000, |ctx| n4.on_message(0, hinted_write, ctx));
    assert!(n4.store().is_empty());
    assert_eq!(n4.hints().len(), 1);
    let out = step5(3, 200_000, |ctx| n4.on_timer(LlTimer::Handoff, ctx)).1;
    assert!(out.contains(&Command::Send {
        to: 1,
        msg: LlMsg::Handoff {
            key: "k0".into(),
            value: "7".into(),
            version: v
        }
    }));
    step5(3, 210_000, |ctx| {
        n4.on_message(
            1,
            LlMsg::HandoffAck {
                key: "k0".into(),
                version: v,
            },
            ctx,
        )
    });
    assert!(n4.hints().is_empty());
}

#[test]
fn a_sloppy_quorum_keeps_writes_available_and_gives_up_fresh_reads() {
    let file = "scenarios/storage/hinted-handoff.ron";
    let sloppy = distsim::bundled::get(file).unwrap();
    let strict = sloppy.replace("sloppy_quorum: true", "sloppy_quorum: false");
    assert_ne!(sloppy, strict);
    let run = |text: &str, seed: u64| {
        let opts = RunOptions {
            seed: Some(seed),
            trace_level: TraceLevel::Off,
            ..Default::default()
        };
        let mut l = registry::load(text, file, &opts).unwrap();
        l.sim.run_until(l.info.duration);
        assert!(l.sim.violations().is_empty(), "seed {seed}");
        let m = l.sim.metrics();
        (m.counter("writes_acked"), m.counter("stale_reads"))
    };
    let mut sloppy_stale = 0;
    for seed in 0..10 {
        let (acked_sloppy, stale) = run(sloppy, seed);
        let (acked_strict, stale_strict) = run(&strict, seed);
        assert!(
            acked_sloppy > acked_strict,
            "seed {seed}: {acked_sloppy} vs {acked_strict}"
        );
        assert_eq!(
            stale_strict, 0,
            "seed {seed}: a strict quorum read went stale"
        );
        sloppy_stale += u64::from(stale > 0);
    }
    assert!(
        sloppy_stale >= 5,
        "only {sloppy_stale} of 10 sloppy runs had a stale read"
    );
}

// ------------------------------------------------------------------------ anti-entropy

fn sends(out: &[Command<Leaderless>]) -> Vec<(NodeId, LlMsg)> {
    out.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn replica_with(id: NodeId, cfg: &LlConfig, keys: &[(&str, u64)]) -> Leaderless {
    let durable = LlDurable {
        store: keys
            .iter()
            .map(|&(k, v)| (k.to_string(), (format!("v{v}"), Version::new(v, 1))))
            .collect(),
        ..Default::default()
    };
    step(id, 0, |ctx| Leaderless::on_restart(cfg, &durable, ctx)).0
}

#[test]
fn merkle_trees_are_compared_top_down_and_only_the_differing_leaf_is_exchanged() {
    // Dynamo §4.7: "if the hash values of the root of two trees are equal, then the values of
    // the leaf nodes in the tree are equal and the nodes require no synchronization. If not,
    // it implies that the values of some replicas are different. In such cases, the nodes may
    // exchange the hash values of children and the process continues until it reaches the
    // leaves of the trees, at which point the hosts can identify the keys that are 'out of
    // sync'."
    let cfg = LlConfig {
        n: 3,
        anti_entropy_interval: Some(SimTime::from_millis(300)),
        merkle_leaves: 8,
        ..Default::default()
    };
    let shared: Vec<(&str, u64)> = vec![("k1", 5), ("k2", 5), ("k3", 5), ("k12", 5)];
    let mut a = replica_with(0, &cfg, &shared);
    // b missed k3's newer version and never saw k12 (both in leaf 3 and 4 of 8).
    let mut b = replica_with(1, &cfg, &[("k1", 5), ("k2", 5), ("k3", 2)]);
    let out = step(0, 300_000, |ctx| a.on_timer(LlTimer::AntiEntropy, ctx)).1;
    let mut msgs = sends(&out);
    assert!(
        matches!(&msgs[..], [(1, LlMsg::TreeHashes { level: 0, hashes })] if hashes.len() == 1)
    );
    let mut levels = Vec::new();
    let (mut at, mut from) = (1, 0);
    // Ping-pong until the leaves are swapped.
    for _ in 0..10 {
        let Some((to, msg)) = msgs.pop() else { break };
        assert_eq!(to, at);
        if let LlMsg::TreeHashes { level, hashes } = &msg {
            levels.push((*level, hashes.len()));
        }
        let n = if at == 0 { &mut a } else { &mut b };
        msgs = sends(&deliver(n, at, from, msg));
        (at, from) = (from, at);
    }
    // Root, then the two children, then only the children of differing nodes: never all 8.
    assert_eq!(levels[0], (0, 1));
    assert_eq!(levels[1], (1, 2));
    assert!(levels.iter().all(|&(_, n)| n <= 4), "{levels:?}");
    assert_eq!(levels.last().unwrap().0, 3, "down to the leaves");
    assert_eq!(b.store()["k3"].1, Version::new(5, 1));
    assert_eq!(b.store()["k12"].1, Version::new(5, 1));
    assert_eq!(a.store(), b.store());
    // In sync now: the next comparison stops at the root.
    let out = step(0, 600_000, |ctx| a.on_timer(LlTimer::AntiEntropy, ctx)).1;
    let root = sends(&out).remove(0).1;
    assert!(sends(&deliver(&mut b, 1, 0, root)).is_empty());
}

#[test]
fn merkle_leaves_are_validated() {
    let c = LlConfig {
        merkle_leaves: 12,
        ..Default::default()
    };
    let e = Leaderless::validate_config(&c, 3).unwrap_err();
    assert!(e.contains("power of two"), "{e}");
}

const ANTI_ENTROPY: &str = "scenarios/storage/anti-entropy.ron";

#[test]
fn anti_entropy_converges_without_reads_and_nothing_else_does() {
    distsim::testing::assert_sweep_passes(ANTI_ENTROPY, 0..20);
    let text = distsim::bundled::get(ANTI_ENTROPY).unwrap();
    for (from, to) in [
        // Off: nothing reads, so nothing repairs n3.
        ("anti_entropy_interval: \"300ms\", ", ""),
        // The bug: keys n3 never had are never copied.
        (
            "merkle_leaves: 16)",
            "merkle_leaves: 16, bug_merkle_ignores_missing: true)",
        ),
    ] {
        let variant = text.replace(from, to);
        assert_ne!(variant, text);
        for r in cli::sweep(&variant, ANTI_ENTROPY, 0..10, false).unwrap() {
            assert!(
                r.expectations_failed
                    .iter()
                    .any(|e| e.contains("divergent_keys over 3.500s")),
                "{to:?}, seed {}: converged anyway",
                r.seed
            );
        }
    }
}

#[test]
fn every_leaderless_scenario_meets_its_expectations() {
    distsim::testing::assert_lesson_scenarios_pass("scenarios/storage/", "leaderless", 7);
}
