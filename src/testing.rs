//! Assertions shared by the protocol test suites: a failure always names the scenario, the
//! seed and the command that reproduces it.

use crate::bundled::BUNDLED;
use crate::cli::{SeedResult, run_seed, sweep};
use crate::registry::{self, RunOptions};

/// Runs every bundled scenario whose path `select`s at its own seed and asserts that its
/// expectations hold. Returns how many scenarios ran.
pub fn assert_bundled_scenarios_pass(select: impl Fn(&str) -> bool) -> usize {
    let mut n = 0;
    for (path, text) in BUNDLED.iter().filter(|(p, _)| select(p)) {
        let seed = registry::load(text, path, &RunOptions::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .info
            .seed;
        let r = run_seed(text, path, seed).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            r.expectations_failed.is_empty(),
            "{path}: {:?}\nreproduce: distsim run {path}",
            r.expectations_failed
        );
        n += 1;
    }
    n
}

/// Sweeps the seeds of a bundled scenario and asserts that no seed violates an invariant,
/// misses an expectation or hits the step limit.
pub fn assert_sweep_passes(path: &str, seeds: std::ops::Range<u64>) -> Vec<SeedResult> {
    let text = crate::bundled::get(path).unwrap_or_else(|| panic!("{path} is not bundled"));
    let results = sweep(text, path, seeds, false).unwrap_or_else(|e| panic!("{e}"));
    for r in &results {
        assert!(
            r.violation.is_none() && r.expectations_failed.is_empty() && !r.step_limit_hit,
            "seed {} failed: {:?} {:?}{}\nreproduce: distsim run {path} --seed {}",
            r.seed,
            r.violation,
            r.expectations_failed,
            if r.step_limit_hit {
                " (step limit)"
            } else {
                ""
            },
            r.seed
        );
    }
    results
}

/// Runs every bundled scenario under `folder` that names `protocol` (at least `min` of them)
/// and asserts what a lesson set promises: a "Level N:" title, a description and captions;
/// every expectation met; no violation unless one is expected. Returns how many ran.
pub fn assert_lesson_scenarios_pass(folder: &str, protocol: &str, min: usize) -> usize {
    let named = format!("protocol: \"{protocol}\"");
    let all: Vec<_> = BUNDLED
        .iter()
        .filter(|(p, t)| p.starts_with(folder) && t.contains(&named))
        .collect();
    assert!(
        all.len() >= min,
        "expected the lesson set, found {}",
        all.len()
    );
    for (path, text) in &all {
        let mut l =
            registry::load(text, path, &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let info = &l.info;
        assert!(info.title.starts_with("Level "), "{path}: {}", info.title);
        assert!(!info.description.is_empty(), "{path}");
        assert!(
            info.timeline
                .iter()
                .any(|(_, a)| matches!(a, crate::sim::Action::Caption(_))),
            "{path}: no captions"
        );
        l.sim.run_until(l.info.duration);
        let failed: Vec<String> = crate::scenario::evaluate(&l.info.expect, l.sim.as_ref())
            .iter()
            .filter(|r| !r.passed)
            .map(|r| format!("{} ({})", r.expectation, r.detail))
            .collect();
        assert!(
            failed.is_empty(),
            "{path}: {failed:?}\n  reproduce: distsim run {path}"
        );
        let expects_violation = l
            .info
            .expect
            .iter()
            .any(|e| matches!(e, crate::scenario::Expectation::Violation(_)));
        assert!(
            expects_violation || l.sim.violations().is_empty(),
            "{path}: {:?}\n  reproduce: distsim run {path}",
            l.sim.violations()
        );
    }
    all.len()
}
