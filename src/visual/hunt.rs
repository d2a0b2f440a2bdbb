//! "Find a counterexample" in the app: a seed sweep of the open scenario on a background
//! thread, seed after seed in order, stopping at the first seed that fails (a violation, a
//! missed expectation or a runaway) — the same judgement and the same runs as `distsim
//! check`, so the seed it finds is the first one `check` would report.
//!
//! One thread, so the window keeps the other core; the app polls [`Hunt::poll`] each frame
//! and draws [`Hunt::progress`] as a bar.

use crate::cli::{SeedResult, run_seed_unless};
use crate::sim::SimTime;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

/// Seeds a hunt tries unless told otherwise.
pub const DEFAULT_SEEDS: u64 = 1_000;

#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    /// The first failing seed, and where to open it: the violation's instant, or the end of
    /// the run when an expectation failed there.
    Failure {
        seed: u64,
        at: SimTime,
        what: String,
    },
    /// Every seed passed.
    Nothing {
        seeds: u64,
    },
    /// Cancelled after this many seeds passed.
    Cancelled {
        seeds: u64,
    },
    Error(String),
}

pub struct Hunt {
    seeds: Range<u64>,
    done: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// The sweep's thread (taken once it has ended).
    thread: Option<JoinHandle<Found>>,
}

impl Hunt {
    /// Starts sweeping `seeds` of the scenario `text` (named `file` in errors).
    pub fn start(text: &str, file: &str, seeds: Range<u64>, duration: SimTime) -> Hunt {
        let done = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (text, file) = (text.to_string(), file.to_string());
        let (d, s, range) = (done.clone(), stop.clone(), seeds.clone());
        let thread = std::thread::spawn(move || sweep(&text, &file, range, duration, &d, &s));
        Hunt {
            seeds,
            done,
            stop,
            thread: Some(thread),
        }
    }

    /// Seeds finished, and seeds in all.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.seeds.end - self.seeds.start,
        )
    }

    pub fn cancel(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The outcome once the sweep has ended (`None` while it runs, and after it was taken).
    pub fn poll(&mut self) -> Option<Found> {
        if !self.thread.as_ref()?.is_finished() {
            return None;
        }
        Some(join(self.thread.take()?))
    }

    /// Blocks until the sweep ends (tests and scripts).
    pub fn wait(mut self) -> Found {
        match self.thread.take() {
            Some(t) => join(t),
            None => Found::Error("the outcome was already taken".into()),
        }
    }
}

fn join(thread: JoinHandle<Found>) -> Found {
    thread
        .join()
        .unwrap_or_else(|_| Found::Error("the sweep stopped on a panic".into()))
}

fn sweep(
    text: &str,
    file: &str,
    seeds: Range<u64>,
    duration: SimTime,
    done: &AtomicU64,
    stop: &AtomicBool,
) -> Found {
    for seed in seeds {
        match run_seed_unless(text, file, seed, stop) {
            Err(e) => return Found::Error(e.to_string()),
            Ok(None) => {
                return Found::Cancelled {
                    seeds: done.load(Ordering::Relaxed),
                };
            }
            Ok(Some(r)) if r.failed() => return failure(&r, duration),
            Ok(Some(_)) => {
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Found::Nothing {
        seeds: done.load(Ordering::Relaxed),
    }
}

fn failure(r: &SeedResult, duration: SimTime) -> Found {
    let (at, what) = match (&r.violation, r.expectations_failed.first()) {
        (Some(v), _) => (v.at, format!("{} violated", v.invariant)),
        (None, Some(e)) => (duration, format!("expectation failed: {e}")),
        (None, None) => (duration, "stopped by the step limit".to_string()),
    };
    Found::Failure {
        seed: r.seed,
        at,
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled(path: &str) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn finds_the_first_seed_that_check_reports() {
        // A bug sweep: the hunt stops at the lowest failing seed, as `check` lists it first,
        // and opens it where `check`'s "watch it" command would.
        // The bug sweep expects the violation; as a user who does not know the bug would
        // write it, it expects none.
        let file = "scenarios/raft/sweeps/forget-vote.ron";
        let text = bundled(file).replace(
            r#"expect: [Violation("Election Safety")]"#,
            "expect: [NoViolation]",
        );
        assert!(text.contains("expect: [NoViolation]"));
        let expected = crate::cli::sweep(&text, file, 0..20, false)
            .unwrap()
            .into_iter()
            .find(|r| r.failed())
            .expect("the bug sweep fails within 20 seeds");
        let v = expected
            .violation
            .expect("forget-vote fails by a violation");
        let hunt = Hunt::start(&text, file, 0..20, SimTime::from_secs(60));
        match hunt.wait() {
            Found::Failure { seed, at, what } => {
                assert_eq!(seed, expected.seed);
                assert_eq!(at, v.at);
                assert!(what.contains(&v.invariant), "{what}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn a_missed_expectation_opens_at_the_end_of_the_run() {
        let r = SeedResult {
            seed: 7,
            digest: 0,
            violation: None,
            expectations_failed: vec!["Leader(by: 2s) (no leader)".into()],
            expectations_not_reached: vec![],
            step_limit_hit: false,
        };
        assert_eq!(
            failure(&r, SimTime::from_secs(9)),
            Found::Failure {
                seed: 7,
                at: SimTime::from_secs(9),
                what: "expectation failed: Leader(by: 2s) (no leader)".into()
            }
        );
    }

    #[test]
    fn a_clean_scenario_reports_every_seed_passed() {
        let file = "scenarios/raft/first-election.ron";
        let hunt = Hunt::start(&bundled(file), file, 0..3, SimTime::from_secs(10));
        assert_eq!(hunt.wait(), Found::Nothing { seeds: 3 });
    }

    #[test]
    fn cancelling_stops_before_the_end() {
        let file = "scenarios/raft/first-election.ron";
        let hunt = Hunt::start(&bundled(file), file, 0..1_000_000, SimTime::from_secs(10));
        hunt.cancel();
        match hunt.wait() {
            Found::Cancelled { seeds } => assert!(seeds < 1_000_000),
            other => panic!("expected a cancelled hunt, got {other:?}"),
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let hunt = Hunt::start("(name: ", "broken.ron", 0..3, SimTime::from_secs(1));
        match hunt.wait() {
            Found::Error(e) => assert!(e.contains("broken.ron"), "{e}"),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
