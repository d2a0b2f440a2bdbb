//! The `outbox` protocol end to end:
//! 1. every bundled outbox scenario meets its expectations, has captions and a "Level N:"
//!    title, and violates nothing unless it expects to;
//! 2. each bug switch is caught over several seeds, and the same scenario with it off is safe
//!    on the same seeds;
//! 3. a seed sweep of the chaos scenario: the checkers hold on every event and, after the
//!    faults heal, every committed order is shipped (the scenario's expectations).

use distsim::registry::{self, RunOptions};
use distsim::testing::assert_sweep_passes;

#[test]
fn every_bundled_outbox_scenario_meets_its_expectations() {
    distsim::testing::assert_lesson_scenarios_pass("scenarios/transactions/", "outbox", 4);
}

fn first_violation(text: &str, path: &str, seed: u64) -> Option<String> {
    let opts = RunOptions {
        seed: Some(seed),
        ..Default::default()
    };
    let mut l = registry::load(text, path, &opts).unwrap_or_else(|e| panic!("{e}"));
    l.sim.run_until(l.info.duration);
    l.sim.violations().first().map(|v| v.invariant.clone())
}

fn bundled(path: &str) -> &'static str {
    distsim::bundled::get(path).unwrap_or_else(|| panic!("{path} is bundled"))
}

#[test]
fn each_bug_is_caught_with_its_switch_and_safe_without_it() {
    for (file, on, off, checker) in [
        (
            "07-dual-write-crash",
            "bug_dual_write: true",
            "bug_dual_write: false",
            "No Lost Event",
        ),
        (
            "bug-outbox-no-dedup",
            "bug_no_dedup: true",
            "bug_no_dedup: false",
            "Applied At Most Once",
        ),
    ] {
        let path = format!("scenarios/transactions/{file}.ron");
        let text = bundled(&path);
        assert!(text.contains(on), "{path} has {on}");
        let fixed = text.replace(on, off);
        for seed in 0..4 {
            assert_eq!(
                first_violation(text, &path, seed).as_deref(),
                Some(checker),
                "{path} seed {seed}\nreproduce: distsim run {path} --seed {seed}"
            );
            assert_eq!(
                first_violation(&fixed, &path, seed),
                None,
                "{path} with {off}, seed {seed}, must be safe"
            );
        }
    }
}

#[test]
fn the_chaos_sweep_catches_each_bug_switch_on_some_seeds() {
    let path = "scenarios/transactions/chaos-outbox.ron";
    let text = bundled(path);
    for (bug, checker) in [
        ("bug_dual_write: true", "No Lost Event"),
        ("bug_no_dedup: true", "Applied At Most Once"),
    ] {
        let t = text.replace("config: (", &format!("config: ({bug}, "));
        let caught: Vec<u64> = (0..8)
            .filter(|&s| first_violation(&t, path, s).as_deref() == Some(checker))
            .collect();
        assert!(!caught.is_empty(), "{bug}: no seed of 0..8 caught it");
    }
}

#[test]
fn the_outbox_chaos_sweep_holds_and_settles() {
    assert_sweep_passes("scenarios/transactions/chaos-outbox.ron", 0..12);
}

#[test]
fn a_bad_option_is_a_located_error() {
    let path = "scenarios/transactions/06-outbox-crash.ron";
    let text = bundled(path);
    for says in ["poll_interval: \"0ms\"", "relay_count: 2"] {
        let t = text.replace("config: (", &format!("config: ({says}, "));
        let e = match registry::load(&t, path, &RunOptions::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{says} was accepted"),
        };
        assert!(e.starts_with(&format!("{path}:")), "{e}");
        let name = says.split(':').next().unwrap();
        assert!(e.contains(name), "{e}");
    }
}
