//! The caching family: every scenario's textbook outcome, the chaos sweep, and two fidelity
//! checks that compute their expected values here: Che's approximation of the LRU hit ratio
//! under independent Zipf requests, and the fraction of keys consistent hashing moves.

use distsim::protocols::caching::{Eviction, Item, Placement, Ring, Store};
use distsim::sim::SimTime;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};

#[test]
fn every_caching_scenario_shows_its_textbook_outcome() {
    let n =
        distsim::testing::assert_bundled_scenarios_pass(|p| p.starts_with("scenarios/caching/"));
    assert!(n >= 20, "only {n} caching scenarios");
}

#[test]
fn write_through_survives_crashes_partitions_and_loss_with_fresh_reads_and_no_lost_write() {
    distsim::testing::assert_sweep_passes("scenarios/caching/chaos.ron", 0..40);
}

#[test]
fn cache_aside_with_leases_survives_crashes_and_loss_with_fresh_reads() {
    distsim::testing::assert_sweep_passes("scenarios/caching/chaos-cache-aside.ron", 0..40);
}

/// Che, Tung and Wang (JSAC 2002): an LRU cache of C entries under independent requests with
/// popularities p_i behaves as if every key stayed for a characteristic time T, the root of
/// sum_i (1 - exp(-p_i T)) = C; the hit ratio is then sum_i p_i (1 - exp(-p_i T)).
fn che_hit_ratio(p: &[f64], capacity: usize) -> f64 {
    let filled = |t: f64| p.iter().map(|&q| 1.0 - (-q * t).exp()).sum::<f64>();
    let (mut lo, mut hi) = (0.0, 1.0);
    while filled(hi) < capacity as f64 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if filled(mid) < capacity as f64 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    p.iter().map(|&q| q * (1.0 - (-q * lo).exp())).sum()
}

#[test]
fn lru_hit_ratio_matches_ches_approximation_within_three_points() {
    let (keys, s) = (1000usize, 0.99);
    let weights: Vec<f64> = (1..=keys).map(|r| 1.0 / (r as f64).powf(s)).collect();
    let total: f64 = weights.iter().sum();
    let p: Vec<f64> = weights.iter().map(|w| w / total).collect();
    for capacity in [20, 100, 300] {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(capacity as u64);
        let zipf = Zipf::new(keys as f64, s).unwrap();
        let mut store = Store::new(Eviction::Lru, capacity);
        let (warmup, measured) = (50_000u64, 200_000u64);
        let mut hits = 0u64;
        for t in 0..warmup + measured {
            let key = format!("k{}", zipf.sample(&mut rng) as u64 - 1);
            let now = SimTime(t);
            let hit = matches!(
                store.get(&key, now),
                distsim::protocols::caching::store::Lookup::Hit { .. }
            );
            if !hit {
                let item = Item {
                    value: String::new(),
                    wid: t,
                };
                store.put(&key, item, now);
            }
            if t >= warmup && hit {
                hits += 1;
            }
        }
        let measured_ratio = hits as f64 / measured as f64;
        let che = che_hit_ratio(&p, capacity);
        assert!(
            (measured_ratio - che).abs() < 0.03,
            "capacity {capacity}: LRU hit ratio {measured_ratio:.3}, Che {che:.3}"
        );
    }
}

#[test]
fn consistent_hashing_moves_about_one_over_n_plus_one_of_the_keys_over_many_key_sets() {
    // Each seed names different members (so different ring points) and a different set of
    // 5,000 keys.
    for n in [3usize, 5] {
        let expected = 1.0 / (n + 1) as f64;
        let mut sum = 0.0;
        let seeds = 40;
        for seed in 0..seeds {
            let keys: Vec<String> = (0..5000).map(|i| format!("s{seed}-k{i}")).collect();
            let first = seed as usize * 10;
            let members = (first..first + n).collect();
            let before = Ring::new(Placement::ConsistentHash { vnodes: 100 }, members);
            let after = before.with(first + n, true);
            let f = before.moved(&after, keys.iter().map(String::as_str)) as f64 / 5000.0;
            assert!(
                (f - expected).abs() < 0.08,
                "seed {seed}, {n} -> {} nodes: moved {f:.3}, expected about {expected:.3}",
                n + 1
            );
            sum += f;
        }
        let mean = sum / f64::from(seeds);
        assert!(
            (mean - expected).abs() < 0.02,
            "{n} -> {} nodes: mean moved {mean:.3}, expected {expected:.3}",
            n + 1
        );
    }
}

/// The most database reads of the hot key `k0` that the cache had in flight at once.
fn hot_key_loads_in_flight(path: &str) -> usize {
    let text = distsim::bundled::get(path).expect("bundled");
    let mut l = distsim::registry::load(text, path, &Default::default()).unwrap();
    l.sim.run_until(l.info.duration);
    let cache = l.info.names.iter().position(|n| n == "cache1").unwrap();
    let (mut now, mut most) = (0usize, 0usize);
    for e in l.sim.trace().events() {
        let distsim::sim::EventKind::Send { msg, label, .. } = &e.kind else {
            continue;
        };
        let label = label.as_deref().unwrap_or("");
        if *msg == "DbRead" && e.node == Some(cache) && label == "get k0" {
            now += 1;
            most = most.max(now);
        } else if *msg == "Row" && label.starts_with("k0=") {
            now = now.saturating_sub(1);
        }
    }
    most
}

#[test]
fn coalescing_cuts_the_database_reads_of_an_expired_hot_key_to_one() {
    // Without coalescing, every read that misses while the reload is under way starts its own.
    let herd = hot_key_loads_in_flight("scenarios/caching/13-stampede.ron");
    assert!(
        herd >= 10,
        "the stampede had at most {herd} loads of k0 at once"
    );
    assert_eq!(
        hot_key_loads_in_flight("scenarios/caching/14-stampede-coalesced.ron"),
        1
    );
}

#[test]
fn every_strategy_survives_the_chaos_sweep_and_only_write_behind_loses_acknowledged_writes() {
    // The write-through chaos scenario (crashes, partitions, 5% loss) with each strategy in
    // turn. Its `stale_reads` bound holds only for configurations that promise fresh reads,
    // so only the checkers are asserted here.
    let path = "scenarios/caching/chaos.ron";
    let text = distsim::bundled::get(path).expect("bundled");
    let mut lost_somewhere = false;
    for strategy in [
        "CacheAside",
        "ReadThrough",
        "WriteAround",
        "WriteBehind(delay: \"300ms\", batch: 10)",
    ] {
        let changed = text.replace("strategy: WriteThrough", &format!("strategy: {strategy}"));
        assert_ne!(changed, text);
        for r in distsim::cli::sweep(&changed, path, 0..30, false).unwrap() {
            let seed = r.seed;
            if let Some(v) = &r.violation {
                // Write-behind promises nothing once a cache holding unflushed writes crashes.
                assert!(
                    strategy.starts_with("WriteBehind")
                        && v.invariant == "No Acknowledged Write Lost",
                    "{strategy}, seed {seed}: {} {}",
                    v.invariant,
                    v.explanation
                );
                lost_somewhere = true;
            }
            assert!(!r.step_limit_hit, "{strategy}, seed {seed}: step limit");
        }
    }
    assert!(
        lost_somewhere,
        "write-behind never lost a write under 30 seeds of crashes"
    );
}
