//! The `log` protocol (Kafka-like) end to end:
//! 1. every bundled log scenario meets its expectations, has captions and a "Level N:" title,
//!    and violates nothing unless it expects to;
//! 2. each bug scenario is caught by its checker with its switch on, and safe with it off;
//! 3. a seed sweep of the chaos scenario: both checkers hold on every event and, after the
//!    faults heal, every partition is read to its end with no offset skipped;
//! 4. the chaos scenario with each bug switch on is caught on every seed tried;
//! 5. replication: the acks=1 leader crash loses acknowledged records (measured), the same
//!    crash under acks=all loses none; a seed sweep of the replicated chaos (acks=all) holds
//!    Acknowledged Records Kept and heals, and with `bug_ack_on_append` is caught every time.

use distsim::registry::{self, RunOptions};
use distsim::testing::assert_sweep_passes;

#[test]
fn every_bundled_log_scenario_meets_its_expectations() {
    distsim::testing::assert_lesson_scenarios_pass("scenarios/messaging/", "log", 14);
}

#[test]
fn each_bug_scenario_is_caught_with_its_switch_and_safe_without_it() {
    for (file, switch, checker) in [
        (
            "log-bug-commit-on-fetch",
            "bug_commit_on_fetch",
            "Committed Offsets Processed",
        ),
        (
            "log-bug-parallel-batches",
            "bug_parallel_batches",
            "Partition Order",
        ),
        (
            "log-replication-bug-ack-on-append",
            "bug_ack_on_append",
            "Acknowledged Records Kept",
        ),
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
fn the_chaos_sweep_holds_both_promises_and_reads_every_partition_to_its_end() {
    assert_sweep_passes("scenarios/messaging/log-chaos.ron", 0..15);
}

#[test]
fn the_chaos_sweep_catches_each_bug() {
    let path = "scenarios/messaging/log-chaos.ron";
    for (switch, checker) in [
        ("bug_commit_on_fetch", "Committed Offsets Processed"),
        ("bug_parallel_batches", "Partition Order"),
    ] {
        let text = distsim::bundled::get(path).unwrap().replace(
            "commit: AfterProcessing,",
            &format!("commit: AfterProcessing, {switch}: true,"),
        );
        let results = distsim::cli::sweep(&text, path, 0..5, false).unwrap();
        for r in &results {
            let v = r
                .violation
                .as_ref()
                .unwrap_or_else(|| panic!("seed {}: {switch} not caught", r.seed));
            assert_eq!(v.invariant, checker, "seed {}: {v:?}", r.seed);
        }
    }
}

/// The last value of a series in a finished run.
fn last(l: &registry::Loaded, name: &str) -> f64 {
    let series = &l.sim.metrics().series;
    let key = distsim::sim::series::SeriesKey::global(name);
    series
        .get(&key)
        .and_then(|v| v.iter().rev().find(|x| !x.is_nan()).copied())
        .unwrap_or_else(|| panic!("no series {name}"))
}

#[test]
fn acks_one_loses_acknowledged_records_on_a_leader_crash_and_acks_all_does_not() {
    let mut lost = Vec::new();
    for file in ["log-replication-acks-one", "log-replication-acks-all"] {
        let path = format!("scenarios/messaging/{file}.ron");
        let text = distsim::bundled::get(&path).unwrap();
        let mut l = registry::load(text, &path, &RunOptions::default()).unwrap();
        l.sim.run_until(l.info.duration);
        assert_eq!(l.sim.violations(), &[], "{path}");
        lost.push(last(&l, "lost"));
    }
    assert!(lost[0] >= 1.0, "acks=1 lost {}", lost[0]);
    assert_eq!(lost[1], 0.0, "acks=all lost {}", lost[1]);
}

#[test]
fn the_replicated_chaos_sweep_keeps_every_acknowledged_record_and_heals() {
    assert_sweep_passes("scenarios/messaging/log-replication-chaos.ron", 0..8);
}

#[test]
fn the_replicated_chaos_sweep_catches_ack_on_append() {
    let path = "scenarios/messaging/log-replication-chaos.ron";
    let text = distsim::bundled::get(path)
        .unwrap()
        .replace("acks: All,", "acks: All, bug_ack_on_append: true,");
    let results = distsim::cli::sweep(&text, path, 0..4, false).unwrap();
    for r in &results {
        let v = r
            .violation
            .as_ref()
            .unwrap_or_else(|| panic!("seed {}: bug_ack_on_append not caught", r.seed));
        assert_eq!(
            v.invariant, "Acknowledged Records Kept",
            "seed {}: {v:?}",
            r.seed
        );
    }
}
