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
    /// Open this scenario in the desktop app (default: the embedded 5-node scenario).
    file: Option<String>,
    /// Render the scenario at `--at` to this PNG and exit (needs a display).
    #[arg(long)]
    screenshot: Option<String>,
    /// Simulated time for `--screenshot`.
    #[arg(long, value_parser = parse_time, default_value = "2s")]
    at: SimTime,
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
        file: String,
        #[arg(long)]
        seed: Option<u64>,
        /// Stop at this simulated time (default: the scenario's duration).
        #[arg(long, value_parser = parse_time)]
        until: Option<SimTime>,
        /// Write the full trace as JSON Lines.
        #[arg(long)]
        trace: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Which events to print in text format.
        #[arg(long, value_enum, default_value = "notable")]
        events: EventsShown,
        /// Keep only the last N events in memory (long runs); the digest covers them all.
        #[arg(long)]
        keep_events: Option<usize>,
    },
    /// Run a seed sweep in parallel and report every seed that violates an invariant.
    Check {
        file: String,
        /// Seeds: `A..B` (B excluded) or `A..=B`.
        #[arg(long, default_value = "0..100")]
        seeds: String,
        /// Worker threads (default: one per core). Results do not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Check scenario files without running them.
    Validate {
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// List protocols and bundled scenarios.
    List,
    /// Measure the engine on the random-forwarding workload.
    Bench {
        #[arg(long, default_value_t = 100)]
        nodes: usize,
        #[arg(long, default_value_t = 1_000_000)]
        deliveries: u64,
        /// `off`: digest and counters only; `on`: the causal trace (ids, parents, clocks);
        /// `full`: also payload labels and view snapshots.
        #[arg(long, value_enum, default_value = "off")]
        trace: BenchTrace,
        /// Run the hand-written reference loop instead of the engine.
        #[arg(long)]
        baseline: bool,
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
        }) => cli::run(cli::RunArgs {
            file,
            seed,
            until,
            trace,
            format,
            events,
            keep_events,
        }),
        Some(Command::Check {
            file,
            seeds,
            jobs,
            format,
        }) => cli::check(&file, &seeds, jobs, format),
        Some(Command::Validate { files }) => cli::validate(&files),
        Some(Command::List) => cli::list(),
        Some(Command::Bench {
            nodes,
            deliveries,
            trace,
            baseline,
        }) => {
            if !(2..=distsim::scenario::MAX_NODES).contains(&nodes) {
                eprintln!(
                    "error: --nodes must be between 2 and {}",
                    distsim::scenario::MAX_NODES
                );
                std::process::exit(cli::EXIT_BAD_INPUT);
            }
            let r = if baseline {
                distsim::bench::baseline(nodes, deliveries)
            } else {
                let level = match trace {
                    BenchTrace::Off => TraceLevel::Off,
                    BenchTrace::On => TraceLevel::Causal,
                    BenchTrace::Full => TraceLevel::Full,
                };
                distsim::bench::engine(nodes, deliveries, level)
            };
            {
                use std::io::Write as _;
                let _ = writeln!(std::io::stdout(), "{}", r.line());
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
