//! Gossip tests, in layers: handler tests on the exact commands emitted, sentences from the
//! papers, the telephone schedule against 2n-4, every bundled scenario, and a seed sweep with
//! crashes, partitions, loss and duplication.

use distsim::cli;
use distsim::protocols::gossip::schedule::{minimal_calls, optimal_schedule, play};
use distsim::protocols::gossip::{
    Gossip, GossipConfig, GossipDurable, GossipMsg, GossipTimer, Mode, Schedule, Update, Version,
};
use distsim::registry::{self, RunOptions};
use distsim::scenario::evaluate;
use distsim::sim::{Command, Ctx, Protocol, Sim, SimSetup, SimTime};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

fn node(cfg: &GossipConfig, id: usize, nodes: usize) -> Gossip {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, nodes, SimTime::ZERO, &mut rng, &mut out);
    Gossip::init(cfg, &mut ctx)
}

fn update(key: &str, counter: u64, origin: usize, value: &str) -> Update {
    Update {
        key: key.into(),
        version: Version { counter, origin },
        value: value.into(),
    }
}

fn handle(g: &mut Gossip, id: usize, from: usize, msg: GossipMsg) -> Vec<Command<Gossip>> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, 4, SimTime::from_millis(10), &mut rng, &mut out);
    g.on_message(from, msg, &mut ctx);
    out
}

fn rumor_cfg(stop: f64) -> GossipConfig {
    GossipConfig {
        origin: None,
        stop,
        ..Default::default()
    }
}

// ------------------------------------------------------------------ handler tests

#[test]
fn a_pushed_new_update_is_stored_counted_and_persisted() {
    let mut g = node(&rumor_cfg(0.0), 1, 4);
    let u = update("x", 1, 0, "a");
    let out = handle(
        &mut g,
        1,
        0,
        GossipMsg::Push {
            updates: vec![u.clone()],
        },
    );
    let durable = GossipDurable {
        store: BTreeMap::from([("x".to_string(), u)]),
        secrets: Default::default(),
    };
    assert_eq!(
        out,
        vec![
            Command::Count {
                name: "deliveries",
                by: 1
            },
            Command::Count {
                name: "informed",
                by: 1
            },
            Command::Persist(durable),
        ]
    );
    assert!(
        g.hot.contains("x"),
        "a node that learns a rumor becomes infective"
    );
}

#[test]
fn a_push_of_a_known_rumor_is_answered_with_feedback() {
    let mut g = node(&rumor_cfg(0.5), 1, 4);
    let u = update("x", 1, 0, "a");
    handle(
        &mut g,
        1,
        0,
        GossipMsg::Push {
            updates: vec![u.clone()],
        },
    );
    let out = handle(&mut g, 1, 2, GossipMsg::Push { updates: vec![u] });
    let known = vec![(
        "x".to_string(),
        Version {
            counter: 1,
            origin: 0,
        },
    )];
    assert_eq!(
        out,
        vec![
            Command::Count {
                name: "deliveries",
                by: 1
            },
            Command::Count {
                name: "redundant",
                by: 1
            },
            Command::Send {
                to: 2,
                msg: GossipMsg::Reply {
                    updates: vec![],
                    known
                },
            },
        ]
    );
}

#[test]
fn a_pull_is_answered_with_exactly_the_newer_updates() {
    let cfg = GossipConfig {
        mode: Mode::AntiEntropy,
        origin: None,
        ..Default::default()
    };
    let mut g = node(&cfg, 1, 4);
    let (x2, y1) = (update("x", 2, 3, "new"), update("y", 1, 0, "b"));
    handle(
        &mut g,
        1,
        0,
        GossipMsg::Push {
            updates: vec![x2.clone(), y1],
        },
    );
    let digest = vec![
        (
            "x".to_string(),
            Version {
                counter: 1,
                origin: 0,
            },
        ),
        (
            "y".to_string(),
            Version {
                counter: 1,
                origin: 0,
            },
        ),
    ];
    let out = handle(&mut g, 1, 2, GossipMsg::Pull { digest });
    assert_eq!(
        out,
        vec![Command::Send {
            to: 2,
            msg: GossipMsg::Reply {
                updates: vec![x2],
                known: vec![]
            },
        }]
    );
}

#[test]
fn a_call_is_answered_with_the_union_of_secrets() {
    let cfg = GossipConfig {
        mode: Mode::Calls,
        ..Default::default()
    };
    let mut g = node(&cfg, 1, 4);
    let out = handle(
        &mut g,
        1,
        3,
        GossipMsg::Call {
            secrets: vec![0, 3],
        },
    );
    let reply = out
        .iter()
        .find_map(|c| match c {
            Command::Send {
                to: 3,
                msg: GossipMsg::CallReply { secrets },
            } => Some(secrets.clone()),
            _ => None,
        })
        .expect("the callee answers");
    assert_eq!(reply, vec![0, 1, 3]);
}

#[test]
fn each_round_pushes_hot_rumors_to_fanout_distinct_peers_and_rearms() {
    let cfg = GossipConfig {
        fanout: 3,
        origin: Some(0),
        ..Default::default()
    };
    let mut g = node(&cfg, 0, 6);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(0, 6, SimTime::from_millis(100), &mut rng, &mut out);
    g.on_timer(GossipTimer::Round, &mut ctx);
    let mut peers: Vec<usize> = out
        .iter()
        .filter_map(|c| match c {
            Command::Send {
                to,
                msg: GossipMsg::Push { .. },
            } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(peers.len(), 3);
    peers.sort();
    peers.dedup();
    assert_eq!(peers.len(), 3, "fanout peers are distinct");
    assert!(!peers.contains(&0), "a node never gossips with itself");
    assert_eq!(
        out.last(),
        Some(&Command::SetTimer {
            timer: GossipTimer::Round,
            after: cfg.period
        })
    );
}

// ------------------------------------------------------------------ paper sentences

/// Demers et al. §1.3: "an update is applied only if its timestamp is newer".
#[test]
fn an_older_version_never_replaces_a_newer_one() {
    let mut g = node(&rumor_cfg(0.0), 1, 4);
    handle(
        &mut g,
        1,
        0,
        GossipMsg::Push {
            updates: vec![update("x", 2, 0, "new")],
        },
    );
    handle(
        &mut g,
        1,
        2,
        GossipMsg::Push {
            updates: vec![update("x", 1, 2, "old")],
        },
    );
    assert_eq!(g.store["x"].value, "new");
}

/// Demers et al. §1.4, feedback and coin: "the sender loses interest with probability 1/k
/// only if the recipient already knew the rumor".
#[test]
fn feedback_with_stop_one_removes_the_rumor_and_stop_zero_never_does() {
    for (stop, hot_after) in [(1.0, false), (0.0, true)] {
        let mut g = node(&rumor_cfg(stop), 1, 4);
        let u = update("x", 1, 1, "a");
        handle(
            &mut g,
            1,
            0,
            GossipMsg::Push {
                updates: vec![u.clone()],
            },
        );
        let known = vec![(u.key.clone(), u.version)];
        handle(
            &mut g,
            1,
            2,
            GossipMsg::Reply {
                updates: vec![],
                known,
            },
        );
        assert_eq!(g.hot.contains("x"), hot_after, "stop = {stop}");
    }
}

// ------------------------------------------------------------------ the telephone problem

#[test]
fn the_optimal_schedule_has_2n_minus_4_calls_and_informs_everyone_for_n_4_to_12() {
    for n in 4..=12 {
        let s = optimal_schedule(n);
        assert_eq!(s.len(), 2 * n - 4, "n = {n}");
        assert_eq!(minimal_calls(n), 2 * n - 4);
        let all = (1u128 << n) - 1;
        assert!(
            play(n, &s).iter().all(|k| *k == all),
            "n = {n}: someone misses a secret"
        );
    }
    assert_eq!(optimal_schedule(2).len(), 1);
    assert_eq!(optimal_schedule(3).len(), 3);
    assert!(play(3, &optimal_schedule(3)).iter().all(|k| *k == 0b111));
}

/// Baker and Shostak: no schedule with fewer than 2n-4 calls works. Exhaustive for n = 4, 5.
#[test]
fn no_shorter_schedule_exists_for_n_4_and_5() {
    for n in [4usize, 5] {
        let pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .collect();
        let k = 2 * n - 5;
        let all = (1u128 << n) - 1;
        let mut idx = vec![0usize; k];
        loop {
            let calls: Vec<(usize, usize)> = idx.iter().map(|&i| pairs[i]).collect();
            assert!(
                !play(n, &calls).iter().all(|x| *x == all),
                "n = {n}: {calls:?} informs everyone in {k} calls"
            );
            let mut d = 0;
            while d < k {
                idx[d] += 1;
                if idx[d] < pairs.len() {
                    break;
                }
                idx[d] = 0;
                d += 1;
            }
            if d == k {
                break;
            }
        }
    }
}

fn telephone(n: usize, schedule: Schedule, seed: u64) -> (u64, u64) {
    let mut setup: SimSetup<GossipConfig> = SimSetup::new(n, seed, SimTime::from_secs(30));
    setup.config = GossipConfig {
        mode: Mode::Calls,
        schedule,
        ..Default::default()
    };
    let mut sim = Sim::<Gossip>::new(setup);
    sim.run();
    assert!(
        sim.violations().is_empty(),
        "n = {n}: {:?}",
        sim.violations()
    );
    let m = sim.metrics();
    (m.counter("calls"), m.counter("know_all"))
}

#[test]
fn the_simulated_optimal_mode_takes_exactly_2n_minus_4_calls_for_n_4_to_12() {
    for n in 4..=12 {
        let (calls, know_all) = telephone(n, Schedule::Optimal, 1);
        assert_eq!(calls, 2 * n as u64 - 4, "n = {n}");
        assert_eq!(know_all, n as u64, "n = {n}: not everyone knows everything");
    }
}

#[test]
fn random_calls_inform_everyone_and_never_beat_the_bound() {
    for n in 4..=12 {
        for seed in 0..5 {
            let (calls, know_all) = telephone(n, Schedule::Random, seed);
            assert_eq!(know_all, n as u64, "n = {n} seed {seed}");
            assert!(
                calls >= 2 * n as u64 - 4,
                "n = {n} seed {seed}: {calls} calls"
            );
        }
    }
}

// ------------------------------------------------------------------ scenarios and sweeps

#[test]
fn every_bundled_gossip_scenario_meets_its_expectations() {
    for (path, text) in distsim::bundled::BUNDLED {
        if !path.starts_with("scenarios/gossip/") {
            continue;
        }
        let mut l = registry::load(text, path, &RunOptions::default()).unwrap();
        l.sim.run_until(l.info.duration);
        for r in evaluate(&l.info.expect, l.sim.as_ref()) {
            assert!(
                r.passed,
                "{path}: {} ({}); run: distsim run {path}",
                r.expectation, r.detail
            );
        }
    }
}

#[test]
fn anti_entropy_survives_crashes_partitions_loss_and_converges_after_heal() {
    let file = "scenarios/gossip/chaos.ron";
    let text = distsim::bundled::get(file).unwrap();
    for r in cli::sweep(text, file, 0..200, false).unwrap() {
        if let Some(v) = &r.violation {
            panic!(
                "seed {}: {} at {}: {}\nreproduce: distsim run {file} --seed {}",
                r.seed, v.invariant, v.at, v.explanation, r.seed
            );
        }
        assert!(
            r.expectations_failed.is_empty(),
            "seed {}: {:?}\nreproduce: distsim run {file} --seed {}",
            r.seed,
            r.expectations_failed,
            r.seed
        );
    }
}

#[test]
fn rumor_mongering_under_faults_keeps_versions_safe() {
    let text = distsim::bundled::get("scenarios/gossip/chaos.ron")
        .unwrap()
        .replace(
            "mode: AntiEntropy, style: PushPull",
            "mode: Rumor, style: PushPull, stop: 0.3",
        )
        .replace(
            "expect: [NoViolation, Counter(name: \"informed\", at_least: 28, at_most: 28)]",
            "expect: [NoViolation]",
        );
    let file = "scenarios/gossip/chaos.ron (rumor mongering)";
    for r in cli::sweep(&text, file, 0..100, false).unwrap() {
        assert!(
            r.violation.is_none(),
            "seed {}: {:?}\nreproduce: edit scenarios/gossip/chaos.ron to mode: Rumor, stop: 0.3 and distsim run it --seed {}",
            r.seed,
            r.violation,
            r.seed
        );
    }
}
