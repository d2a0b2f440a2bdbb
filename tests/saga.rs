//! The `saga` protocol end to end:
//! 1. every bundled saga scenario meets its expectations, has captions and a "Level N:"
//!    title, and violates nothing unless it expects to;
//! 2. each bug scenario is caught with its switch on and safe with it off; the `Direct`
//!    (no saga) scenario is caught, and safe once a saga compensates;
//! 3. seed sweeps of both chaos scenarios: the checkers hold on every event and, after the
//!    faults heal, no saga is in flight and no order is unsettled (the scenarios'
//!    expectations).

use distsim::registry::{self, RunOptions};
use distsim::testing::assert_sweep_passes;

#[test]
fn every_bundled_saga_scenario_meets_its_expectations() {
    distsim::testing::assert_lesson_scenarios_pass("scenarios/transactions/", "saga", 8);
}

fn first_violation(text: &str, path: &str) -> Option<String> {
    let mut l = registry::load(text, path, &RunOptions::default()).unwrap();
    l.sim.run_until(l.info.duration);
    l.sim.violations().first().map(|v| v.invariant.clone())
}

#[test]
fn each_bug_is_caught_with_its_switch_and_safe_without_it() {
    for (file, on, off, checker) in [
        (
            "bug-no-idempotency",
            "bug_no_idempotency: true",
            "bug_no_idempotency: false",
            "No Double Charge",
        ),
        (
            "bug-skip-compensation",
            "bug_skip_compensation: true",
            "bug_skip_compensation: false",
            "Completed or Compensated",
        ),
        // No saga at all: the same orders, orchestrated, are compensated.
        (
            "01-no-saga",
            "mode: Direct",
            "mode: Orchestration",
            "Completed or Compensated",
        ),
        (
            "01-no-saga",
            "mode: Direct",
            "mode: Choreography",
            "Completed or Compensated",
        ),
    ] {
        let path = format!("scenarios/transactions/{file}.ron");
        let text = distsim::bundled::get(&path).unwrap_or_else(|| panic!("{path} is bundled"));
        assert!(text.contains(on), "{path} has {on}");
        assert_eq!(
            first_violation(text, &path).as_deref(),
            Some(checker),
            "{path}"
        );
        let mut fixed = text.replace(on, off);
        if file == "01-no-saga" {
            // An orchestrated run needs its orchestrator; it must not be cut short.
            fixed = fixed.replace(
                "(role: \"client\"),",
                "(role: \"client\"), (role: \"orchestrator\"),",
            );
        }
        assert_eq!(
            first_violation(&fixed, &path),
            None,
            "{path} with {off} must be safe"
        );
    }
}

#[test]
fn the_orchestrated_chaos_sweep_holds_and_settles() {
    assert_sweep_passes("scenarios/transactions/chaos.ron", 0..12);
}

#[test]
fn the_choreographed_chaos_sweep_holds_and_settles() {
    assert_sweep_passes("scenarios/transactions/chaos-choreography.ron", 0..12);
}

#[test]
fn a_bad_option_is_a_located_error() {
    let path = "scenarios/transactions/03-orchestration.ron";
    let text = distsim::bundled::get(path).unwrap();
    for (bad, says) in [
        ("stock: 10)", "error_rate: 1.0)"),
        ("stock: 10)", "max_attempts: 0)"),
    ] {
        let t = text.replace(bad, &format!("stock: 10, {says}"));
        let e = match registry::load(&t, path, &RunOptions::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{says} was accepted"),
        };
        assert!(e.starts_with(&format!("{path}:")), "{e}");
        let name = says.split(':').next().unwrap();
        assert!(e.contains(name), "{e}");
    }
}
