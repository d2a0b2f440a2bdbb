//! The `distsim` binary: the desktop app, or a headless command.

use clap::{Parser, Subcommand};
use distsim::cli::{self, EventsShown, Format};
use distsim::sim::SimTime;
use distsim::sim::trace::TraceLevel;

#[derive(Parser)]
#[command(
    name = "distsim",
    version,
    about = "An interactive, deterministic distributed-systems simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Scenario to open in the desktop app: a RON file, a bundled path as `distsim list` shows
    /// it (scenarios/raft/default.ron), or - for standard input (default: the embedded
    /// 5-node Raft scenario).
    file: Option<String>,
    /// Render the scenario at `--at` to this PNG and exit (needs a display).
    #[arg(long)]
    screenshot: Option<String>,
    /// Open the app paused at this simulated time (units us, ms, s, min, h); with
    /// `--screenshot`, the time rendered (default 2s).
    #[arg(long, value_parser = parse_time)]
    at: Option<SimTime>,
    /// Open the app on this seed instead of the scenario's own (as `check` reports them).
    #[arg(long)]
    seed: Option<u64>,
    /// Open with the space-time diagram shown (T toggles it).
    #[arg(long)]
    spacetime: bool,
    /// Record the window as an animated GIF from `--from` to `--to` and exit (needs a
    /// display; F9 records in the app).
    #[arg(long, value_name = "OUT.gif", conflicts_with = "screenshot")]
    record: Option<String>,
    /// With `--record`: the first instant recorded (default: `--at`, or 0).
    #[arg(long, value_parser = parse_time, requires = "record")]
    from: Option<SimTime>,
    /// With `--record`: the last instant recorded (default: 3 s after `--from`).
    #[arg(long, value_parser = parse_time, requires = "record")]
    to: Option<SimTime>,
    /// With `--record`: frames per second of the GIF, 1 to 50.
    #[arg(long, default_value_t = 10, requires = "record")]
    fps: u32,
    /// Playback speed in simulated seconds per second (default 0.5; + and - change it in the
    /// app). With `--record`, the simulated time between two frames is speed / fps.
    #[arg(long)]
    speed: Option<f64>,
    /// Multisample anti-aliasing for the app: 1 (off, the default: egui smooths its own
    /// shapes, and software renderers are pixel-bound), 2, 4 or 8.
    #[arg(long, default_value_t = 1)]
    msaa: u32,
    /// Start in presentation mode (large text, no side panels).
    #[arg(long)]
    presentation: bool,
    /// Play N frames at 1x, print the simulation+UI time per frame, and exit.
    #[arg(long)]
    frames: Option<u32>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario headless and report what happened.
    Run {
        /// The scenario: a RON file, a bundled path as `distsim list` shows it
        /// (scenarios/raft/default.ron), or - for standard input.
        file: String,
        /// Seed for every random choice (default: the scenario's own `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Stop at this simulated time, e.g. 500ms, 2s, 1.5min, 1h (default and maximum: the
        /// scenario's duration). Expectations it cuts short are reported as not reached.
        #[arg(long, value_parser = parse_time)]
        until: Option<SimTime>,
        /// Write every event to this file as JSON Lines, as the run goes (checked before it).
        #[arg(long, value_name = "FILE")]
        trace: Option<String>,
        /// Report as text for people or as one JSON object for scripts.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Which events to print in text format.
        #[arg(long, value_enum, default_value = "notable")]
        events: EventsShown,
        /// Keep only the last N events in memory (long runs); the digest, the counts and
        /// `--trace` still cover them all.
        #[arg(long, value_name = "N")]
        keep_events: Option<usize>,
        /// Write every time series (client latency and throughput, queues, protocol gauges)
        /// to this file as tidy CSV: time_s,series,node,value.
        #[arg(long, value_name = "FILE")]
        metrics: Option<String>,
        /// Write the run for other tools: `history FILE` (the client operations as JSON
        /// Lines), `edn FILE` (a Jepsen history, for Knossos or Porcupine), `shiviz FILE`
        /// (events with vector clocks, for ShiViz), `mermaid FILE` (a sequence diagram of the
        /// messages), `flowchart FILE` (the topology as a Mermaid flowchart: roles, and who
        /// talked to whom) or `csv FILE` (the time series, as --metrics). Repeatable.
        #[arg(long, num_args = 2, value_names = ["KIND", "FILE"], action = clap::ArgAction::Append)]
        export: Vec<String>,
        /// Start the shiviz, mermaid and flowchart exports at this time (with --until, a
        /// window).
        #[arg(long, value_parser = parse_time)]
        from: Option<SimTime>,
    },
    /// Run a seed sweep in parallel and report every seed that violates an invariant, misses
    /// an expectation or hits the step limit, with the command that reproduces it.
    Check {
        /// The scenario: a RON file, a bundled path as `distsim list` shows it, or - for
        /// standard input.
        file: String,
        /// Seeds: `A..B` (B excluded) or `A..=B`.
        #[arg(long, default_value = "0..100")]
        seeds: String,
        /// Worker threads, 1 to 256 (default: one per core; never more than seeds). Results do
        /// not depend on it.
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
        /// Report as text for people or as one JSON object for scripts.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Shrink the first violating seed to a minimal counterexample (delta debugging over
        /// its faults) and write it as a scenario.
        #[arg(long)]
        minimize: bool,
        /// Where --minimize writes the scenario (default: FILE-seedN-min.ron here).
        #[arg(long, value_name = "FILE", requires = "minimize")]
        out: Option<String>,
    },
    /// Check scenario files without running them.
    Validate {
        /// Scenario files (or bundled paths, or - for standard input) to check.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// List protocols and bundled scenarios.
    List,
    /// Measure the engine on the random-forwarding workload.
    Bench {
        /// Number of nodes forwarding messages (2 to 100,000).
        #[arg(long, default_value_t = 100)]
        nodes: usize,
        /// Stop after this many message deliveries (at least 1).
        #[arg(long, default_value_t = 1_000_000)]
        deliveries: u64,
        /// `off`: digest and counters only; `on`: the causal trace (ids, parents, clocks);
        /// `full`: also payload labels and view snapshots.
        #[arg(long, value_enum, default_value = "off")]
        trace: BenchTrace,
        /// Also run the hand-written reference loop, alternating with the engine in this one
        /// process, and print both and their ratio (best of `--rounds` runs each).
        #[arg(long)]
        baseline: bool,
        /// With `--baseline`: runs of each to take the best of (1 to 100).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Instead: check a random linearizable history of this many get/put/cas operations
        /// on 4 keys (8 clients) and print the time the linearizability checker took.
        #[arg(long)]
        history: Option<usize>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchTrace {
    Off,
    On,
    Full,
}

fn parse_time(s: &str) -> Result<SimTime, String> {
    SimTime::parse(s)
}

fn main() {
    let mut cli = Cli::parse();
    let code = match cli.command.take() {
        Some(Command::Run {
            file,
            seed,
            until,
            trace,
            format,
            events,
            keep_events,
            metrics,
            export,
            from,
        }) => cli::run(cli::RunArgs {
            file,
            seed,
            until,
            trace,
            format,
            events,
            keep_events,
            metrics,
            export: export
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect(),
            from,
        }),
        Some(Command::Check {
            file,
            seeds,
            jobs,
            format,
            minimize,
            out,
        }) => cli::check(
            &file,
            &seeds,
            jobs,
            format,
            minimize.then_some(cli::MinimizeArgs { out }),
        ),
        Some(Command::Validate { files }) => cli::validate(&files),
        Some(Command::List) => cli::list(),
        Some(Command::Bench {
            history: Some(ops), ..
        }) => {
            println!("{}", distsim::bench::linearizability(ops));
            cli::EXIT_OK
        }
        Some(Command::Bench {
            nodes,
            deliveries,
            trace,
            baseline,
            rounds,
            history: None,
        }) => {
            if !(2..=distsim::scenario::MAX_NODES).contains(&nodes) {
                eprintln!(
                    "error: --nodes must be between 2 and {}",
                    distsim::scenario::MAX_NODES
                );
                std::process::exit(cli::EXIT_BAD_INPUT);
            }
            if deliveries == 0 {
                eprintln!("error: --deliveries must be at least 1 (nothing to measure otherwise)");
                std::process::exit(cli::EXIT_BAD_INPUT);
            }
            if !(1..=100).contains(&rounds) {
                eprintln!("error: --rounds must be between 1 and 100");
                std::process::exit(cli::EXIT_BAD_INPUT);
            }
            let level = match trace {
                BenchTrace::Off => TraceLevel::Off,
                BenchTrace::On => TraceLevel::Causal,
                BenchTrace::Full => TraceLevel::Full,
            };
            let out = if baseline {
                distsim::bench::compare(nodes, deliveries, level, rounds)
            } else {
                distsim::bench::engine(nodes, deliveries, level).line()
            };
            {
                use std::io::Write as _;
                let _ = writeln!(std::io::stdout(), "{out}");
            }
            cli::EXIT_OK
        }
        None => app(cli),
    };
    std::process::exit(code);
}

#[cfg(feature = "gui")]
fn app(cli: Cli) -> i32 {
    distsim::gui::run(distsim::gui::AppOptions {
        file: cli.file,
        screenshot: cli.screenshot,
        at: cli.at,
        seed: cli.seed,
        spacetime: cli.spacetime,
        record: cli.record.map(|path| distsim::gui::RecordOptions {
            path,
            from: cli.from,
            to: cli.to,
            fps: cli.fps,
        }),
        speed: cli.speed,
        msaa: cli.msaa,
        width: 1280,
        height: 800,
        presentation: cli.presentation,
        frames: cli.frames,
    })
}

#[cfg(not(feature = "gui"))]
fn app(_cli: Cli) -> i32 {
    eprintln!(
        "This distsim was built without the desktop app (the `gui` feature).\n\
         Run a scenario headless instead:  distsim run scenarios/raft/default.ron\n\
         See `distsim --help` and `distsim list`."
    );
    cli::EXIT_BAD_INPUT
}
