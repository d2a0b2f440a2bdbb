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
            } => match (at_least, at_most) {
                (Some(lo), Some(hi)) => write!(f, "{lo} <= {name} <= {hi}"),
                (Some(lo), None) => write!(f, "{name} >= {lo}"),
                (None, Some(hi)) => write!(f, "{name} <= {hi}"),
                (None, None) => write!(f, "{name} is counted"),
            },
            Expectation::ClientOk(n) => write!(f, "at least {n} client operations succeed"),
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
            };
            ExpectationResult {
                expectation: e.to_string(),
                passed,
                detail,
            }
        })
        .collect()
}
