//! Partitioning tests, in layers (see `shared/STYLE.md`):
//! 1. handler tests on the exact commands, quoting the rule each one checks (DDIA ch. 6);
//! 2. the bundled scenarios meet their expectations; the moved fraction against theory,
//!    recomputed here from the keys the run wrote;
//! 3. the bug switch caught, and safe when off; a chaos sweep of every partitioning.

use distsim::cli;
use distsim::protocols::caching::{Placement, Ring};
use distsim::protocols::partitioned::{
    PartConfig, PartMsg, PartTimer, PartitionMap, Partitioned, Partitioning,
};
use distsim::protocols::storage::Version;
use distsim::registry::{self, RunOptions};
use distsim::sim::client::{ClientRef, ClientReply, ClientRequest, Op};
use distsim::sim::trace::TraceLevel;
use distsim::sim::{Command, Ctx, NodeId, Protocol, RoleTable, SimTime};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;

/// Node 0 is the router, nodes 1, 2 and 3 are storage nodes.
fn step<R>(
    id: NodeId,
    now_us: u64,
    f: impl FnOnce(&mut Ctx<Partitioned>) -> R,
) -> (R, Vec<Command<Partitioned>>) {
    let roles = RoleTable::new(
        &["router", "store"],
        &["router", "store", "store", "store"].map(String::from),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    let r = {
        let mut ctx = Ctx::new(id, 4, SimTime(now_us), &mut rng, &mut out).with_roles(&roles);
        f(&mut ctx)
    };
    (r, out)
}

fn node(id: NodeId, cfg: &PartConfig) -> Partitioned {
    step(id, 0, |ctx| Partitioned::init(cfg, ctx)).0
}

fn request(n: &mut Partitioned, now: u64, seq: u64, op: Op) -> Vec<Command<Partitioned>> {
    let req = ClientRequest {
        from: ClientRef {
            client: 0,
            seq,
            attempt: 1,
        },
        op,
    };
    step(0, now, |ctx| n.on_client_request(req, ctx)).1
}

fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: key.into(),
        value: value.into(),
    }
}

fn deliver(
    n: &mut Partitioned,
    id: NodeId,
    from: NodeId,
    msg: PartMsg,
) -> Vec<Command<Partitioned>> {
    step(id, 50_000, |ctx| n.on_message(from, msg, ctx)).1
}

fn sends(out: &[Command<Partitioned>]) -> Vec<(NodeId, PartMsg)> {
    out.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn replies(out: &[Command<Partitioned>]) -> Vec<ClientReply> {
    out.iter()
        .filter_map(|c| match c {
            Command::Reply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .collect()
}

/// Writes `keys` through the router and acknowledges each write from its owner.
fn write_all(router: &mut Partitioned, keys: &[String]) {
    for (i, k) in keys.iter().enumerate() {
        let out = request(router, 1000 + i as u64, i as u64, put(k, "1"));
        let (to, msg) = sends(&out).remove(0);
        let PartMsg::Put { id, version, .. } = msg else {
            panic!("expected a Put")
        };
        let out = deliver(router, 0, to, PartMsg::Written { id, version });
        assert_eq!(replies(&out).len(), 1);
    }
}

fn hash_cfg(initial: usize) -> PartConfig {
    PartConfig {
        partitioning: Partitioning::Hash,
        initial_stores: Some(initial),
        ..Default::default()
    }
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("k{i}")).collect()
}

#[test]
fn the_router_sends_a_request_to_the_owner_of_its_key_and_answers_with_the_version() {
    // DDIA ch. 6, "Request Routing": "Send all requests from clients to a routing tier
    // first, which determines the node that should handle each request and forwards it
    // accordingly."
    let cfg = hash_cfg(3);
    let mut router = node(0, &cfg);
    let owner = PartitionMap::new(Partitioning::Hash, 1000, vec![1, 2, 3])
        .owner("k5")
        .unwrap();
    let out = request(&mut router, 1000, 0, put("k5", "7"));
    let v = Version::new(1000, 1);
    assert!(out.contains(&Command::SetTimer {
        timer: PartTimer::Request(1),
        after: cfg.request_timeout
    }));
    assert_eq!(
        sends(&out),
        vec![(
            owner,
            PartMsg::Put {
                id: 1,
                key: "k5".into(),
                value: "7".into(),
                version: v
            }
        )]
    );
    let out = deliver(
        &mut router,
        0,
        owner,
        PartMsg::Written { id: 1, version: v },
    );
    assert_eq!(
        replies(&out),
        vec![ClientReply::Ok {
            value: Some("@1000.1".into())
        }]
    );
    // A read answers value@version from the owner.
    let out = request(&mut router, 2000, 1, Op::Get { key: "k5".into() });
    assert_eq!(sends(&out)[0].0, owner);
    let out = deliver(
        &mut router,
        0,
        owner,
        PartMsg::Value {
            id: 2,
            value: Some(("7".into(), v)),
        },
    );
    assert_eq!(
        replies(&out),
        vec![ClientReply::Ok {
            value: Some("7@1000.1".into())
        }]
    );
}

#[test]
fn a_join_moves_exactly_the_keys_whose_owner_changes_and_holds_their_requests_until_moved() {
    // DDIA ch. 6, "Rebalancing Partitions": "While rebalancing is happening, the database
    // should continue accepting reads and writes. No more data than necessary should be moved
    // between nodes."
    let cfg = hash_cfg(2);
    let mut router = node(0, &cfg);
    let ks = keys(30);
    write_all(&mut router, &ks);
    let before = PartitionMap::new(Partitioning::Hash, 1000, vec![1, 2]);
    let after = before.with_member(3);
    let expected: BTreeSet<(String, NodeId, NodeId)> = ks
        .iter()
        .filter_map(|k| {
            let (a, b) = (before.owner(k)?, after.owner(k)?);
            (a != b).then(|| (k.clone(), a, b))
        })
        .collect();
    assert!(!expected.is_empty());
    let out = deliver(&mut router, 0, 3, PartMsg::Join);
    let mut planned = BTreeSet::new();
    for (from, msg) in sends(&out) {
        let PartMsg::MoveOut { id, to, keys } = msg else {
            panic!("expected a MoveOut")
        };
        assert_eq!(id, 1);
        planned.extend(keys.into_iter().map(|k| (k, from, to)));
    }
    assert_eq!(planned, expected, "only the keys whose owner changes move");

    // A request for a moving key waits; one for a staying key goes on.
    let (moving, from, to) = expected.iter().next().unwrap().clone();
    let out = request(
        &mut router,
        40_000,
        100,
        Op::Get {
            key: moving.clone(),
        },
    );
    assert!(sends(&out).is_empty(), "held while {moving} moves");
    let staying = ks
        .iter()
        .find(|k| before.owner(k) == after.owner(k))
        .unwrap();
    let out = request(
        &mut router,
        40_001,
        101,
        Op::Get {
            key: staying.clone(),
        },
    );
    assert_eq!(sends(&out)[0].0, after.owner(staying).unwrap());

    // The new owner confirms: the key is routed there, the held read goes, the old owner is
    // released.
    let out = deliver(
        &mut router,
        0,
        to,
        PartMsg::Moved {
            id: 1,
            from,
            keys: vec![moving.clone()],
        },
    );
    let s = sends(&out);
    assert!(s.contains(&(
        from,
        PartMsg::Release {
            id: 1,
            keys: vec![moving.clone()]
        }
    )));
    assert!(
        s.iter()
            .any(|(n, m)| *n == to && matches!(m, PartMsg::Get { key, .. } if *key == moving)),
        "{s:?}"
    );
}

#[test]
fn a_move_starts_only_when_no_request_on_a_moving_key_is_in_flight() {
    // The old owner hands over what it holds when the move starts: a write still on its
    // way to it would be left behind, acknowledged, on a node no longer routed to.
    let cfg = hash_cfg(2);
    let mut router = node(0, &cfg);
    let ks = keys(30);
    write_all(&mut router, &ks);
    let before = PartitionMap::new(Partitioning::Hash, 1000, vec![1, 2]);
    let after = before.with_member(3);
    let moving = ks
        .iter()
        .find(|k| before.owner(k) != after.owner(k))
        .unwrap();
    let out = request(&mut router, 40_000, 100, put(moving, "2"));
    let (owner, PartMsg::Put { id, version, .. }) = sends(&out).remove(0) else {
        panic!()
    };
    let out = deliver(&mut router, 0, 3, PartMsg::Join);
    assert!(sends(&out).is_empty(), "the write to {moving} is in flight");
    let out = deliver(&mut router, 0, owner, PartMsg::Written { id, version });
    assert_eq!(replies(&out).len(), 1);
    assert!(
        sends(&out)
            .iter()
            .any(|(_, m)| matches!(m, PartMsg::MoveOut { .. }))
    );
}

#[test]
fn the_old_owner_sends_the_keys_keeps_them_until_released_and_the_new_owner_confirms() {
    let cfg = hash_cfg(2);
    let mut old = node(1, &cfg);
    let v = Version::new(10, 1);
    step(1, 10, |ctx| {
        old.on_message(
            0,
            PartMsg::Put {
                id: 1,
                key: "k1".into(),
                value: "9".into(),
                version: v,
            },
            ctx,
        )
    });
    let out = deliver(
        &mut old,
        1,
        0,
        PartMsg::MoveOut {
            id: 1,
            to: 3,
            keys: vec!["k1".into(), "k2".into()],
        },
    );
    let transfer = PartMsg::Transfer {
        id: 1,
        keys: vec!["k1".into(), "k2".into()],
        entries: vec![("k1".into(), ("9".into(), v))],
    };
    assert_eq!(sends(&out), vec![(3, transfer.clone())]);
    let Partitioned::Store(s) = &old else {
        panic!()
    };
    assert!(s.data.contains_key("k1"), "kept until released");
    // Unconfirmed, it is sent again.
    let out = step(1, 300_000, |ctx| old.on_timer(PartTimer::Resend, ctx)).1;
    assert_eq!(sends(&out), vec![(3, transfer.clone())]);

    let mut new = node(3, &cfg);
    let out = deliver(&mut new, 3, 1, transfer);
    assert_eq!(
        sends(&out),
        vec![(
            0,
            PartMsg::Moved {
                id: 1,
                from: 1,
                keys: vec!["k1".into(), "k2".into()]
            }
        )]
    );
    let Partitioned::Store(s) = &new else {
        panic!()
    };
    assert_eq!(s.data.get("k1"), Some(&("9".to_string(), v)));

    deliver(
        &mut old,
        1,
        0,
        PartMsg::Release {
            id: 1,
            keys: vec!["k1".into(), "k2".into()],
        },
    );
    let Partitioned::Store(s) = &old else {
        panic!()
    };
    assert!(s.data.is_empty() && s.outgoing.is_empty());
    let out = step(1, 600_000, |ctx| old.on_timer(PartTimer::Resend, ctx)).1;
    assert!(sends(&out).is_empty(), "nothing left to resend");
}

#[test]
fn a_range_above_split_at_keys_splits_at_its_median_and_moves_its_lower_half() {
    // DDIA ch. 6, "Dynamic partitioning": "When a partition grows to exceed a configured
    // size ..., it is split into two partitions so that approximately half of the data ends
    // up on each side of the split. After a large partition has been split, one of its two
    // halves can be transferred to another node in order to balance the load."
    let cfg = PartConfig {
        partitioning: Partitioning::Range,
        key_space: 300,
        split_at: Some(4),
        ..Default::default()
    };
    let mut router = node(0, &cfg);
    // Ranges: store1 0..100, store2 100..200, store3 200 and up. Give store1 a key so that
    // store2 is the emptiest.
    write_all(&mut router, &["k5".to_string()]);
    let ks: Vec<String> = (200..204).map(|i| format!("k{i}")).collect();
    write_all(&mut router, &ks);
    let out = request(&mut router, 9_000, 50, put("k204", "1"));
    let s = sends(&out);
    assert_eq!(s[0].0, 3, "k204 is in store3's range");
    assert_eq!(
        s[1],
        (
            3,
            PartMsg::MoveOut {
                id: 1,
                to: 2,
                keys: vec!["k200".into(), "k201".into()]
            }
        ),
        "five keys > 4: split at the median k202, the lower half to the emptiest store"
    );
    let Partitioned::Router(r) = &router else {
        panic!()
    };
    let after = &r.d.rebalance.as_ref().unwrap().target;
    assert_eq!(after.owner("k201"), Some(2));
    assert_eq!(after.owner("k202"), Some(3));
    assert_eq!(after.owner("k99999"), Some(3), "the top of the range stays");
}

#[test]
fn with_the_bug_the_router_routes_a_moving_key_to_its_new_owner_at_once() {
    let cfg = PartConfig {
        bug_route_before_transfer: true,
        ..hash_cfg(2)
    };
    let mut router = node(0, &cfg);
    let ks = keys(30);
    write_all(&mut router, &ks);
    let before = PartitionMap::new(Partitioning::Hash, 1000, vec![1, 2]);
    let after = before.with_member(3);
    let moving = ks
        .iter()
        .find(|k| before.owner(k) != after.owner(k))
        .unwrap();
    deliver(&mut router, 0, 3, PartMsg::Join);
    let out = request(
        &mut router,
        40_000,
        100,
        Op::Get {
            key: moving.clone(),
        },
    );
    assert_eq!(sends(&out)[0].0, after.owner(moving).unwrap());
}

#[test]
fn configurations_are_validated() {
    let e = Partitioned::validate_config(
        &PartConfig {
            split_at: Some(10),
            ..Default::default()
        },
        4,
    )
    .unwrap_err();
    assert!(e.contains("split_at belongs to"), "{e}");
    let e = Partitioned::validate_config(
        &PartConfig {
            partitioning: Partitioning::ConsistentHash { vnodes: 0 },
            ..Default::default()
        },
        4,
    )
    .unwrap_err();
    assert!(e.contains("vnodes"), "{e}");
    let e = Partitioned::validate_config(
        &PartConfig {
            partitioning: Partitioning::Range,
            split_at: Some(20),
            merge_below: Some(11),
            ..Default::default()
        },
        4,
    )
    .unwrap_err();
    assert!(e.contains("at most half of split_at"), "{e}");
    let e = Partitioned::validate_config(
        &PartConfig {
            merge_below: Some(5),
            ..Default::default()
        },
        4,
    )
    .unwrap_err();
    assert!(e.contains("belong to `partitioning: Range`"), "{e}");
}

#[test]
fn a_leaving_node_hands_over_exactly_its_keys_and_is_released_of_them() {
    // DDIA ch. 6: "If a node is removed from the cluster, the same happens in reverse": only
    // its keys move, to the owners the map without it gives them.
    let cfg = PartConfig {
        partitioning: Partitioning::ConsistentHash { vnodes: 20 },
        ..Default::default()
    };
    let mut router = node(0, &cfg);
    let ks = keys(40);
    write_all(&mut router, &ks);
    let before = PartitionMap::new(cfg.partitioning, 1000, vec![1, 2, 3]);
    let after = before.without_member(3);
    let expected: BTreeSet<(String, NodeId, NodeId)> = ks
        .iter()
        .filter(|k| before.owner(k) == Some(3))
        .map(|k| (k.clone(), 3, after.owner(k).unwrap()))
        .collect();
    assert!(!expected.is_empty());
    let out = deliver(&mut router, 0, 3, PartMsg::Leave);
    let mut planned = BTreeSet::new();
    for (from, msg) in sends(&out) {
        let PartMsg::MoveOut { to, keys, .. } = msg else {
            panic!("expected a MoveOut")
        };
        planned.extend(keys.into_iter().map(|k| (k, from, to)));
    }
    assert_eq!(planned, expected, "exactly the leaving node's keys move");
    // Every key confirmed: the map no longer has n4, which is released of every key.
    let mut released = Vec::new();
    for (k, from, to) in &expected {
        let out = deliver(
            &mut router,
            0,
            *to,
            PartMsg::Moved {
                id: 1,
                from: *from,
                keys: vec![k.clone()],
            },
        );
        for (n, m) in sends(&out) {
            if let (3, PartMsg::Release { keys, .. }) = (n, m) {
                released.extend(keys);
            }
        }
    }
    assert_eq!(released.len(), expected.len());
    let Partitioned::Router(r) = &router else {
        panic!()
    };
    assert_eq!(r.d.map.members, vec![1, 2]);
    // The last store never leaves.
    let one = PartConfig {
        initial_stores: Some(1),
        ..Default::default()
    };
    let mut router = node(0, &one);
    write_all(&mut router, &keys(3));
    let out = deliver(&mut router, 0, 1, PartMsg::Leave);
    assert!(sends(&out).is_empty());
}

#[test]
fn the_two_adjacent_ranges_with_the_fewest_keys_merge_into_the_fuller_one() {
    // DDIA ch. 6: "if lots of data is deleted and a partition shrinks below some threshold,
    // it can be merged with an adjacent partition."
    let cfg = PartConfig {
        partitioning: Partitioning::Range,
        key_space: 300,
        initial_ranges: Some(3),
        merge_below: Some(5),
        ..Default::default()
    };
    let mut router = node(0, &cfg);
    // Range 0..100 (n2) gets 6 keys, 100..200 (n3) 1 key, 200.. (n4) 2 keys: the pair
    // (1, 2) holds 3 < 5 and merges into range 2's owner, n4; only k150 moves.
    let ks: Vec<String> = ["k1", "k2", "k3", "k4", "k5", "k6", "k150", "k250", "k260"]
        .map(String::from)
        .to_vec();
    write_all(&mut router, &ks);
    let out = step(0, 500_000, |ctx| router.on_timer(PartTimer::Merge, ctx)).1;
    assert!(out.contains(&Command::Count {
        name: "merges",
        by: 1
    }));
    assert_eq!(
        sends(&out),
        vec![(
            2,
            PartMsg::MoveOut {
                id: 1,
                to: 3,
                keys: vec!["k150".into()]
            }
        )]
    );
    assert!(out.contains(&Command::SetTimer {
        timer: PartTimer::Merge,
        after: cfg.merge_interval
    }));
    deliver(
        &mut router,
        0,
        3,
        PartMsg::Moved {
            id: 1,
            from: 2,
            keys: vec!["k150".into()],
        },
    );
    let Partitioned::Router(r) = &router else {
        panic!()
    };
    assert_eq!(r.d.map.partitions(), 2);
    assert_eq!(r.d.map.owner("k150"), Some(3));
}

// ------------------------------------------------------------------------------- scenarios

#[test]
fn every_partitioning_scenario_meets_its_expectations() {
    let n = distsim::testing::assert_bundled_scenarios_pass(|p| {
        p.starts_with("scenarios/storage/partition-")
    });
    assert_eq!(n, 12);
}

/// The moved fraction of one run, and the keys written before `join`.
fn moved(file: &str, join: SimTime) -> (f64, Vec<String>) {
    let text = distsim::bundled::get(file).unwrap();
    let opts = RunOptions {
        trace_level: TraceLevel::Off,
        ..Default::default()
    };
    let mut l = registry::load(text, file, &opts).unwrap();
    l.sim.run_until(l.info.duration);
    assert!(l.sim.violations().is_empty(), "{file}");
    let series = &l.sim.metrics().series;
    let key = series.find("moved_fraction", l.sim.names())[0];
    let fraction = *series.get(key).unwrap().last().unwrap();
    let written: BTreeSet<String> = l
        .sim
        .history()
        .entries
        .iter()
        .filter(|e| e.invoked_at < join)
        .filter_map(|e| match &e.op {
            Op::Put { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    (fraction, written.into_iter().collect())
}

#[test]
fn the_moved_fraction_is_what_the_placement_predicts() {
    // Hash mod n: a key stays only if hash mod 3 == hash mod 4, about 1/4 of them, so 3/4
    // move. Consistent hashing: the new node takes the arcs in front of its points, about
    // 1/(n+1) = 1/4. Recomputed here over the keys the run had written when store4 joined
    // (store ids 1..3, then 4).
    let join = SimTime::from_secs(3);
    for (file, placement, theory, slack) in [
        (
            "scenarios/storage/partition-hash-add-node.ron",
            Placement::Modulo,
            0.75,
            0.1,
        ),
        (
            "scenarios/storage/partition-consistent-hash-add-node.ron",
            Placement::ConsistentHash { vnodes: 100 },
            0.25,
            0.15,
        ),
    ] {
        let (measured, keys) = moved(file, join);
        assert!(keys.len() > 100, "{file}: {} keys", keys.len());
        let before = Ring::new(placement, vec![1, 2, 3]);
        let after = before.with(4, true);
        let expected =
            before.moved(&after, keys.iter().map(String::as_str)) as f64 / keys.len() as f64;
        assert!(
            (measured - expected).abs() < 0.02,
            "{file}: the run moved {measured}, the placement predicts {expected}"
        );
        assert!(
            (expected - theory).abs() < slack,
            "{file}: {expected} is far from the theory's {theory}"
        );
    }
}

#[test]
fn the_route_before_transfer_bug_is_caught_and_safe_when_off() {
    let file = "scenarios/storage/partition-bug-route-before-transfer.ron";
    let text = distsim::bundled::get(file).unwrap();
    let results = cli::sweep(text, file, 0..20, false).unwrap();
    let caught = results
        .iter()
        .filter(|r| {
            r.violation
                .as_ref()
                .is_some_and(|v| v.invariant == "Fresh Reads" || v.invariant == "No Key Lost")
        })
        .count();
    assert!(caught >= 15, "only {caught} of 20 seeds caught the bug");
    let fixed = text.replace(
        "bug_route_before_transfer: true",
        "bug_route_before_transfer: false",
    );
    assert_ne!(fixed, text);
    let results = cli::sweep(&fixed, file, 0..20, false).unwrap();
    assert!(results.iter().all(|r| r.violation.is_none()));
}

#[test]
fn sweep_partition_chaos_20_seeds_of_every_partitioning_no_violation() {
    let file = "scenarios/storage/partition-chaos.ron";
    distsim::testing::assert_sweep_passes(file, 0..20);
    let text = distsim::bundled::get(file).unwrap();
    for other in [
        "partitioning: Hash",
        "partitioning: Range, key_space: 60, split_at: 10",
        "partitioning: Range, key_space: 60, initial_ranges: 8, split_at: 30, merge_below: 12",
    ] {
        let variant = text.replace("partitioning: ConsistentHash(vnodes: 50)", other);
        assert_ne!(variant, text);
        for r in cli::sweep(&variant, file, 0..20, false).unwrap() {
            assert!(
                r.violation.is_none() && r.expectations_failed.is_empty() && !r.step_limit_hit,
                "{other}, seed {}: {:?} {:?}",
                r.seed,
                r.violation,
                r.expectations_failed
            );
        }
    }
}

/// One seed of the replicated chaos scenario, run to the end: its violation if any, and the
/// stores whose `lag` (keys their partitions' leaders have not had confirmed by them) is not
/// 0 at the end, a second after the clients stopped and three after the faults healed.
fn replicated_chaos_seed(text: &str, file: &str, seed: u64) -> (Vec<String>, Vec<String>, u64) {
    let opts = RunOptions {
        seed: Some(seed),
        trace_level: TraceLevel::Off,
        ..Default::default()
    };
    let mut l = registry::load(text, file, &opts).unwrap();
    l.sim.run_until(l.info.duration);
    let violations = l
        .sim
        .violations()
        .iter()
        .map(|v| format!("{}: {}", v.invariant, v.explanation))
        .collect();
    let series = &l.sim.metrics().series;
    let lagging = series
        .find("lag", l.sim.names())
        .into_iter()
        .filter(|k| series.get(k).and_then(|v| v.last()).copied() != Some(0.0))
        .map(|k| k.label(l.sim.names()))
        .collect();
    (violations, lagging, l.sim.metrics().counter("lost_writes"))
}

#[test]
fn sweep_replicated_partition_chaos_no_violation_and_every_copy_catches_up() {
    // Sync copies promise No Key Lost, Fresh Reads (after every event) and linearizability
    // (at the end). After the heal every follower must hold what its leaders acknowledged.
    let file = "scenarios/storage/partition-replicated-chaos.ron";
    let text = distsim::bundled::get(file).unwrap();
    assert!(text.contains("replication_factor: 3, replication: Sync"));
    assert!(Partitioned::linearizable(&PartConfig {
        replication_factor: 3,
        ..Default::default()
    }));
    distsim::testing::assert_sweep_passes(file, 0..100);
    for seed in 0..40 {
        let (violations, lagging, _) = replicated_chaos_seed(text, file, seed);
        assert!(
            violations.is_empty() && lagging.is_empty(),
            "seed {seed}: {violations:?}, still lagging: {lagging:?}\n  reproduce: distsim run {file} --seed {seed}"
        );
    }
}

#[test]
fn async_copies_under_the_same_faults_lose_acknowledged_writes_counted_not_violated() {
    // Async promises nothing: the anomalies are counted (No Key Lost's `lost_writes`), and a
    // new leader that missed a shipment is the only copy left of nothing.
    let file = "scenarios/storage/partition-replicated-chaos.ron";
    let text = distsim::bundled::get(file)
        .unwrap()
        .replace("replication: Sync)", "replication: Async)");
    assert!(text.contains("replication: Async)"));
    let mut losing = 0;
    for seed in 0..40 {
        let (violations, _, lost) = replicated_chaos_seed(&text, file, seed);
        assert_eq!(violations, Vec::<String>::new(), "seed {seed}");
        losing += u64::from(lost > 0);
    }
    assert!(losing >= 10, "only {losing} of 40 async seeds lost a write");
}

// ------------------------------------------------------- rebalancing replicated partitions

fn replicated_cfg(initial: usize) -> PartConfig {
    PartConfig {
        partitioning: Partitioning::Hash,
        initial_stores: Some(initial),
        replication_factor: 2,
        ..Default::default()
    }
}

/// Writes `keys` through a replicated router and acknowledges each from its leader.
fn write_all_replicated(router: &mut Partitioned, keys: &[String]) {
    for (i, k) in keys.iter().enumerate() {
        let out = request(router, 1000 + i as u64, i as u64, put(k, "1"));
        let (to, msg) = sends(&out).remove(0);
        let PartMsg::RPut { id, version, .. } = msg else {
            panic!("expected an RPut")
        };
        let out = deliver(router, 0, to, PartMsg::Written { id, version });
        assert_eq!(replies(&out).len(), 1);
    }
}

fn set(map: &PartitionMap, k: &str) -> BTreeSet<NodeId> {
    map.replicas(k, 2).into_iter().collect()
}

#[test]
fn a_replicated_join_copies_keys_to_their_new_replicas_before_the_map_switches() {
    // The issue's rule: "new replicas get the keys by Transfer messages before they count as
    // copies; the router switches the map only when the new replica set holds every
    // acknowledged version; copies that leave the set are released."
    let cfg = replicated_cfg(2);
    let mut router = node(0, &cfg);
    let ks = keys(30);
    write_all_replicated(&mut router, &ks);
    let before = PartitionMap::new(Partitioning::Hash, 1000, vec![1, 2]);
    let after = before.with_member(3);
    // Every key whose set changes gets a copy on n3 (the only new member), sent by its
    // current leader (its owner: nobody is suspected).
    let expected: BTreeSet<(String, NodeId, NodeId)> = ks
        .iter()
        .filter(|k| set(&before, k) != set(&after, k))
        .map(|k| (k.clone(), before.owner(k).unwrap(), 3))
        .collect();
    assert!(!expected.is_empty() && expected.len() < ks.len());
    let out = deliver(&mut router, 0, 3, PartMsg::Join);
    assert!(sends(&out).contains(&(3, PartMsg::Queued)));
    let mut planned = BTreeSet::new();
    for (from, msg) in sends(&out) {
        if let PartMsg::MoveOut { id, to, keys } = msg {
            assert_eq!(id, 1);
            planned.extend(keys.into_iter().map(|k| (k, from, to)));
        }
    }
    assert_eq!(
        planned, expected,
        "only keys whose replica set changes are copied"
    );

    // Requests for a moving key wait; a staying key is served by its (unchanged) set.
    let (moving, source, _) = expected.iter().next().unwrap().clone();
    let out = request(&mut router, 40_000, 100, put(&moving, "2"));
    assert!(sends(&out).is_empty(), "held while {moving} is copied");
    let staying = ks
        .iter()
        .find(|k| set(&before, k) == set(&after, k))
        .unwrap();
    let out = request(
        &mut router,
        40_001,
        101,
        Op::Get {
            key: staying.clone(),
        },
    );
    assert_eq!(sends(&out).len(), 1);

    // One key confirmed: the map does not switch, nothing is released.
    let out = deliver(
        &mut router,
        0,
        3,
        PartMsg::Moved {
            id: 1,
            from: source,
            keys: vec![moving.clone()],
        },
    );
    assert!(sends(&out).is_empty(), "{:?}", sends(&out));
    // The rest confirmed: the map switches, the held write goes to the new set, and each
    // copy that left a set is released of exactly those keys.
    let rest: Vec<String> = expected.iter().skip(1).map(|e| e.0.clone()).collect();
    let out = deliver(
        &mut router,
        0,
        3,
        PartMsg::Moved {
            id: 1,
            from: source,
            keys: rest,
        },
    );
    let s = sends(&out);
    let mut released: BTreeSet<(NodeId, String)> = BTreeSet::new();
    for (n, m) in &s {
        if let PartMsg::Release { id, keys } = m {
            assert_eq!(*id, 1);
            released.extend(keys.iter().map(|k| (*n, k.clone())));
        }
    }
    let gone: BTreeSet<(NodeId, String)> = expected
        .iter()
        .flat_map(|(k, _, _)| {
            set(&before, k)
                .difference(&set(&after, k))
                .map(|&n| (n, k.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(released, gone);
    let held: Vec<_> = s
        .iter()
        .filter(|(_, m)| matches!(m, PartMsg::RPut { key, .. } if *key == moving))
        .collect();
    assert_eq!(held.len(), 1, "{s:?}");
    let (to, PartMsg::RPut { followers, .. }) = held[0] else {
        unreachable!()
    };
    let mut sent_set: BTreeSet<NodeId> = followers.iter().copied().collect();
    sent_set.insert(*to);
    assert_eq!(sent_set, set(&after, &moving), "written to the new set");
}

#[test]
fn a_copy_whose_source_is_suspected_is_sent_again_by_the_next_copy() {
    // The source may crash during the move: under Sync every copy of the old set holds every
    // acknowledged version, so the resend goes to whichever copy leads the key now.
    let cfg = replicated_cfg(2);
    let mut router = node(0, &cfg);
    let ks = keys(30);
    write_all_replicated(&mut router, &ks);
    let out = deliver(&mut router, 0, 3, PartMsg::Join);
    let (source, keys) = sends(&out)
        .into_iter()
        .find_map(|(n, m)| match m {
            PartMsg::MoveOut { keys, .. } => Some((n, keys)),
            _ => None,
        })
        .unwrap();
    let Partitioned::Router(r) = &mut router else {
        unreachable!()
    };
    r.d.down.insert(source);
    let out = step(0, 60_000, |ctx| router.on_timer(PartTimer::Resend, ctx)).1;
    let other = if source == 1 { 2 } else { 1 };
    let resent: Vec<String> = sends(&out)
        .into_iter()
        .filter_map(|(n, m)| match m {
            PartMsg::MoveOut { keys, .. } if n == other => Some(keys),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        keys.iter().all(|k| resent.contains(k)),
        "{keys:?} not resent by n{}",
        other + 1
    );
    assert!(!sends(&out).iter().any(|(n, _)| *n == source));
}

#[test]
fn a_store_applies_a_copy_and_ignores_a_late_release_and_replicate_of_an_older_move() {
    let cfg = replicated_cfg(2);
    let mut store = node(3, &cfg);
    let v1 = Version::new(10, 1);
    let entries = vec![("k1".to_string(), ("a".to_string(), v1))];
    let keys = vec!["k1".to_string()];
    let out = deliver(
        &mut store,
        3,
        1,
        PartMsg::Transfer {
            id: 2,
            keys: keys.clone(),
            entries,
        },
    );
    assert_eq!(
        sends(&out),
        vec![(
            0,
            PartMsg::Moved {
                id: 2,
                from: 1,
                keys: keys.clone()
            }
        )]
    );
    // A Release of move 1 arriving late must not drop the copy move 2 made.
    let out = deliver(
        &mut store,
        3,
        0,
        PartMsg::Release {
            id: 1,
            keys: keys.clone(),
        },
    );
    assert_eq!(sends(&out), vec![(0, PartMsg::Released { id: 1 })]);
    let Partitioned::Store(s) = &store else {
        unreachable!()
    };
    assert_eq!(s.data.get("k1"), Some(&("a".to_string(), v1)));
    // Released by move 3: the key goes; a former leader's Replicate is confirmed, not stored.
    deliver(
        &mut store,
        3,
        0,
        PartMsg::Release {
            id: 3,
            keys: keys.clone(),
        },
    );
    let v2 = Version::new(20, 2);
    let out = deliver(
        &mut store,
        3,
        2,
        PartMsg::Replicate {
            entries: vec![("k1".to_string(), ("b".to_string(), v2), 1)],
        },
    );
    assert_eq!(
        sends(&out),
        vec![(
            2,
            PartMsg::ReplicateAck {
                held: vec![("k1".to_string(), v2)],
                newer: vec![]
            }
        )]
    );
    let Partitioned::Store(s) = &store else {
        unreachable!()
    };
    assert!(s.data.is_empty());
}

#[test]
fn a_replicated_store_resends_its_join_until_the_router_queues_it() {
    let cfg = replicated_cfg(2);
    let mut store = node(3, &cfg);
    let req = ClientRequest {
        from: ClientRef {
            client: 0,
            seq: 0,
            attempt: 1,
        },
        op: Op::Request("join".into()),
    };
    let out = step(3, 0, |ctx| store.on_client_request(req, ctx)).1;
    assert_eq!(sends(&out), vec![(0, PartMsg::Join)]);
    let out = step(3, 200_000, |ctx| store.on_timer(PartTimer::Resend, ctx)).1;
    assert_eq!(sends(&out), vec![(0, PartMsg::Join)]);
    deliver(&mut store, 3, 0, PartMsg::Queued);
    let out = step(3, 400_000, |ctx| store.on_timer(PartTimer::Resend, ctx)).1;
    assert!(sends(&out).is_empty());
}

// ------------------------------------------------------------- per-range series

#[test]
fn a_ranges_keys_series_is_its_key_count_in_the_map() {
    // Range partitioning: `range[lo..hi).keys` is the number of keys written in lo..hi by
    // the router's map, `range[lo..hi).load` the requests per second forwarded for them.
    let cfg = PartConfig {
        partitioning: Partitioning::Range,
        key_space: 300,
        split_at: Some(3),
        ..Default::default()
    };
    let mut router = node(0, &cfg);
    let ks: Vec<String> = [5, 17, 120, 230, 240, 250, 260]
        .iter()
        .map(|n| format!("k{n}"))
        .collect();
    write_all(&mut router, &ks[..6]);
    let gauges = |router: &Partitioned, at: u64| {
        let mut out = Vec::new();
        Partitioned::partition_gauges_at(&cfg, SimTime(at), &[Some(router.clone())], &mut out);
        out.into_iter()
            .map(|g| (format!("{}.{}", g.part, g.name), g.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        gauges(&router, 2000),
        vec![
            ("range[0..100).load".to_string(), 2.0),
            ("range[0..100).keys".to_string(), 2.0),
            ("range[100..200).load".to_string(), 1.0),
            ("range[100..200).keys".to_string(), 1.0),
            ("range[200..).load".to_string(), 3.0),
            ("range[200..).keys".to_string(), 3.0),
        ]
    );
    // The load is over the last second: at 2 s nothing is left of writes at 1 ms.
    assert!(
        gauges(&router, 2_000_000)
            .iter()
            .all(|(n, v)| !n.ends_with("load") || *v == 0.0)
    );
    // A fourth key in range[200..) splits it (above split_at: 3): the series follow the map
    // the router routes by, whatever the rebalancing has got to.
    let out = request(&mut router, 3000, 50, put("k260", "1"));
    let Partitioned::Router(r) = &router else {
        unreachable!()
    };
    let per = r.keys_per_range();
    let names: Vec<String> = gauges(&router, 3000)
        .into_iter()
        .filter(|(n, _)| n.ends_with("keys"))
        .map(|(n, v)| {
            assert!(v >= 0.0);
            n
        })
        .collect();
    assert_eq!(names.len(), per.len());
    let values: Vec<f64> = gauges(&router, 3000)
        .into_iter()
        .filter(|(n, _)| n.ends_with("keys"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, per.iter().map(|&n| n as f64).collect::<Vec<_>>());
    assert_eq!(per.iter().sum::<usize>(), 7);
    assert!(!sends(&out).is_empty());
}

#[test]
fn the_hotspot_runs_range_series_match_the_partitions_at_every_sample() {
    // At every sample there is one `range[..).keys` line per range of the map (the router's
    // `partitions`), and the keys they hold together never fall (no key is deleted).
    let file = "scenarios/storage/partition-range-hotspot.ron";
    let text = distsim::bundled::get(file).unwrap();
    let opts = RunOptions {
        trace_level: TraceLevel::Off,
        ..Default::default()
    };
    let mut l = registry::load(text, file, &opts).unwrap();
    l.sim.run_until(l.info.duration);
    let series = &l.sim.metrics().series;
    let ranges = series.find("range.keys", l.sim.names());
    assert!(ranges.len() > 3, "{} range series", ranges.len());
    let parts = series
        .get(series.find("partitions", l.sim.names())[0])
        .unwrap();
    let mut last_total = 0.0;
    for (i, &p) in parts.iter().enumerate() {
        if p.is_nan() {
            continue;
        }
        let live: Vec<f64> = ranges
            .iter()
            .filter_map(|k| series.get(k).map(|s| s[i]))
            .filter(|v| !v.is_nan())
            .collect();
        assert_eq!(live.len() as f64, p, "sample {i}");
        let total: f64 = live.iter().sum();
        assert!(total >= last_total, "sample {i}: {total} < {last_total}");
        last_total = total;
    }
    assert!(last_total > 100.0);
}

#[test]
fn sweep_replicated_rebalance_chaos_no_violation_with_joins_leaves_splits_and_merges() {
    // A join and a leave of R = 3 Sync partitions under faults: No Key Lost (every copy of a
    // key's partition holds its acknowledged writes), Fresh Reads, linearizability.
    let file = "scenarios/storage/partition-replicated-rebalance-chaos.ron";
    let text = distsim::bundled::get(file).unwrap();
    assert!(text.contains("replication_factor: 3, replication: Sync"));
    let results = cli::sweep(text, file, 0..40, false).unwrap();
    let mut moved = 0;
    for r in &results {
        assert!(
            r.violation.is_none() && r.expectations_failed.is_empty() && !r.step_limit_hit,
            "seed {}: {:?} {:?}",
            r.seed,
            r.violation,
            r.expectations_failed
        );
    }
    // The join and the leave are timeline requests to nodes the faults may have crashed:
    // most seeds still run both (about 4 in 5 of seeds 0..2000).
    let counted = text.replace(
        "expect: [NoViolation, ClientOk(50)]",
        "expect: [Counter(name: \"joins\", at_least: 1), Counter(name: \"leaves\", at_least: 1)]",
    );
    assert_ne!(counted, text);
    for r in cli::sweep(&counted, file, 0..40, false).unwrap() {
        moved += usize::from(r.expectations_failed.is_empty());
    }
    assert!(
        moved >= 24,
        "a join and a leave on only {moved} of 40 seeds"
    );
    // Ranges that split and merge while copies move.
    let ranges = text.replace(
        "partitioning: ConsistentHash(vnodes: 50)",
        "partitioning: Range, key_space: 60, initial_ranges: 8, split_at: 12, merge_below: 5",
    );
    assert_ne!(ranges, text);
    for r in cli::sweep(&ranges, file, 0..20, false).unwrap() {
        assert!(
            r.violation.is_none() && r.expectations_failed.is_empty() && !r.step_limit_hit,
            "ranges, seed {}: {:?} {:?}",
            r.seed,
            r.violation,
            r.expectations_failed
        );
    }
}
