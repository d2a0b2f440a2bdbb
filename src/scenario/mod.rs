//! Scenario files (RON): what to run, on how many nodes, with which faults and load, and what
//! must hold at the end. See the README for an annotated example.
//!
//! Loading is two passes over the text: the first reads everything but the protocol's
//! `config` to learn the protocol's name; the second reads the whole file with that
//! protocol's config type, so a typo inside `config` is reported at its line and column too.
//! Semantic checks (unknown node names, events after the end, probabilities outside [0,1],
//! sizes over the limits below) give the same `file:line:col: message` errors.

mod check;
pub mod error;
mod writer;

pub use check::{Expectation, ExpectationResult, Stat, evaluate};
pub use error::ScenarioError;
pub use writer::scenario_to_ron;

use crate::sim::chaos::Chaos;
use crate::sim::client::{Target, Workload};
use crate::sim::control::Action;
use crate::sim::network::{Latency, LinkParams};
use crate::sim::series::MetricsSpec;
use crate::sim::service::ServiceModel;
use crate::sim::time::SimTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Limits on sizes, so absurd input is refused instead of exhausting the machine.
pub const MAX_NODES: usize = 100_000;
pub const MAX_DURATION: SimTime = SimTime::from_secs(24 * 3600);
pub const MAX_TIMELINE: usize = 100_000;
pub const MAX_CLIENTS: u32 = 10_000;
pub const MAX_KEYS: u32 = 1_000_000;
pub const MAX_ATTEMPTS: u32 = 100;

/// A scenario, generic over the protocol's configuration type.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario<C> {
    /// Short identifier (`raft-leader-crash`).
    pub name: String,
    /// Title shown in the app's scenario browser.
    pub title: String,
    /// What a class should watch for.
    #[serde(default)]
    pub description: String,
    /// Registry name of the protocol (`distsim list` shows them).
    pub protocol: String,
    /// The protocol's own options.
    #[serde(default)]
    pub config: C,
    pub nodes: Nodes,
    #[serde(default)]
    pub seed: u64,
    pub duration: SimTime,
    #[serde(default)]
    pub network: NetworkSpec,
    /// Scripted events: `("1.5s", Crash("n2"))`.
    #[serde(default)]
    pub timeline: Vec<(SimTime, Action)>,
    #[serde(default)]
    pub workload: Option<Workload>,
    /// Randomized faults drawn from the seed: a safety phase, then everything heals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<Chaos>,
    /// What must hold at the end: the scenario is also a test.
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// Sampling of the time series (`interval`, the clients' sliding `window`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSpec>,
    /// Series the app's Plots panel shows first: `["client.latency.p99", "db1.queue"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plots: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Nodes {
    /// `n` nodes named `n1..nN`, laid out on a circle.
    Count(usize),
    Named(Vec<NodeSpec>),
    /// Nodes by role, named after it: `[(role: "app", count: 2), (role: "db")]` gives
    /// `app1`, `app2`, `db1`.
    Roles(Vec<RoleGroup>),
}

/// `count` nodes of one role, with the role's service model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleGroup {
    pub role: String,
    #[serde(default = "one")]
    pub count: usize,
    /// Service time and queue of every node of this role (none: instant handlers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceModel>,
}

fn one() -> usize {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    /// Position in the app's topology view, in [-1,1] x [-1,1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<(f32, f32)>,
    /// Clock drift in parts per million (positive: this node's timers run slow).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drift_ppm: i64,
    /// The node's role, for protocols with roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Service time and queue of this node (none: instant handlers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceModel>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    #[serde(default)]
    pub latency: Latency,
    #[serde(default)]
    pub drop: f64,
    #[serde(default)]
    pub duplicate: f64,
    #[serde(default)]
    pub fifo: bool,
    /// Per-link overrides.
    #[serde(default)]
    pub links: Vec<LinkSpec>,
}

/// Parameters for the link between `a` and `b` (both directions unless `oneway`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub a: String,
    pub b: String,
    #[serde(default)]
    pub oneway: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fifo: Option<bool>,
}

impl NetworkSpec {
    pub fn defaults(&self) -> LinkParams {
        LinkParams {
            latency: self.latency.clone(),
            drop: self.drop,
            duplicate: self.duplicate,
            fifo: self.fifo,
        }
    }
}

impl<C> Scenario<C> {
    pub fn node_names(&self) -> Vec<String> {
        match &self.nodes {
            Nodes::Count(n) => (1..=*n).map(|i| format!("n{i}")).collect(),
            Nodes::Named(v) => v.iter().map(|s| s.name.clone()).collect(),
            Nodes::Roles(groups) => {
                let mut names = Vec::new();
                for (k, g) in groups.iter().enumerate() {
                    // Numbering continues across groups of the same role.
                    let before: usize = groups[..k]
                        .iter()
                        .filter(|h| h.role == g.role)
                        .map(|h| h.count)
                        .sum();
                    names.extend((1..=g.count).map(|i| format!("{}{}", g.role, before + i)));
                }
                names
            }
        }
    }
    pub fn node_count(&self) -> usize {
        match &self.nodes {
            Nodes::Count(n) => *n,
            Nodes::Named(v) => v.len(),
            Nodes::Roles(groups) => groups.iter().fold(0usize, |a, g| a.saturating_add(g.count)),
        }
    }
    /// Scenario positions, where given.
    pub fn positions(&self) -> Vec<Option<(f32, f32)>> {
        match &self.nodes {
            Nodes::Named(v) => v.iter().map(|s| s.pos).collect(),
            _ => vec![None; self.node_count()],
        }
    }
    pub fn drift(&self) -> Vec<i64> {
        match &self.nodes {
            Nodes::Named(v) => v.iter().map(|s| s.drift_ppm).collect(),
            _ => vec![0; self.node_count()],
        }
    }
    /// Each node's role, where given.
    pub fn node_roles(&self) -> Vec<Option<String>> {
        match &self.nodes {
            Nodes::Count(n) => vec![None; *n],
            Nodes::Named(v) => v.iter().map(|s| s.role.clone()).collect(),
            Nodes::Roles(groups) => groups
                .iter()
                .flat_map(|g| std::iter::repeat_n(Some(g.role.clone()), g.count))
                .collect(),
        }
    }
    /// Each node's service model, where given.
    pub fn services(&self) -> Vec<Option<ServiceModel>> {
        match &self.nodes {
            Nodes::Count(n) => vec![None; *n],
            Nodes::Named(v) => v.iter().map(|s| s.service.clone()).collect(),
            Nodes::Roles(groups) => groups
                .iter()
                .flat_map(|g| std::iter::repeat_n(g.service.clone(), g.count))
                .collect(),
        }
    }
}

/// RON options used for every scenario: `Some(..)` may be omitted around optional values.
pub fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

/// Parses the text as a scenario with config type `C`, with located errors.
pub fn parse<C: serde::de::DeserializeOwned + Default>(
    text: &str,
    file: &str,
) -> Result<Scenario<C>, ScenarioError> {
    ron_options().from_str::<Scenario<C>>(text).map_err(|e| {
        let mut err = ScenarioError::from_ron(file, &e);
        // An error right at the value of `nodes` (`nodes: 5`) is about its shape: say what it
        // is, instead of the parser's word for a number where a variant name was expected.
        let nodes = error::field_offset(text, "nodes", 0)
            .and_then(|k| error::value_start(text, k))
            .map(|v| error::line_col(text, v));
        if nodes == Some((err.line, err.col)) {
            err.message = "`nodes` expects `Count(5)` (nodes n1..n5), \
                           `Named([(name: \"a\"), (name: \"b\"), ...])` or \
                           `Roles([(role: \"app\", count: 2), ...])`"
                .into();
        }
        err
    })
}

/// Reads only what is needed to find the protocol (the config is skipped).
pub fn peek_protocol(
    text: &str,
    file: &str,
) -> Result<Scenario<serde::de::IgnoredAny>, ScenarioError> {
    parse::<serde::de::IgnoredAny>(text, file)
}

/// Semantic checks that do not depend on the protocol.
pub fn validate<C>(s: &Scenario<C>, text: &str, file: &str) -> Result<(), ScenarioError> {
    let at = |needle: &str, near: &str, msg: String| {
        ScenarioError::locate(file, text, near, needle, msg)
    };
    let n = s.node_count();
    if n == 0 || n > MAX_NODES {
        return Err(at(
            "nodes",
            "nodes",
            format!("expected between 1 and {MAX_NODES} nodes, got {n}"),
        ));
    }
    let names = s.node_names();
    // A sorted set, not a scan of the earlier names: 100,000 nodes are checked in milliseconds.
    let mut seen = BTreeSet::new();
    for name in &names {
        if name.is_empty() {
            return Err(at("name", "nodes", "node names must not be empty".into()));
        }
        if !seen.insert(name.as_str()) {
            // At the second use of the name.
            let quoted = format!("\"{name}\"");
            let offset = error::field_offset(text, "nodes", 0)
                .and_then(|k| text[k..].find(&quoted).map(|o| k + o + quoted.len()))
                .and_then(|first| text[first..].find(&quoted).map(|o| first + o))
                .unwrap_or(0);
            let (line, col) = error::line_col(text, offset);
            return Err(ScenarioError::new(
                file,
                line,
                col,
                format!("node name `{name}` is used twice"),
            ));
        }
    }
    if let Nodes::Named(specs) = &s.nodes {
        for spec in specs {
            // `unsigned_abs`: `abs()` of the smallest i64 overflows (and wrapped to negative).
            if spec.drift_ppm.unsigned_abs() > 500_000 {
                return Err(ScenarioError::locate_path(
                    file,
                    text,
                    &["nodes", &format!("\"{}\"", spec.name), "drift_ppm"],
                    format!(
                        "drift_ppm of `{}` must be within ±500000 (got {})",
                        spec.name, spec.drift_ppm
                    ),
                ));
            }
        }
    }
    if let Nodes::Roles(groups) = &s.nodes {
        for g in groups {
            if g.role.is_empty()
                || !g
                    .role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(at(
                    &format!("\"{}\"", g.role),
                    "nodes",
                    format!(
                        "a role name is letters, digits, `_` or `-`, got `{}`",
                        g.role
                    ),
                ));
            }
            if g.count == 0 {
                return Err(at(
                    "count",
                    &format!("\"{}\"", g.role),
                    format!("role `{}` needs a count of at least 1", g.role),
                ));
            }
        }
    }
    for (name, service) in names.iter().zip(s.services()) {
        if let Some(m) = service
            && let Err(e) = m.validate()
        {
            return Err(at(
                "service",
                "nodes",
                format!("service model of `{name}`: {e}"),
            ));
        }
    }
    if let Some(m) = &s.metrics {
        m.validate().map_err(|e| at("metrics", "metrics", e))?;
        if s.duration.0 / m.interval.0.max(1) > 10_000_000 {
            return Err(at(
                "interval",
                "metrics",
                format!(
                    "metrics `interval` {} is too fine for a {} scenario: at most 10,000,000 samples",
                    m.interval, s.duration
                ),
            ));
        }
    }
    if s.duration == SimTime::ZERO || s.duration > MAX_DURATION {
        return Err(at(
            "duration",
            "duration",
            format!(
                "expected a duration between 1us and {MAX_DURATION}, got {}",
                s.duration
            ),
        ));
    }
    let known = |name: &str, near: &str| -> Result<(), ScenarioError> {
        if seen.contains(name) {
            Ok(())
        } else {
            let list = if names.len() <= 12 {
                names.join(", ")
            } else {
                format!("{}, ... {}", names[..6].join(", "), names[names.len() - 1])
            };
            Err(at(
                &format!("\"{name}\""),
                near,
                format!("unknown node `{name}`: expected one of {list}"),
            ))
        }
    };
    let prob = |p: f64, what: &str, near: &str| -> Result<(), ScenarioError> {
        if (0.0..=1.0).contains(&p) {
            Ok(())
        } else {
            Err(at(
                what,
                near,
                format!("`{what}` is a probability: expected a number in [0, 1], got {p}"),
            ))
        }
    };
    let net = &s.network;
    prob(net.drop, "drop", "network")?;
    prob(net.duplicate, "duplicate", "network")?;
    net.latency
        .validate()
        .map_err(|m| at("latency", "network", m))?;
    for l in &net.links {
        known(&l.a, "links")?;
        known(&l.b, "links")?;
        if let Some(p) = l.drop {
            prob(p, "drop", "links")?;
        }
        if let Some(p) = l.duplicate {
            prob(p, "duplicate", "links")?;
        }
        if let Some(lat) = &l.latency {
            lat.validate().map_err(|m| at("latency", "links", m))?;
        }
    }
    if s.timeline.len() > MAX_TIMELINE {
        return Err(at(
            "timeline",
            "timeline",
            format!(
                "at most {MAX_TIMELINE} timeline events are allowed, got {}",
                s.timeline.len()
            ),
        ));
    }
    for (k, (t, action)) in s.timeline.iter().enumerate() {
        let entry = |msg: String| ScenarioError::at_element(file, text, "timeline", k, msg);
        let known = |name: &str| -> Result<(), ScenarioError> {
            known(name, "timeline").map_err(|e| entry(e.message))
        };
        if *t > s.duration {
            return Err(entry(format!(
                "event `{action}` at {t} is after the end of the scenario ({})",
                s.duration
            )));
        }
        for name in action.node_names() {
            known(name)?;
        }
        let prob = |p: f64, what: &str| prob(p, what, "timeline").map_err(|e| entry(e.message));
        match action {
            Action::Partition(groups) if groups.iter().any(|g| g.is_empty()) => {
                return Err(entry(
                    "a partition group must name at least one node".into(),
                ));
            }
            Action::SetLink { patch, .. } | Action::SetNetwork(patch) => {
                if let Some(p) = patch.drop {
                    prob(p, "drop")?;
                }
                if let Some(p) = patch.duplicate {
                    prob(p, "duplicate")?;
                }
                if let Some(l) = &patch.latency {
                    l.validate().map_err(entry)?;
                }
            }
            Action::SetDrift(_, ppm) if ppm.unsigned_abs() > 500_000 => {
                return Err(entry(format!(
                    "drift must be within ±500000 ppm, got {ppm}"
                )));
            }
            _ => {}
        }
    }
    if let Some(w) = &s.workload {
        validate_workload(w, &names, &at)?;
    }
    if let Some(c) = &s.chaos {
        if c.stop > s.duration || c.start > c.stop {
            return Err(at(
                "stop",
                "chaos",
                format!(
                    "chaos must satisfy start <= stop <= duration (start {}, stop {}, duration {})",
                    c.start, c.stop, s.duration
                ),
            ));
        }
        if c.every < SimTime::from_micros(10) {
            return Err(at(
                "every",
                "chaos",
                format!("chaos `every` must be at least 10us, got {}", c.every),
            ));
        }
        if c.groups < 2 || c.groups > n {
            return Err(at(
                "groups",
                "chaos",
                format!(
                    "chaos `groups` must be between 2 and the node count {n}, got {}",
                    c.groups
                ),
            ));
        }
        if !(0.0..=1.0).contains(&c.crash_after_send) {
            return Err(at(
                "crash_after_send",
                "chaos",
                format!(
                    "chaos `crash_after_send` is a probability in [0, 1], got {}",
                    c.crash_after_send
                ),
            ));
        }
        if c.restart_after == Some(SimTime::ZERO) {
            return Err(at(
                "restart_after",
                "chaos",
                "chaos `restart_after` must be positive".to_string(),
            ));
        }
        if c.max_down.is_some_and(|m| m >= n) {
            return Err(at(
                "max_down",
                "chaos",
                format!("max_down must be below the node count {n}"),
            ));
        }
    }
    for (k, e) in s.expect.iter().enumerate() {
        if let Expectation::Role { within, .. } = e
            && *within > s.duration
        {
            return Err(ScenarioError::at_element(
                file,
                text,
                "expect",
                k,
                format!(
                    "expectation deadline {within} is after the end of the scenario ({})",
                    s.duration
                ),
            ));
        }
    }
    Ok(())
}

fn validate_workload(
    w: &Workload,
    names: &[String],
    at: &dyn Fn(&str, &str, String) -> ScenarioError,
) -> Result<(), ScenarioError> {
    if w.clients > MAX_CLIENTS {
        return Err(at(
            "clients",
            "workload",
            format!("at most {MAX_CLIENTS} clients, got {}", w.clients),
        ));
    }
    w.keys
        .validate(MAX_KEYS)
        .map_err(|e| at("keys", "workload", e))?;
    if let Some(a) = &w.arrival {
        a.validate().map_err(|e| at("arrival", "workload", e))?;
    }
    if w.max_attempts == 0 || w.max_attempts > MAX_ATTEMPTS {
        return Err(at(
            "max_attempts",
            "workload",
            format!(
                "expected between 1 and {MAX_ATTEMPTS} attempts, got {}",
                w.max_attempts
            ),
        ));
    }
    if w.timeout == SimTime::ZERO {
        return Err(at(
            "timeout",
            "workload",
            "the client timeout must be positive".into(),
        ));
    }
    if w.interval == SimTime::ZERO {
        return Err(at(
            "interval",
            "workload",
            "the think time between operations must be positive".into(),
        ));
    }
    let m = &w.mix;
    if m.get + m.put + m.cas + m.request == 0 {
        return Err(at(
            "mix",
            "workload",
            "the operation mix needs at least one non-zero weight".into(),
        ));
    }
    if let Target::Role(role) = &w.target
        && role.is_empty()
    {
        return Err(at(
            "Role",
            "workload",
            "a workload `Role` target needs a role name".into(),
        ));
    }
    if let Target::Node(name) = &w.target
        && !names.iter().any(|n| n == name)
    {
        return Err(at(
            &format!("\"{name}\""),
            "workload",
            format!("unknown node `{name}` as workload target"),
        ));
    }
    Ok(())
}
