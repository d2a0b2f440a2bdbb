//! The `microservices` protocol end to end:
//! 1. every bundled scenario meets its expectations, has captions and a "Level N:" title,
//!    and violates nothing unless it expects to (the cascade scenario shows the disagreement
//!    window growing while the notes service is down and closing after it restarts);
//! 2. the bug switch is caught over several seeds, and safe when off on the same seeds;
//! 3. a seed sweep of the chaos scenario: No Orphan Note holds at every quiet moment and,
//!    after the faults heal, the stores agree.

use distsim::registry::{self, RunOptions};
use distsim::testing::assert_sweep_passes;

#[test]
fn every_bundled_microservices_scenario_meets_its_expectations() {
    distsim::testing::assert_lesson_scenarios_pass("scenarios/microservices/", "microservices", 4);
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
fn acknowledging_before_applying_is_caught_and_safe_when_off() {
    let path = "scenarios/microservices/bug-ack-before-apply.ron";
    let text = bundled(path);
    let (on, off) = ("bug_ack_before_apply: true", "bug_ack_before_apply: false");
    assert!(text.contains(on));
    let fixed = text.replace(on, off);
    for seed in 0..6 {
        assert_eq!(
            first_violation(text, path, seed).as_deref(),
            Some("No Orphan Note"),
            "seed {seed}\nreproduce: distsim run {path} --seed {seed}"
        );
        assert_eq!(
            first_violation(&fixed, path, seed),
            None,
            "{off}, seed {seed}, must be safe\nreproduce: distsim run {path} --seed {seed}"
        );
    }
}

#[test]
fn the_chaos_sweep_catches_the_bug_on_some_seeds() {
    let path = "scenarios/microservices/chaos.ron";
    let t = bundled(path).replace("config: (", "config: (bug_ack_before_apply: true, ");
    let caught = (0..24).any(|s| first_violation(&t, path, s).as_deref() == Some("No Orphan Note"));
    assert!(caught, "no seed of 0..24 caught bug_ack_before_apply");
}

#[test]
fn the_microservices_chaos_sweep_holds_and_settles() {
    assert_sweep_passes("scenarios/microservices/chaos.ron", 0..12);
}

#[test]
fn a_bad_option_is_a_located_error() {
    let path = "scenarios/microservices/01-happy-path.ron";
    let text = bundled(path);
    for says in [
        "create_user: 0",
        "redeliver_after: \"0s\"",
        "users_count: 3",
    ] {
        let t = text.replace("config: (", &format!("config: ({says}, "));
        let t = t.replace("(create_user: 0, create_user: 2,", "(create_user: 0,");
        let e = match registry::load(&t, path, &RunOptions::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{says} was accepted"),
        };
        assert!(e.starts_with(&format!("{path}:")), "{e}");
        let name = says.split(':').next().unwrap();
        assert!(e.contains(name), "{e}");
    }
}
