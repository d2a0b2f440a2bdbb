//! The engine benchmark: N nodes forwarding messages at random (the `relay` protocol).
//!
//! Workload (from the issue): each delivered message makes its receiver send one message to a
//! uniformly random other node; latency uniform 1–10 ms; 100 messages seeded at t=0; run until
//! the given number of deliveries. It runs the real engine and the real `relay` actor through
//! the same code path as any scenario. `baseline` is a hand-written BinaryHeap + ChaCha8 +
//! boxed-actor loop doing the same work, for comparison; [`compare`] runs both in one process.
//! Times are the process's CPU time where the system gives it (wall time otherwise, and the
//! output says which).

use crate::protocols::relay::{Relay, RelayConfig};
use crate::sim::engine::{Sim, SimSetup};
use crate::sim::network::{Latency, LinkParams};
use crate::sim::time::SimTime;
use crate::sim::trace::TraceLevel;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// The CPU time this process has used so far, in seconds (`CLOCK_PROCESS_CPUTIME_ID`): what a
/// benchmark on a shared machine should compare, since wall time counts other processes'
/// turns on the cores. The benchmark is not simulation: the core never reads any clock.
#[cfg(unix)]
pub fn cpu_seconds() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}
#[cfg(not(unix))]
pub fn cpu_seconds() -> Option<f64> {
    None
}

/// Measures CPU time where the system offers it, wall time otherwise.
pub struct Stopwatch {
    cpu: Option<f64>,
    wall: Instant,
}

impl Stopwatch {
    pub fn start() -> Self {
        Stopwatch {
            cpu: cpu_seconds(),
            wall: Instant::now(),
        }
    }
    /// Seconds since the start, and whether they are CPU time (true) or wall time.
    pub fn elapsed(&self) -> (f64, bool) {
        match (self.cpu, cpu_seconds()) {
            (Some(a), Some(b)) => (b - a, true),
            _ => (self.wall.elapsed().as_secs_f64(), false),
        }
    }
}

pub struct BenchResult {
    pub deliveries: u64,
    /// CPU seconds (or wall seconds where CPU time is not available: see `cpu`).
    pub seconds: f64,
    pub cpu: bool,
    pub events: u64,
    pub digest: u64,
    /// Events kept in memory and their estimated size (inline plus owned heap), in bytes.
    pub retained: usize,
    pub retained_bytes: usize,
}

impl BenchResult {
    pub fn ns_per_delivery(&self) -> f64 {
        self.seconds * 1e9 / self.deliveries.max(1) as f64
    }
    pub fn line(&self) -> String {
        let per_sec = self.deliveries as f64 / self.seconds;
        let mut s = format!(
            "deliveries_per_sec={per_sec:.0} ns_per_delivery={:.1} time={}",
            self.ns_per_delivery(),
            if self.cpu { "cpu" } else { "wall" }
        );
        if self.retained > 0 {
            s += &format!(
                " events={} bytes_per_event={:.1}",
                self.retained,
                self.retained_bytes as f64 / self.retained as f64
            );
        }
        s
    }
}

fn latency() -> Latency {
    Latency::Uniform {
        min: SimTime::from_millis(1),
        max: SimTime::from_millis(10),
    }
}

/// Runs the engine on the relay workload.
pub fn engine(nodes: usize, deliveries: u64, level: TraceLevel) -> BenchResult {
    let mut setup: SimSetup<RelayConfig> = SimSetup::new(nodes, 42, SimTime::MAX);
    setup.config = RelayConfig {
        tokens: 100,
        hold: SimTime::ZERO,
    };
    setup.network = LinkParams {
        latency: latency(),
        ..Default::default()
    };
    setup.trace_level = level;
    setup.max_steps = u64::MAX;
    let clock = Stopwatch::start();
    let mut sim = Sim::<Relay>::new(setup);
    while sim.metrics().delivered.total() < deliveries && sim.step() {}
    let (seconds, cpu) = clock.elapsed();
    BenchResult {
        deliveries: sim.metrics().delivered.total(),
        seconds,
        cpu,
        events: sim.trace().len(),
        digest: sim.trace().digest(),
        retained: sim.trace().events().len(),
        retained_bytes: sim.trace().memory_bytes(),
    }
}

/// The reference loop's message: a token and its hop count, as the relay's.
#[derive(Clone, Copy)]
struct Token {
    id: u32,
    hops: u32,
}

trait Actor {
    /// Handles a token; returns where it goes next.
    fn on_message(
        &mut self,
        me: usize,
        nodes: usize,
        msg: Token,
        rng: &mut ChaCha8Rng,
    ) -> (usize, Token);
}
struct Forwarder {
    received: u64,
    forwarded: u64,
}
impl Actor for Forwarder {
    fn on_message(
        &mut self,
        me: usize,
        nodes: usize,
        msg: Token,
        rng: &mut ChaCha8Rng,
    ) -> (usize, Token) {
        self.received += 1;
        let mut to = rng.random_range(0..nodes - 1);
        if to >= me {
            to += 1;
        }
        self.forwarded += 1;
        (
            to,
            Token {
                id: msg.id,
                hops: msg.hops + 1,
            },
        )
    }
}

/// A queued delivery of the reference loop.
#[derive(Clone, Copy)]
struct Pending {
    from: usize,
    to: usize,
    msg: Token,
}

/// The reference loop's queue: a heap of (time, seq, slot) keys over a slab of deliveries.
#[derive(Default)]
struct LoopQueue {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    slab: Vec<Pending>,
    free: Vec<u32>,
    seq: u64,
}

impl LoopQueue {
    fn push(&mut self, at: u64, p: Pending) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = p;
                s
            }
            None => {
                self.slab.push(p);
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((at, self.seq, slot)));
        self.seq += 1;
    }
    fn pop(&mut self) -> Option<(u64, Pending)> {
        let Reverse((at, _, slot)) = self.heap.pop()?;
        self.free.push(slot);
        Some((at, self.slab[slot as usize]))
    }
}

/// The hand-written reference loop: the floor the engine is measured against. It does the
/// workload's work and nothing else: boxed `dyn` actors, one `BinaryHeap` of (time, seq) keys
/// (the deliveries live in a slab beside it, as the engine's), one ChaCha8 stream for routing
/// and latency, and at each delivery the checks a simulator cannot skip: is the receiver
/// crashed, are sender and receiver on the same side of a partition.
pub fn baseline(nodes: usize, deliveries: u64) -> BenchResult {
    let clock = Stopwatch::start();
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut actors: Vec<Box<dyn Actor>> = (0..nodes)
        .map(|_| {
            Box::new(Forwarder {
                received: 0,
                forwarded: 0,
            }) as Box<dyn Actor>
        })
        .collect();
    let crashed = vec![false; nodes];
    let group = vec![0u32; nodes];
    let mut q = LoopQueue::default();
    for i in 0..100u32 {
        let to = i as usize % nodes;
        let at = rng.random_range(1_000..=10_000);
        let p = Pending {
            from: to,
            to,
            msg: Token { id: i, hops: 0 },
        };
        q.push(at, p);
    }
    let (mut delivered, mut dropped) = (0u64, 0u64);
    while delivered < deliveries {
        let Some((t, Pending { from, to, msg })) = q.pop() else {
            break;
        };
        if crashed[to] || group[from] != group[to] {
            dropped += 1;
            continue;
        }
        delivered += 1;
        let (next, out) = actors[to].on_message(to, nodes, msg, &mut rng);
        let at = t + rng.random_range(1_000..=10_000);
        q.push(
            at,
            Pending {
                from: to,
                to: next,
                msg: out,
            },
        );
    }
    let (seconds, cpu) = clock.elapsed();
    BenchResult {
        deliveries: delivered,
        seconds,
        cpu,
        events: delivered + dropped,
        digest: 0,
        retained: 0,
        retained_bytes: 0,
    }
}

/// `bench --baseline`: the hand-written loop and the engine at `level`, alternated `rounds`
/// times in this one process; the best of each and their ratio (the best is the run least
/// disturbed by the other processes on a shared machine).
pub fn compare(nodes: usize, deliveries: u64, level: TraceLevel, rounds: u32) -> String {
    let mut best_loop: Option<BenchResult> = None;
    let mut best_engine: Option<BenchResult> = None;
    let better = |best: &mut Option<BenchResult>, r: BenchResult| {
        if best.as_ref().is_none_or(|b| r.seconds < b.seconds) {
            *best = Some(r);
        }
    };
    for _ in 0..rounds.max(1) {
        better(&mut best_loop, baseline(nodes, deliveries));
        better(&mut best_engine, engine(nodes, deliveries, level));
    }
    let (l, e) = (best_loop.expect("ran"), best_engine.expect("ran"));
    let name = match level {
        TraceLevel::Off => "off",
        TraceLevel::Causal => "on",
        TraceLevel::Full => "full",
    };
    format!(
        "loop: {}\nengine (trace {name}): {}\nratio={:.2} (engine / loop, best of {} alternated runs each)",
        l.line(),
        e.line(),
        e.ns_per_delivery() / l.ns_per_delivery(),
        rounds.max(1)
    )
}

/// Times the linearizability checker on a random history of `ops` operations of a real
/// register (4 keys, 8 clients, 5% of them timed out): `ops=10000 seconds=0.042 ok=true`.
pub fn linearizability(ops: usize) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let history = crate::sim::linearizability::random_register_history(&mut rng, ops, 4, 8);
    let clock = Stopwatch::start();
    let result = crate::sim::linearizability::check(&history);
    let (seconds, _) = clock.elapsed();
    format!("ops={ops} seconds={seconds:.3} ok={}", result.is_ok())
}
