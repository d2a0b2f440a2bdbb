//! The `stream` protocol (JetStream-like) end to end:
//! 1. every bundled stream scenario meets its expectations, has captions and a "Level N:"
//!    title, and violates nothing unless it expects to;
//! 2. the bug scenario is caught with its switch on and safe with it off;
//! 3. a 20-seed sweep of the chaos scenario: both checkers hold on every event, and after the
//!    faults heal every consumer has applied every sequence (the scenario's expectations);
//! 4. the chaos sweep with each bug switch on is caught, by its checker, on every seed tried.

use distsim::registry::{self, RunOptions};
use distsim::testing::assert_sweep_passes;

#[test]
fn every_bundled_stream_scenario_meets_its_expectations() {
    distsim::testing::assert_lesson_scenarios_pass("scenarios/messaging/", "stream", 4);
}

fn run(text: &str, path: &str) -> (Vec<String>, u64, u64) {
    let mut l =
        registry::load(text, path, &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    l.sim.run_until(l.info.duration);
    let m = l.sim.metrics();
    (
        l.sim
            .violations()
            .iter()
            .map(|v| v.invariant.clone())
            .collect(),
        m.counter("duplicates_suppressed"),
        m.counter("duplicates_stored"),
    )
}

#[test]
fn the_no_dedup_bug_is_caught_with_its_switch_and_safe_without_it() {
    let path = "scenarios/messaging/stream-bug-no-dedup.ron";
    let text = distsim::bundled::get(path).expect("bundled");
    assert!(text.contains("bug_no_dedup: true"));
    let (violations, suppressed, stored) = run(text, path);
    assert_eq!(
        violations.first().map(String::as_str),
        Some("Published Once")
    );
    assert_eq!(suppressed, 0, "the bug suppresses nothing");
    assert!(stored > 0);
    let fixed = text.replace("bug_no_dedup: true", "bug_no_dedup: false");
    let (violations, suppressed, stored) = run(&fixed, path);
    assert_eq!(
        violations,
        Vec::<String>::new(),
        "{path} with the switch off"
    );
    assert!(suppressed > 0, "the same retries are suppressed");
    assert_eq!(stored, 0);
}

#[test]
fn the_window_shorter_than_the_retry_horizon_stores_duplicates_and_a_longer_one_does_not() {
    let path = "scenarios/messaging/stream-window-expired.ron";
    let text = distsim::bundled::get(path).expect("bundled");
    let (violations, suppressed, stored) = run(text, path);
    assert!(violations.is_empty() && suppressed == 0 && stored >= 10);
    // 200 + 400 + 800 ms of retries fit in a 2 s window.
    let long = text.replace("duplicate_window: \"150ms\"", "duplicate_window: \"2s\"");
    assert_ne!(long, text);
    let (violations, suppressed, stored) = run(&long, path);
    assert!(violations.is_empty() && suppressed >= 10 && stored == 0);
}

#[test]
fn the_chaos_sweep_stores_once_and_applies_once() {
    assert_sweep_passes("scenarios/messaging/stream-chaos.ron", 0..20);
}

/// The chaos scenario with a bug switch on: every seed must violate the switch's checker,
/// and only it.
fn bug_sweep(switch: &str, checker: &str, seeds: std::ops::Range<u64>) -> usize {
    let path = "scenarios/messaging/stream-chaos.ron";
    let text = distsim::bundled::get(path)
        .unwrap()
        .replace("config: (", &format!("config: ({switch}: true, "));
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
fn the_chaos_sweep_catches_each_bug() {
    assert_eq!(bug_sweep("bug_no_dedup", "Published Once", 0..5), 5);
    assert_eq!(
        bug_sweep("bug_consumer_no_dedup", "Effectively Once", 0..5),
        5
    );
}
