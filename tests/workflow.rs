//! The `workflow` protocol end to end:
//! 1. every bundled workflow scenario meets its expectations, has captions and a "Level N:"
//!    title, and violates nothing unless it expects to;
//! 2. each bug scenario is caught with its switch on and safe with it off;
//! 3. a seed sweep of the chaos scenario (crashes, pauses, partitions, loss): the checkers
//!    hold on every event and, after the faults heal, no workflow is left running.

use distsim::registry::{self, RunOptions};
use distsim::testing::assert_sweep_passes;

#[test]
fn every_bundled_workflow_scenario_meets_its_expectations() {
    distsim::testing::assert_lesson_scenarios_pass("scenarios/workflows/", "workflow", 9);
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
            "bug-nondeterministic",
            "nondeterministic_workflow: true",
            "nondeterministic_workflow: false",
            "Replay Reproduces Decisions",
        ),
        (
            "bug-no-idempotency",
            "bug_no_idempotency: true",
            "bug_no_idempotency: false",
            "Effect Once Per Completion",
        ),
    ] {
        let path = format!("scenarios/workflows/{file}.ron");
        let text = distsim::bundled::get(&path).unwrap_or_else(|| panic!("{path} is bundled"));
        assert!(text.contains(on), "{path} has {on}");
        assert_eq!(
            first_violation(text, &path).as_deref(),
            Some(checker),
            "{path}"
        );
        let fixed = text.replace(on, off);
        assert_eq!(
            first_violation(&fixed, &path),
            None,
            "{path} with {off} must be safe"
        );
    }
}

#[test]
fn the_chaos_sweep_holds_and_every_workflow_ends() {
    let n: u64 = std::env::var("WORKFLOW_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    assert_sweep_passes("scenarios/workflows/chaos.ron", 0..n);
}

#[test]
fn a_bad_option_is_a_located_error() {
    let path = "scenarios/workflows/05-brew-fails.ron";
    let text = distsim::bundled::get(path).unwrap();
    for says in ["brew_failure: 1.5", "retry: (backoff_coefficient: 0.5)"] {
        let t = text.replace("brew_failure: 0.4", says);
        let e = match registry::load(&t, path, &RunOptions::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{says} was accepted"),
        };
        assert!(e.starts_with(&format!("{path}:")), "{e}");
        let name = says.split(':').next().unwrap();
        let name = if name == "retry" {
            "backoff_coefficient"
        } else {
            name
        };
        assert!(e.contains(name), "{e}");
    }
}
