//! Systems of services: roles, service time and queues, open-loop load, time series.
//!
//! The queueing tests check the engine against queueing theory, computing the formulas here:
//! a single-worker node fed Poisson arrivals with exponential service is an M/M/1 queue, whose
//! mean response time is 1/(mu - lambda); a c-worker node is M/M/c, whose mean wait is given
//! by the Erlang C formula.

use distsim::registry::{self, RunOptions};
use distsim::sim::client::{ClientReply, ClientRequest, Outcome, Target, Workload};
use distsim::sim::load::Arrival;
use distsim::sim::network::{Latency, LinkParams};
use distsim::sim::series::SeriesKey;
use distsim::sim::trace::{DropReason, EventKind, TraceLevel};
use distsim::sim::{
    Action, Ctx, Message, NodeId, NodeView, Protocol, RoleSpec, RoleTable, ServiceModel, Sim,
    SimSetup, SimTime, Tone,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct EchoConfig {
    /// Work each request charges (`ctx.work`).
    work: SimTime,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Nothing;
impl Message for Nothing {
    fn kind(&self) -> &'static str {
        "Nothing"
    }
}

/// Answers every client request at once (after any work it charges).
#[derive(Clone, Debug)]
struct Echo {
    work: SimTime,
    handled: u64,
}

impl Protocol for Echo {
    type Msg = Nothing;
    type Timer = ();
    type Durable = ();
    type Config = EchoConfig;
    const NAME: &'static str = "echo";
    const SUMMARY: &'static str = "answers requests";
    const MESSAGE_KINDS: &'static [&'static str] = &["Nothing"];

    fn init(cfg: &EchoConfig, _ctx: &mut Ctx<Self>) -> Self {
        Echo {
            work: cfg.work,
            handled: 0,
        }
    }
    fn on_restart(cfg: &EchoConfig, _d: &(), ctx: &mut Ctx<Self>) -> Self {
        Self::init(cfg, ctx)
    }
    fn on_message(&mut self, _from: NodeId, _msg: Nothing, _ctx: &mut Ctx<Self>) {}
    fn on_timer(&mut self, _t: (), _ctx: &mut Ctx<Self>) {}
    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        self.handled += 1;
        ctx.work(self.work);
        ctx.reply_to_client(req.from, ClientReply::Ok { value: None });
    }
    fn view(&self) -> NodeView {
        NodeView::new("echo", Tone::Neutral)
    }
}

const HOP: SimTime = SimTime::from_micros(1);

/// One echo node with a service model, fed open-loop arrivals.
fn station(
    model: ServiceModel,
    arrival: Arrival,
    duration: SimTime,
    seed: u64,
) -> SimSetup<EchoConfig> {
    let mut s = SimSetup::<EchoConfig>::new(1, seed, duration);
    s.trace_level = TraceLevel::Off;
    s.network = LinkParams {
        latency: Latency::Constant(HOP),
        ..LinkParams::default()
    };
    s.service = vec![Some(model)];
    s.workload = Some(Workload {
        arrival: Some(arrival),
        timeout: SimTime::from_secs(24 * 3600),
        max_attempts: 1,
        mix: distsim::sim::client::OpMix {
            get: 1,
            put: 0,
            cas: 0,
            request: 0,
        },
        ..Workload::default()
    });
    s
}

/// Mean time from arrival to the end of service, in seconds, over finished operations
/// (the two 1us network hops taken off).
fn mean_response(sim: &Sim<Echo>) -> (f64, usize) {
    let lat: Vec<f64> = sim
        .history()
        .entries
        .iter()
        .filter(|e| matches!(e.outcome, Some(Outcome::Ok { .. })))
        .map(|e| (e.returned_at.unwrap() - e.invoked_at - HOP - HOP).as_secs_f64())
        .collect();
    (lat.iter().sum::<f64>() / lat.len() as f64, lat.len())
}

fn exp_service(workers: u32, mu: f64) -> ServiceModel {
    ServiceModel {
        workers,
        time: Latency::Exponential {
            mean: SimTime::from_micros((1e6 / mu) as u64),
        },
        queue: 1_000_000,
    }
}

/// Erlang C: the probability that an arrival waits in an M/M/c queue with offered load
/// a = lambda/mu.
fn erlang_c(c: u32, a: f64) -> f64 {
    let rho = a / c as f64;
    let mut term = 1.0; // a^k / k!
    let mut sum = 0.0;
    for k in 0..c {
        if k > 0 {
            term *= a / k as f64;
        }
        sum += term;
    }
    let top = term * a / c as f64 / (1.0 - rho); // a^c / c! / (1 - rho)
    top / (sum + top)
}

#[test]
fn m_m_1_mean_response_is_one_over_mu_minus_lambda() {
    let mu = 100.0;
    for (rho, seed) in [(0.5, 1), (0.8, 2)] {
        let lambda = rho * mu;
        let mut sim = Sim::<Echo>::new(station(
            exp_service(1, mu),
            Arrival::Poisson { rate: lambda },
            SimTime::from_secs(4 * 3600),
            seed,
        ));
        sim.run();
        let (measured, n) = mean_response(&sim);
        let theory = 1.0 / (mu - lambda);
        let err = (measured - theory).abs() / theory;
        assert!(
            err < 0.05,
            "M/M/1 at rho {rho}: measured {measured:.5}s over {n} requests, theory {theory:.5}s ({:.1}% off, seed {seed})",
            err * 100.0
        );
    }
}

#[test]
fn m_m_c_mean_wait_follows_erlang_c() {
    let (c, mu) = (4, 100.0);
    for (rho, seed) in [(0.5, 3), (0.8, 4)] {
        let lambda = rho * mu * c as f64;
        let mut sim = Sim::<Echo>::new(station(
            exp_service(c, mu),
            Arrival::Poisson { rate: lambda },
            SimTime::from_secs(2 * 3600),
            seed,
        ));
        sim.run();
        let (measured, n) = mean_response(&sim);
        let wait = erlang_c(c, lambda / mu) / (c as f64 * mu - lambda);
        let theory = wait + 1.0 / mu;
        let err = (measured - theory).abs() / theory;
        assert!(
            err < 0.05,
            "M/M/{c} at rho {rho}: measured {measured:.5}s over {n} requests, theory {theory:.5}s (Erlang C wait {wait:.5}s; {:.1}% off, seed {seed})",
            err * 100.0
        );
    }
}

#[test]
fn erlang_c_of_one_server_is_its_utilisation() {
    // With c = 1 an arrival waits exactly when the server is busy: probability rho.
    assert!((erlang_c(1, 0.8) - 0.8).abs() < 1e-12);
    // A textbook value: c = 2, a = 1 gives 1/3.
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
}

fn constant_station(workers: u32, queue: u32, service_ms: u64) -> ServiceModel {
    ServiceModel {
        workers,
        time: Latency::Constant(SimTime::from_millis(service_ms)),
        queue,
    }
}

#[test]
fn inputs_wait_for_a_worker_in_order_and_a_full_queue_sheds() {
    // 1 worker, 10 ms per request, 2 places; 5 requests arrive together at 1 ms.
    let mut setup = SimSetup::<EchoConfig>::new(1, 1, SimTime::from_secs(1));
    setup.network = LinkParams {
        latency: Latency::Constant(SimTime::from_millis(1)),
        ..LinkParams::default()
    };
    setup.service = vec![Some(constant_station(1, 2, 10))];
    let op = distsim::sim::Op::Get { key: "k".into() };
    setup.timeline = (0..5)
        .map(|_| {
            (
                SimTime::ZERO,
                Action::ClientRequest {
                    to: Some("n1".into()),
                    op: op.clone(),
                },
            )
        })
        .collect();
    setup.workload = Some(Workload {
        clients: 0,
        timeout: SimTime::from_millis(200),
        max_attempts: 1,
        ..Workload::default()
    });
    let mut sim = Sim::<Echo>::new(setup);
    sim.run();
    let returned: Vec<(Option<SimTime>, Option<Outcome>)> = sim
        .history()
        .entries
        .iter()
        .map(|e| (e.returned_at, e.outcome.clone()))
        .collect();
    let ok = |m| {
        (
            Some(SimTime::from_millis(m)),
            Some(Outcome::Ok { value: None }),
        )
    };
    let lost = (Some(SimTime::from_millis(200)), Some(Outcome::Timeout));
    // Served at 11, 21, 31 ms (+1 ms back); the 4th and 5th found the queue full and were
    // never answered.
    assert_eq!(returned, vec![ok(12), ok(22), ok(32), lost.clone(), lost]);
    assert_eq!(sim.metrics().dropped_by_reason[&DropReason::QueueFull], 2);
    let shed = sim
        .trace()
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Shed { .. }))
        .count();
    assert_eq!(shed, 2);
}

#[test]
fn charged_work_delays_the_outputs_and_keeps_the_worker_busy() {
    let mut setup = SimSetup::<EchoConfig>::new(1, 1, SimTime::from_secs(1));
    setup.config.work = SimTime::from_millis(5);
    setup.network = LinkParams {
        latency: Latency::Constant(SimTime::from_millis(1)),
        ..LinkParams::default()
    };
    setup.service = vec![Some(constant_station(1, 10, 10))];
    let op = distsim::sim::Op::Get { key: "k".into() };
    setup.timeline = vec![
        (
            SimTime::ZERO,
            Action::ClientRequest {
                to: Some("n1".into()),
                op: op.clone(),
            },
        );
        2
    ];
    let mut sim = Sim::<Echo>::new(setup.clone());
    sim.run();
    let returned: Vec<SimTime> = sim
        .history()
        .entries
        .iter()
        .map(|e| e.returned_at.unwrap())
        .collect();
    // First: arrives 1, served until 11, work until 16, back at 17. The second starts only
    // when the first's work is done: 16 + 10 + 5 + 1 = 32.
    assert_eq!(
        returned,
        vec![SimTime::from_millis(17), SimTime::from_millis(32)]
    );
    // Without a service model, work only delays the reply: 1 + 5 + 1 for both.
    setup.service = Vec::new();
    let mut sim = Sim::<Echo>::new(setup);
    sim.run();
    assert!(
        sim.history()
            .entries
            .iter()
            .all(|e| e.returned_at == Some(SimTime::from_millis(7)))
    );
}

#[test]
fn a_crash_empties_the_queue_and_a_restarted_node_serves_again() {
    let mut setup = SimSetup::<EchoConfig>::new(1, 1, SimTime::from_secs(1));
    setup.network = LinkParams {
        latency: Latency::Constant(SimTime::from_millis(1)),
        ..LinkParams::default()
    };
    setup.service = vec![Some(constant_station(1, 10, 10))];
    let op = distsim::sim::Op::Get { key: "k".into() };
    let req = || Action::ClientRequest {
        to: Some("n1".into()),
        op: op.clone(),
    };
    setup.timeline = vec![
        (SimTime::ZERO, req()),
        (SimTime::ZERO, req()),
        (SimTime::from_millis(5), Action::Crash("n1".into())),
        (SimTime::from_millis(6), Action::Restart("n1".into())),
        (SimTime::from_millis(7), req()),
    ];
    setup.workload = Some(Workload {
        timeout: SimTime::from_millis(200),
        max_attempts: 1,
        ..Workload::default()
    });
    setup.workload.as_mut().unwrap().clients = 0;
    let mut sim = Sim::<Echo>::new(setup);
    sim.run();
    let outcomes: Vec<_> = sim
        .history()
        .entries
        .iter()
        .map(|e| (e.outcome.clone(), e.returned_at))
        .collect();
    assert_eq!(outcomes[0].0, Some(Outcome::Timeout));
    assert_eq!(outcomes[1].0, Some(Outcome::Timeout));
    assert_eq!(
        outcomes[2],
        (
            Some(Outcome::Ok { value: None }),
            Some(SimTime::from_millis(19))
        )
    );
    assert_eq!(sim.station_load(0), Some((0, 0)));
}

#[test]
fn open_loop_arrivals_do_not_wait_for_replies() {
    // 10 ms of service, 1 worker, but 200 requests per second: closed loop could never
    // exceed 100/s; open loop queues up.
    let mut sim = Sim::<Echo>::new(station(
        constant_station(1, 1_000_000, 10),
        Arrival::Constant { rate: 200.0 },
        SimTime::from_secs(2),
        1,
    ));
    sim.run();
    let invoked = sim.history().entries.len();
    assert!((399..=401).contains(&invoked), "{invoked}");
    let done = sim
        .history()
        .entries
        .iter()
        .filter(|e| e.outcome.is_some())
        .count();
    assert!((199..=201).contains(&done), "{done}");
    let q = sim
        .metrics()
        .series
        .get(&SeriesKey::of("queue", 0))
        .unwrap();
    // The queue grows by about one request every 10 ms.
    let at_1s = q[10];
    assert!((90.0..=110.0).contains(&at_1s), "{at_1s}");
}

#[test]
fn series_are_sampled_on_the_grid_whatever_the_stepping() {
    let setup = station(
        exp_service(2, 100.0),
        Arrival::Poisson { rate: 150.0 },
        SimTime::from_secs(3),
        9,
    );
    let mut a = Sim::<Echo>::new(setup.clone());
    a.run();
    let mut b = Sim::<Echo>::new(setup);
    let mut t = SimTime::ZERO;
    while t < SimTime::from_secs(3) {
        t += SimTime::from_micros(37_123);
        b.run_until(t);
    }
    let sa: Vec<_> = a
        .metrics()
        .series
        .iter()
        .map(|(k, v)| (k.clone(), v.to_vec()))
        .collect();
    let sb: Vec<_> = b
        .metrics()
        .series
        .iter()
        .map(|(k, v)| (k.clone(), v.to_vec()))
        .collect();
    assert_eq!(format!("{sa:?}"), format!("{sb:?}"));
    assert_eq!(a.metrics().series.len(), 30);
    assert_eq!(a.trace().digest(), b.trace().digest());
}

// ---------------------------------------------------------------- roles

/// Reports, at start, the nodes of each role it sees.
#[derive(Clone, Debug)]
struct RoleProbe {
    seen: Vec<(String, Vec<NodeId>)>,
}
impl Protocol for RoleProbe {
    type Msg = Nothing;
    type Timer = ();
    type Durable = ();
    type Config = EchoConfig;
    const NAME: &'static str = "role_probe";
    const SUMMARY: &'static str = "test";
    const MESSAGE_KINDS: &'static [&'static str] = &["Nothing"];
    const ROLES: &'static [RoleSpec] = &[
        RoleSpec::new("client", 0, usize::MAX, "c"),
        RoleSpec::new("app", 1, usize::MAX, "a"),
        RoleSpec::new("db", 1, 1, "d"),
    ];
    fn init(_cfg: &EchoConfig, ctx: &mut Ctx<Self>) -> Self {
        let seen = ["client", "app", "db"]
            .iter()
            .map(|r| {
                (
                    ctx.role(ctx.id).to_string() + ">" + r,
                    ctx.nodes_of(r).to_vec(),
                )
            })
            .collect();
        RoleProbe { seen }
    }
    fn on_restart(cfg: &EchoConfig, _d: &(), ctx: &mut Ctx<Self>) -> Self {
        Self::init(cfg, ctx)
    }
    fn on_message(&mut self, _f: NodeId, _m: Nothing, _c: &mut Ctx<Self>) {}
    fn on_timer(&mut self, _t: (), _c: &mut Ctx<Self>) {}
    fn on_client_request(&mut self, _r: ClientRequest, _c: &mut Ctx<Self>) {}
    fn view(&self) -> NodeView {
        NodeView::new("p", Tone::Neutral)
    }
}

#[test]
fn handlers_know_each_nodes_role_and_the_members_of_each_role() {
    let mut setup = SimSetup::<EchoConfig>::new(4, 1, SimTime::from_secs(1));
    let roles: Vec<String> = ["db", "app", "client", "app"].map(String::from).to_vec();
    setup.roles = RoleTable::new(&["client", "app", "db"], &roles);
    let sim = Sim::<RoleProbe>::new(setup);
    let s = sim.state(3).unwrap();
    assert_eq!(
        s.seen,
        vec![
            ("app>client".to_string(), vec![2]),
            ("app>app".to_string(), vec![1, 3]),
            ("app>db".to_string(), vec![0]),
        ]
    );
}

#[test]
fn scenario_roles_name_the_nodes_and_are_checked_against_the_protocol() {
    let text = |nodes: &str| {
        format!(
            r#"(name: "t", title: "t", protocol: "three_tier", nodes: {nodes}, duration: "1s")"#
        )
    };
    let l = registry::load(
        &text(r#"Roles([(role: "client", count: 2), (role: "app", count: 2), (role: "db")])"#),
        "t.ron",
        &RunOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        l.info.names,
        ["client1", "client2", "app1", "app2", "db1"].map(String::from)
    );
    assert_eq!(l.sim.roles().nodes_of("app"), &[2, 3]);
    let named = registry::load(
        &text(r#"Named([(name: "web", role: "app"), (name: "orders-db", role: "db")])"#),
        "t.ron",
        &RunOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(named.sim.roles().role(1), "db");

    let err = |nodes: &str| {
        registry::load(&text(nodes), "t.ron", &RunOptions::default())
            .err()
            .expect("refused")
            .to_string()
    };
    let e = err(r#"Roles([(role: "app"), (role: "cache")])"#);
    assert!(
        e.contains("t.ron:1:")
            && e.contains("unknown role `cache`")
            && e.contains("`client`, `app`, `db`"),
        "{e}"
    );
    let e = err(r#"Roles([(role: "app")])"#);
    assert!(e.contains("at least 1 `db`"), "{e}");
    let e = err("Count(3)");
    assert!(e.contains("needs a role for every node"), "{e}");
    // A protocol without roles refuses them.
    let e = registry::load(
        r#"(name: "t", title: "t", protocol: "raft", nodes: Roles([(role: "db", count: 3)]), duration: "1s")"#,
        "t.ron",
        &RunOptions::default(),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(e.contains("has no node roles"), "{e}");
}

#[test]
fn a_bad_service_model_or_arrival_is_a_located_error() {
    let text = |service: &str, arrival: &str| {
        format!(
            "(name: \"t\", title: \"t\", protocol: \"three_tier\",\n nodes: Roles([(role: \"app\"),\n (role: \"db\", service: {service})]),\n duration: \"1s\",\n workload: (arrival: {arrival}, target: Role(\"app\")))"
        )
    };
    let load = |t: &str| registry::load(t, "t.ron", &RunOptions::default());
    assert!(
        load(&text(
            "(workers: 2, time: Constant(\"5ms\"))",
            "Poisson(rate: 10.0)"
        ))
        .is_ok()
    );
    let e = load(&text(
        "(workers: 0, time: Constant(\"5ms\"))",
        "Poisson(rate: 10.0)",
    ))
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.starts_with("t.ron:3:") && e.contains("`workers` must be between 1"),
        "{e}"
    );
    let e = load(&text(
        "(workers: 2, time: Constant(\"5ms\"))",
        "Poisson(rate: -1.0)",
    ))
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.starts_with("t.ron:5:") && e.contains("requests per second"),
        "{e}"
    );
}

#[test]
fn the_no_cache_baseline_bends_and_sheds() {
    let n = distsim::testing::assert_bundled_scenarios_pass(|p| p.contains("scenarios/basics/"));
    assert!(n >= 1);
}

#[test]
fn a_workload_target_role_spreads_requests_over_that_role() {
    let mut setup = SimSetup::<EchoConfig>::new(3, 1, SimTime::from_secs(2));
    let roles: Vec<String> = ["client", "app", "client"].map(String::from).to_vec();
    setup.roles = RoleTable::new(&["client", "app"], &roles);
    setup.workload = Some(Workload {
        arrival: Some(Arrival::Poisson { rate: 100.0 }),
        target: Target::Role("client".into()),
        ..Workload::default()
    });
    let mut sim = Sim::<Echo>::new(setup);
    sim.run();
    let by_node = |n| {
        sim.history()
            .entries
            .iter()
            .filter(|e| e.node == Some(n))
            .count()
    };
    assert_eq!(by_node(1), 0);
    assert!(by_node(0) > 50 && by_node(2) > 50);
    // Born at a client node: no network delay either way.
    assert!(
        sim.history()
            .entries
            .iter()
            .all(|e| e.returned_at == Some(e.invoked_at))
    );
}

#[test]
fn a_session_on_a_system_of_services_saves_and_replays_to_the_same_digest() {
    // Roles, service models, open-loop arrivals, key popularity, metrics and plots all
    // survive "save as scenario", and the saved file replays the run exactly.
    let path = "scenarios/basics/no-cache-baseline.ron";
    let text = distsim::bundled::get(path).unwrap();
    let extra = vec![(SimTime::from_secs(5), Action::Crash("app1".into()))];
    let opts = RunOptions {
        extra: extra.clone(),
        ..RunOptions::default()
    };
    let mut live = registry::load(text, path, &opts).unwrap_or_else(|e| panic!("{e}"));
    live.sim.run_until(SimTime::from_secs(8));
    let saved = registry::save(text, path, 1, &extra).unwrap_or_else(|e| panic!("{e}"));
    let mut again = registry::load(&saved, "saved.ron", &RunOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    again.sim.run_until(SimTime::from_secs(8));
    assert_eq!(live.sim.trace().digest(), again.sim.trace().digest());
    assert_eq!(again.info.plots, live.info.plots);
    assert_eq!(again.info.roles, live.info.roles);
}
