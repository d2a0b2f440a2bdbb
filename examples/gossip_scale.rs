//! Headless gossip at scale: one rumor from node 0, push / pull / push-pull, fanout 1, until
//! every node is informed. Prints rounds, informed fraction per round, messages and redundant
//! deliveries. `cargo run --no-default-features --release --example gossip_scale -- 100000`

use distsim::protocols::gossip::{Gossip, GossipConfig, Mode, Style};
use distsim::sim::network::{Latency, LinkParams};
use distsim::sim::{Sim, SimSetup, SimTime, TraceLevel};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let period = SimTime::from_millis(100);
    for style in [Style::Push, Style::Pull, Style::PushPull] {
        let mut setup: SimSetup<GossipConfig> = SimSetup::new(n, 1, SimTime::from_secs(600));
        setup.config = GossipConfig {
            mode: Mode::Rumor,
            style,
            ..Default::default()
        };
        setup.network = LinkParams {
            latency: Latency::Uniform {
                min: SimTime::from_millis(1),
                max: SimTime::from_millis(50),
            },
            ..Default::default()
        };
        setup.trace_level = TraceLevel::Off;
        setup.max_steps = u64::MAX;
        let start = std::time::Instant::now();
        let mut sim = Sim::<Gossip>::new(setup);
        let mut fractions = Vec::new();
        let mut round = 0;
        while sim.metrics().counter("informed") < n as u64 {
            round += 1;
            sim.run_until(SimTime(period.0 * round + period.0 / 2));
            fractions.push(sim.metrics().counter("informed") as f64 / n as f64);
        }
        let m = sim.metrics();
        let curve: Vec<String> = fractions.iter().map(|f| format!("{:.3}", f)).collect();
        println!(
            "{style:?}: n={n} rounds={round} messages={} deliveries={} redundant={} wall={:.1}s\n  informed fraction by round: {}",
            m.sent.total(),
            m.counter("deliveries"),
            m.counter("redundant"),
            start.elapsed().as_secs_f64(),
            curve.join(" ")
        );
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    }
}
