//! The `queue` protocol (RabbitMQ-like) end to end:
//! 1. every bundled messaging scenario of the queue meets its expectations, has captions and a
//!    "Level N:" title, and violates nothing unless it expects to;
//! 2. each bug scenario is caught with its switch on and safe with it off;
//! 3. seed sweeps of the chaos scenarios: the promise's checker holds on every event, and
//!    after the faults heal every confirmed message is processed (at-least-once) or nothing
//!    was processed twice (at-most-once), through the scenarios' own expectations;
//! 4. the chaos sweep with an at-least-once bug switch on is caught, by the promise's checker,
//!    on every seed tried;
//! 5. the same chaos through a topic exchange (three queues, one consumer each) and through a
//!    fanout exchange at most once: routing, and each copy's promise, hold on every event.

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
        ("bug-topic-hash", "bug_topic_hash", "Exchange Routing"),
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

/// The at-least-once chaos scenario with a topic exchange in front of three queues, one
/// consumer each, at a rate the busiest queue (audit, bound with `#`) can keep up with.
fn topic_chaos() -> String {
    distsim::bundled::get("scenarios/messaging/chaos.ron")
        .unwrap()
        .replace(
            "delivery: AtLeastOnce,",
            "delivery: AtLeastOnce, exchange: Topic, queues: [(name: \"eu\", bindings: [\"orders.*.eu\"]), \
             (name: \"all\", bindings: [\"orders.#\"]), (name: \"audit\", bindings: [\"#\"])], \
             routing_keys: [\"orders.new.eu\", \"orders.paid.us\", \"payments.eu\"],",
        )
        .replace("Poisson(rate: 50.0)", "Poisson(rate: 15.0)")
}

#[test]
fn the_chaos_sweep_through_a_topic_exchange_routes_right_and_loses_no_copy() {
    let text = topic_chaos();
    assert!(text.contains("exchange: Topic") && text.contains("rate: 15.0"));
    let results = distsim::cli::sweep(&text, "topic-chaos.ron", 0..10, false).unwrap();
    for r in &results {
        assert!(r.violation.is_none(), "seed {}: {:?}", r.seed, r.violation);
        assert!(
            r.expectations_failed.is_empty(),
            "seed {}: {:?}",
            r.seed,
            r.expectations_failed
        );
    }
    // The same chaos with `#` mis-matched: Exchange Routing catches it on every seed.
    let buggy = text.replace("exchange: Topic,", "exchange: Topic, bug_topic_hash: true,");
    for r in distsim::cli::sweep(&buggy, "topic-chaos.ron", 0..3, false).unwrap() {
        let v = r.violation.expect("caught");
        assert_eq!(v.invariant, "Exchange Routing", "seed {}", r.seed);
    }
}

#[test]
fn the_at_most_once_chaos_sweep_through_a_fanout_exchange_processes_each_copy_at_most_once() {
    let text = distsim::bundled::get("scenarios/messaging/chaos-at-most-once.ron")
        .unwrap()
        .replace(
            "delivery: AtMostOnce,",
            "delivery: AtMostOnce, exchange: Fanout, queues: [(name: \"a\"), (name: \"b\"), (name: \"c\")],",
        );
    assert!(text.contains("Fanout"));
    let results = distsim::cli::sweep(&text, "fanout-chaos.ron", 0..10, false).unwrap();
    for r in &results {
        assert!(r.violation.is_none(), "seed {}: {:?}", r.seed, r.violation);
        assert!(
            r.expectations_failed.is_empty(),
            "seed {}: {:?}",
            r.seed,
            r.expectations_failed
        );
    }
}
