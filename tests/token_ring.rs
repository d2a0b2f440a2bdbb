//! Token ring tests, in layers: handler tests on the exact commands emitted, sentences from
//! the literature, every bundled scenario, fault-free fairness, and seed sweeps with crashes,
//! restarts, partitions, loss and duplication (safety, then liveness after the heal).

use distsim::cli;
use distsim::protocols::token_ring::{
    RingDurable, RingTimer, Role, Token, TokenMsg, TokenRing, TokenRingConfig,
};
use distsim::registry::{self, RunOptions};
use distsim::scenario::evaluate;
use distsim::sim::client::{ClientRef, Outcome};
use distsim::sim::{ClientRequest, Command, Ctx, Op, Protocol, SimTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 5;

fn node(id: usize) -> TokenRing {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, N, SimTime::ZERO, &mut rng, &mut out);
    TokenRing::init(&TokenRingConfig::default(), &mut ctx)
}

fn token(generation: u64, position: u64) -> Token {
    Token {
        generation,
        position,
        origin: 0,
        visited_prev: N as u32,
        visited_cur: 0,
        members: (1 << N) - 1,
    }
}

fn at(
    t: &mut TokenRing,
    id: usize,
    now: SimTime,
    f: impl FnOnce(&mut TokenRing, &mut Ctx<TokenRing>),
) -> (Vec<Command<TokenRing>>, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let before = rng.clone();
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, N, now, &mut rng, &mut out);
    f(t, &mut ctx);
    (out, before)
}

// ------------------------------------------------------------------ handler tests

#[test]
fn a_new_token_is_acked_persisted_and_held() {
    let mut t = node(2);
    let now = SimTime::from_millis(30);
    let (out, mut rng) = at(&mut t, 2, now, |t, ctx| {
        t.on_message(1, TokenMsg::Token(token(0, 2)), ctx)
    });
    let cfg = TokenRingConfig::default();
    let lt = cfg.loss_timeout.0;
    let loss = SimTime(lt + rng.random_range(0..=lt / 2));
    assert_eq!(
        out,
        vec![
            Command::Send {
                to: 1,
                msg: TokenMsg::TokenAck {
                    generation: 0,
                    position: 2
                }
            },
            Command::Persist(RingDurable {
                promised: 0,
                accepted: (0, 2)
            }),
            Command::SetTimer {
                timer: RingTimer::Loss,
                after: loss
            },
            Command::SetTimer {
                timer: RingTimer::Pass,
                after: cfg.hold
            },
        ]
    );
    assert!(t.holds());
}

#[test]
fn a_retransmitted_token_is_acked_again_but_not_taken_twice() {
    let mut t = node(2);
    at(&mut t, 2, SimTime::from_millis(30), |t, ctx| {
        t.on_message(1, TokenMsg::Token(token(0, 2)), ctx)
    });
    let (out, _) = at(&mut t, 2, SimTime::from_millis(31), |t, ctx| {
        t.on_message(1, TokenMsg::Token(token(0, 2)), ctx)
    });
    assert_eq!(
        out,
        vec![Command::Send {
            to: 1,
            msg: TokenMsg::TokenAck {
                generation: 0,
                position: 2
            }
        }]
    );
}

#[test]
fn a_token_older_than_a_promise_to_a_candidacy_is_refused_with_stale() {
    let mut t = node(2);
    t.promised = 3; // promised to a candidacy that never won
    let (out, _) = at(&mut t, 2, SimTime::from_millis(30), |t, ctx| {
        t.on_message(1, TokenMsg::Token(token(1, 2)), ctx)
    });
    assert!(out.contains(&Command::Send {
        to: 1,
        msg: TokenMsg::Stale {
            position: 2,
            promised: 3
        }
    }));
    assert!(!t.holds());
}

#[test]
fn a_late_copy_of_an_accepted_generation_gets_no_stale() {
    let mut t = node(2);
    t.promised = 3;
    t.accepted = (1, 7); // it took generation 1 further along the ring
    let (out, _) = at(&mut t, 2, SimTime::from_millis(30), |t, ctx| {
        t.on_message(1, TokenMsg::Token(token(1, 2)), ctx)
    });
    assert!(
        out.iter().all(|c| !matches!(c, Command::Send { .. })),
        "{out:?}"
    );
}

#[test]
fn a_node_that_saw_the_token_recently_makes_no_promise() {
    let mut t = node(2);
    at(&mut t, 2, SimTime::from_millis(30), |t, ctx| {
        t.on_message(1, TokenMsg::Token(token(0, 2)), ctx)
    });
    let (out, _) = at(&mut t, 2, SimTime::from_millis(500), |t, ctx| {
        t.on_message(4, TokenMsg::Regenerate { generation: 1 }, ctx)
    });
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(t.promised, 0);
}

#[test]
fn a_quiet_node_promises_durably_before_answering() {
    let mut t = node(2);
    let now = SimTime::from_secs(5);
    let (out, _) = at(&mut t, 2, now, |t, ctx| {
        t.on_message(4, TokenMsg::Regenerate { generation: 1 }, ctx)
    });
    assert_eq!(
        out[0],
        Command::Persist(RingDurable {
            promised: 1,
            accepted: (0, 0)
        })
    );
    assert_eq!(
        out[1],
        Command::Send {
            to: 4,
            msg: TokenMsg::Promise { generation: 1 }
        }
    );
}

// ------------------------------------------------------------------ sentences

/// Le Lann 1977: "only the process holding the token may enter its critical section".
#[test]
fn a_request_waits_until_the_token_arrives_then_enters_the_critical_section() {
    let mut t = node(2);
    let req = ClientRequest {
        from: ClientRef {
            client: 0,
            seq: 0,
            attempt: 1,
        },
        op: Op::Request("x".into()),
    };
    at(&mut t, 2, SimTime::from_millis(10), |t, ctx| {
        t.on_client_request(req, ctx)
    });
    assert_eq!(t.role, Role::Idle);
    assert!(!t.in_cs());
    at(&mut t, 2, SimTime::from_millis(30), |t, ctx| {
        t.on_message(1, TokenMsg::Token(token(0, 2)), ctx)
    });
    assert!(t.in_cs(), "the holder serves the waiting request at once");
    assert!(t.pending.is_empty());
}

/// "Without an acknowledgement the token is given up, never sent further on".
#[test]
fn without_acks_the_sender_resends_then_gives_up_instead_of_skipping() {
    let mut t = node(0);
    let (out, _) = at(&mut t, 0, SimTime::from_millis(5), |t, ctx| {
        t.on_timer(RingTimer::Pass, ctx)
    });
    let to_n2 = |c: &Command<TokenRing>| {
        matches!(
            c,
            Command::Send {
                to: 1,
                msg: TokenMsg::Token(_)
            }
        )
    };
    assert!(out.iter().any(to_n2));
    let (out, _) = at(&mut t, 0, SimTime::from_millis(45), |t, ctx| {
        t.on_timer(RingTimer::Ack, ctx)
    });
    assert!(
        out.iter().any(to_n2),
        "first a resend to the same successor"
    );
    let (out, _) = at(&mut t, 0, SimTime::from_millis(85), |t, ctx| {
        t.on_timer(RingTimer::Ack, ctx)
    });
    assert!(
        out.iter().all(|c| !matches!(c, Command::Send { .. })),
        "no skip: {out:?}"
    );
    assert_eq!(t.role, Role::Idle);
    assert!(t.token.is_none());
}

// ------------------------------------------------------------------ scenarios and sweeps

#[test]
fn every_bundled_token_ring_scenario_meets_its_expectations() {
    for (path, text) in distsim::bundled::BUNDLED {
        if !path.starts_with("scenarios/token_ring/") {
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

/// Without faults every requester enters within one rotation: 5 x (hold + cs + latency)
/// plus the client's two trips.
#[test]
fn without_faults_every_request_is_served_within_one_rotation() {
    let file = "scenarios/token_ring/basic.ron";
    let text = distsim::bundled::get(file).unwrap();
    let bound = SimTime::from_millis(5 * (5 + 20 + 15) + 2 * 15);
    for seed in 0..20 {
        let opts = RunOptions {
            seed: Some(seed),
            ..Default::default()
        };
        let mut l = registry::load(text, file, &opts).unwrap();
        l.sim.run_until(l.info.duration);
        assert!(
            l.sim.violations().is_empty(),
            "seed {seed}: {:?}\nreproduce: distsim run {file} --seed {seed}",
            l.sim.violations()
        );
        for e in &l.sim.history().entries {
            if let (Some(Outcome::Ok { .. }), Some(r)) = (&e.outcome, e.returned_at) {
                assert!(
                    r - e.invoked_at <= bound,
                    "seed {seed}: request waited {}\nreproduce: distsim run {file} --seed {seed}",
                    r - e.invoked_at
                );
            }
        }
    }
}

#[test]
fn safe_under_crashes_partitions_loss_and_duplication_and_live_after_heal() {
    let file = "scenarios/token_ring/chaos.ron";
    let text = distsim::bundled::get(file).unwrap();
    for r in cli::sweep(text, file, 0..400, false).unwrap() {
        if let Some(v) = &r.violation {
            panic!(
                "seed {}: {} at {}: {}\nreproduce: distsim run {file} --seed {}",
                r.seed, v.invariant, v.at, v.explanation, r.seed
            );
        }
    }
    // Liveness: chaos stops at 5s; within a few loss timeouts requests are served again.
    for seed in 0..40 {
        let opts = RunOptions {
            seed: Some(seed),
            ..Default::default()
        };
        let mut l = registry::load(text, file, &opts).unwrap();
        l.sim.run_until(l.info.duration);
        let served_late = l.sim.history().entries.iter().any(|e| {
            e.invoked_at >= SimTime::from_secs(14) && matches!(e.outcome, Some(Outcome::Ok { .. }))
        });
        assert!(
            served_late,
            "seed {seed}: no request served after the heal\nreproduce: distsim run {file} --seed {seed}"
        );
    }
}
