//! Gossip tests, in layers: handler tests on the exact commands emitted, sentences from the
//! papers, the telephone schedule against 2n-4, every bundled scenario, and a seed sweep with
//! crashes, partitions, loss and duplication.

use distsim::cli;
use distsim::protocols::gossip::schedule::{calls_of, minimal_calls, optimal_schedule, play};
use distsim::protocols::gossip::{
    Gossip, GossipConfig, GossipDurable, GossipMsg, GossipTimer, Mode, Schedule, Update, Version,
};
use distsim::registry::{self, RunOptions};
use distsim::scenario::evaluate;
use distsim::sim::network::Latency;
use distsim::sim::{Action, Command, Ctx, Protocol, Sim, SimSetup, SimTime, TraceLevel};
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
        ..Default::default()
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

/// Runs one telephone handler on node `id` of `nodes` at `now` (ms); returns its commands.
fn on_line(
    g: &mut Gossip,
    id: usize,
    nodes: usize,
    now: u64,
    event: impl FnOnce(&mut Gossip, &mut Ctx<Gossip>),
) -> Vec<Command<Gossip>> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, nodes, SimTime::from_millis(now), &mut rng, &mut out);
    event(g, &mut ctx);
    out
}

fn sends(out: &[Command<Gossip>]) -> Vec<(usize, GossipMsg)> {
    out.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn calls_cfg(schedule: Schedule) -> GossipConfig {
    GossipConfig {
        mode: Mode::Calls,
        schedule,
        ..Default::default()
    }
}

/// "In a call both tell each other everything they know": the callee answers with the union.
#[test]
fn a_call_is_answered_with_the_union_of_secrets() {
    // n = 4: call 0 of the schedule is n1 -> n2, the first call of n2.
    let mut g = node(&calls_cfg(Schedule::Optimal), 1, 4);
    let out = on_line(&mut g, 1, 4, 100, |g, ctx| {
        g.on_message(
            0,
            GossipMsg::Call {
                call: 0,
                secrets: vec![0, 3],
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&out),
        vec![(
            0,
            GossipMsg::CallReply {
                call: 0,
                secrets: vec![0, 1, 3]
            }
        )]
    );
}

/// "The next call of the schedule that involves either party starts only after that party's
/// previous call completed": a call that reaches its callee early waits for the callee's
/// earlier call, and is answered with what the callee knows after it.
#[test]
fn a_call_that_arrives_before_its_turn_waits_for_the_callees_previous_call() {
    let n = 4;
    let s = optimal_schedule(n);
    // n3 places a call (to n4) before n1 calls n3.
    let first = s.iter().position(|&c| c == (2, 3)).unwrap();
    let second = s.iter().position(|&c| c == (0, 2)).unwrap();
    assert!(first < second);
    let mut g = node(&calls_cfg(Schedule::Optimal), 2, n);
    on_line(&mut g, 2, n, 100 * (first as u64 + 1), |g, ctx| {
        g.on_timer(GossipTimer::Call(first), ctx)
    });
    let early = on_line(&mut g, 2, n, 100 * (first as u64 + 1) + 5, |g, ctx| {
        let msg = GossipMsg::Call {
            call: second as u64,
            secrets: vec![0, 1],
        };
        g.on_message(0, msg, ctx)
    });
    assert_eq!(sends(&early), vec![], "n3 is still in its call with n4");
    let done = on_line(&mut g, 2, n, 100 * (first as u64 + 1) + 50, |g, ctx| {
        let msg = GossipMsg::CallReply {
            call: first as u64,
            secrets: vec![2, 3],
        };
        g.on_message(3, msg, ctx)
    });
    let reply = GossipMsg::CallReply {
        call: second as u64,
        secrets: vec![0, 1, 2, 3],
    };
    assert_eq!(sends(&done), vec![(0, reply)]);
    assert_eq!(g.line.done, 2, "both calls of n3 are finished");
}

/// A caller does not place its next call before the previous one returned, even when the
/// next call's slot has passed; it dials as soon as the answer arrives.
#[test]
fn a_caller_places_its_next_call_only_after_the_answer_to_the_previous_one() {
    let n = 4;
    let s = optimal_schedule(n);
    let mine: Vec<usize> = (0..s.len()).filter(|&k| s[k].0 == 0).collect();
    let (k0, k1) = (mine[0], mine[1]);
    let mut g = node(&calls_cfg(Schedule::Optimal), 0, n);
    let out = on_line(&mut g, 0, n, 100 * (k0 as u64 + 1), |g, ctx| {
        g.on_timer(GossipTimer::Call(k0), ctx)
    });
    assert_eq!(
        sends(&out),
        vec![(
            s[k0].1,
            GossipMsg::Call {
                call: k0 as u64,
                secrets: vec![0]
            }
        )]
    );
    // The slot of the next call passes while the first is unanswered: nothing is sent.
    let late = 100 * (k1 as u64 + 1) + 300;
    let out = on_line(&mut g, 0, n, late, |g, ctx| {
        g.on_timer(GossipTimer::Call(k1), ctx)
    });
    assert_eq!(sends(&out), vec![]);
    let out = on_line(&mut g, 0, n, late + 10, |g, ctx| {
        let msg = GossipMsg::CallReply {
            call: k0 as u64,
            secrets: vec![0, s[k0].1],
        };
        g.on_message(s[k0].1, msg, ctx)
    });
    let next = GossipMsg::Call {
        call: k1 as u64,
        secrets: vec![0, s[k0].1],
    };
    assert_eq!(sends(&out), vec![(s[k1].1, next)]);
    assert!(out.contains(&Command::Count {
        name: "calls",
        by: 1
    }));
}

/// A lost call or answer is dialled again after every `call_timeout`; retries are counted
/// apart from the calls.
#[test]
fn an_unanswered_call_is_retried_and_counted_apart() {
    let cfg = calls_cfg(Schedule::Optimal);
    let mut g = node(&cfg, 0, 4);
    let out = on_line(&mut g, 0, 4, 100, |g, ctx| {
        g.on_timer(GossipTimer::Call(0), ctx)
    });
    assert!(out.contains(&Command::SetTimer {
        timer: GossipTimer::CallTimeout(0),
        after: cfg.call_timeout
    }));
    let out = on_line(&mut g, 0, 4, 1100, |g, ctx| {
        g.on_timer(GossipTimer::CallTimeout(0), ctx)
    });
    assert_eq!(
        sends(&out),
        vec![(
            1,
            GossipMsg::Call {
                call: 0,
                secrets: vec![0]
            }
        )]
    );
    assert!(out.contains(&Command::Count {
        name: "call_retries",
        by: 1
    }));
    assert!(!out.contains(&Command::Count {
        name: "calls",
        by: 1
    }));
    assert!(out.contains(&Command::SetTimer {
        timer: GossipTimer::CallTimeout(0),
        after: cfg.call_timeout
    }));
}

/// A callee whose answer was lost answers the repeated call again, without moving on twice.
#[test]
fn a_repeated_call_is_answered_again_without_advancing_the_callee() {
    let mut g = node(&calls_cfg(Schedule::Optimal), 1, 4);
    let call = GossipMsg::Call {
        call: 0,
        secrets: vec![0],
    };
    on_line(&mut g, 1, 4, 100, |g, ctx| {
        g.on_message(0, call.clone(), ctx)
    });
    let done = g.line.done;
    let out = on_line(&mut g, 1, 4, 1100, |g, ctx| g.on_message(0, call, ctx));
    assert_eq!(
        sends(&out),
        vec![(
            0,
            GossipMsg::CallReply {
                call: 0,
                secrets: vec![0, 1]
            }
        )]
    );
    assert_eq!(g.line.done, done);
}

/// Progress through the schedule is durable: a restarted caller dials the call it had not
/// finished, not its first one.
#[test]
fn a_restarted_caller_dials_the_call_it_had_not_finished() {
    let n = 6;
    let s = optimal_schedule(n);
    let mine: Vec<usize> = (0..s.len()).filter(|&k| s[k].0 == 4).collect();
    let durable = GossipDurable {
        secrets: [0, 4, 5].into(),
        calls_done: 1,
        ..Default::default()
    };
    let cfg = calls_cfg(Schedule::Optimal);
    let now = 100 * (mine[1] as u64 + 1) + 1;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(4, n, SimTime::from_millis(now), &mut rng, &mut out);
    Gossip::on_restart(&cfg, &durable, &mut ctx);
    let call = GossipMsg::Call {
        call: mine[1] as u64,
        secrets: vec![0, 4, 5],
    };
    assert_eq!(sends(&out), vec![(0, call)]);
}

/// Random calls: a person with a call in progress does not place another one.
#[test]
fn a_random_caller_waits_for_its_answer_before_calling_again() {
    let mut g = node(&calls_cfg(Schedule::Random), 0, 4);
    let first = on_line(&mut g, 0, 4, 100, |g, ctx| {
        g.on_timer(GossipTimer::Round, ctx)
    });
    assert_eq!(sends(&first).len(), 1);
    let second = on_line(&mut g, 0, 4, 200, |g, ctx| {
        g.on_timer(GossipTimer::Round, ctx)
    });
    assert_eq!(sends(&second), vec![], "the first call is still unanswered");
}

/// Random calls: an unanswered call is given up after `call_timeout` (counted apart, its late
/// answer ignored), and the next call waits twice as long for its answer.
#[test]
fn a_random_call_without_answer_is_given_up_and_the_next_waits_twice_as_long() {
    let cfg = calls_cfg(Schedule::Random);
    let mut g = node(&cfg, 0, 4);
    let first = on_line(&mut g, 0, 4, 100, |g, ctx| {
        g.on_timer(GossipTimer::Round, ctx)
    });
    let (peer, call) = match &sends(&first)[..] {
        [(peer, GossipMsg::Call { call, .. })] => (*peer, *call),
        other => panic!("expected one call, got {other:?}"),
    };
    let out = on_line(&mut g, 0, 4, 1100, |g, ctx| {
        g.on_timer(GossipTimer::CallTimeout(call), ctx)
    });
    assert_eq!(
        out,
        vec![Command::Count {
            name: "calls_lost",
            by: 1
        }]
    );
    let late = on_line(&mut g, 0, 4, 1150, |g, ctx| {
        let msg = GossipMsg::CallReply {
            call,
            secrets: vec![0, peer],
        };
        g.on_message(peer, msg, ctx)
    });
    assert_eq!(late, vec![], "a late answer to a call given up is ignored");
    let next = on_line(&mut g, 0, 4, 1200, |g, ctx| {
        g.on_timer(GossipTimer::Round, ctx)
    });
    assert!(next.contains(&Command::SetTimer {
        timer: GossipTimer::CallTimeout(call + 1),
        after: SimTime(2 * cfg.call_timeout.0)
    }));
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

/// Runs the telephone mode on `n` people with one-way latency uniform in `latency` (ms), the
/// given drop probability and scripted faults; returns the `calls`, `know_all` and
/// `call_retries` counters.
fn telephone_stats(
    n: usize,
    schedule: Schedule,
    seed: u64,
    latency: (u64, u64),
    drop: f64,
    faults: &[(SimTime, Action)],
) -> (u64, u64, u64) {
    let (min, max) = (
        SimTime::from_millis(latency.0),
        SimTime::from_millis(latency.1),
    );
    let period = SimTime::from_millis(100);
    // Generous: every call one after the other, each with many lost attempts.
    let duration = SimTime((2 * n as u64) * (period.0 + 40 * max.0) + 600_000_000);
    let mut setup: SimSetup<GossipConfig> = SimSetup::new(n, seed, duration);
    setup.config = GossipConfig {
        mode: Mode::Calls,
        schedule,
        period,
        ..Default::default()
    };
    setup.network.latency = Latency::Uniform { min, max };
    setup.network.drop = drop;
    setup.timeline = faults.to_vec();
    setup.trace_level = TraceLevel::Off;
    let mut sim = Sim::<Gossip>::new(setup);
    sim.run();
    let repro = format!("n = {n} seed {seed} latency {latency:?} ms drop {drop} faults {faults:?}");
    assert!(
        sim.violations().is_empty(),
        "{repro}: {:?}",
        sim.violations()
    );
    let m = sim.metrics();
    (
        m.counter("calls"),
        m.counter("know_all"),
        m.counter("call_retries"),
    )
}

fn telephone_over(
    n: usize,
    schedule: Schedule,
    seed: u64,
    latency: (u64, u64),
    drop: f64,
) -> (u64, u64) {
    let (calls, know_all, _) = telephone_stats(n, schedule, seed, latency, drop, &[]);
    (calls, know_all)
}

/// The case: 8 people, a call every 100 ms, one-way latency 5-60 ms. A round trip can
/// outlast the period, and a call must still wait for its parties' previous calls.
#[test]
fn eight_people_with_round_trips_longer_than_the_period_all_learn_everything_in_2n_minus_4_calls() {
    let n = 8;
    for seed in 0..20 {
        let (calls, know_all) = telephone_over(n, Schedule::Optimal, seed, (5, 60), 0.0);
        assert_eq!(
            (calls, know_all),
            (2 * n as u64 - 4, n as u64),
            "seed {seed}: (calls, people who know everything)"
        );
    }
}

/// Baker and Shostak: `2n - 4` calls, whatever the latency; the schedule is a partial order, so
/// calls that would overlap wait instead of running with stale secrets.
#[test]
fn the_optimal_schedule_takes_2n_minus_4_calls_for_n_4_to_40_whatever_the_latency() {
    let ranges = [(1, 10), (5, 60), (40, 160), (300, 900), (1000, 3000)];
    for n in 4..=40 {
        for (r, &latency) in ranges.iter().enumerate() {
            let seed = (n * ranges.len() + r) as u64;
            let (calls, know_all) = telephone_over(n, Schedule::Optimal, seed, latency, 0.0);
            assert_eq!(
                (calls, know_all),
                (2 * n as u64 - 4, n as u64),
                "n = {n}, latency {latency:?} ms, seed {seed}: (calls, people who know everything)"
            );
        }
    }
}

/// Lost calls and lost answers are dialled again: the schedule never deadlocks, and the
/// retries are counted apart, so the calls are still exactly `2n - 4`.
#[test]
fn dropped_calls_are_retried_and_the_schedule_still_takes_2n_minus_4_calls() {
    let mut retried = 0;
    for n in 4..=24 {
        for (r, &(latency, drop)) in [((5, 60), 0.2), ((300, 900), 0.3), ((1, 10), 0.5)]
            .iter()
            .enumerate()
        {
            let seed = (n * 3 + r) as u64;
            let (calls, know_all, retries) =
                telephone_stats(n, Schedule::Optimal, seed, latency, drop, &[]);
            assert_eq!(
                (calls, know_all),
                (2 * n as u64 - 4, n as u64),
                "n = {n}, latency {latency:?} ms, drop {drop}, seed {seed}: (calls, people who know everything)"
            );
            retried += retries;
        }
    }
    assert!(
        retried > 0,
        "the drops never cost a retry: the test tests nothing"
    );
}

/// A party that crashes mid-call comes back with its progress (durable) and the calls go on:
/// its own unanswered call is dialled again, the calls that waited for it are retried.
#[test]
fn a_party_crashing_mid_call_delays_the_schedule_but_not_its_2n_minus_4_calls() {
    let n = 8;
    let mut retried = 0;
    for seed in 0..30 {
        for who in [0, 2, 5] {
            // Crash somewhere in the schedule for 0.3-2 s.
            let at = SimTime::from_millis(150 + 97 * seed % 1200);
            let back = SimTime(at.0 + 300_000 + 59_000 * seed);
            let name = format!("n{}", who + 1);
            let faults = [
                (at, Action::Crash(name.clone())),
                (back, Action::Restart(name)),
            ];
            let (calls, know_all, retries) =
                telephone_stats(n, Schedule::Optimal, seed, (5, 60), 0.0, &faults);
            retried += retries;
            assert_eq!(
                (calls, know_all),
                (2 * n as u64 - 4, n as u64),
                "seed {seed}, n{} down from {at} to {back}: (calls, people who know everything)",
                who + 1
            );
        }
    }
    assert!(retried > 0, "no crash hit a call: the test tests nothing");
}

/// Each node's share of the optimal schedule, computed in closed form, is exactly the
/// schedule's calls that involve it, in order.
#[test]
fn each_node_knows_exactly_its_own_calls_of_the_schedule() {
    for n in 2..=40 {
        let s = optimal_schedule(n);
        for id in 0..n {
            let expected: Vec<(usize, usize, bool)> = s
                .iter()
                .enumerate()
                .filter(|(_, c)| c.0 == id || c.1 == id)
                .map(|(k, &(a, b))| (k, if a == id { b } else { a }, a == id))
                .collect();
            let got: Vec<(usize, usize, bool)> = calls_of(n, id)
                .iter()
                .map(|c| (c.index, c.peer, c.caller))
                .collect();
            assert_eq!(got, expected, "n = {n}, node {id}");
        }
    }
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
            // Round trips up to 0.98 s: far beyond the 100 ms period, within the 1 s timeout,
            // so every call placed is answered and counted.
            let latency = [(5, 30), (5, 60), (100, 450), (200, 490)][seed as usize % 4];
            let (calls, know_all) = telephone_over(n, Schedule::Random, seed, latency, 0.0);
            assert_eq!(know_all, n as u64, "n = {n} seed {seed}");
            assert!(
                calls >= 2 * n as u64 - 4,
                "n = {n} seed {seed}: {calls} calls"
            );
        }
    }
}

/// Random calls over round trips longer than the call timeout, with loss: calls are given up
/// and placed again, and everyone still learns everything.
#[test]
fn random_calls_survive_loss_and_round_trips_longer_than_the_timeout() {
    for n in [4, 8, 16] {
        for seed in 0..4 {
            let (_, know_all) = telephone_over(n, Schedule::Random, seed, (300, 1500), 0.2);
            assert_eq!(
                know_all, n as u64,
                "n = {n} seed {seed}: not everyone knows everything"
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
            "expect: [NoViolation, Healed, Counter(name: \"informed\", at_least: 28, at_most: 28)]",
            "expect: [NoViolation]",
        );
    assert!(
        !text.contains("Healed"),
        "the chaos expectations changed; update this test"
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

#[test]
fn the_lossy_telephone_scenario_takes_2n_minus_4_calls_on_every_seed() {
    distsim::testing::assert_sweep_passes("scenarios/gossip/telephone-lossy.ron", 0..300);
}

#[test]
fn the_informed_fraction_is_plotted_and_climbs_to_one() {
    // Push-pull to 32 nodes with no faults: the epidemic's S-curve, sampled every 100 ms.
    let text = distsim::bundled::get("scenarios/gossip/rumor-push-pull.ron").unwrap();
    let mut l = registry::load(text, "rumor-push-pull.ron", &RunOptions::default()).unwrap();
    l.sim.run_until(l.info.duration);
    let series = &l.sim.metrics().series;
    let key = distsim::sim::series::SeriesKey::global("informed_fraction");
    let v = series.get(&key).expect("gossip records informed_fraction");
    assert!(
        v[0] <= 1.0 / 32.0 + 1e-9,
        "one node knows at first: {}",
        v[0]
    );
    assert_eq!(*v.last().unwrap(), 1.0, "everyone knows in the end");
    assert!(
        v.windows(2).all(|w| w[1] >= w[0]),
        "without faults nobody forgets: {v:?}"
    );
    assert!(
        v.iter().any(|&x| x > 0.2 && x < 0.8),
        "the curve passes through the middle"
    );
}

/// `Healed` for anti-entropy: replicas differ while the faults last and agree after the heal.
/// Rumor mongering states no such condition.
#[test]
fn healed_means_every_replica_holds_the_newest_version_of_every_key() {
    let file = "scenarios/gossip/chaos.ron";
    let text = distsim::bundled::get(file).unwrap();
    let mut l = registry::load(text, file, &RunOptions::default()).unwrap();
    l.sim.run_until(SimTime::from_millis(160));
    let early = l.sim.healed().unwrap();
    assert!(
        early.is_err(),
        "three fresh writes not yet spread, yet healed"
    );
    l.sim.run_until(l.info.duration);
    assert_eq!(l.sim.healed(), Some(Ok(())));
    let rumor = text.replace("mode: AntiEntropy", "mode: Rumor");
    let mut r = registry::load(&rumor, file, &RunOptions::default()).unwrap();
    r.sim.run_until(r.info.duration);
    assert_eq!(r.sim.healed(), None);
}
