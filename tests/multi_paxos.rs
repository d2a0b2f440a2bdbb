//! Multi-Paxos: handler tests, paper-rule tests, the bundled scenarios, seed sweeps.
//!
//! Every randomized failure prints its seed and the command that reproduces it.

use distsim::protocols::multi_paxos::kv::ClientOp;
use distsim::protocols::multi_paxos::{
    MultiPaxos, MultiPaxosConfig, MultiPaxosDurable, MultiPaxosMsg, MultiPaxosTimer, Role, Value,
};
use distsim::protocols::paxos::Ballot;
use distsim::registry::{self, RunOptions};
use distsim::sim::client::ClientRef;
use distsim::sim::trace::TraceLevel;
use distsim::sim::{ClientReply, ClientRequest, Command, Ctx, Op, Protocol, SimTime};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const N: usize = 5;

fn b(round: u64, node: usize) -> Ballot {
    Ballot::new(round, node)
}

fn on(
    node: &mut MultiPaxos,
    id: usize,
    f: impl FnOnce(&mut MultiPaxos, &mut Ctx<MultiPaxos>),
) -> Vec<Command<MultiPaxos>> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, N, SimTime::from_millis(100), &mut rng, &mut out);
    f(node, &mut ctx);
    out
}

fn node(id: usize, durable: MultiPaxosDurable) -> MultiPaxos {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, N, SimTime::ZERO, &mut rng, &mut out);
    MultiPaxos::on_restart(&MultiPaxosConfig::default(), &durable, &mut ctx)
}

fn put(client: u32, seq: u64, key: &str, value: &str) -> Value {
    Value::Client(ClientOp {
        client,
        seq,
        op: Op::Put {
            key: key.into(),
            value: value.into(),
        },
    })
}

fn sends(cmds: &[Command<MultiPaxos>]) -> Vec<(usize, MultiPaxosMsg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

/// Node 0 as leader of ballot 1.n1 (its Phase 1 answered by nodes 1 and 2, reporting `r1`, `r2`).
fn elect(
    cfg: MultiPaxosConfig,
    r1: Vec<(u64, Ballot, Value)>,
    r2: Vec<(u64, Ballot, Value)>,
) -> (MultiPaxos, Vec<Command<MultiPaxos>>) {
    let mut n = node(0, MultiPaxosDurable::default());
    n.cfg = cfg;
    on(&mut n, 0, |s, ctx| {
        s.on_timer(MultiPaxosTimer::Election, ctx)
    });
    assert!(matches!(n.role, Role::Candidate { .. }));
    on(&mut n, 0, |s, ctx| {
        s.on_message(
            1,
            MultiPaxosMsg::Promise {
                ballot: b(1, 0),
                accepted: r1,
                decided: vec![],
            },
            ctx,
        )
    });
    let out = on(&mut n, 0, |s, ctx| {
        s.on_message(
            2,
            MultiPaxosMsg::Promise {
                ballot: b(1, 0),
                accepted: r2,
                decided: vec![],
            },
            ctx,
        )
    });
    (n, out)
}

// ------------------------------------------------------------------ handler tests

#[test]
fn an_election_timeout_starts_one_phase_1_for_every_undecided_slot() {
    let mut d = MultiPaxosDurable::default();
    d.decided.insert(1, Value::NoOp);
    d.decided.insert(2, Value::NoOp);
    let mut n = node(3, d);
    let out = on(&mut n, 3, |s, ctx| {
        s.on_timer(MultiPaxosTimer::Election, ctx)
    });
    let prepares: Vec<_> = sends(&out);
    assert_eq!(prepares.len(), N - 1);
    for (_, m) in prepares {
        assert_eq!(
            m,
            MultiPaxosMsg::Prepare {
                ballot: b(1, 3),
                first_unchosen: 3
            }
        );
    }
    assert!(
        matches!(out[0], Command::Persist(ref d) if d.last_round == 1),
        "round persisted first"
    );
}

#[test]
fn a_follower_redirects_clients_to_the_leader_it_knows() {
    let mut n = node(2, MultiPaxosDurable::default());
    on(&mut n, 2, |s, ctx| {
        s.on_message(
            4,
            MultiPaxosMsg::Heartbeat {
                ballot: b(1, 4),
                decided_upto: 0,
            },
            ctx,
        )
    });
    let from = ClientRef {
        client: 0,
        seq: 0,
        attempt: 1,
    };
    let out = on(&mut n, 2, |s, ctx| {
        s.on_client_request(
            ClientRequest {
                from,
                op: Op::Get { key: "k".into() },
            },
            ctx,
        )
    });
    assert_eq!(
        out,
        vec![Command::Reply {
            to: from,
            reply: ClientReply::Redirect { leader: Some(4) }
        }]
    );
}

#[test]
fn the_leader_puts_a_command_in_the_next_slot_and_sends_accept() {
    let (mut n, _) = elect(MultiPaxosConfig::default(), vec![], vec![]);
    let from = ClientRef {
        client: 7,
        seq: 3,
        attempt: 1,
    };
    let op = Op::Put {
        key: "k1".into(),
        value: "v".into(),
    };
    let out = on(&mut n, 0, |s, ctx| {
        s.on_client_request(ClientRequest { from, op }, ctx)
    });
    let accept = MultiPaxosMsg::Accept {
        ballot: b(1, 0),
        slot: 1,
        value: put(7, 3, "k1", "v"),
    };
    let expected: Vec<_> = (1..N).map(|to| (to, accept.clone())).collect();
    assert_eq!(sends(&out), expected);
}

#[test]
fn an_acceptor_refuses_an_accept_below_its_promise() {
    let d = MultiPaxosDurable {
        promised: b(4, 2),
        ..Default::default()
    };
    let mut n = node(1, d);
    let out = on(&mut n, 1, |s, ctx| {
        s.on_message(
            0,
            MultiPaxosMsg::Accept {
                ballot: b(3, 0),
                slot: 5,
                value: Value::NoOp,
            },
            ctx,
        )
    });
    assert_eq!(
        out,
        vec![Command::Send {
            to: 0,
            msg: MultiPaxosMsg::Nack {
                ballot: b(3, 0),
                promised: b(4, 2)
            }
        }]
    );
}

#[test]
fn a_leader_that_meets_a_higher_ballot_steps_down() {
    let (mut n, _) = elect(MultiPaxosConfig::default(), vec![], vec![]);
    assert!(n.is_leader());
    on(&mut n, 0, |s, ctx| {
        s.on_message(
            3,
            MultiPaxosMsg::Nack {
                ballot: b(1, 0),
                promised: b(2, 3),
            },
            ctx,
        )
    });
    assert_eq!(n.role, Role::Follower);
}

// ------------------------------------------------------------- guards and compaction

fn on_at(
    node: &mut MultiPaxos,
    id: usize,
    now: SimTime,
    f: impl FnOnce(&mut MultiPaxos, &mut Ctx<MultiPaxos>),
) -> Vec<Command<MultiPaxos>> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = Vec::new();
    let mut ctx = Ctx::new(id, N, now, &mut rng, &mut out);
    f(node, &mut ctx);
    out
}

fn ms(n: u64) -> SimTime {
    SimTime::from_millis(n)
}

fn counted(cmds: &[Command<MultiPaxos>], name: &str) -> u64 {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Count { name: n, by } if *n == name => Some(*by),
            _ => None,
        })
        .sum()
}

/// `check_quorum`: "a leader that has not heard from a majority within election_timeout_min
/// steps down" -- and one that has, stays.
#[test]
fn a_leader_without_a_quorum_heard_in_a_window_steps_down() {
    let cfg = MultiPaxosConfig {
        check_quorum: true,
        ..Default::default()
    };
    let (mut heard, _) = elect(cfg.clone(), vec![], vec![]);
    let (mut silent, _) = elect(cfg, vec![], vec![]);
    // Elected at 100ms; n2 and n3 answer heartbeats before the window of 150ms ends.
    for from in [1, 2] {
        on_at(&mut heard, 0, ms(150), |s, ctx| {
            s.on_message(from, MultiPaxosMsg::HeartbeatAck { ballot: b(1, 0) }, ctx)
        });
    }
    let tick = |n: &mut MultiPaxos| {
        on_at(n, 0, ms(260), |s, ctx| {
            s.on_timer(MultiPaxosTimer::Heartbeat, ctx)
        })
    };
    tick(&mut heard);
    assert!(heard.is_leader(), "two acks and itself: 3 of 5");
    let out = tick(&mut silent);
    assert!(!silent.is_leader());
    assert_eq!(counted(&out, "quorum_lost"), 1);
    // The next window starts empty: the acks of the last one do not carry over.
    let out = on_at(&mut heard, 0, ms(420), |s, ctx| {
        s.on_timer(MultiPaxosTimer::Heartbeat, ctx)
    });
    assert!(!heard.is_leader(), "{:?}", sends(&out));
}

/// `check_quorum`: a follower answers its leader's heartbeat so the leader can count it.
#[test]
fn with_check_quorum_a_follower_acknowledges_heartbeats() {
    let mut n = node(2, MultiPaxosDurable::default());
    n.cfg.check_quorum = true;
    let out = on(&mut n, 2, |s, ctx| {
        s.on_message(
            4,
            MultiPaxosMsg::Heartbeat {
                ballot: b(1, 4),
                decided_upto: 0,
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&out),
        vec![(4, MultiPaxosMsg::HeartbeatAck { ballot: b(1, 4) })]
    );
}

/// `pre_prepare`: an election timeout asks first and changes no promise, persists nothing.
#[test]
fn a_pre_candidate_asks_before_raising_any_ballot() {
    let mut n = node(3, MultiPaxosDurable::default());
    n.cfg.pre_prepare = true;
    let out = on(&mut n, 3, |s, ctx| {
        s.on_timer(MultiPaxosTimer::Election, ctx)
    });
    assert!(matches!(n.role, Role::PreCandidate { .. }), "{:?}", n.role);
    assert_eq!(n.durable.promised, Ballot::ZERO);
    assert!(!out.iter().any(|c| matches!(c, Command::Persist(_))));
    let asks = sends(&out);
    assert_eq!(asks.len(), N - 1);
    assert!(
        asks.iter()
            .all(|(_, m)| *m == MultiPaxosMsg::PrePrepare { ballot: b(1, 3) })
    );
    // Two yes answers and its own: a majority of 5, so Phase 1 starts with that ballot.
    for from in [0, 1] {
        let msg = MultiPaxosMsg::PrePromise {
            ballot: b(1, 3),
            granted: true,
        };
        on(&mut n, 3, |s, ctx| s.on_message(from, msg, ctx));
    }
    assert!(matches!(n.role, Role::Candidate { .. }), "{:?}", n.role);
    assert_eq!(n.durable.promised, b(1, 3));
}

/// `pre_prepare`: "a node that has heard from a leader within election_timeout_min says no".
#[test]
fn a_node_that_heard_its_leader_recently_refuses_a_pre_prepare() {
    let mut n = node(2, MultiPaxosDurable::default());
    n.cfg.pre_prepare = true;
    on_at(&mut n, 2, ms(100), |s, ctx| {
        s.on_message(
            4,
            MultiPaxosMsg::Heartbeat {
                ballot: b(1, 4),
                decided_upto: 0,
            },
            ctx,
        )
    });
    let ask = |n: &mut MultiPaxos, at: u64| {
        let out = on_at(n, 2, ms(at), |s, ctx| {
            s.on_message(1, MultiPaxosMsg::PrePrepare { ballot: b(2, 1) }, ctx)
        });
        sends(&out)
    };
    let no = MultiPaxosMsg::PrePromise {
        ballot: b(2, 1),
        granted: false,
    };
    assert_eq!(ask(&mut n, 200), vec![(1, no)]);
    assert_eq!(
        n.durable.promised,
        Ballot::ZERO,
        "a pre-prepare changes no promise"
    );
    let yes = MultiPaxosMsg::PrePromise {
        ballot: b(2, 1),
        granted: true,
    };
    assert_eq!(ask(&mut n, 260), vec![(1, yes)]);
}

/// `compact_decided`: a decision supersedes the accepted proposal, and Phase 1 reports the
/// decision instead.
#[test]
fn a_compacting_acceptor_drops_decided_proposals_and_reports_decisions_in_promises() {
    let mut n = node(2, MultiPaxosDurable::default());
    n.cfg.compact_decided = true;
    let v = put(0, 0, "k", "v");
    on(&mut n, 2, |s, ctx| {
        s.on_message(
            0,
            MultiPaxosMsg::Accept {
                ballot: b(1, 0),
                slot: 1,
                value: v.clone(),
            },
            ctx,
        )
    });
    on(&mut n, 2, |s, ctx| {
        s.on_message(
            0,
            MultiPaxosMsg::Accept {
                ballot: b(1, 0),
                slot: 2,
                value: Value::NoOp,
            },
            ctx,
        )
    });
    let out = on(&mut n, 2, |s, ctx| {
        s.on_message(
            0,
            MultiPaxosMsg::Decision {
                decided: vec![(1, v.clone())],
            },
            ctx,
        )
    });
    assert_eq!(counted(&out, "compacted"), 1);
    assert!(!n.durable.accepted.contains_key(&1));
    let out = on(&mut n, 2, |s, ctx| {
        s.on_message(
            3,
            MultiPaxosMsg::Prepare {
                ballot: b(2, 3),
                first_unchosen: 1,
            },
            ctx,
        )
    });
    assert_eq!(
        sends(&out),
        vec![(
            3,
            MultiPaxosMsg::Promise {
                ballot: b(2, 3),
                accepted: vec![(2, b(1, 0), Value::NoOp)],
                decided: vec![(1, v)],
            }
        )]
    );
}

/// The candidate learns a reported decision at once, and does not propose in that slot.
#[test]
fn a_candidate_learns_the_decisions_reported_in_promises() {
    let mut n = node(0, MultiPaxosDurable::default());
    n.cfg.compact_decided = true;
    on(&mut n, 0, |s, ctx| {
        s.on_timer(MultiPaxosTimer::Election, ctx)
    });
    let v = put(0, 0, "k", "v");
    on(&mut n, 0, |s, ctx| {
        s.on_message(
            1,
            MultiPaxosMsg::Promise {
                ballot: b(1, 0),
                accepted: vec![],
                decided: vec![(1, v.clone())],
            },
            ctx,
        )
    });
    assert_eq!(n.durable.decided.get(&1), Some(&v));
    let out = on(&mut n, 0, |s, ctx| {
        s.on_message(
            2,
            MultiPaxosMsg::Promise {
                ballot: b(1, 0),
                accepted: vec![],
                decided: vec![],
            },
            ctx,
        )
    });
    assert!(n.is_leader());
    assert!(
        !sends(&out)
            .iter()
            .any(|(_, m)| matches!(m, MultiPaxosMsg::Accept { slot: 1, .. })),
        "{:?}",
        sends(&out)
    );
}

/// Found by the `chaos-guards.ron` sweep: with compaction a decided slot is reported as a
/// decision, not among the accepted proposals, so a new leader must still put new commands
/// above it (it once reused slot 14 after learning its decision, deciding it two ways).
#[test]
fn a_new_leader_proposes_new_commands_above_every_decided_slot() {
    let mut d = MultiPaxosDurable::default();
    d.decided.insert(4, put(0, 0, "k", "v"));
    let mut n = node(0, d);
    n.cfg.compact_decided = true;
    on(&mut n, 0, |s, ctx| {
        s.on_timer(MultiPaxosTimer::Election, ctx)
    });
    for from in [1, 2] {
        let msg = MultiPaxosMsg::Promise {
            ballot: b(1, 0),
            accepted: vec![],
            decided: vec![],
        };
        on(&mut n, 0, |s, ctx| s.on_message(from, msg, ctx));
    }
    assert!(n.is_leader());
    let Role::Leader { next_slot, .. } = n.role else {
        unreachable!()
    };
    assert_eq!(
        next_slot, 5,
        "slots 1..3 are filled with no-ops, 4 is decided"
    );
}

// ------------------------------------------------------------------ paper-rule tests

#[test]
fn a_new_leader_reproposes_the_highest_numbered_value_of_each_slot_and_fills_gaps_with_noops() {
    // "Paxos Made Simple" 3: the new leader "executes phase 1 for infinitely many instances";
    // for a gap it "proposes a special no-op command that leaves the state unchanged".
    let old = put(1, 0, "k", "old");
    let newer = put(2, 0, "k", "newer");
    let (n, out) = elect(
        MultiPaxosConfig::default(),
        vec![(1, b(0, 3), old.clone()), (3, b(0, 4), put(3, 0, "k", "x"))],
        vec![(1, b(0, 4), newer.clone())],
    );
    assert!(n.is_leader());
    let accepts: Vec<(u64, Value)> = sends(&out)
        .into_iter()
        .filter(|(to, _)| *to == 1)
        .filter_map(|(_, m)| match m {
            MultiPaxosMsg::Accept { slot, value, .. } => Some((slot, value)),
            _ => None,
        })
        .collect();
    assert_eq!(
        accepts,
        vec![(1, newer), (2, Value::NoOp), (3, put(3, 0, "k", "x"))],
        "slot 1: highest ballot wins; slot 2: nobody accepted, a no-op; slot 3: as reported"
    );
}

#[test]
fn bug_ignore_promised_values_writes_noops_over_reported_values() {
    let cfg = MultiPaxosConfig {
        ignore_promised_values: true,
        ..Default::default()
    };
    let (_, out) = elect(cfg, vec![(1, b(0, 3), put(1, 0, "k", "v"))], vec![]);
    assert!(sends(&out).into_iter().any(|(_, m)| m
        == MultiPaxosMsg::Accept {
            ballot: b(1, 0),
            slot: 1,
            value: Value::NoOp
        }));
}

#[test]
fn a_slot_is_decided_by_a_majority_of_accepted_and_applied_in_order() {
    let (mut n, _) = elect(MultiPaxosConfig::default(), vec![], vec![]);
    for (seq, v) in [(0, "a"), (1, "b")] {
        let from = ClientRef {
            client: 1,
            seq,
            attempt: 1,
        };
        let op = Op::Put {
            key: "k".into(),
            value: v.into(),
        };
        on(&mut n, 0, |s, ctx| {
            s.on_client_request(ClientRequest { from, op }, ctx)
        });
    }
    // Slot 2 reaches a majority first: decided, but not applied before slot 1.
    for from in [1, 2] {
        on(&mut n, 0, |s, ctx| {
            s.on_message(
                from,
                MultiPaxosMsg::Accepted {
                    ballot: b(1, 0),
                    slot: 2,
                },
                ctx,
            )
        });
    }
    assert!(n.durable.decided.contains_key(&2));
    assert_eq!(n.kv.applied, 0, "slot 1 is not decided: nothing is applied");
    on(&mut n, 0, |s, ctx| {
        s.on_message(
            1,
            MultiPaxosMsg::Accepted {
                ballot: b(1, 0),
                slot: 1,
            },
            ctx,
        )
    });
    let out = on(&mut n, 0, |s, ctx| {
        s.on_message(
            3,
            MultiPaxosMsg::Accepted {
                ballot: b(1, 0),
                slot: 1,
            },
            ctx,
        )
    });
    assert_eq!(n.kv.applied, 2);
    assert_eq!(n.kv.data.get("k").map(String::as_str), Some("b"));
    let replies: Vec<_> = out
        .iter()
        .filter(|c| matches!(c, Command::Reply { .. }))
        .collect();
    assert_eq!(
        replies.len(),
        2,
        "both clients answered once applied: {replies:?}"
    );
}

#[test]
fn a_restarted_node_keeps_its_promise_and_rebuilds_its_store_from_decisions() {
    let mut d = MultiPaxosDurable {
        promised: b(3, 1),
        ..Default::default()
    };
    d.decided.insert(1, put(1, 0, "k", "v"));
    let n = node(0, d);
    assert_eq!(n.durable.promised, b(3, 1));
    assert_eq!(n.kv.applied, 1);
    assert_eq!(n.kv.data.get("k").map(String::as_str), Some("v"));
}

// ------------------------------------------------------------------ scenarios and sweeps

#[test]
fn every_bundled_multi_paxos_scenario_meets_its_expectations() {
    let n = distsim::testing::assert_bundled_scenarios_pass(|p| {
        p.starts_with("scenarios/multi_paxos/") || p == "scenarios/compare/multi-paxos.ron"
    });
    assert!(n >= 6, "only {n} multi_paxos scenarios found");
}

#[test]
fn correct_multi_paxos_survives_2000_seeds_of_crashes_partitions_pauses_and_loss() {
    distsim::testing::assert_sweep_passes("scenarios/multi_paxos/chaos.ron", 0..2000);
}

#[test]
fn the_bug_variant_decides_a_slot_two_ways_within_a_few_hundred_seeds() {
    let path = "scenarios/multi_paxos/chaos.ron";
    let text = distsim::bundled::get(path).unwrap().replace(
        "protocol: \"multi_paxos\",",
        "protocol: \"multi_paxos\",\n    config: (ignore_promised_values: true),",
    );
    let found = (0..200u64).find(|&seed| {
        let opts = RunOptions {
            seed: Some(seed),
            trace_level: TraceLevel::Off,
            stop_on_violation: true,
            ..Default::default()
        };
        let mut l = registry::load(&text, path, &opts).unwrap();
        l.sim.run_until(l.info.duration);
        l.sim
            .violations()
            .iter()
            .any(|v| v.invariant == "Slot Agreement")
    });
    let seed = found.expect("ignore_promised_values: no seed in 0..200 violated Slot Agreement");
    eprintln!(
        "ignore_promised_values: Slot Agreement violated at seed {seed} (distsim run <chaos.ron with the flag> --seed {seed})"
    );
}
