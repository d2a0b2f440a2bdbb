//! Runaway runs: a protocol that keeps simulated time from advancing is stopped by the engine
//! with an error naming the node and the event kind, long before memory runs out.

use distsim::sim::trace::{EventKind, TraceLevel};
use distsim::sim::{
    ClientRequest, Ctx, Message, NodeId, NodeView, Protocol, Sim, SimSetup, SimTime, Tone,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SpinConfig {}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum SpinMsg {}
impl Message for SpinMsg {
    fn kind(&self) -> &'static str {
        match *self {}
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum SpinTimer {
    Again,
}

/// Node 1 re-arms a zero timer for ever (a timeout configured to `"0s"`); node 0 ticks every
/// millisecond, so the queue never empties.
#[derive(Clone, Debug)]
struct Spin;

impl Protocol for Spin {
    type Msg = SpinMsg;
    type Timer = SpinTimer;
    type Durable = ();
    type Config = SpinConfig;
    const NAME: &'static str = "spin";
    const SUMMARY: &'static str = "spins at one instant";
    const MESSAGE_KINDS: &'static [&'static str] = &[];

    fn init(_cfg: &SpinConfig, ctx: &mut Ctx<Self>) -> Self {
        let after = if ctx.id == 1 {
            SimTime::from_millis(5)
        } else {
            SimTime::from_millis(1)
        };
        ctx.set_timer(SpinTimer::Again, after);
        Spin
    }
    fn on_restart(cfg: &SpinConfig, _d: &(), ctx: &mut Ctx<Self>) -> Self {
        Self::init(cfg, ctx)
    }
    fn on_message(&mut self, _from: NodeId, msg: SpinMsg, _ctx: &mut Ctx<Self>) {
        match msg {}
    }
    fn on_timer(&mut self, _t: SpinTimer, ctx: &mut Ctx<Self>) {
        let after = if ctx.id == 1 {
            SimTime::ZERO
        } else {
            SimTime::from_millis(1)
        };
        ctx.set_timer(SpinTimer::Again, after);
    }
    fn on_client_request(&mut self, _req: ClientRequest, _ctx: &mut Ctx<Self>) {}
    fn view(&self) -> NodeView {
        NodeView::new("spin", Tone::Neutral)
    }
}

#[test]
fn a_run_stuck_at_one_instant_stops_with_an_error_naming_the_node_and_the_event() {
    let mut setup: SimSetup<SpinConfig> = SimSetup::new(2, 1, SimTime::from_secs(10));
    setup.trace_level = TraceLevel::Causal;
    setup.max_steps = 20_000_000;
    let mut sim = Sim::<Spin>::new(setup);
    sim.run();
    // Stopped where it got stuck, at 5ms, well before the step limit.
    assert_eq!(sim.now(), SimTime::from_millis(5));
    assert!(sim.steps() < 5_000_000, "{} steps", sim.steps());
    let note = sim
        .trace()
        .events()
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Note { text } => Some((e.node, text.clone())),
            _ => None,
        })
        .expect("a note says why the run stopped");
    assert_eq!(note.0, Some(1));
    assert!(
        note.1.contains("has not advanced") && note.1.contains("timer") && note.1.contains("n2"),
        "{}",
        note.1
    );
}

#[test]
fn busy_instants_below_the_limit_are_not_stalls() {
    // One node ticking every millisecond: time advances, the run reaches its end.
    let mut setup: SimSetup<SpinConfig> = SimSetup::new(1, 1, SimTime::from_secs(1));
    setup.trace_level = TraceLevel::Off;
    let mut sim = Sim::<Spin>::new(setup);
    sim.run();
    assert_eq!(sim.now(), SimTime::from_secs(1));
    assert!(!sim.step_limit_hit);
}
