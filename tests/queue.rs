//! The `queue` protocol (RabbitMQ-like) end to end:
//! 1. every bundled messaging scenario of the queue meets its expectations, has captions and a
//!    "Level N:" title, and violates nothing unless it expects to;
//! 2. each bug scenario is caught with its switch on and safe with it off;
//! 3. seed sweeps of the chaos scenarios: the promise's checker holds on every event, and
//!    after the faults heal every confirmed message is processed (at-least-once) or nothing
//!    was processed twice (at-most-once), through the scenarios' own expectations;
//! 4. the chaos sweep with an at-least-once bug switch on is caught, by the promise's checker,
//!    on every seed tried.

use distsim::registry::{self, RunOptions};
use distsim::testing::assert_sweep_passes;

#[test]
fn every_bundled_queue_scenario_meets_its_expectations() {
    distsim::testing::assert_lesson_scenarios_pass("scenarios/messaging/", "queue", 10);
}

#[test]
fn each_bug_scenario_is_caught_with_its_switch_and_safe_without_it() {
    for (file, switch, checker) in [
        (
            "bug-confirm-before-persist",
            "bug_confirm_before_persist",
            "No Confirmed Message Lost",
        ),
        (
            "bug-delete-on-delivery",
            "bug_delete_on_delivery",
            "No Confirmed Message Lost",
        ),
        ("bug-retry-publish", "bug_retry_publish", "At Most Once"),
    ] {
        let path = format!("scenarios/messaging/{file}.ron");
        let text = distsim::bundled::get(&path).unwrap_or_else(|| panic!("{path} is bundled"));
        let on = format!("{switch}: true");
        assert!(text.contains(&on), "{path} turns {switch} on");
        let mut l = registry::load(text, &path, &RunOptions::default()).unwrap();
        l.sim.run_until(l.info.duration);
        assert_eq!(
            l.sim.violations().first().map(|v| v.invariant.as_str()),
            Some(checker),
            "{path}"
        );
        let fixed = text.replace(&on, &format!("{switch}: false"));
        let mut l = registry::load(&fixed, &path, &RunOptions::default()).unwrap();
        l.sim.run_until(l.info.duration);
        assert_eq!(
            l.sim.violations(),
            &[],
            "{path} with {switch} off must be safe"
        );
    }
}

#[test]
fn the_at_least_once_chaos_sweep_loses_nothing_confirmed_and_drains() {
    assert_sweep_passes("scenarios/messaging/chaos.ron", 0..20);
}

#[test]
fn the_at_most_once_chaos_sweep_never_processes_twice() {
    assert_sweep_passes("scenarios/messaging/chaos-at-most-once.ron", 0..20);
}

/// The same chaos with a bug switch on: the sweep must find violations of the promise, and
/// only of it. Seeds where the bug does no visible harm are possible, so it counts.
fn bug_sweep(switch: &str, checker: &str, seeds: std::ops::Range<u64>) -> usize {
    let path = "scenarios/messaging/chaos.ron";
    let text = distsim::bundled::get(path).unwrap().replace(
        "delivery: AtLeastOnce,",
        &format!("delivery: AtLeastOnce, {switch}: true,"),
    );
    let results = distsim::cli::sweep(&text, path, seeds, false).unwrap();
    let mut caught = 0;
    for r in &results {
        if let Some(v) = &r.violation {
            assert_eq!(v.invariant, checker, "seed {}: {v:?}", r.seed);
            caught += 1;
        }
    }
    caught
}

#[test]
fn the_chaos_sweep_catches_each_at_least_once_bug() {
    assert_eq!(
        bug_sweep("bug_delete_on_delivery", "No Confirmed Message Lost", 0..5),
        5
    );
    assert_eq!(
        bug_sweep(
            "bug_confirm_before_persist",
            "No Confirmed Message Lost",
            0..5
        ),
        5
    );
}
