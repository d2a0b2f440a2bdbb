//! Minimal counterexamples (`distsim check FILE --seeds A..B --minimize`): the faults of a
//! violating run, chaos's random ones and the scripted ones, are written down as an explicit
//! timeline; then delta debugging (Zeller and Hildebrandt's *ddmin*) removes faults while the
//! same invariant is still violated, the workload is dropped if the violation does not need
//! it, and the run is cut at the violation. The result is 1-minimal: without any one of the
//! faults left, the violation is gone. It is written as a scenario whose captions name each
//! remaining fault and which expects the violation, so it is also a regression test.
//!
//! Chaos draws its faults from its own random stream, so turning chaos off and scripting the
//! same faults at the same instants leaves every other random choice (latencies, losses,
//! clients) as it was: the violation comes back, and each removal is a clean experiment.

use crate::registry::{self, Rewrite, RunOptions};
use crate::scenario::ScenarioError;
use crate::sim::trace::{EventKind, TraceLevel};
use crate::sim::{Action, SimTime};

type Timeline = Vec<(SimTime, Action)>;

/// Runs a candidate may cost at most (each is one simulation up to the violation).
pub const MAX_TESTS: usize = 2_000;

/// What minimizing found (serialized in `check --format json` as `minimized`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Minimized {
    pub seed: u64,
    pub invariant: String,
    /// The scenario that shows the violation with the fewest faults.
    #[serde(skip)]
    pub scenario: String,
    pub faults_before: usize,
    pub faults_after: usize,
    pub events_before: u64,
    pub events_after: u64,
    pub duration_before: SimTime,
    pub duration_after: SimTime,
    pub workload_kept: bool,
    /// How long each candidate ran: one that violates later does not count.
    #[serde(skip)]
    pub horizon: SimTime,
    /// Simulations run.
    #[serde(rename = "runs")]
    pub tests: usize,
}

/// One run up to its first violation: (invariant, time, events), or `None` if it held.
fn first_violation(
    text: &str,
    file: &str,
    seed: u64,
) -> Result<Option<(String, SimTime, u64)>, ScenarioError> {
    let opts = RunOptions {
        seed: Some(seed),
        trace_level: TraceLevel::Off,
        stop_on_violation: true,
        ..Default::default()
    };
    let mut l = registry::load(text, file, &opts)?;
    l.sim.run_until(l.info.duration);
    Ok(l.sim
        .violations()
        .first()
        .map(|v| (v.invariant.clone(), v.at, l.sim.trace().len())))
}

/// The faults that happened up to the violation, as timeline actions, and the scripted
/// actions that are not faults (captions, client requests, fired timers), kept as they are.
fn faults_of(
    text: &str,
    file: &str,
    seed: u64,
    until: SimTime,
) -> Result<(Timeline, Timeline), ScenarioError> {
    let opts = RunOptions {
        seed: Some(seed),
        stop_on_violation: true,
        ..Default::default()
    };
    let mut l = registry::load(text, file, &opts)?;
    l.sim.run_until(until);
    let names = &l.info.names;
    let faults = l
        .sim
        .trace()
        .events()
        .iter()
        .filter_map(|e| {
            let node = || names[e.node.unwrap_or(0)].clone();
            let a = match &e.kind {
                EventKind::Crash => Action::Crash(node()),
                EventKind::Restart => Action::Restart(node()),
                EventKind::Pause => Action::Pause(node()),
                EventKind::Resume => Action::Resume(node()),
                EventKind::Network { action } => (**action).clone(),
                _ => return None,
            };
            Some((e.time, a))
        })
        .collect();
    let kept = l
        .info
        .timeline
        .iter()
        .filter(|(_, a)| !is_fault(a))
        .cloned()
        .collect();
    Ok((faults, kept))
}

fn is_fault(a: &Action) -> bool {
    !matches!(
        a,
        Action::ClientRequest { .. }
            | Action::Caption(_)
            | Action::PausePoint(_)
            | Action::FireTimer(_)
    )
}

/// Shrinks the first violation of `seed`. `Ok(None)`: the seed does not violate anything.
pub fn minimize(text: &str, file: &str, seed: u64) -> Result<Option<Minimized>, String> {
    let err = |e: ScenarioError| e.to_string();
    let Some((invariant, at, events_before)) = first_violation(text, file, seed).map_err(err)?
    else {
        return Ok(None);
    };
    let duration_before = registry::load(text, file, &RunOptions::default())
        .map_err(err)?
        .info
        .duration;
    let (faults, kept) = faults_of(text, file, seed, at).map_err(err)?;
    let mut tests = 0usize;
    let mut shape = Rewrite {
        seed,
        duration: horizon(at, duration_before),
        timeline: Vec::new(),
        workload: true,
        expect_violation: Some(invariant.clone()),
        captions: Vec::new(),
    };
    let mut still_violates = |shape: &Rewrite, faults: &[(SimTime, Action)]| -> bool {
        tests += 1;
        if tests > MAX_TESTS {
            return false;
        }
        let mut s = shape.clone();
        s.timeline = merged(&kept, faults);
        let Ok(t) = registry::rewrite(text, file, &s) else {
            return false;
        };
        matches!(first_violation(&t, file, seed), Ok(Some((i, _, _))) if i == invariant)
    };
    if !still_violates(&shape, &faults) {
        return Err(format!(
            "seed {seed}: scripting its {} faults at the same instants does not bring the \
             {invariant} violation back, so it cannot be minimized",
            faults.len()
        ));
    }
    let mut without_clients = shape.clone();
    without_clients.workload = false;
    if still_violates(&without_clients, &faults) {
        shape = without_clients;
    }
    let small = ddmin(faults.clone(), |c| still_violates(&shape, c));
    let workload_kept = shape.workload;
    let horizon = shape.duration;
    let (scenario, duration_after, events_after) =
        finish(text, file, shape, &kept, small, &invariant)?;
    Ok(Some(Minimized {
        seed,
        faults_after: count_faults(&scenario, file),
        invariant,
        scenario,
        faults_before: faults.len(),
        events_before,
        events_after,
        duration_before,
        duration_after,
        workload_kept,
        horizon,
        tests,
    }))
}

/// How long a candidate runs: twice as long as the original took to fail (at least a second
/// more), within the scenario's duration. A candidate that fails later does not count.
pub fn horizon(violation: SimTime, duration: SimTime) -> SimTime {
    let twice = violation.0.saturating_mul(2).max(violation.0 + 1_000_000);
    SimTime(twice.min(duration.0))
}

fn count_faults(scenario: &str, file: &str) -> usize {
    registry::load(scenario, file, &RunOptions::default())
        .map(|l| l.info.timeline.iter().filter(|(_, a)| is_fault(a)).count())
        .unwrap_or(0)
}

/// Cuts the run at the violation (faults after it go), adds a caption per fault, and checks
/// the result.
fn finish(
    text: &str,
    file: &str,
    mut shape: Rewrite,
    kept: &[(SimTime, Action)],
    mut faults: Vec<(SimTime, Action)>,
    invariant: &str,
) -> Result<(String, SimTime, u64), String> {
    let e = |e: ScenarioError| e.to_string();
    shape.timeline = merged(kept, &faults);
    let full = registry::rewrite(text, file, &shape).map_err(e)?;
    let Some((_, at, _)) = first_violation(&full, file, shape.seed).map_err(e)? else {
        return Err("the minimized scenario no longer violates the invariant".into());
    };
    faults.retain(|(t, _)| *t <= at);
    let total = faults.len();
    shape.captions = faults
        .iter()
        .enumerate()
        .map(|(k, (t, a))| {
            let text = format!(
                "Fault {} of {total}: {a}. Without it, {invariant} is not violated.",
                k + 1
            );
            (*t, text)
        })
        .collect();
    shape.timeline = merged(kept, &faults);
    shape.timeline.retain(|(t, _)| *t <= at);
    shape.duration = at;
    let cut = registry::rewrite(text, file, &shape).map_err(e)?;
    match first_violation(&cut, file, shape.seed).map_err(e)? {
        Some((i, at, events)) if i == invariant => Ok((cut, at, events)),
        _ => Err(format!(
            "cut at the violation ({at}), the scenario no longer violates {invariant}"
        )),
    }
}

fn merged(a: &[(SimTime, Action)], b: &[(SimTime, Action)]) -> Vec<(SimTime, Action)> {
    let mut v: Vec<(SimTime, Action)> = a.iter().chain(b).cloned().collect();
    v.sort_by_key(|(t, _)| *t);
    v
}

/// Delta debugging after Zeller and Hildebrandt's ddmin, in the order that suits a chaotic
/// run (where removing a fault changes everything after it): first chunks of halving size
/// are removed where the property survives it (halves, quarters, ... down to two), then single
/// items, last to first, in passes until a whole pass removes nothing. The result is
/// 1-minimal: `test` fails without any one of its items (unless `test` gave up on a budget).
/// Order is kept.
pub fn ddmin<T: Clone>(items: Vec<T>, mut test: impl FnMut(&[T]) -> bool) -> Vec<T> {
    if test(&[]) {
        return Vec::new();
    }
    let mut c = items;
    let without = |c: &[T], s: usize, e: usize| {
        let mut v = c[..s].to_vec();
        v.extend_from_slice(&c[e..]);
        v
    };
    let mut size = c.len() / 2;
    while size >= 2 {
        let mut end = c.len();
        while end > 0 {
            let start = end.saturating_sub(size);
            let v = without(&c, start, end);
            if test(&v) {
                c = v;
            }
            end = start;
        }
        size /= 2;
    }
    loop {
        let before = c.len();
        let mut k = c.len();
        while k > 0 {
            k -= 1;
            let v = without(&c, k, k + 1);
            if test(&v) {
                c = v;
            }
        }
        if c.len() == before {
            return c;
        }
    }
}

#[cfg(test)]
mod tests;
