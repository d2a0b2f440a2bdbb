//! Semantics of the engine: queue order, network, faults, clients, trace, determinism.
//! A tiny protocol (`Probe`) defined here exercises each rule in isolation.

use distsim::sim::client::{ClientReply, ClientRequest, Op, Outcome};
use distsim::sim::network::{Latency, LinkParams};
use distsim::sim::trace::{DropReason, EventId, EventKind};
use distsim::sim::{
    Action, Ctx, Message, NodeId, NodeView, Protocol, Sim, SimSetup, SimTime, Tone,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeConfig {
    /// Node 0 sends this many pings to node 1 at time zero.
    pings: u32,
    /// Every node sets a `Tick` timer this long after start (0: none).
    tick_ms: u64,
    /// Node 0 draws one extra random number at start (stream independence test).
    extra_draw: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ProbeMsg {
    Ping(u32),
}
impl Message for ProbeMsg {
    fn kind(&self) -> &'static str {
        "Ping"
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum ProbeTimer {
    Tick,
}

#[derive(Clone, Debug)]
struct Probe {
    received: Vec<u32>,
    ticks: Vec<SimTime>,
    draws: Vec<u64>,
    restored: Option<u64>,
}

impl Protocol for Probe {
    type Msg = ProbeMsg;
    type Timer = ProbeTimer;
    type Durable = u64;
    type Config = ProbeConfig;
    const NAME: &'static str = "probe";
    const SUMMARY: &'static str = "test protocol";
    const MESSAGE_KINDS: &'static [&'static str] = &["Ping"];

    fn init(cfg: &ProbeConfig, ctx: &mut Ctx<Self>) -> Self {
        if ctx.id == 0 {
            for k in 0..cfg.pings {
                ctx.send(1, ProbeMsg::Ping(k));
            }
            if cfg.extra_draw {
                let _: u64 = ctx.rng().random();
            }
        }
        if cfg.tick_ms > 0 {
            ctx.set_timer(ProbeTimer::Tick, SimTime::from_millis(cfg.tick_ms));
        }
        let draws = (0..3).map(|_| ctx.rng().random()).collect();
        Probe {
            received: vec![],
            ticks: vec![],
            draws,
            restored: None,
        }
    }
    fn on_restart(_cfg: &ProbeConfig, durable: &u64, _ctx: &mut Ctx<Self>) -> Self {
        Probe {
            received: vec![],
            ticks: vec![],
            draws: vec![],
            restored: Some(*durable),
        }
    }
    fn on_message(&mut self, _from: NodeId, msg: ProbeMsg, ctx: &mut Ctx<Self>) {
        let ProbeMsg::Ping(k) = msg;
        self.received.push(k);
        ctx.persist(self.received.len() as u64);
    }
    fn on_timer(&mut self, _t: ProbeTimer, ctx: &mut Ctx<Self>) {
        self.ticks.push(ctx.now);
    }
    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        match (&req.op, ctx.id) {
            (Op::Request(a), _) if a == "ignore" => {}
            (_, 0) => ctx.reply_to_client(req.from, ClientReply::Ok { value: None }),
            _ => ctx.reply_to_client(req.from, ClientReply::Redirect { leader: Some(0) }),
        }
    }
    fn view(&self) -> NodeView {
        let mut v = NodeView::new("probe", Tone::Neutral);
        v.term = Some(self.received.len() as u64);
        v
    }
}

fn setup(nodes: usize, cfg: ProbeConfig, latency: Latency) -> SimSetup<ProbeConfig> {
    let mut s = SimSetup::new(nodes, 1, SimTime::from_secs(10));
    s.config = cfg;
    s.network = LinkParams {
        latency,
        ..Default::default()
    };
    s
}

fn ms(v: u64) -> SimTime {
    SimTime::from_millis(v)
}

fn pings(n: u32) -> ProbeConfig {
    ProbeConfig {
        pings: n,
        ..Default::default()
    }
}

#[test]
fn simultaneous_events_are_delivered_in_send_order() {
    let mut sim = Sim::<Probe>::new(setup(2, pings(20), Latency::Constant(ms(10))));
    sim.run();
    assert_eq!(sim.state(1).unwrap().received, (0..20).collect::<Vec<_>>());
}

#[test]
fn a_crashed_node_drops_arrivals_loses_timers_and_restarts_from_durable_state() {
    let mut s = setup(
        2,
        ProbeConfig {
            pings: 3,
            tick_ms: 50,
            extra_draw: false,
        },
        Latency::Constant(ms(10)),
    );
    // Two pings arrive at 10ms; crash node 1 at 5ms... no: let them land, then crash before the tick.
    s.timeline = vec![
        (ms(20), Action::Crash("n2".into())),
        (ms(100), Action::Restart("n2".into())),
    ];
    let mut sim = Sim::<Probe>::new(s);
    sim.run_until(ms(30));
    assert!(sim.state(1).is_none(), "crashed node has no volatile state");
    assert_eq!(*sim.durable(1), 3, "durable state survives the crash");
    sim.run();
    let n2 = sim.state(1).unwrap();
    assert_eq!(
        n2.restored,
        Some(3),
        "restart is built from durable state only"
    );
    assert!(
        n2.ticks.is_empty(),
        "the timer set before the crash never fires"
    );
    assert_eq!(sim.state(0).unwrap().ticks, vec![ms(50)]);

    // Now a message arriving while crashed is dropped with the reason recorded.
    let mut s = setup(2, pings(1), Latency::Constant(ms(10)));
    s.timeline = vec![(ms(5), Action::Crash("n2".into()))];
    let mut sim = Sim::<Probe>::new(s);
    sim.run();
    let drops: Vec<_> = sim
        .trace()
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Drop { reason, .. } => Some((e.time, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(drops, vec![(ms(10), DropReason::NodeDown)]);
}

#[test]
fn a_paused_node_freezes_timers_and_queues_messages_until_resume() {
    let mut s = setup(
        2,
        ProbeConfig {
            pings: 1,
            tick_ms: 100,
            extra_draw: false,
        },
        Latency::Constant(ms(10)),
    );
    s.timeline = vec![
        (ms(5), Action::Pause("n2".into())),
        (ms(55), Action::Resume("n2".into())),
    ];
    let mut sim = Sim::<Probe>::new(s);
    sim.run_until(ms(50));
    assert!(
        sim.state(1).unwrap().received.is_empty(),
        "no input while paused"
    );
    sim.run();
    let n2 = sim.state(1).unwrap();
    assert_eq!(
        n2.received,
        vec![0],
        "the message waited and was delivered on resume"
    );
    assert_eq!(
        n2.ticks,
        vec![ms(150)],
        "the timer froze for the 50ms pause"
    );
    let delivered_at = sim
        .trace()
        .events()
        .iter()
        .find(|e| matches!(e.kind, EventKind::Deliver { .. }))
        .unwrap()
        .time;
    assert_eq!(delivered_at, ms(55));
}

#[test]
fn clock_drift_scales_timers() {
    let mut s = setup(
        2,
        ProbeConfig {
            tick_ms: 100,
            ..Default::default()
        },
        Latency::Constant(ms(10)),
    );
    s.drift_ppm = vec![0, 100_000];
    let mut sim = Sim::<Probe>::new(s);
    sim.run();
    assert_eq!(sim.state(0).unwrap().ticks, vec![ms(100)]);
    assert_eq!(sim.state(1).unwrap().ticks, vec![ms(110)]);
}

#[test]
fn a_partition_drops_messages_already_in_flight_on_arrival() {
    let mut s = setup(2, pings(1), Latency::Constant(ms(10)));
    s.timeline = vec![(ms(5), Action::Partition(vec![vec!["n1".into()]]))];
    let mut sim = Sim::<Probe>::new(s);
    sim.run();
    assert!(sim.state(1).unwrap().received.is_empty());
    assert_eq!(
        sim.metrics()
            .dropped_by_reason
            .get(&DropReason::Partitioned),
        Some(&1)
    );
}

#[test]
fn a_partition_healed_before_arrival_lets_the_message_through() {
    let mut s = setup(2, pings(1), Latency::Constant(ms(10)));
    s.timeline = vec![
        (ms(2), Action::Partition(vec![vec!["n1".into()]])),
        (ms(5), Action::Heal),
    ];
    let mut sim = Sim::<Probe>::new(s);
    sim.run();
    assert_eq!(sim.state(1).unwrap().received, vec![0]);
}

#[test]
fn sends_across_a_partition_are_dropped_at_once_and_one_way_cuts_block_one_direction() {
    let mut s = setup(2, pings(1), Latency::Constant(ms(10)));
    s.timeline = vec![];
    let mut sim = Sim::<Probe>::new({
        let mut s2 = s.clone();
        s2.timeline = vec![];
        s2
    });
    sim.run();
    assert_eq!(sim.state(1).unwrap().received, vec![0]);
    // n1 -> n2 cut one way: the ping is lost; the cut is in the trace.
    s.timeline = vec![(SimTime::ZERO, Action::CutOneway("n1".into(), "n2".into()))];
    let sim = {
        let mut sim = Sim::<Probe>::new(s);
        sim.run();
        sim
    };
    // The ping was sent at time 0 before the cut (actions run at the end of their instant),
    // so it is lost on arrival.
    assert!(sim.state(1).unwrap().received.is_empty());
    assert!(!sim.network().reachable(0, 1));
    assert!(sim.network().reachable(1, 0));
}

#[test]
fn a_held_link_delays_messages_until_release_and_keeps_their_order() {
    let mut s = setup(
        2,
        pings(5),
        Latency::Uniform {
            min: ms(1),
            max: ms(9),
        },
    );
    s.network.fifo = true;
    s.timeline = vec![
        (SimTime::ZERO, Action::Hold("n1".into(), "n2".into())),
        (ms(100), Action::Release("n1".into(), "n2".into())),
    ];
    let mut sim = Sim::<Probe>::new(s);
    sim.run_until(ms(99));
    assert!(sim.state(1).unwrap().received.is_empty());
    sim.run();
    assert_eq!(sim.state(1).unwrap().received, vec![0, 1, 2, 3, 4]);
}

#[test]
fn duplication_delivers_twice_and_is_recorded() {
    let mut s = setup(2, pings(3), Latency::Constant(ms(10)));
    s.network.duplicate = 1.0;
    let mut sim = Sim::<Probe>::new(s);
    sim.run();
    assert_eq!(sim.state(1).unwrap().received.len(), 6);
    assert_eq!(sim.metrics().duplicated, 3);
}

#[test]
fn the_same_seed_gives_the_same_digest_and_another_seed_another() {
    let run = |seed| {
        let mut s = setup(
            3,
            pings(10),
            Latency::Uniform {
                min: ms(1),
                max: ms(50),
            },
        );
        s.seed = seed;
        s.network.drop = 0.2;
        let mut sim = Sim::<Probe>::new(s);
        sim.run();
        sim.trace().digest()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn each_node_has_its_own_random_stream() {
    let draws = |extra| {
        let sim = Sim::<Probe>::new(setup(
            3,
            ProbeConfig {
                extra_draw: extra,
                ..Default::default()
            },
            Latency::Constant(ms(1)),
        ));
        (0..3)
            .map(|i| sim.state(i).unwrap().draws.clone())
            .collect::<Vec<_>>()
    };
    let (a, b) = (draws(false), draws(true));
    assert_ne!(a[0], b[0], "node 0 drew one more number");
    assert_eq!(a[1], b[1], "node 1's stream is untouched");
    assert_eq!(a[2], b[2], "node 2's stream is untouched");
}

#[test]
fn clients_follow_redirects_and_time_out_with_retries() {
    let mut s = setup(3, ProbeConfig::default(), Latency::Constant(ms(10)));
    s.timeline = vec![
        (
            ms(0),
            Action::ClientRequest {
                to: Some("n3".into()),
                op: Op::Get { key: "k".into() },
            },
        ),
        (
            ms(0),
            Action::ClientRequest {
                to: Some("n2".into()),
                op: Op::Request("ignore".into()),
            },
        ),
    ];
    let mut sim = Sim::<Probe>::new(s);
    sim.run();
    let h = &sim.history().entries;
    assert_eq!(h.len(), 2);
    // n3 redirects to n1, which answers: two attempts, 40ms (two round trips).
    assert_eq!(h[0].outcome, Some(Outcome::Ok { value: None }));
    assert_eq!(h[0].attempts, 2);
    assert_eq!(h[0].returned_at, Some(ms(40)));
    assert_eq!(h[0].node, Some(0));
    // Nobody answers "ignore": five attempts of 500ms each, then a timeout.
    assert_eq!(h[1].outcome, Some(Outcome::Timeout));
    assert_eq!(h[1].attempts, 5);
    assert_eq!(h[1].returned_at, Some(ms(2_500)));
}

#[test]
fn a_client_return_links_back_through_replies_and_redirects_to_its_invocation() {
    let mut s = setup(3, ProbeConfig::default(), Latency::Constant(ms(10)));
    s.timeline = vec![(
        ms(0),
        Action::ClientRequest {
            to: Some("n3".into()),
            op: Op::Get { key: "k".into() },
        },
    )];
    let mut sim = Sim::<Probe>::new(s);
    sim.run();
    let t = sim.trace();
    let parent = |id: EventId| t.get(id).and_then(|e| e.parent).expect("a parent");
    let ret = t
        .events()
        .iter()
        .find(|e| matches!(e.kind, EventKind::ClientReturn { .. }))
        .expect("the operation returned");
    let EventKind::ClientReturn {
        attempts,
        node,
        determinate,
        outcome,
        ..
    } = &ret.kind
    else {
        unreachable!()
    };
    assert_eq!((*attempts, *node, *determinate), (2, Some(0), true));
    assert_eq!(**outcome, Outcome::Ok { value: None });
    // return <- n1's ok <- n1's request (attempt 2) <- n3's redirect <- n3's request
    // (attempt 1) <- the invocation.
    let ok = parent(ret.id);
    let at = |id: EventId| t.get(id).map(|e| (e.node, e.kind.clone())).unwrap();
    assert!(matches!(
        at(ok),
        (
            Some(0),
            EventKind::ClientReply {
                answer: "ok",
                attempt: 2,
                ..
            }
        )
    ));
    let second = parent(ok);
    assert!(matches!(
        at(second),
        (Some(0), EventKind::ClientRequest { attempt: 2, .. })
    ));
    let redirect = parent(second);
    assert!(matches!(
        at(redirect),
        (
            Some(2),
            EventKind::ClientReply {
                answer: "redirect",
                redirect_to: Some(0),
                attempt: 1,
                ..
            }
        )
    ));
    let first = parent(redirect);
    assert!(matches!(
        at(first),
        (Some(2), EventKind::ClientRequest { attempt: 1, .. })
    ));
    assert!(matches!(
        at(parent(first)),
        (None, EventKind::ClientInvoke { .. })
    ));
}

#[test]
fn a_timed_out_operation_returns_indeterminate_and_nobodys_answer() {
    let mut s = setup(3, ProbeConfig::default(), Latency::Constant(ms(10)));
    s.timeline = vec![(
        ms(0),
        Action::ClientRequest {
            to: Some("n2".into()),
            op: Op::Request("ignore".into()),
        },
    )];
    let mut sim = Sim::<Probe>::new(s);
    sim.run();
    let ret = sim
        .trace()
        .events()
        .iter()
        .find(|e| matches!(e.kind, EventKind::ClientReturn { .. }))
        .expect("the operation returned");
    assert_eq!(ret.parent, None, "a timeout follows from no answer");
    assert!(matches!(
        &ret.kind,
        EventKind::ClientReturn { attempts: 5, node: None, determinate: false, outcome, .. }
            if **outcome == Outcome::Timeout
    ));
}

#[test]
fn the_trace_redraws_any_past_instant() {
    let mut sim = Sim::<Probe>::new(setup(2, pings(2), Latency::Constant(ms(10))));
    sim.run();
    let t = sim.trace();
    let before = t.in_flight_at(ms(5));
    assert_eq!(before.len(), 2, "both pings are on the wire at 5ms");
    assert_eq!(before[0].arrives_at, ms(10));
    assert!(t.in_flight_at(ms(10)).is_empty(), "delivered at 10ms");
    let views = t.views_at(ms(5), 2);
    assert_eq!(views[1].unwrap().term, Some(0));
    let views = t.views_at(ms(10), 2);
    assert_eq!(views[1].unwrap().term, Some(2));
}

#[test]
fn causal_parents_lamport_and_vector_clocks_are_consistent() {
    let mut sim = Sim::<Probe>::new(setup(2, pings(1), Latency::Constant(ms(10))));
    sim.run();
    let t = sim.trace();
    let send = t
        .events()
        .iter()
        .find(|e| matches!(e.kind, EventKind::Send { .. }))
        .unwrap();
    let deliver = t
        .events()
        .iter()
        .find(|e| matches!(e.kind, EventKind::Deliver { .. }))
        .unwrap();
    assert_eq!(deliver.parent, Some(send.id));
    assert!(deliver.lamport > send.lamport);
    let vcs = t.vector_clocks(2);
    let pos = |id| t.events().iter().position(|e| e.id == id).unwrap();
    let (vs, vd) = (&vcs[pos(send.id)], &vcs[pos(deliver.id)]);
    assert!(
        vs.iter().zip(vd).all(|(a, b)| a <= b) && vs != vd,
        "send happened before deliver: {vs:?} {vd:?}"
    );
}

#[test]
fn trace_levels_and_bounds_do_not_change_the_digest() {
    use distsim::sim::TraceLevel;
    let run = |level, cap| {
        let mut s = setup(
            3,
            ProbeConfig {
                pings: 50,
                tick_ms: 5,
                extra_draw: false,
            },
            Latency::Uniform {
                min: ms(1),
                max: ms(9),
            },
        );
        s.trace_level = level;
        s.trace_cap = cap;
        let mut sim = Sim::<Probe>::new(s);
        sim.run();
        (
            sim.trace().digest(),
            sim.trace().events().len(),
            sim.trace().len(),
        )
    };
    let full = run(TraceLevel::Full, None);
    let causal = run(TraceLevel::Causal, None);
    let bounded = run(TraceLevel::Causal, Some(10));
    let off = run(TraceLevel::Off, None);
    assert_eq!(full.0, causal.0);
    assert_eq!(full.0, bounded.0);
    assert_eq!(
        off.0,
        run(TraceLevel::Off, None).0,
        "Off is deterministic too"
    );
    assert_eq!(bounded.1, 10, "a bounded trace keeps only the last events");
    assert_eq!(bounded.2, causal.2, "but counts them all");
    assert_eq!(off.1, 0);
}

#[test]
fn the_trace_serializes_to_json_lines() {
    let mut sim = Sim::<Probe>::new(setup(2, pings(1), Latency::Constant(ms(10))));
    sim.run();
    let mut buf = Vec::new();
    sim.trace().write_jsonl(&mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, sim.trace().len());
    let send = lines.iter().find(|v| v["type"] == "Send").unwrap();
    assert_eq!(send["deliver_at"], "10ms");
    assert_eq!(send["msg"], "Ping");
    let deliver = lines.iter().find(|v| v["type"] == "Deliver").unwrap();
    assert_eq!(deliver["parent"], send["id"]);
}

#[test]
fn user_actions_are_applied_after_the_current_instant_and_replay_exactly() {
    // A live session: run, act, run on.
    let base = || {
        let mut s = setup(
            3,
            ProbeConfig {
                pings: 30,
                tick_ms: 7,
                extra_draw: false,
            },
            Latency::Uniform {
                min: ms(1),
                max: ms(20),
            },
        );
        s.network.drop = 0.1;
        s
    };
    let mut live = Sim::<Probe>::new(base());
    live.run_until(ms(12));
    live.apply(Action::Crash("n2".into())).unwrap();
    live.run_until(ms(40));
    live.apply(Action::Restart("n2".into())).unwrap();
    live.apply(Action::Partition(vec![vec!["n1".into()]]))
        .unwrap();
    live.run();
    // The replay: the recorded actions in the timeline.
    let mut s = base();
    s.timeline = live.recorded().to_vec();
    let mut replay = Sim::<Probe>::new(s);
    replay.run();
    assert_eq!(live.trace().digest(), replay.trace().digest());
    assert_eq!(live.recorded().len(), 3);
    assert!(live.apply(Action::Crash("nope".into())).is_err());
}
