//! Expectations: what must hold at the end of a run, so that a scenario is also a test.

use crate::sim::dynsim::DynSim;
use crate::sim::metrics::ClientStats;
use crate::sim::time::SimTime;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expectation {
    /// No invariant is violated.
    NoViolation,
    /// This invariant *is* violated (bug-variant scenarios).
    Violation(String),
    /// Some node shows this role (`leader`) no later than `within`.
    Role { role: String, within: SimTime },
    /// A protocol counter (`commits`, `elections`) ends within bounds.
    Counter {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<u64>,
    },
    /// At least this many client operations succeeded.
    ClientOk(usize),
    /// Liveness after healing: at the end of the run (give it time after the chaos `stop`)
    /// the protocol's own condition holds — a leader or a decision, and every live node caught
    /// up with it (`Protocol::healed`; Raft, Paxos, Multi-Paxos and ZAB state one).
    Healed,
    /// A time series stays within bounds over a stretch of the run: its maximum (or mean)
    /// over the samples in `[from, to]` is at least `at_least` and at most `at_most`.
    /// `Series(name: "client.latency.p99", from: "20s", to: "30s", at_least: 500.0)`.
    Series {
        name: String,
        #[serde(default)]
        from: SimTime,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<SimTime>,
        #[serde(default)]
        stat: Stat,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<f64>,
    },
    /// Messages or requests were dropped for this reason (`"queue full"`, `"loss"`, ...)
    /// at least `at_least` times (and at most `at_most`).
    Dropped {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<u64>,
    },
}

/// Which statistic of a series an expectation bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stat {
    #[default]
    Max,
    Mean,
    Last,
}

fn bounds(
    f: &mut std::fmt::Formatter<'_>,
    what: &str,
    lo: Option<String>,
    hi: Option<String>,
) -> std::fmt::Result {
    match (lo, hi) {
        (Some(lo), Some(hi)) => write!(f, "{lo} <= {what} <= {hi}"),
        (Some(lo), None) => write!(f, "{what} >= {lo}"),
        (None, Some(hi)) => write!(f, "{what} <= {hi}"),
        (None, None) => write!(f, "{what} is counted"),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpectationResult {
    pub expectation: String,
    pub passed: bool,
    pub detail: String,
}

impl std::fmt::Display for Expectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expectation::NoViolation => write!(f, "no invariant violated"),
            Expectation::Violation(name) => write!(f, "`{name}` is violated"),
            Expectation::Role { role, within } => write!(f, "a {role} by {within}"),
            Expectation::Counter {
                name,
                at_least,
                at_most,
            } => bounds(
                f,
                name,
                at_least.map(|v| v.to_string()),
                at_most.map(|v| v.to_string()),
            ),
            Expectation::ClientOk(n) => write!(f, "at least {n} client operations succeed"),
            Expectation::Healed => {
                write!(f, "healed: a leader or decision, every live node caught up")
            }
            Expectation::Series {
                name,
                from,
                to,
                stat,
                at_least,
                at_most,
            } => {
                let span = match to {
                    Some(to) => format!("{from}..{to}"),
                    None => format!("{from}.."),
                };
                let what = format!("{stat:?} of {name} over {span}").to_lowercase();
                bounds(
                    f,
                    &what,
                    at_least.map(|v| v.to_string()),
                    at_most.map(|v| v.to_string()),
                )
            }
            Expectation::Dropped {
                reason,
                at_least,
                at_most,
            } => bounds(
                f,
                &format!("drops for `{reason}`"),
                at_least.map(|v| v.to_string()),
                at_most.map(|v| v.to_string()),
            ),
        }
    }
}

/// Evaluates each expectation against a finished run.
pub fn evaluate(expect: &[Expectation], sim: &dyn DynSim) -> Vec<ExpectationResult> {
    expect
        .iter()
        .map(|e| {
            let (passed, detail) = match e {
                Expectation::NoViolation => match sim.violations().first() {
                    None => (true, "none".to_string()),
                    Some(v) => (
                        false,
                        format!("{} at {}: {}", v.invariant, v.at, v.explanation),
                    ),
                },
                Expectation::Violation(name) => {
                    match sim.violations().iter().find(|v| &v.invariant == name) {
                        Some(v) => (true, format!("at {}: {}", v.at, v.explanation)),
                        None => (false, "not violated".to_string()),
                    }
                }
                Expectation::Role { role, within } => match sim.role_first_seen().get(role) {
                    Some(t) if t <= within => (true, format!("first at {t}")),
                    Some(t) => (false, format!("first at {t}, later than {within}")),
                    None => (false, format!("never seen (until {})", sim.now())),
                },
                Expectation::Counter {
                    name,
                    at_least,
                    at_most,
                } => {
                    let v = sim.metrics().counter(name);
                    let ok = at_least.is_none_or(|lo| v >= lo) && at_most.is_none_or(|hi| v <= hi);
                    (ok, format!("{name} = {v}"))
                }
                Expectation::ClientOk(n) => {
                    let ok = ClientStats::of(sim.history()).ok;
                    (ok >= *n, format!("{ok} succeeded"))
                }
                Expectation::Healed => match sim.healed() {
                    None => (
                        false,
                        format!("{} states no liveness condition", sim.protocol()),
                    ),
                    Some(Ok(())) => (true, format!("converged by {}", sim.now())),
                    Some(Err(e)) => (false, format!("not converged at {}: {e}", sim.now())),
                },
                Expectation::Series {
                    name,
                    from,
                    to,
                    stat,
                    at_least,
                    at_most,
                } => series_result(
                    sim,
                    name,
                    *from,
                    to.unwrap_or(sim.now()),
                    *stat,
                    *at_least,
                    *at_most,
                ),
                Expectation::Dropped {
                    reason,
                    at_least,
                    at_most,
                } => {
                    let n: u64 = sim
                        .metrics()
                        .dropped_by_reason
                        .iter()
                        .filter(|(r, _)| r.as_str() == reason)
                        .map(|(_, n)| *n)
                        .sum();
                    let ok = at_least.is_none_or(|lo| n >= lo) && at_most.is_none_or(|hi| n <= hi);
                    (ok, format!("{n} dropped for `{reason}`"))
                }
            };
            ExpectationResult {
                expectation: e.to_string(),
                passed,
                detail,
            }
        })
        .collect()
}

/// Checks a series expectation: every series the name designates (one per node for a per-node
/// name given without a node) must satisfy the bounds.
fn series_result(
    sim: &dyn DynSim,
    name: &str,
    from: SimTime,
    to: SimTime,
    stat: Stat,
    at_least: Option<f64>,
    at_most: Option<f64>,
) -> (bool, String) {
    let series = &sim.metrics().series;
    let keys = series.find(name, sim.names());
    if keys.is_empty() {
        return (false, format!("no series `{name}` was recorded"));
    }
    let mut details = Vec::new();
    let mut ok = true;
    for k in keys {
        let label = k.label(sim.names());
        match series.summary_between(k, from, to) {
            None => {
                ok = false;
                details.push(format!("{label}: no samples between {from} and {to}"));
            }
            Some(sum) => {
                let v = match stat {
                    Stat::Max => sum.max,
                    Stat::Mean => sum.mean,
                    Stat::Last => sum.last,
                };
                ok &= at_least.is_none_or(|lo| v >= lo) && at_most.is_none_or(|hi| v <= hi);
                details.push(format!(
                    "{label} {} = {v:.3}",
                    format!("{stat:?}").to_lowercase()
                ));
            }
        }
    }
    (ok, details.join(", "))
}
