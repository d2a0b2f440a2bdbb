//! The engine benchmark: N nodes forwarding messages at random (the `relay` protocol).
//!
//! Workload (from the issue): each delivered message makes its receiver send one message to a
//! uniformly random other node; latency uniform 1–10 ms; 100 messages seeded at t=0; run until
//! the given number of deliveries. It runs the real engine and the real `relay` actor through
//! the same code path as any scenario. `baseline` is a hand-written BinaryHeap + ChaCha8 +
//! boxed-actor loop doing the same work, for comparison.

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

pub struct BenchResult {
    pub deliveries: u64,
    pub seconds: f64,
    pub events: u64,
    pub digest: u64,
}

impl BenchResult {
    pub fn line(&self) -> String {
        let per_sec = self.deliveries as f64 / self.seconds;
        format!(
            "deliveries_per_sec={per_sec:.0} ns_per_delivery={:.1}",
            1e9 / per_sec
        )
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
    let start = Instant::now();
    let mut sim = Sim::<Relay>::new(setup);
    while sim.metrics().delivered.total() < deliveries && sim.step() {}
    let seconds = start.elapsed().as_secs_f64();
    BenchResult {
        deliveries: sim.metrics().delivered.total(),
        seconds,
        events: sim.trace().len(),
        digest: sim.trace().digest(),
    }
}

trait Actor {
    fn on_message(&mut self, me: usize, nodes: usize, rng: &mut ChaCha8Rng) -> usize;
}
struct Forwarder {
    received: u64,
}
impl Actor for Forwarder {
    fn on_message(&mut self, me: usize, nodes: usize, rng: &mut ChaCha8Rng) -> usize {
        self.received += 1;
        let mut to = rng.random_range(0..nodes - 1);
        if to >= me {
            to += 1;
        }
        to
    }
}

/// The hand-written reference loop: the floor the engine is measured against.
pub fn baseline(nodes: usize, deliveries: u64) -> BenchResult {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut actors: Vec<Box<dyn Actor>> = (0..nodes)
        .map(|_| Box::new(Forwarder { received: 0 }) as Box<dyn Actor>)
        .collect();
    let mut heap: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut seq = 0u64;
    for i in 0..100u64 {
        let to = (i as usize) % nodes;
        heap.push(Reverse((rng.random_range(1_000..=10_000), seq, to)));
        seq += 1;
    }
    let mut delivered = 0;
    while delivered < deliveries {
        let Some(Reverse((t, _, to))) = heap.pop() else {
            break;
        };
        delivered += 1;
        let next = actors[to].on_message(to, nodes, &mut rng);
        heap.push(Reverse((t + rng.random_range(1_000..=10_000), seq, next)));
        seq += 1;
    }
    BenchResult {
        deliveries: delivered,
        seconds: start.elapsed().as_secs_f64(),
        events: delivered,
        digest: 0,
    }
}

/// Times the linearizability checker on a random history of `ops` operations of a real
/// register (4 keys, 8 clients, 5% of them timed out): `ops=10000 seconds=0.042 ok=true`.
pub fn linearizability(ops: usize) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let history = crate::sim::linearizability::random_register_history(&mut rng, ops, 4, 8);
    let start = Instant::now();
    let result = crate::sim::linearizability::check(&history);
    let seconds = start.elapsed().as_secs_f64();
    format!("ops={ops} seconds={seconds:.3} ok={}", result.is_ok())
}
