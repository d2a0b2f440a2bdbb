//! The headless command line: run, check, validate, list, bench.

use crate::bundled;
use crate::protocols::PROTOCOLS;
use crate::registry::{self, Loaded, RunOptions};
use crate::scenario::{self, ScenarioError};
use crate::sim::metrics::ClientStats;
use crate::sim::time::SimTime;
use crate::sim::trace::{EventKind, TraceLevel};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// Prints a line to stdout, ignoring a closed pipe (`distsim list | head` must not panic).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Exit codes: 0 all held, 1 a violation or failed expectation, 2 bad input.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;

/// Reads a scenario from disk, or from the bundled set when no such file exists
/// (so `distsim run scenarios/raft/first-election.ron` works from any directory).
pub fn read(path: &str) -> Result<String, ScenarioError> {
    if !std::path::Path::new(path).exists()
        && let Some(text) = bundled::get(path)
    {
        return Ok(text.to_string());
    }
    registry::read_scenario(path)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EventsShown {
    /// Faults, notes, captions, role changes, client results, violations.
    Notable,
    /// Every event, sends and deliveries included.
    All,
    None,
}

pub struct RunArgs {
    pub file: String,
    pub seed: Option<u64>,
    pub until: Option<SimTime>,
    pub trace: Option<String>,
    pub format: Format,
    pub events: EventsShown,
    /// Keep only the last N events in memory (a bounded trace for long runs); the digest and
    /// counts still cover the whole run.
    pub keep_events: Option<usize>,
}

#[derive(Serialize)]
struct Messages {
    sent: BTreeMap<&'static str, u64>,
    delivered: BTreeMap<&'static str, u64>,
    dropped: BTreeMap<&'static str, u64>,
    dropped_by_reason: BTreeMap<&'static str, u64>,
    duplicated: u64,
}

#[derive(Serialize)]
struct RunReport<'a> {
    scenario: &'a str,
    protocol: &'a str,
    seed: u64,
    until: SimTime,
    digest: String,
    events: u64,
    messages: Messages,
    counters: BTreeMap<&'static str, u64>,
    clients: ClientStats,
    violations: &'a [crate::sim::Violation],
    expectations: Vec<scenario::ExpectationResult>,
    step_limit_hit: bool,
    passed: bool,
}

pub fn run(args: RunArgs) -> i32 {
    let text = match read(&args.file) {
        Ok(t) => t,
        Err(e) => return bad_input(&e),
    };
    let opts = RunOptions {
        seed: args.seed,
        trace_level: TraceLevel::Full,
        trace_cap: args.keep_events.filter(|&n| n > 0),
        ..Default::default()
    };
    let Loaded { info, mut sim } = match registry::load(&text, &args.file, &opts) {
        Ok(l) => l,
        Err(e) => return bad_input(&e),
    };
    let until = args.until.unwrap_or(info.duration).min(info.duration);
    sim.run_until(until);
    let expectations = scenario::evaluate(&info.expect, sim.as_ref());
    // A violation fails the run unless the scenario expects one (a bug-variant demonstration).
    let expects_violation = info
        .expect
        .iter()
        .any(|e| matches!(e, scenario::Expectation::Violation(_)));
    let passed = expectations.iter().all(|e| e.passed)
        && (expects_violation || sim.violations().is_empty())
        && !sim.step_limit_hit();
    if let Some(path) = &args.trace {
        let res = std::fs::File::create(path)
            .map(std::io::BufWriter::new)
            .and_then(|mut f| sim.trace().write_jsonl(&mut f).and_then(|_| f.flush()));
        if let Err(e) = res {
            eprintln!("error: cannot write trace to {path}: {e}");
            return EXIT_BAD_INPUT;
        }
    }
    let m = sim.metrics();
    let report = RunReport {
        scenario: &info.name,
        protocol: info.protocol,
        seed: info.seed,
        until: sim.now(),
        digest: format!("{:016x}", sim.trace().digest()),
        events: sim.trace().len(),
        messages: Messages {
            sent: m.sent.sorted(),
            delivered: m.delivered.sorted(),
            dropped: m.dropped.sorted(),
            dropped_by_reason: m
                .dropped_by_reason
                .iter()
                .map(|(r, n)| (r.as_str(), *n))
                .collect(),
            duplicated: m.duplicated,
        },
        counters: m.counters.clone(),
        clients: ClientStats::of(sim.history()),
        violations: sim.violations(),
        expectations,
        step_limit_hit: sim.step_limit_hit(),
        passed,
    };
    match args.format {
        Format::Json => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&report).expect("report serializes")
            );
        }
        Format::Text => print_text(&info, sim.as_ref(), &report, args.events),
    }
    if passed { EXIT_OK } else { EXIT_FAILED }
}

fn print_text(
    info: &registry::ScenarioInfo,
    sim: &dyn crate::sim::dynsim::DynSim,
    r: &RunReport,
    shown: EventsShown,
) {
    let out = std::io::stdout();
    let mut o = out.lock();
    let names = &info.names;
    let name = |n: Option<usize>| n.map_or("-".to_string(), |n| names[n].clone());
    let _ = writeln!(
        o,
        "{} — {} ({} nodes, protocol {}, seed {})",
        info.name,
        info.title,
        names.len(),
        info.protocol,
        info.seed
    );
    if shown != EventsShown::None {
        let _ = writeln!(o, "\nevents:");
        let mut last_role: Vec<String> = vec![String::new(); names.len()];
        for e in sim.trace().events() {
            let line = match &e.kind {
                EventKind::Send { to, label, .. } if shown == EventsShown::All => Some(format!(
                    "send {} -> {}: {}",
                    name(e.node),
                    names[*to],
                    label.as_deref().unwrap_or("")
                )),
                EventKind::Deliver { from, msg, .. } if shown == EventsShown::All => Some(format!(
                    "deliver {} -> {}: {msg}",
                    names[*from],
                    name(e.node)
                )),
                EventKind::Timer { label } if shown == EventsShown::All => Some(format!(
                    "timer at {}: {}",
                    name(e.node),
                    label.as_deref().unwrap_or("")
                )),
                EventKind::Drop {
                    from, msg, reason, ..
                } if shown == EventsShown::All => Some(format!(
                    "drop {} -> {}: {msg} ({})",
                    names[*from],
                    name(e.node),
                    reason.as_str()
                )),
                EventKind::Crash => Some(format!("CRASH {}", name(e.node))),
                EventKind::Restart => Some(format!("RESTART {}", name(e.node))),
                EventKind::Pause => Some(format!("PAUSE {}", name(e.node))),
                EventKind::Resume => Some(format!("RESUME {}", name(e.node))),
                EventKind::Network { action } => Some(format!("NETWORK {action}")),
                EventKind::Note { text } => Some(format!("{}: {text}", name(e.node))),
                EventKind::Caption { text } => Some(format!("CAPTION {text}")),
                EventKind::PausePoint { text } => Some(format!("PAUSE POINT {text}")),
                EventKind::ClientReturn {
                    client,
                    seq,
                    outcome,
                } => Some(format!("client {client} op {seq} -> {outcome:?}")),
                EventKind::View { view } => {
                    let n = e.node.unwrap_or(0);
                    if view.role != last_role[n] {
                        last_role[n] = view.role.clone();
                        let term = view
                            .term
                            .map(|t| format!(" (term {t})"))
                            .unwrap_or_default();
                        Some(format!("{} is {}{term}", name(e.node), view.role))
                    } else {
                        None
                    }
                }
                EventKind::Violation { violation } => Some(format!(
                    "VIOLATION {}: {}",
                    violation.invariant, violation.explanation
                )),
                _ => None,
            };
            if let Some(l) = line {
                let _ = writeln!(o, "  {:>10}  {l}", e.time.to_string());
            }
        }
    }
    let _ = writeln!(o, "\nmessages (sent / delivered / dropped):");
    for (k, n) in &r.messages.sent {
        let d = r.messages.delivered.get(k).copied().unwrap_or(0);
        let x = r.messages.dropped.get(k).copied().unwrap_or(0);
        let _ = writeln!(o, "  {k:<24} {n:>8} {d:>10} {x:>8}");
    }
    if !r.messages.dropped_by_reason.is_empty() {
        let reasons: Vec<String> = r
            .messages
            .dropped_by_reason
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(o, "  drops by reason: {}", reasons.join(", "));
    }
    if r.messages.duplicated > 0 {
        let _ = writeln!(o, "  duplicated: {}", r.messages.duplicated);
    }
    if !r.counters.is_empty() {
        let _ = writeln!(o, "\nprotocol counters:");
        for (k, v) in &r.counters {
            let _ = writeln!(o, "  {k:<24} {v}");
        }
    }
    let c = &r.clients;
    if c.invoked > 0 {
        let p = |t: Option<SimTime>| t.map_or("-".into(), |t| t.to_string());
        let _ = writeln!(
            o,
            "\nclients: {} invoked, {} ok, {} failed, {} timed out, {} pending; availability {:.1}%; latency p50 {} p90 {} p99 {}",
            c.invoked,
            c.ok,
            c.failed,
            c.timed_out,
            c.pending,
            c.availability * 100.0,
            p(c.latency_p50),
            p(c.latency_p90),
            p(c.latency_p99)
        );
    }
    let _ = writeln!(o, "\ninvariants:");
    if r.violations.is_empty() {
        let _ = writeln!(o, "  all held");
    }
    for v in r.violations {
        let nodes: Vec<&str> = v.nodes.iter().map(|n| names[*n].as_str()).collect();
        let _ = writeln!(
            o,
            "  VIOLATED {} at {} on {}: {}\n    ({}; events {:?})",
            v.invariant,
            v.at,
            nodes.join(","),
            v.explanation,
            v.statement,
            v.events
        );
    }
    if !r.expectations.is_empty() {
        let _ = writeln!(o, "\nexpectations:");
        for e in &r.expectations {
            let _ = writeln!(
                o,
                "  [{}] {} — {}",
                if e.passed { "ok" } else { "FAILED" },
                e.expectation,
                e.detail
            );
        }
    }
    if r.step_limit_hit {
        let _ = writeln!(
            o,
            "\nstopped: the step limit was reached at {} (a runaway protocol?)",
            r.until
        );
    }
    let _ = writeln!(
        o,
        "\nran to {}, {} events, digest {}",
        r.until, r.events, r.digest
    );
    let _ = writeln!(o, "{}", if r.passed { "PASSED" } else { "FAILED" });
}

pub fn bad_input(e: &ScenarioError) -> i32 {
    eprintln!("error: {e}");
    EXIT_BAD_INPUT
}

/// Parses `A..B` (B excluded) or `A..=B`.
pub fn parse_seeds(s: &str) -> Result<std::ops::Range<u64>, String> {
    let err = || format!("expected a seed range like 0..1000 or 0..=999, got `{s}`");
    let (a, b, inclusive) = if let Some((a, b)) = s.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = s.split_once("..") {
        (a, b, false)
    } else {
        return Err(err());
    };
    let a: u64 = a.trim().parse().map_err(|_| err())?;
    let b: u64 = b.trim().parse().map_err(|_| err())?;
    let b = if inclusive {
        b.checked_add(1).ok_or_else(err)?
    } else {
        b
    };
    if b <= a {
        return Err(format!("the seed range `{s}` is empty"));
    }
    Ok(a..b)
}

/// One seed's result in a sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SeedResult {
    pub seed: u64,
    pub digest: u64,
    pub violation: Option<crate::sim::Violation>,
    pub expectations_failed: Vec<String>,
    pub step_limit_hit: bool,
}

/// Runs one seed of a sweep: causal trace kept short, stop at the first violation.
pub fn run_seed(text: &str, file: &str, seed: u64) -> Result<SeedResult, ScenarioError> {
    let opts = RunOptions {
        seed: Some(seed),
        trace_level: TraceLevel::Causal,
        trace_cap: Some(64),
        stop_on_violation: true,
        ..Default::default()
    };
    let Loaded { info, mut sim } = registry::load(text, file, &opts)?;
    sim.run_until(info.duration);
    let expectations_failed = scenario::evaluate(&info.expect, sim.as_ref())
        .into_iter()
        .filter(|e| !e.passed)
        .map(|e| format!("{} ({})", e.expectation, e.detail))
        .collect();
    Ok(SeedResult {
        seed,
        digest: sim.trace().digest(),
        violation: sim.violations().first().cloned(),
        expectations_failed,
        step_limit_hit: sim.step_limit_hit(),
    })
}

/// Runs every seed in parallel; the results are in seed order whatever the thread count.
pub fn sweep(
    text: &str,
    file: &str,
    seeds: std::ops::Range<u64>,
    progress: bool,
) -> Result<Vec<SeedResult>, ScenarioError> {
    registry::load(text, file, &RunOptions::default())?; // report bad input once, up front
    let bar = if progress {
        let b = indicatif::ProgressBar::new(seeds.end - seeds.start);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta} {msg}",
            )
            .expect("valid template"),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let results: Result<Vec<SeedResult>, ScenarioError> = seeds
        .into_par_iter()
        .map(|seed| {
            let r = run_seed(text, file, seed);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    results
}

pub fn check(file: &str, seeds: &str, jobs: Option<usize>, format: Format) -> i32 {
    let range = match parse_seeds(seeds) {
        Ok(r) => r,
        Err(m) => {
            eprintln!("error: --seeds: {m}");
            return EXIT_BAD_INPUT;
        }
    };
    let text = match read(file) {
        Ok(t) => t,
        Err(e) => return bad_input(&e),
    };
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot start {jobs:?} worker threads: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let total = range.end - range.start;
    let results = match pool.install(|| sweep(&text, file, range.clone(), format == Format::Text)) {
        Ok(r) => r,
        Err(e) => return bad_input(&e),
    };
    let violating: Vec<&SeedResult> = results.iter().filter(|r| r.violation.is_some()).collect();
    let unmet = results
        .iter()
        .filter(|r| !r.expectations_failed.is_empty())
        .count();
    let limited = results.iter().filter(|r| r.step_limit_hit).count();
    if format == Format::Json {
        #[derive(Serialize)]
        struct CheckReport<'a> {
            file: &'a str,
            seeds: u64,
            violating_seeds: Vec<u64>,
            expectation_failures: usize,
            failures: Vec<&'a SeedResult>,
        }
        let r = CheckReport {
            file,
            seeds: total,
            violating_seeds: violating.iter().map(|r| r.seed).collect(),
            expectation_failures: unmet,
            failures: violating.clone(),
        };
        outln!("{}", serde_json::to_string_pretty(&r).expect("serializes"));
    } else {
        for r in &violating {
            let v = r.violation.as_ref().expect("filtered");
            outln!(
                "seed {}: {} violated at {}: {}",
                r.seed,
                v.invariant,
                v.at,
                v.explanation
            );
            outln!("  reproduce: distsim run {file} --seed {}", r.seed);
        }
        outln!(
            "{} of {} seeds violated an invariant; {} missed an expectation; {} hit the step limit",
            violating.len(),
            total,
            unmet,
            limited
        );
        if let Some(first) = violating.first() {
            outln!("first violating seed: {}", first.seed);
        }
    }
    if violating.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

pub fn validate(files: &[String]) -> i32 {
    let mut code = EXIT_OK;
    for f in files {
        let res = read(f).and_then(|t| registry::load(&t, f, &RunOptions::default()).map(|_| ()));
        match res {
            Ok(()) => outln!("{f}: ok"),
            Err(e) => {
                eprintln!("{e}");
                code = EXIT_BAD_INPUT;
            }
        }
    }
    code
}

pub fn list() -> i32 {
    outln!("protocols:");
    for p in PROTOCOLS {
        outln!("  {:<20} {}", p.name, p.summary);
    }
    outln!("\nbundled scenarios (run with `distsim run PATH`):");
    for (path, text) in bundled::BUNDLED {
        match scenario::peek_protocol(text, path) {
            Ok(s) => outln!("  {path:<48} {}", s.title),
            Err(e) => outln!("  {path:<48} (invalid: {e})"),
        }
    }
    EXIT_OK
}
