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
