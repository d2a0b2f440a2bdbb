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
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Prints a line to stdout with control characters escaped, ignoring a closed pipe
/// (`distsim list | head` must not panic).
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = writeln!(TextOut(std::io::stdout().lock()), $($arg)*);
    }};
}

/// Prints a line to stderr with control characters escaped.
macro_rules! errln {
    ($($arg:tt)*) => {{
        let _ = writeln!(TextOut(std::io::stderr().lock()), $($arg)*);
    }};
}

/// True for characters that a terminal may act on instead of showing: C0 and C1 controls
/// (escape sequences, carriage return, backspace) and the bidirectional overrides that
/// reorder what is shown. Line feeds are kept: the text output is made of lines.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every character a terminal could act on written as a Rust escape (`\u{1b}`), so
/// that a scenario's title, captions or node names cannot rewrite the terminal.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The text output: everything written through it has its control characters escaped
/// (each piece `write!` hands over is whole UTF-8, so escaping piece by piece is exact).
/// Write errors (a closed pipe) are ignored.
struct TextOut<W: std::io::Write>(W);

impl<W: std::io::Write> std::fmt::Write for TextOut<W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let _ = self.0.write_all(escape_controls(s).as_bytes());
        Ok(())
    }
}

/// Exit codes: 0 all held, 1 a violation or failed expectation, 2 bad input.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;

/// Scenario files are limited to this size (as `registry::read_scenario` does for files).
const MAX_SCENARIO_BYTES: u64 = 16 << 20;

/// Reads a scenario from disk, from standard input (`-`), or from the bundled set when no
/// such file exists (so `distsim run scenarios/raft/first-election.ron` works from any
/// directory). A name that is neither gets the closest bundled names as suggestions.
pub fn read(path: &str) -> Result<String, ScenarioError> {
    if path == "-" {
        return read_stdin();
    }
    if !std::path::Path::new(path).exists() {
        if let Some(text) = bundled::get(path) {
            return Ok(text.to_string());
        }
        let close = closest_bundled(path);
        let hint = if close.is_empty() {
            String::new()
        } else {
            format!("; did you mean {}?", close.join(" or "))
        };
        return Err(ScenarioError::new(
            path,
            0,
            0,
            format!(
                "cannot read: no such file{hint} (`distsim list` shows the bundled scenarios; `-` reads standard input)"
            ),
        ));
    }
    registry::read_scenario(path)
}

fn read_stdin() -> Result<String, ScenarioError> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ScenarioError::new("-", 0, 0, format!("cannot read standard input: {e}")))?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(ScenarioError::new(
            "-",
            0,
            0,
            format!("standard input is over {MAX_SCENARIO_BYTES} bytes, the limit for a scenario"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|e| ScenarioError::new("-", 0, 0, format!("standard input is not UTF-8: {e}")))
}

/// `scenarios/raft/default.ron` -> `raft/default`: the part a person remembers.
fn short_name(path: &str) -> &str {
    let p = path.trim_start_matches("./");
    let p = p.strip_prefix("scenarios/").unwrap_or(p);
    p.strip_suffix(".ron").unwrap_or(p)
}

/// Edit distance (insertions, deletions, substitutions), for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// Up to three bundled scenarios whose name is close to `path`: the same file name in any
/// protocol's folder (`default.ron`), or a small edit away (`raft/default`, `raft/defualt`).
fn closest_bundled(path: &str) -> Vec<&'static str> {
    let want = short_name(path);
    let want_stem = want.rsplit('/').next().unwrap_or(want);
    let mut scored: Vec<(usize, &'static str)> = bundled::BUNDLED
        .iter()
        .filter_map(|(p, _)| {
            let have = short_name(p);
            let stem = have.rsplit('/').next().unwrap_or(have);
            let d = if !want.contains('/') && stem == want_stem {
                0
            } else {
                edit_distance(want, have).min(edit_distance(want, stem) + 1)
            };
            (d <= (want.chars().count() / 3).max(2)).then_some((d, *p))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, p)| p).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people (control characters in scenario text are escaped).
    Text,
    /// One JSON object, for scripts.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EventsShown {
    /// Faults, notes, captions, role changes, client results, violations.
    Notable,
    /// Every event, sends and deliveries included.
    All,
    /// No events: only the summary.
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
    /// Write every time series to this file as tidy CSV (`time_s,series,node,value`).
    pub metrics: Option<String>,
    /// `(kind, file)` pairs: `history` (JSON Lines), `edn` (a Jepsen history), `shiviz`,
    /// `mermaid` (the messages), `flowchart` (the topology, as a Mermaid flowchart) or `csv`
    /// (the time series, as `--metrics`).
    pub export: Vec<(String, String)>,
    /// The shiviz and mermaid exports start here (default: time zero).
    pub from: Option<SimTime>,
}

/// The export kinds `run --export KIND FILE` knows.
const EXPORT_KINDS: &[&str] = &["history", "edn", "shiviz", "mermaid", "flowchart", "csv"];

type ExportFile<'a> = (&'a str, &'a str, std::io::BufWriter<std::fs::File>);

/// Checks the kinds and creates the files before the run, so bad input is refused at once.
fn open_exports(export: &[(String, String)]) -> Result<Vec<ExportFile<'_>>, String> {
    let mut files = Vec::new();
    for (kind, path) in export {
        if !EXPORT_KINDS.contains(&kind.as_str()) {
            return Err(format!(
                "unknown export kind `{kind}`: expected one of {}",
                EXPORT_KINDS.join(", ")
            ));
        }
        let f = std::fs::File::create(path)
            .map_err(|e| format!("cannot write the {kind} export to {path}: {e}"))?;
        files.push((kind.as_str(), path.as_str(), std::io::BufWriter::new(f)));
    }
    Ok(files)
}

fn write_exports(
    files: &mut [ExportFile<'_>],
    sim: &dyn crate::sim::dynsim::DynSim,
    from: SimTime,
) -> Result<(), String> {
    use crate::export;
    use std::io::Write as _;
    let (trace, names) = (sim.trace(), sim.names());
    for (kind, path, out) in files {
        let written = match *kind {
            "history" => export::history_jsonl(sim.history(), names, out),
            "edn" => export::history_edn(sim.history(), out),
            "shiviz" => export::trace::shiviz(trace, names, from, out),
            "mermaid" => export::trace::mermaid(trace, names, from, out),
            "flowchart" => export::trace::flowchart(trace, names, sim.roles(), from, out),
            _ => sim.metrics().series.write_csv(names, out),
        };
        written
            .and_then(|_| out.flush())
            .map_err(|e| format!("writing the {kind} export to {path} failed: {e}"))?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Messages {
    sent: BTreeMap<&'static str, u64>,
    delivered: BTreeMap<&'static str, u64>,
    dropped: BTreeMap<&'static str, u64>,
    dropped_by_reason: BTreeMap<&'static str, u64>,
    duplicated: u64,
}

/// What became of one expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    /// The run stopped (`--until`, a sweep's first violation) before the expectation could
    /// be judged: it failed so far but could still hold by the scenario's end.
    NotReached,
}

/// One expectation in a report.
#[derive(Clone, Debug, Serialize)]
pub struct Judged {
    pub expectation: String,
    pub status: Status,
    /// `status == Passed` (kept for scripts that read only this).
    pub passed: bool,
    pub detail: String,
}

/// Evaluates the scenario's expectations against the run so far. When the run stopped before
/// the scenario's end, an expectation that failed only because the run is not over (a role
/// not seen yet whose deadline is later, a counter or a number of client successes not yet
/// reached, a violation not yet seen) is `NotReached`, not `Failed`.
pub fn judge(
    expect: &[scenario::Expectation],
    sim: &dyn crate::sim::dynsim::DynSim,
) -> Vec<Judged> {
    use scenario::Expectation as E;
    let cut_short = sim.now() < sim.duration();
    scenario::evaluate(expect, sim)
        .into_iter()
        .zip(expect)
        .map(|(r, e)| {
            let status = if r.passed {
                Status::Passed
            } else if !cut_short {
                Status::Failed
            } else {
                let undecided = match e {
                    E::NoViolation => false,
                    E::Violation(_) | E::ClientOk(_) | E::Healed => true,
                    E::Role { role, within } => {
                        !sim.role_first_seen().contains_key(role) && *within > sim.now()
                    }
                    // Counters only grow: a maximum exceeded is final, a minimum is not.
                    E::Counter { name, at_most, .. } => {
                        at_most.is_none_or(|hi| sim.metrics().counter(name) <= hi)
                    }
                    // A stretch of a series that ends after the stop is still open.
                    E::Series { to, .. } => to.is_none_or(|to| to > sim.now()),
                    // Drops only grow too: a maximum exceeded is final, a minimum is not.
                    E::Dropped {
                        reason, at_most, ..
                    } => {
                        let n: u64 = sim
                            .metrics()
                            .dropped_by_reason
                            .iter()
                            .filter(|(d, _)| d.as_str() == reason)
                            .map(|(_, n)| *n)
                            .sum();
                        at_most.is_none_or(|hi| n <= hi)
                    }
                };
                if undecided {
                    Status::NotReached
                } else {
                    Status::Failed
                }
            };
            Judged {
                expectation: r.expectation,
                status,
                passed: status == Status::Passed,
                detail: r.detail,
            }
        })
        .collect()
}

#[derive(Serialize)]
struct RunReport<'a> {
    scenario: &'a str,
    protocol: &'a str,
    seed: u64,
    until: SimTime,
    /// The scenario's own end (`until` is earlier when the run was cut short).
    duration: SimTime,
    digest: String,
    events: u64,
    messages: Messages,
    counters: BTreeMap<&'static str, u64>,
    clients: ClientStats,
    /// Each time series (`db1.queue`, `client.latency.p99`): last, mean and max.
    series: BTreeMap<String, crate::sim::series::SeriesSummary>,
    violations: &'a [crate::sim::Violation],
    expectations: Vec<Judged>,
    step_limit_hit: bool,
    passed: bool,
}

/// Opens `--trace` before the run (an unwritable path is refused at once) and streams every
/// event to it as it is recorded, whatever `--keep-events` keeps in memory.
fn start_trace(
    sim: &mut dyn crate::sim::dynsim::DynSim,
    path: &str,
    keep: Option<usize>,
) -> Result<(), String> {
    let file =
        std::fs::File::create(path).map_err(|e| format!("cannot write trace to {path}: {e}"))?;
    sim.trace_mut()
        .stream_to(Box::new(std::io::BufWriter::new(file)))
        .map_err(|e| format!("cannot write trace to {path}: {e}"))?;
    sim.trace_mut().set_cap(keep);
    Ok(())
}

pub fn run(args: RunArgs) -> i32 {
    if args.keep_events == Some(0) {
        errln!("error: --keep-events must be at least 1");
        return EXIT_BAD_INPUT;
    }
    let text = match read(&args.file) {
        Ok(t) => t,
        Err(e) => return bad_input(&e),
    };
    let opts = RunOptions {
        seed: args.seed,
        trace_level: TraceLevel::Full,
        // With --trace the bound is set once the start is streamed (see `start_trace`).
        trace_cap: if args.trace.is_some() {
            None
        } else {
            args.keep_events
        },
        ..Default::default()
    };
    let Loaded { info, mut sim } = match registry::load(&text, &args.file, &opts) {
        Ok(l) => l,
        Err(e) => return bad_input(&e),
    };
    if let Some(path) = &args.trace
        && let Err(m) = start_trace(sim.as_mut(), path, args.keep_events)
    {
        errln!("error: {m}");
        return EXIT_BAD_INPUT;
    }
    // Opened before the run, so an unwritable path is refused at once.
    let mut metrics_file = match &args.metrics {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some((path, std::io::BufWriter::new(f))),
            Err(e) => {
                errln!("error: cannot write the metrics to {path}: {e}");
                return EXIT_BAD_INPUT;
            }
        },
        None => None,
    };
    let mut export_files = match open_exports(&args.export) {
        Ok(f) => f,
        Err(m) => {
            errln!("error: {m}");
            return EXIT_BAD_INPUT;
        }
    };
    let until = match args.until {
        Some(u) if u > info.duration => {
            errln!(
                "note: --until {u} is past the end of the scenario; clamped to its duration, {}",
                info.duration
            );
            info.duration
        }
        Some(u) => u,
        None => info.duration,
    };
    sim.run_until(until);
    let trace_result = sim.trace_mut().end_stream();
    if let Some((path, out)) = &mut metrics_file {
        use std::io::Write as _;
        let written = sim
            .metrics()
            .series
            .write_csv(&info.names, out)
            .and_then(|_| out.flush());
        if let Err(e) = written {
            errln!("error: writing the metrics to {path} failed: {e}");
            return EXIT_BAD_INPUT;
        }
    }
    let from = args.from.unwrap_or(SimTime::ZERO);
    if let Err(m) = write_exports(&mut export_files, sim.as_ref(), from) {
        errln!("error: {m}");
        return EXIT_BAD_INPUT;
    }
    let expectations = judge(&info.expect, sim.as_ref());
    // A violation fails the run unless the scenario expects one (a bug-variant demonstration).
    let expects_violation = info
        .expect
        .iter()
        .any(|e| matches!(e, scenario::Expectation::Violation(_)));
    let passed = expectations.iter().all(|e| e.status != Status::Failed)
        && (expects_violation || sim.violations().is_empty())
        && !sim.step_limit_hit();
    let m = sim.metrics();
    let report = RunReport {
        scenario: &info.name,
        protocol: info.protocol,
        seed: info.seed,
        until: sim.now(),
        duration: info.duration,
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
        series: m
            .series
            .iter()
            .filter_map(|(k, _)| Some((k.label(&info.names), m.series.summary(k)?)))
            .collect(),
        violations: sim.violations(),
        expectations,
        step_limit_hit: sim.step_limit_hit(),
        passed,
    };
    match args.format {
        Format::Json => {
            // JSON escapes control characters in strings itself.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stdout(),
                "{}",
                serde_json::to_string_pretty(&report).expect("report serializes")
            );
        }
        Format::Text => print_text(&info, sim.as_ref(), &report, args.events),
    }
    if let (Some(path), Err(e)) = (&args.trace, trace_result) {
        errln!("error: writing the trace to {path} failed: {e}");
        return EXIT_BAD_INPUT;
    }
    if passed { EXIT_OK } else { EXIT_FAILED }
}

fn print_text(
    info: &registry::ScenarioInfo,
    sim: &dyn crate::sim::dynsim::DynSim,
    r: &RunReport,
    shown: EventsShown,
) {
    let mut o = TextOut(std::io::stdout().lock());
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
                    attempts,
                    node,
                    outcome,
                    ..
                } => {
                    let by = node
                        .map(|n| format!(" from {}", names[n]))
                        .unwrap_or_default();
                    let tries = if *attempts == 1 {
                        "attempt"
                    } else {
                        "attempts"
                    };
                    Some(format!(
                        "client {client} op {seq} -> {outcome:?}{by} ({attempts} {tries})"
                    ))
                }
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
    if !r.series.is_empty() {
        let _ = writeln!(o, "\ntime series (last / mean / max):");
        for (k, v) in r.series.iter().take(24) {
            let _ = writeln!(
                o,
                "  {k:<28} {:>10.3} {:>10.3} {:>10.3}",
                v.last, v.mean, v.max
            );
        }
        if r.series.len() > 24 {
            let _ = writeln!(
                o,
                "  ... and {} more (all in --format json and --metrics FILE)",
                r.series.len() - 24
            );
        }
    }
    let c = &r.clients;
    if c.invoked > 0 {
        let p = |t: Option<SimTime>| t.map_or("-".into(), |t| t.to_string());
        let _ = writeln!(
            o,
            "\nclients: {} invoked, {} ok, {} compare failed, {} failed, {} timed out, {} pending; availability {:.1}%; latency p50 {} p90 {} p99 {}",
            c.invoked,
            c.ok,
            c.compare_failed,
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
            let status = match e.status {
                Status::Passed => "ok",
                Status::Failed => "FAILED",
                Status::NotReached => "not reached",
            };
            let _ = writeln!(o, "  [{status}] {} — {}", e.expectation, e.detail);
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
    let not_reached = r
        .expectations
        .iter()
        .filter(|e| e.status == Status::NotReached)
        .count();
    if r.until < r.duration {
        let _ = writeln!(o, "(stopped before the scenario's end at {})", r.duration);
    }
    match (r.passed, not_reached) {
        (false, _) => {
            let _ = writeln!(o, "FAILED");
        }
        (true, 0) => {
            let _ = writeln!(o, "PASSED");
        }
        (true, n) => {
            let _ = writeln!(
                o,
                "PASSED so far ({n} expectation{} not reached by {})",
                if n == 1 { "" } else { "s" },
                r.until
            );
        }
    }
}

pub fn bad_input(e: &ScenarioError) -> i32 {
    errln!("error: {e}");
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
    /// Printed in hex, as `distsim run` prints it.
    #[serde(serialize_with = "hex_digest")]
    pub digest: u64,
    pub violation: Option<crate::sim::Violation>,
    /// Expectations that failed, each with its detail.
    pub expectations_failed: Vec<String>,
    /// Expectations left undecided because the run stopped at its first violation.
    pub expectations_not_reached: Vec<String>,
    pub step_limit_hit: bool,
}

impl SeedResult {
    /// What `distsim run` would call a failure: a violation, a failed expectation, a runaway.
    pub fn failed(&self) -> bool {
        self.violation.is_some() || !self.expectations_failed.is_empty() || self.step_limit_hit
    }
}

fn hex_digest<S: serde::Serializer>(d: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{d:016x}"))
}

/// Runs one seed of a sweep: causal trace kept short, stop at the first violation.
pub fn run_seed(text: &str, file: &str, seed: u64) -> Result<SeedResult, ScenarioError> {
    let never = AtomicBool::new(false);
    Ok(run_seed_unless(text, file, seed, &never)?.expect("not interrupted"))
}

/// Like [`run_seed`], giving up (`None`) as soon as `stop` is set.
pub fn run_seed_unless(
    text: &str,
    file: &str,
    seed: u64,
    stop: &AtomicBool,
) -> Result<Option<SeedResult>, ScenarioError> {
    /// Steps between two looks at `stop`: cheap, and a fraction of a millisecond.
    const STEPS_PER_LOOK: u32 = 4096;
    let opts = RunOptions {
        seed: Some(seed),
        trace_level: TraceLevel::Causal,
        trace_cap: Some(64),
        stop_on_violation: true,
        ..Default::default()
    };
    if stop.load(Ordering::Relaxed) {
        return Ok(None); // the seeds not started yet cost nothing once stopped
    }
    let Loaded { info, mut sim } = registry::load(text, file, &opts)?;
    'run: loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        for _ in 0..STEPS_PER_LOOK {
            if !sim.step() {
                break 'run;
            }
        }
    }
    // Nothing is left to step; this only moves the clock to the end (as a plain run does).
    sim.run_until(info.duration);
    let mut expectations_failed = Vec::new();
    let mut expectations_not_reached = Vec::new();
    for e in judge(&info.expect, sim.as_ref()) {
        let line = format!("{} ({})", e.expectation, e.detail);
        match e.status {
            Status::Passed => {}
            Status::Failed => expectations_failed.push(line),
            Status::NotReached => expectations_not_reached.push(line),
        }
    }
    Ok(Some(SeedResult {
        seed,
        digest: sim.trace().digest(),
        violation: sim.violations().first().cloned(),
        expectations_failed,
        expectations_not_reached,
        step_limit_hit: sim.step_limit_hit(),
    }))
}

/// Runs every seed in parallel; the results are in seed order whatever the thread count.
pub fn sweep(
    text: &str,
    file: &str,
    seeds: std::ops::Range<u64>,
    progress: bool,
) -> Result<Vec<SeedResult>, ScenarioError> {
    sweep_unless(text, file, seeds, progress, &AtomicBool::new(false))
}

/// Like [`sweep`], stopping soon after `stop` is set: the result then holds only the seeds
/// that ran to completion (still in seed order).
pub fn sweep_unless(
    text: &str,
    file: &str,
    seeds: std::ops::Range<u64>,
    progress: bool,
    stop: &AtomicBool,
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
    let results: Result<Vec<Option<SeedResult>>, ScenarioError> = seeds
        .into_par_iter()
        .map(|seed| {
            let r = run_seed_unless(text, file, seed, stop);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    Ok(results?.into_iter().flatten().collect())
}

/// Most worker threads `check --jobs` accepts; more only costs memory on any machine we know.
pub const MAX_JOBS: usize = 256;

/// Set by Ctrl-C during `check`: stop starting seeds and report those that ran.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// A failing seed as the JSON report shows it: the result and the command that replays it.
#[derive(Serialize)]
struct Failure<'a> {
    #[serde(flatten)]
    result: &'a SeedResult,
    reproduce: String,
    /// The app opened on this seed, paused at the violation, with the space-time diagram.
    #[serde(skip_serializing_if = "Option::is_none")]
    watch: Option<String>,
}

/// The command that opens the app on `seed`, paused where the violation happened.
fn watch_command(file: &str, seed: u64, at: SimTime) -> String {
    format!("distsim {file} --seed {seed} --at {at} --spacetime")
}

/// `check --minimize`: where to write the minimal counterexample (`None`: next to nothing,
/// in the current directory, named after the file and seed).
pub struct MinimizeArgs {
    pub out: Option<String>,
}

pub fn check(
    file: &str,
    seeds: &str,
    jobs: Option<usize>,
    format: Format,
    minimize: Option<MinimizeArgs>,
) -> i32 {
    let range = match parse_seeds(seeds) {
        Ok(r) => r,
        Err(m) => {
            errln!("error: --seeds: {m}");
            return EXIT_BAD_INPUT;
        }
    };
    if let Some(j) = jobs
        && !(1..=MAX_JOBS).contains(&j)
    {
        errln!("error: --jobs must be between 1 and {MAX_JOBS}, got {j}");
        return EXIT_BAD_INPUT;
    }
    let text = match read(file) {
        Ok(t) => t,
        Err(e) => return bad_input(&e),
    };
    let total = range.end - range.start;
    // Never more threads than seeds (nor than cores unless asked).
    let threads = jobs
        .unwrap_or_else(rayon::current_num_threads)
        .min(usize::try_from(total).unwrap_or(usize::MAX));
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(p) => p,
        Err(e) => {
            errln!("error: cannot start {threads} worker threads: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    // The first Ctrl-C stops the sweep and reports what ran; a second one ends at once.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
    let results = match pool.install(|| {
        sweep_unless(
            &text,
            file,
            range.clone(),
            format == Format::Text,
            &INTERRUPTED,
        )
    }) {
        Ok(r) => r,
        Err(e) => return bad_input(&e),
    };
    let interrupted = INTERRUPTED.load(Ordering::SeqCst) && (results.len() as u64) < total;
    let failed: Vec<&SeedResult> = results.iter().filter(|r| r.failed()).collect();
    let violating = results.iter().filter(|r| r.violation.is_some()).count();
    let unmet: Vec<u64> = results
        .iter()
        .filter(|r| !r.expectations_failed.is_empty())
        .map(|r| r.seed)
        .collect();
    let limited: Vec<u64> = results
        .iter()
        .filter(|r| r.step_limit_hit)
        .map(|r| r.seed)
        .collect();
    let reproduce = |seed: u64| format!("distsim run {file} --seed {seed}");
    let first_violating = results
        .iter()
        .find(|r| r.violation.is_some())
        .map(|r| r.seed);
    let minimized = match (&minimize, first_violating) {
        (Some(m), Some(seed)) => match minimize_seed(&text, file, seed, m) {
            Ok(r) => Some(r),
            Err(e) => {
                errln!("error: --minimize: {e}");
                return EXIT_BAD_INPUT;
            }
        },
        _ => None,
    };
    if format == Format::Json {
        #[derive(Serialize)]
        struct CheckReport<'a> {
            file: &'a str,
            seeds: u64,
            /// Seeds that ran to completion (fewer than `seeds` when interrupted).
            seeds_run: usize,
            interrupted: bool,
            violating_seeds: Vec<u64>,
            /// Seeds that missed an expectation.
            unmet_seeds: Vec<u64>,
            expectation_failures: usize,
            step_limit_seeds: Vec<u64>,
            /// Every failing seed, in seed order.
            failures: Vec<Failure<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            minimized: Option<&'a MinimizeReport>,
        }
        let r = CheckReport {
            file,
            seeds: total,
            seeds_run: results.len(),
            interrupted,
            violating_seeds: results
                .iter()
                .filter(|r| r.violation.is_some())
                .map(|r| r.seed)
                .collect(),
            expectation_failures: unmet.len(),
            unmet_seeds: unmet.clone(),
            step_limit_seeds: limited.clone(),
            failures: failed
                .iter()
                .map(|r| Failure {
                    result: r,
                    reproduce: reproduce(r.seed),
                    watch: r
                        .violation
                        .as_ref()
                        .map(|v| watch_command(file, r.seed, v.at)),
                })
                .collect(),
            minimized: minimized.as_ref(),
        };
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&r).expect("serializes")
        );
    } else {
        for r in &failed {
            if let Some(v) = &r.violation {
                outln!(
                    "seed {}: {} violated at {}: {}",
                    r.seed,
                    v.invariant,
                    v.at,
                    v.explanation
                );
            }
            for e in &r.expectations_failed {
                outln!("seed {}: expectation failed: {e}", r.seed);
            }
            if r.step_limit_hit {
                outln!(
                    "seed {}: stopped by the step limit (a runaway protocol?)",
                    r.seed
                );
            }
            outln!("  reproduce: {}", reproduce(r.seed));
            if let Some(v) = &r.violation {
                outln!("  watch it:  {}", watch_command(file, r.seed, v.at));
            }
        }
        if interrupted {
            outln!(
                "interrupted: {} of {} seeds ran (the results below cover only those)",
                results.len(),
                total
            );
        }
        outln!(
            "{} of {} seeds violated an invariant; {} missed an expectation; {} hit the step limit",
            violating,
            results.len(),
            unmet.len(),
            limited.len()
        );
        if let Some(first) = failed.first() {
            outln!("first failing seed: {}", first.seed);
        }
        if let Some(m) = &minimized {
            outln!("{}", m.text());
        } else if minimize.is_some() {
            outln!("--minimize: no seed violated an invariant, nothing to minimize");
        }
    }
    if interrupted {
        EXIT_INTERRUPTED
    } else if failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// What `check --minimize` did, for the text and JSON reports.
#[derive(Serialize)]
pub struct MinimizeReport {
    #[serde(flatten)]
    pub minimized: crate::minimize::Minimized,
    pub written: String,
    pub watch: String,
}

impl MinimizeReport {
    fn text(&self) -> String {
        let m = &self.minimized;
        format!(
            "minimized seed {}: {} still violated with {} of {} faults, {} of {} events, \
             {} of {} simulated{}, after {} runs\n  wrote {}\n  watch it:  {}",
            m.seed,
            m.invariant,
            m.faults_after,
            m.faults_before,
            m.events_after,
            m.events_before,
            m.duration_after,
            m.duration_before,
            if m.workload_kept {
                ""
            } else {
                ", without the clients"
            },
            m.tests,
            self.written,
            self.watch
        )
    }
}

fn minimize_seed(
    text: &str,
    file: &str,
    seed: u64,
    args: &MinimizeArgs,
) -> Result<MinimizeReport, String> {
    let m = crate::minimize::minimize(text, file, seed)?
        .ok_or_else(|| format!("seed {seed} no longer violates anything"))?;
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = std::path::Path::new(file)
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().to_string());
        format!("{stem}-seed{seed}-min.ron")
    });
    let header = format!(
        "// Minimized by `distsim check {file} --minimize` from seed {seed}: {} of {} faults.\n",
        m.faults_after, m.faults_before
    );
    std::fs::write(&out, header + &m.scenario)
        .map_err(|e| format!("cannot write the minimized scenario to {out}: {e}"))?;
    Ok(MinimizeReport {
        minimized: m,
        watch: format!("distsim {out} --spacetime"),
        written: out,
    })
}

pub fn validate(files: &[String]) -> i32 {
    let mut code = EXIT_OK;
    for f in files {
        let res = read(f).and_then(|t| registry::load(&t, f, &RunOptions::default()).map(|_| ()));
        match res {
            Ok(()) => outln!("{f}: ok"),
            Err(e) => {
                errln!("{e}");
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
