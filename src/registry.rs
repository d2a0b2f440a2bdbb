//! From scenario text to a running simulation, through the protocol registry.

use crate::protocols::PROTOCOLS;
use crate::scenario::{self, Expectation, Scenario, ScenarioError};
use crate::sim::Protocol;
use crate::sim::control::Action;
use crate::sim::dynsim::DynSim;
use crate::sim::engine::{Sim, SimSetup};
use crate::sim::roles::{RoleError, RoleTable, check_roles};
use crate::sim::time::SimTime;
use crate::sim::trace::TraceLevel;

/// How to run a loaded scenario (command-line overrides).
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub seed: Option<u64>,
    pub trace_level: TraceLevel,
    pub trace_cap: Option<usize>,
    /// Actions appended to the timeline (a recorded session being replayed).
    pub extra: Vec<(SimTime, Action)>,
    pub stop_on_violation: bool,
    pub max_steps: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            seed: None,
            trace_level: TraceLevel::Full,
            trace_cap: None,
            extra: Vec::new(),
            stop_on_violation: false,
            max_steps: 50_000_000,
        }
    }
}

/// What the app and the CLI need to know about a scenario besides the running simulation.
#[derive(Clone, Debug)]
pub struct ScenarioInfo {
    pub file: String,
    pub text: String,
    pub name: String,
    pub title: String,
    pub description: String,
    pub protocol: &'static str,
    pub names: Vec<String>,
    pub positions: Vec<Option<(f32, f32)>>,
    /// The seed this run uses (the file's, unless overridden).
    pub seed: u64,
    pub duration: SimTime,
    pub timeline: Vec<(SimTime, Action)>,
    pub expect: Vec<Expectation>,
    /// Which node plays which role (one implicit role for protocols without roles).
    pub roles: RoleTable,
    /// Each node's service model (the app draws its queue).
    pub services: Vec<Option<crate::sim::service::ServiceModel>>,
    /// Series the Plots panel shows first.
    pub plots: Vec<String>,
}

pub struct Loaded {
    pub info: ScenarioInfo,
    pub sim: Box<dyn DynSim>,
}

/// Re-reads a scenario and writes it back with a seed and extra timeline actions.
type SaveFn = fn(&str, &str, u64, &[(SimTime, Action)]) -> Result<String, ScenarioError>;

/// How [`rewrite`] changes a scenario (the minimizer's candidates).
#[derive(Clone, Debug)]
pub struct Rewrite {
    pub seed: u64,
    pub duration: SimTime,
    /// The whole timeline (it replaces the file's); chaos is turned off.
    pub timeline: Vec<(SimTime, Action)>,
    /// Keep the scenario's workload.
    pub workload: bool,
    /// Expect exactly this violation instead of the file's expectations.
    pub expect_violation: Option<String>,
    /// Captions added to the timeline (each just before the actions of its instant).
    pub captions: Vec<(SimTime, String)>,
}

type RewriteFn = fn(&str, &str, &Rewrite) -> Result<String, ScenarioError>;

/// One registry line: a protocol's name and how to build and save its scenarios.
pub struct ProtocolEntry {
    pub name: &'static str,
    pub summary: &'static str,
    pub message_kinds: &'static [&'static str],
    load: fn(&str, &str, &RunOptions) -> Result<Loaded, ScenarioError>,
    save: SaveFn,
    rewrite: RewriteFn,
}

pub const fn entry<P: Protocol>() -> ProtocolEntry {
    ProtocolEntry {
        name: P::NAME,
        summary: P::SUMMARY,
        message_kinds: P::MESSAGE_KINDS,
        load: load_as::<P>,
        save: save_as::<P>,
        rewrite: rewrite_as::<P>,
    }
}

/// Finds a protocol by name.
pub fn protocol(name: &str) -> Option<&'static ProtocolEntry> {
    PROTOCOLS.iter().find(|p| p.name == name)
}

fn find_entry(text: &str, file: &str) -> Result<&'static ProtocolEntry, ScenarioError> {
    let head = scenario::peek_protocol(text, file)?;
    protocol(&head.protocol).ok_or_else(|| {
        let known: Vec<&str> = PROTOCOLS.iter().map(|p| p.name).collect();
        ScenarioError::locate(
            file,
            text,
            "protocol",
            &format!("\"{}\"", head.protocol),
            format!(
                "unknown protocol `{}`: expected one of {}",
                head.protocol,
                known.join(", ")
            ),
        )
    })
}

/// Parses, validates and builds a scenario.
pub fn load(text: &str, file: &str, opts: &RunOptions) -> Result<Loaded, ScenarioError> {
    (find_entry(text, file)?.load)(text, file, opts)
}

/// Reads and loads a scenario file; a missing file is an error naming it.
pub fn load_file(path: &str, opts: &RunOptions) -> Result<Loaded, ScenarioError> {
    let text = read_scenario(path)?;
    load(&text, path, opts)
}

pub fn read_scenario(path: &str) -> Result<String, ScenarioError> {
    const MAX_BYTES: u64 = 16 << 20;
    let meta = std::fs::metadata(path)
        .map_err(|e| ScenarioError::new(path, 0, 0, format!("cannot read: {e}")))?;
    if meta.len() > MAX_BYTES {
        return Err(ScenarioError::new(
            path,
            0,
            0,
            format!(
                "file is {} bytes; scenarios are limited to {MAX_BYTES}",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| ScenarioError::new(path, 0, 0, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let prefix = std::str::from_utf8(&e.as_bytes()[..valid]).expect("valid up to here");
        let (line, col) = scenario::error::line_col(prefix, valid);
        ScenarioError::new(
            path,
            line,
            col,
            format!(
                "invalid UTF-8 at byte {valid} (0x{:02x}): scenarios are UTF-8 text",
                e.as_bytes()[valid]
            ),
        )
    })
}

/// The scenario with `extra` actions appended to its timeline (and `seed`), as RON text that
/// replays the session exactly.
pub fn save(
    text: &str,
    file: &str,
    seed: u64,
    extra: &[(SimTime, Action)],
) -> Result<String, ScenarioError> {
    (find_entry(text, file)?.save)(text, file, seed, extra)
}

/// Re-reads a scenario and writes it back changed as `r` says, without chaos.
pub fn rewrite(text: &str, file: &str, r: &Rewrite) -> Result<String, ScenarioError> {
    (find_entry(text, file)?.rewrite)(text, file, r)
}

fn parse_checked<P: Protocol>(
    text: &str,
    file: &str,
) -> Result<Scenario<P::Config>, ScenarioError> {
    let s: Scenario<P::Config> = scenario::parse(text, file)?;
    scenario::validate(&s, text, file)?;
    check_roles(P::NAME, P::ROLES, &s.node_roles()).map_err(|e| {
        let (near, needle) = match &e {
            RoleError::Unknown { role, .. } => ("nodes", format!("\"{role}\"")),
            RoleError::Missing { .. } | RoleError::Count { .. } => ("nodes", "nodes".to_string()),
        };
        ScenarioError::locate(file, text, near, &needle, e.message().to_string())
    })?;
    P::validate_config(&s.config, s.node_count()).map_err(|m| {
        ScenarioError::at_config(file, text, &m, format!("invalid {} config: {m}", P::NAME))
    })?;
    Ok(s)
}

fn load_as<P: Protocol>(
    text: &str,
    file: &str,
    opts: &RunOptions,
) -> Result<Loaded, ScenarioError> {
    let s = parse_checked::<P>(text, file)?;
    let names = s.node_names();
    let id = |n: &str| names.iter().position(|x| x == n).expect("validated");
    let mut links = Vec::new();
    for l in &s.network.links {
        let (a, b) = (id(&l.a), id(&l.b));
        let dirs: &[(usize, usize)] = if l.oneway {
            &[(a, b)][..]
        } else {
            &[(a, b), (b, a)][..]
        };
        for &(x, y) in dirs {
            let mut p = s.network.defaults();
            if let Some(lat) = &l.latency {
                p.latency = lat.clone();
            }
            if let Some(d) = l.drop {
                p.drop = d;
            }
            if let Some(d) = l.duplicate {
                p.duplicate = d;
            }
            if let Some(f) = l.fifo {
                p.fifo = f;
            }
            links.push((x, y, p));
        }
    }
    for (t, a) in &opts.extra {
        for n in a.node_names() {
            if !names.iter().any(|x| x == n) {
                return Err(ScenarioError::new(
                    file,
                    0,
                    0,
                    format!("recorded action `{a}` at {t} names unknown node `{n}`"),
                ));
            }
        }
    }
    let mut timeline = s.timeline.clone();
    timeline.extend(opts.extra.iter().cloned());
    // Stable: scripted actions at one instant keep their file order, recorded ones come after.
    timeline.sort_by_key(|(t, _)| *t);
    let seed = opts.seed.unwrap_or(s.seed);
    let roles = if P::ROLES.is_empty() {
        RoleTable::implicit(names.len())
    } else {
        let order: Vec<&str> = P::ROLES.iter().map(|r| r.name).collect();
        let of_node: Vec<String> = s
            .node_roles()
            .into_iter()
            .map(|r| r.unwrap_or_default())
            .collect();
        RoleTable::new(&order, &of_node)
    };
    let service = s.services();
    let setup = SimSetup {
        config: s.config.clone(),
        names: names.clone(),
        seed,
        duration: s.duration,
        network: s.network.defaults(),
        links,
        drift_ppm: s.drift(),
        timeline: timeline.clone(),
        workload: s.workload.clone(),
        chaos: s.chaos.clone(),
        trace_level: opts.trace_level,
        trace_cap: opts.trace_cap,
        max_steps: opts.max_steps,
        stop_on_violation: opts.stop_on_violation,
        roles: roles.clone(),
        service: service.clone(),
        metrics: s.metrics.clone().unwrap_or_default(),
    };
    let info = ScenarioInfo {
        file: file.to_string(),
        text: text.to_string(),
        name: s.name.clone(),
        title: s.title.clone(),
        description: s.description.clone(),
        protocol: P::NAME,
        names,
        positions: s.positions(),
        seed,
        duration: s.duration,
        timeline,
        expect: s.expect.clone(),
        roles,
        services: service,
        plots: s.plots.clone(),
    };
    Ok(Loaded {
        info,
        sim: Box::new(Sim::<P>::new(setup)),
    })
}

fn save_as<P: Protocol>(
    text: &str,
    file: &str,
    seed: u64,
    extra: &[(SimTime, Action)],
) -> Result<String, ScenarioError> {
    let mut s = parse_checked::<P>(text, file)?;
    s.seed = seed;
    s.timeline.extend(extra.iter().cloned());
    s.timeline.sort_by_key(|(t, _)| *t);
    scenario::scenario_to_ron(&s)
        .map_err(|e| ScenarioError::new(file, 0, 0, format!("cannot write scenario: {e}")))
}

fn rewrite_as<P: Protocol>(text: &str, file: &str, r: &Rewrite) -> Result<String, ScenarioError> {
    let mut s = parse_checked::<P>(text, file)?;
    s.seed = r.seed;
    s.duration = r.duration;
    s.chaos = None;
    if !r.workload {
        s.workload = None;
    }
    if let Some(inv) = &r.expect_violation {
        s.expect = vec![Expectation::Violation(inv.clone())];
        s.name = format!("{}-minimized", s.name);
        s.title = format!("{} (minimized)", s.title);
        s.description = format!(
            "A minimal counterexample: seed {} of `{file}`, its faults scripted and shrunk by \
             delta debugging while {inv} is still violated. {}",
            r.seed, s.description
        );
    }
    let mut timeline: Vec<(SimTime, Action)> = r
        .captions
        .iter()
        .map(|(t, c)| (*t, Action::Caption(c.clone())))
        .collect();
    timeline.extend(r.timeline.iter().cloned());
    timeline.sort_by_key(|(t, _)| *t);
    s.timeline = timeline;
    scenario::scenario_to_ron(&s)
        .map_err(|e| ScenarioError::new(file, 0, 0, format!("cannot write scenario: {e}")))
}
