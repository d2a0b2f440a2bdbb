//! Determinism and golden digests for every bundled scenario.
//!
//! Each scenario in `scenarios/` runs twice and must give the same digest; a different seed
//! must give a different one; and the digest must match `tests/golden/digests.txt`.
//! After a reviewed change of behaviour, regenerate with
//! `UPDATE_GOLDEN=1 cargo test --no-default-features --test golden` and review the diff.

use distsim::bundled::BUNDLED;
use distsim::registry::{self, RunOptions};
use std::collections::BTreeMap;

const GOLDEN: &str = "tests/golden/digests.txt";

fn digest(path: &str, text: &str, seed: Option<u64>) -> u64 {
    let opts = RunOptions {
        seed,
        ..Default::default()
    };
    let mut l = registry::load(text, path, &opts).unwrap_or_else(|e| panic!("{e}"));
    l.sim.run_until(l.info.duration);
    l.sim.trace().digest()
}

#[test]
fn every_bundled_scenario_is_deterministic_and_matches_its_golden_digest() {
    let mut now = BTreeMap::new();
    for (path, text) in BUNDLED {
        let a = digest(path, text, None);
        let b = digest(path, text, None);
        assert_eq!(a, b, "{path}: two runs with the same seed differ");
        let seed = registry::load(text, path, &RunOptions::default())
            .unwrap()
            .info
            .seed;
        let c = digest(path, text, Some(seed.wrapping_add(1)));
        assert_ne!(
            a,
            c,
            "{path}: seeds {seed} and {} give the same digest",
            seed.wrapping_add(1)
        );
        now.insert(path.to_string(), format!("{a:016x}"));
    }
    let rendered: String = now.iter().map(|(p, d)| format!("{d} {p}\n")).collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &rendered).expect("write golden digests");
        return;
    }
    let expected = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    let old: BTreeMap<&str, &str> = expected
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(d, p)| (p, d)))
        .collect();
    let mut diffs = Vec::new();
    for (p, d) in &now {
        match old.get(p.as_str()) {
            Some(o) if o == d => {}
            Some(o) => diffs.push(format!("{p}: golden {o}, now {d}")),
            None => diffs.push(format!("{p}: no golden digest (now {d})")),
        }
    }
    for p in old.keys() {
        if !now.contains_key(*p) {
            diffs.push(format!("{p}: in the golden file but no longer bundled"));
        }
    }
    assert!(
        diffs.is_empty(),
        "digests changed; if intended, rerun with UPDATE_GOLDEN=1 and review:\n{}",
        diffs.join("\n")
    );
}
