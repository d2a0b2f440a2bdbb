//! The discrete-event engine, generic over one protocol.
//!
//! ```text
//!   timeline / user actions ──┐
//!   client workload ──────────┤      ┌──────────── Network (latency, loss, partitions)
//!                             ▼      │                         ▲
//!   EventQueue (time, seq) ──pop──► dispatch ──► Protocol handler ──► Vec<Command>
//!        ▲                            │                                   │
//!        └──── deliveries, timers ◄───┴──── execute commands ◄────────────┘
//!                                     │
//!                                     ├──► Trace (ids, parents, clocks, digest)
//!                                     ├──► invariants (after every step)
//!                                     └──► Metrics, History
//! ```
//!
//! Ordering: the queue pops by (time, class, insertion sequence). Ties are FIFO, so a run is
//! a pure function of the scenario, the seed and the recorded actions. Timeline actions have
//! the later class: they happen at the *end* of their instant, after every other event due at
//! that time; a user action applied live at time `t` also happens after everything due at `t`
//! (the engine finishes the instant first), which is why saving and replaying is exact.
//!
//! Randomness: one ChaCha8 stream per purpose, all derived from the scenario seed — stream 1
//! for the network, stream 2 for the clients, stream `1000 + i` for node `i`, stream
//! `2^32 + i` for node `i`'s service times — so a change in how one node uses randomness does
//! not shift any other stream.
//!
//! Service models (`service.rs`): an input for a node with one waits for a worker, is served
//! for a drawn time, and only then reaches the handler. Time series (`series.rs`) are sampled
//! lazily on a fixed grid just before time passes each grid point, so they add no events.

use crate::sim::actor::{Command, Ctx, Gauge, Message, NodeId, NodeView, Protocol};
use crate::sim::chaos::{Chaos, STREAM_CHAOS};
use crate::sim::client::{
    ClientId, ClientRef, ClientReply, ClientRequest, History, HistoryEntry, Op, Outcome, Target,
    Workload,
};
use crate::sim::control::Action;
use crate::sim::invariant::{Invariant, Violation, World};
use crate::sim::linearizability;
use crate::sim::metrics::Metrics;
use crate::sim::network::{LinkParams, Network};
use crate::sim::queue::EventQueue;
use crate::sim::roles::RoleTable;
use crate::sim::series::{MetricsSpec, SeriesKey, SeriesSet};
use crate::sim::service::{Admit, ServiceModel, Station};
use crate::sim::time::SimTime;
use crate::sim::trace::{DropReason, EventId, EventKind, Trace, TraceLevel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

pub const STREAM_NETWORK: u64 = 1;
pub const STREAM_CLIENTS: u64 = 2;
pub const STREAM_NODE_BASE: u64 = 1000;
pub const STREAM_SERVICE_BASE: u64 = 1 << 32;

/// Steps at one simulated instant after which a run is stopped as stalled. A valid scenario
/// queues at most about a million inputs for one instant (a relay's tokens, the timeline, the
/// clients, one timer per node), so twice that means a zero-delay loop: a timeout set to
/// zero, re-armed for ever. Stopping here bounds the trace at a few hundred MB.
pub const STALL_STEPS: u64 = 2_000_000;

/// A node's liveness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum NodeStatus {
    Up,
    Crashed,
    /// Stalled since the given time: messages wait, timers are frozen.
    Paused(SimTime),
}

/// Everything needed to build a run, already resolved and validated.
#[derive(Clone, Debug)]
pub struct SimSetup<C> {
    pub config: C,
    pub names: Vec<String>,
    pub seed: u64,
    pub duration: SimTime,
    pub network: LinkParams,
    /// Per-link overrides, directed.
    pub links: Vec<(NodeId, NodeId, LinkParams)>,
    pub drift_ppm: Vec<i64>,
    pub timeline: Vec<(SimTime, Action)>,
    pub workload: Option<Workload>,
    /// Randomized faults (a safety phase, then everything heals).
    pub chaos: Option<Chaos>,
    pub trace_level: TraceLevel,
    pub trace_cap: Option<usize>,
    /// Stop processing after this many queue items (a guard against runaway protocols).
    pub max_steps: u64,
    /// Stop at the first invariant violation.
    pub stop_on_violation: bool,
    /// Which node plays which role.
    pub roles: RoleTable,
    /// Each node's service model (empty, or one entry per node; `None`: instant handlers).
    pub service: Vec<Option<ServiceModel>>,
    /// Sampling of the time series.
    pub metrics: MetricsSpec,
}

impl<C: Default> SimSetup<C> {
    /// A setup with defaults: nodes `n1..nN`, default network, no timeline, no workload.
    pub fn new(nodes: usize, seed: u64, duration: SimTime) -> Self {
        SimSetup {
            config: C::default(),
            names: (1..=nodes).map(|i| format!("n{i}")).collect(),
            seed,
            duration,
            network: LinkParams::default(),
            links: Vec::new(),
            drift_ppm: vec![0; nodes],
            timeline: Vec::new(),
            workload: None,
            chaos: None,
            trace_level: TraceLevel::Full,
            trace_cap: None,
            max_steps: 50_000_000,
            stop_on_violation: false,
            roles: RoleTable::implicit(nodes),
            service: Vec::new(),
            metrics: MetricsSpec::default(),
        }
    }
}

enum Item<P: Protocol> {
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: P::Msg,
        send: EventId,
        send_lamport: u64,
        lost: bool,
    },
    Timer {
        node: NodeId,
        key: P::Timer,
        token: u64,
    },
    /// An action from the timeline or a recorded user action.
    Script(Box<Action>),
    /// A workload client starts its next operation.
    ClientNext(ClientId),
    ClientArrive {
        to: NodeId,
        req: Box<ClientRequest>,
        /// What made the client send this attempt: its invocation, or the redirect it follows.
        cause: Option<EventId>,
    },
    ClientReplyArrive {
        from: NodeId,
        to: ClientRef,
        reply: Box<ClientReply>,
        /// The node's `client-reply` event.
        sent: EventId,
    },
    ClientTimeout(ClientRef),
    /// The chaos generator's next fault (or, at its stop time, the heal-everything step).
    Chaos {
        heal_all: bool,
    },
    /// The service time of an input ends: its handler runs now. `inc` is the node's
    /// incarnation when service began (a crash in between discards it).
    Serve {
        node: NodeId,
        input: Box<Item<P>>,
        inc: u32,
        token: u64,
    },
    /// Sends and replies of a handler that charged work (`ctx.work`), leaving now (boxed:
    /// queue items stay small for the common case).
    Outputs {
        node: NodeId,
        deferred: Box<Deferred<P>>,
    },
    /// The open-loop workload's next arrival.
    Arrival,
}

/// What a handler that charged work sends later.
struct Deferred<P: Protocol> {
    cmds: Vec<Command<P>>,
    cause: Option<EventId>,
    /// The node's incarnation when the handler ran (a crash in between discards them).
    inc: u32,
    /// The handler held a worker of the node's station, free once these leave.
    frees_worker: bool,
}

struct TimerSlot {
    fire_at: SimTime,
    started_at: SimTime,
    token: u64,
    /// The event that set the timer: the causal parent of its firing.
    set_by: Option<EventId>,
}

struct PendingOp {
    seq: u64,
    op: Op,
    attempt: u32,
    history: usize,
    /// Generated by the workload (schedules the next one when done) or scripted (one-off).
    generated: bool,
    /// The causal parent of the next attempt: the invocation, then the redirect followed.
    cause: Option<EventId>,
}

#[derive(Default)]
struct ClientState {
    next_seq: u64,
    /// Operations in progress by sequence number: at most one for a closed-loop client.
    pending: BTreeMap<u64, PendingOp>,
}

/// A message input in service, remembered so a crash can report it lost.
struct InService {
    token: u64,
    from: NodeId,
    kind: &'static str,
    send: EventId,
}

/// A run of one protocol.
pub struct Sim<P: Protocol> {
    setup: SimSetup<P::Config>,
    n: usize,
    now: SimTime,
    queue: EventQueue<Item<P>>,
    steps: u64,
    states: Vec<Option<P>>,
    durable: Vec<P::Durable>,
    status: Vec<NodeStatus>,
    timers: Vec<BTreeMap<P::Timer, TimerSlot>>,
    timer_token: u64,
    /// Inputs that reached a paused node, delivered on resume.
    stalled: Vec<Vec<Item<P>>>,
    /// Deliveries waiting at a held link.
    held: Vec<Item<P>>,
    node_rng: Vec<ChaCha8Rng>,
    net_rng: ChaCha8Rng,
    client_rng: ChaCha8Rng,
    chaos_rng: ChaCha8Rng,
    /// Messages sent so far (to see whether an event answered, for `crash_after_send`).
    sent_total: u64,
    lamport: Vec<u64>,
    last_event: Vec<Option<EventId>>,
    drift_ppm: Vec<i64>,
    net: Network,
    trace: Trace,
    metrics: Metrics,
    history: History,
    clients: Vec<ClientState>,
    invariants: Vec<Box<dyn Invariant<P>>>,
    /// Invariants already reported (each is reported once).
    invariant_done: Vec<bool>,
    violations: Vec<Violation>,
    /// The end-of-run linearizability check ran (it runs once).
    linearizability_checked: bool,
    views: Vec<NodeView>,
    /// First time each role label was seen on any node (for expectations).
    role_first_seen: BTreeMap<String, SimTime>,
    recorded: Vec<(SimTime, Action)>,
    out: Vec<Command<P>>,
    /// Workers and queue of each node with a service model.
    stations: Vec<Option<Station<Item<P>>>>,
    service_rng: Vec<Option<ChaCha8Rng>>,
    /// Bumped at each crash: service and outputs begun before it are void.
    incarnation: Vec<u32>,
    /// Message inputs in service at each node.
    serving: Vec<Vec<InService>>,
    serve_token: u64,
    /// The handler running now holds a worker of its node's station.
    holds_worker: bool,
    /// Completed and shed counts at the previous sample, per node.
    station_seen: Vec<(u64, u64)>,
    /// Keys picked so far (for `Sequential` keys) and open-loop arrivals so far.
    keys_picked: u64,
    arrivals: u64,
    gauges_buf: Vec<Gauge>,
    /// Some node has a service model (else deliveries skip the station lookup).
    any_station: bool,
    /// Time of the next series sample (cached from the series).
    next_sample_at: SimTime,
    /// The step limit was reached before the end.
    pub step_limit_hit: bool,
    /// Steps taken at the current instant, for the stall detector.
    steps_at_instant: u64,
    /// Why the run stopped early because simulated time stood still (see [`STALL_STEPS`]).
    stall: Option<String>,
}

/// Hash of a message's or timer's contents for the digest: FxHash is fast and has no random
/// seed, so it is the same on every run.
fn hash_of<T: Hash>(v: &T) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    v.hash(&mut h);
    h.finish()
}

fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

impl<P: Protocol> Sim<P> {
    pub fn new(setup: SimSetup<P::Config>) -> Self {
        let n = setup.names.len();
        assert!(n > 0, "a simulation needs at least one node");
        assert_eq!(setup.drift_ppm.len(), n, "one drift value per node");
        let mut net = Network::new(n, setup.network.clone());
        for (a, b, p) in &setup.links {
            net.set_params(*a, *b, p.clone());
        }
        let invariants = P::invariants(&setup.config, n);
        let stations: Vec<Option<Station<Item<P>>>> = (0..n)
            .map(|i| setup.service.get(i).cloned().flatten().map(Station::new))
            .collect();
        let service_rng = (0..n)
            .map(|i| {
                stations[i]
                    .is_some()
                    .then(|| stream(setup.seed, STREAM_SERVICE_BASE + i as u64))
            })
            .collect();
        let mut metrics = Metrics::default();
        metrics.series = SeriesSet::new(&setup.metrics);
        let mut sim = Sim {
            n,
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            steps: 0,
            states: (0..n).map(|_| None).collect(),
            durable: vec![P::Durable::default(); n],
            status: vec![NodeStatus::Up; n],
            timers: (0..n).map(|_| BTreeMap::new()).collect(),
            timer_token: 0,
            stalled: (0..n).map(|_| Vec::new()).collect(),
            held: Vec::new(),
            node_rng: (0..n)
                .map(|i| stream(setup.seed, STREAM_NODE_BASE + i as u64))
                .collect(),
            net_rng: stream(setup.seed, STREAM_NETWORK),
            client_rng: stream(setup.seed, STREAM_CLIENTS),
            chaos_rng: stream(setup.seed, STREAM_CHAOS),
            sent_total: 0,
            lamport: vec![0; n],
            last_event: vec![None; n],
            drift_ppm: setup.drift_ppm.clone(),
            net,
            trace: Trace::new(setup.trace_level, setup.trace_cap),
            metrics,
            history: History::default(),
            clients: Vec::new(),
            invariant_done: vec![false; invariants.len()],
            invariants,
            violations: Vec::new(),
            linearizability_checked: false,
            views: vec![NodeView::default(); n],
            role_first_seen: BTreeMap::new(),
            recorded: Vec::new(),
            out: Vec::new(),
            stations,
            service_rng,
            incarnation: vec![0; n],
            serving: (0..n).map(|_| Vec::new()).collect(),
            serve_token: 0,
            holds_worker: false,
            station_seen: vec![(0, 0); n],
            keys_picked: 0,
            arrivals: 0,
            gauges_buf: Vec::new(),
            next_sample_at: SimTime::ZERO,
            any_station: false,
            step_limit_hit: false,
            steps_at_instant: 0,
            stall: None,
            setup,
        };
        sim.any_station = sim.stations.iter().any(Option::is_some);
        let timeline = sim.setup.timeline.clone();
        for (at, action) in timeline {
            sim.push(at, 1, Item::Script(Box::new(action)));
        }
        if let Some(w) = sim.setup.workload.clone() {
            // Open-loop operations need at least one client id to belong to.
            let ids = if w.arrival.is_some() {
                w.clients.max(1)
            } else {
                w.clients
            };
            for c in 0..ids {
                sim.clients.push(ClientState::default());
                if w.arrival.is_none() {
                    sim.push(w.start, 0, Item::ClientNext(c));
                }
            }
            if w.arrival.is_some() {
                sim.schedule_arrival(w.start);
            }
        }
        if let Some(c) = sim.setup.chaos.clone() {
            let first = c.start + c.gap(&mut sim.chaos_rng);
            if first < c.stop {
                sim.push(first, 1, Item::Chaos { heal_all: false });
            }
            sim.push(c.stop, 1, Item::Chaos { heal_all: true });
        }
        for i in 0..n {
            sim.with_node(i, None, |_, ctx, cfg| Some(P::init(cfg, ctx)));
        }
        sim.check_invariants(None);
        sim
    }

    // ---------------------------------------------------------------- accessors

    pub fn now(&self) -> SimTime {
        self.now
    }
    pub fn setup(&self) -> &SimSetup<P::Config> {
        &self.setup
    }
    pub fn nodes(&self) -> usize {
        self.n
    }
    pub fn state(&self, node: NodeId) -> Option<&P> {
        self.states[node].as_ref()
    }
    pub fn states(&self) -> &[Option<P>] {
        &self.states
    }
    pub fn durable(&self, node: NodeId) -> &P::Durable {
        &self.durable[node]
    }
    pub fn status(&self, node: NodeId) -> NodeStatus {
        self.status[node]
    }
    pub fn trace(&self) -> &Trace {
        &self.trace
    }
    /// For attaching outputs to the trace ([`Trace::stream_to`]) and bounding it; recording
    /// events stays the engine's job.
    pub fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    pub fn history(&self) -> &History {
        &self.history
    }
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }
    pub fn network(&self) -> &Network {
        &self.net
    }
    pub fn recorded(&self) -> &[(SimTime, Action)] {
        &self.recorded
    }
    pub fn role_first_seen(&self) -> &BTreeMap<String, SimTime> {
        &self.role_first_seen
    }
    /// The node's current view (a crashed node shows its last view).
    pub fn view(&self, node: NodeId) -> NodeView {
        match &self.states[node] {
            Some(s) => s.view(),
            None => self.views[node].clone(),
        }
    }
    /// Which node plays which role.
    pub fn roles(&self) -> &RoleTable {
        &self.setup.roles
    }
    /// Inputs waiting in `node`'s service queue and its busy workers (None: no service model).
    pub fn station_load(&self, node: NodeId) -> Option<(usize, u32)> {
        self.stations[node]
            .as_ref()
            .map(|s| (s.queue_len(), s.busy))
    }
    /// Time of the next queued event, if any.
    pub fn next_event_at(&self) -> Option<SimTime> {
        self.queue.peek_time()
    }
    pub fn steps(&self) -> u64 {
        self.steps
    }
    /// Why the run was stopped because simulated time stopped advancing, if it was.
    pub fn stalled(&self) -> Option<&str> {
        self.stall.as_deref()
    }
    /// Pending timers of a node: (label, started, fires).
    pub fn timers_of(&self, node: NodeId) -> Vec<(String, SimTime, SimTime)> {
        self.timers[node]
            .iter()
            .map(|(k, s)| (format!("{k:?}"), s.started_at, s.fire_at))
            .collect()
    }

    // ---------------------------------------------------------------- running

    /// Processes one queued item. Returns false when nothing is left before the end.
    pub fn step(&mut self) -> bool {
        self.step_bounded(self.setup.duration)
    }

    fn step_bounded(&mut self, until: SimTime) -> bool {
        if self.steps >= self.setup.max_steps {
            self.step_limit_hit = true;
            return false;
        }
        if self.stall.is_some() {
            return false;
        }
        if self.setup.stop_on_violation && !self.violations.is_empty() {
            return false;
        }
        match self.queue.peek_time() {
            Some(at) if at <= until => {}
            _ => return false,
        }
        let (at, item) = self.queue.pop().expect("peeked");
        debug_assert!(at >= self.now, "time went backwards");
        if at > self.now {
            self.steps_at_instant = 0;
        }
        self.steps_at_instant += 1;
        if self.steps_at_instant > STALL_STEPS {
            self.stop_stalled(&item);
            return false;
        }
        self.sample_before(at);
        self.now = at;
        self.steps += 1;
        let sent_before = self.sent_total;
        let touched = self.dispatch(item);
        self.check_invariants(touched);
        if let Some(n) = touched
            && self.sent_total > sent_before
        {
            self.chaos_after_send(n);
        }
        true
    }

    /// Stops the run: time has stood still for [`STALL_STEPS`] steps. The error names the
    /// event that would have been next and its node, and is recorded as a note.
    fn stop_stalled(&mut self, item: &Item<P>) {
        let name = |n: NodeId| self.setup.names[n].as_str();
        let (node, what) = match item {
            Item::Deliver { to, msg, .. } => (
                Some(*to),
                format!("delivery of `{}` to {}", msg.kind(), name(*to)),
            ),
            Item::Timer { node, key, .. } => {
                (Some(*node), format!("timer `{key:?}` at {}", name(*node)))
            }
            Item::Script(a) => (None, format!("timeline action `{a}`")),
            Item::ClientNext(c) => (None, format!("next operation of client {c}")),
            Item::ClientArrive { to, .. } => {
                (Some(*to), format!("client request to {}", name(*to)))
            }
            Item::ClientReplyArrive { from, .. } => {
                (Some(*from), format!("client reply from {}", name(*from)))
            }
            Item::ClientTimeout(r) => (None, format!("timeout of client {}", r.client)),
            Item::Chaos { .. } => (None, "chaos fault".to_string()),
            Item::Serve { node, .. } => {
                (Some(*node), format!("end of a service at {}", name(*node)))
            }
            Item::Outputs { node, .. } => (
                Some(*node),
                format!("outputs of {} after its work", name(*node)),
            ),
            Item::Arrival => (None, "next open-loop arrival".to_string()),
        };
        let text = format!(
            "stopped: simulated time has not advanced for {STALL_STEPS} steps at {}; the next \
             event was the {what} (a zero timeout or another zero-delay loop?)",
            self.now
        );
        self.step_limit_hit = true;
        self.record(node, None, EventKind::Note { text: text.clone() }, 0);
        self.stall = Some(text);
    }

    /// Runs every event due at or before `t` (and no later than the scenario's end), then
    /// sets the clock to `t`.
    pub fn run_until(&mut self, t: SimTime) {
        let t = t.min(self.setup.duration);
        while self.step_bounded(t) {}
        if !self.step_limit_hit && (self.violations.is_empty() || !self.setup.stop_on_violation) {
            self.sample_before(t);
            self.now = self.now.max(t);
            if t == self.setup.duration && self.stall.is_none() {
                self.check_linearizability();
            }
        }
    }

    /// Runs to the end of the scenario.
    pub fn run(&mut self) {
        self.run_until(self.setup.duration);
    }

    /// Applies a user action now, after finishing every event due at the current instant,
    /// and records it so the session can be saved and replayed.
    pub fn apply(&mut self, action: Action) -> Result<(), String> {
        for name in action.node_names() {
            self.node_id(name)?;
        }
        let now = self.now;
        while self.queue.peek_time().is_some_and(|at| at <= now) && self.step_bounded(now) {}
        self.recorded.push((self.now, action.clone()));
        self.perform(action);
        self.check_invariants(None);
        Ok(())
    }

    pub fn node_id(&self, name: &str) -> Result<NodeId, String> {
        self.setup
            .names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| format!("unknown node `{name}`"))
    }

    fn push(&mut self, at: SimTime, class: u8, item: Item<P>) {
        self.queue.push(at, class != 0, item);
    }

    fn record(
        &mut self,
        node: Option<NodeId>,
        parent: Option<EventId>,
        kind: EventKind,
        content: u64,
    ) -> EventId {
        let lamport = match node {
            Some(n) => {
                self.lamport[n] += 1;
                self.lamport[n]
            }
            None => 0,
        };
        let id = self
            .trace
            .record(self.now, node, parent, lamport, kind, content);
        if let Some(n) = node {
            self.last_event[n] = Some(id);
        }
        id
    }

    /// Runs `f` as a handler of `node` (or builds the node when `f` returns a new state),
    /// then executes the recorded commands with `cause` as their causal parent.
    fn with_node(
        &mut self,
        node: NodeId,
        cause: Option<EventId>,
        f: impl FnOnce(Option<&mut P>, &mut Ctx<P>, &P::Config) -> Option<P>,
    ) {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        {
            let mut ctx = Ctx::new(node, self.n, self.now, &mut self.node_rng[node], &mut out)
                .with_roles(&self.setup.roles);
            if let Some(new_state) = f(self.states[node].as_mut(), &mut ctx, &self.setup.config) {
                self.states[node] = Some(new_state);
            }
        }
        let work = out
            .iter()
            .map(|c| match c {
                Command::Work(d) => d.0,
                _ => 0,
            })
            .fold(0u64, u64::saturating_add);
        if work > 0 {
            // Charged work: sends and replies leave later, the rest takes effect now.
            let (later, now): (Vec<_>, Vec<_>) = out
                .drain(..)
                .partition(|c| matches!(c, Command::Send { .. } | Command::Reply { .. }));
            out.extend(now);
            self.execute(node, cause, &mut out);
            let frees_worker = std::mem::take(&mut self.holds_worker);
            let at = SimTime(self.now.0.saturating_add(work));
            let inc = self.incarnation[node];
            self.push(
                at,
                0,
                Item::Outputs {
                    node,
                    deferred: Box::new(Deferred {
                        cmds: later,
                        cause,
                        inc,
                        frees_worker,
                    }),
                },
            );
        } else {
            self.execute(node, cause, &mut out);
        }
        self.out = out;
        self.refresh_view(node);
    }

    fn refresh_view(&mut self, node: NodeId) {
        if self.trace.level() == TraceLevel::Off {
            return;
        }
        let Some(s) = self.states[node].as_mut() else {
            return;
        };
        // Cost of what changed (see `Protocol::refresh_view`), not of the whole view.
        let changed = s.refresh_view(&mut self.views[node]);
        debug_assert_eq!(
            self.views[node],
            s.view(),
            "refresh_view must leave the view equal to view()"
        );
        if changed {
            let v = &self.views[node];
            if !self.role_first_seen.contains_key(v.role.as_str()) {
                self.role_first_seen.insert(v.role.clone(), self.now);
            }
            let view = Box::new(v.clone());
            self.record(
                Some(node),
                self.last_event[node],
                EventKind::View { view },
                0,
            );
        }
    }

    fn execute(&mut self, node: NodeId, cause: Option<EventId>, out: &mut Vec<Command<P>>) {
        for cmd in out.drain(..) {
            match cmd {
                Command::Send { to, msg } => self.send(node, to, msg, cause),
                Command::SetTimer { timer, after } => {
                    let ppm = self.drift_ppm[node];
                    let after = if ppm == 0 {
                        after
                    } else {
                        after.scale(1_000_000i64.saturating_add(ppm).max(1) as u64, 1_000_000)
                    };
                    self.timer_token += 1;
                    let token = self.timer_token;
                    let fire_at = self.now + after;
                    self.timers[node].insert(
                        timer.clone(),
                        TimerSlot {
                            fire_at,
                            started_at: self.now,
                            token,
                            set_by: cause,
                        },
                    );
                    self.push(
                        fire_at,
                        0,
                        Item::Timer {
                            node,
                            key: timer,
                            token,
                        },
                    );
                }
                Command::CancelTimer { timer } => {
                    self.timers[node].remove(&timer);
                }
                Command::Persist(d) => self.durable[node] = d,
                Command::Reply { to, reply } => {
                    let sent = self.record(
                        Some(node),
                        cause,
                        EventKind::ClientReply {
                            client: to.client,
                            seq: to.seq,
                            attempt: to.attempt,
                            answer: reply.answer(),
                            redirect_to: match &reply {
                                ClientReply::Redirect { leader } => *leader,
                                _ => None,
                            },
                        },
                        0,
                    );
                    let at = self.now + self.client_hop(node);
                    self.push(
                        at,
                        0,
                        Item::ClientReplyArrive {
                            from: node,
                            to,
                            reply: Box::new(reply),
                            sent,
                        },
                    );
                }
                Command::Note(text) => {
                    if self.trace.level() != TraceLevel::Off {
                        self.record(Some(node), cause, EventKind::Note { text }, 0);
                    }
                }
                Command::Count { name, by } => self.metrics.count(name, by),
                Command::Gauge { name, value } => self
                    .metrics
                    .series
                    .set_gauge(SeriesKey::of(name, node), value),
                Command::Work(_) => {} // taken into account by `with_node`
            }
        }
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: P::Msg, cause: Option<EventId>) {
        self.sent_total += 1;
        let kind = msg.kind();
        self.metrics.sent.add(kind);
        let content = hash_of(&msg);
        let label = self.trace.full().then(|| msg.label());
        if !self.net.reachable(from, to) {
            let send = self.record(
                Some(from),
                cause,
                EventKind::Send {
                    to,
                    msg: kind,
                    label,
                    deliver_at: self.now,
                },
                content,
            );
            self.drop_msg(from, to, kind, send, DropReason::Partitioned);
            return;
        }
        let fate = self.net.route(from, to, self.now, &mut self.net_rng);
        let send = self.record(
            Some(from),
            cause,
            EventKind::Send {
                to,
                msg: kind,
                label,
                deliver_at: fate.deliver_at,
            },
            content,
        );
        let send_lamport = self.lamport[from];
        if let Some(dup_at) = fate.duplicate_at {
            self.metrics.duplicated += 1;
            self.record(
                None,
                Some(send),
                EventKind::Duplicate {
                    send,
                    deliver_at: dup_at,
                },
                0,
            );
            self.push(
                dup_at,
                0,
                Item::Deliver {
                    from,
                    to,
                    msg: msg.clone(),
                    send,
                    send_lamport,
                    lost: false,
                },
            );
        }
        self.push(
            fate.deliver_at,
            0,
            Item::Deliver {
                from,
                to,
                msg,
                send,
                send_lamport,
                lost: fate.lost,
            },
        );
    }

    fn drop_msg(
        &mut self,
        from: NodeId,
        to: NodeId,
        kind: &'static str,
        send: EventId,
        reason: DropReason,
    ) {
        self.metrics.dropped.add(kind);
        *self.metrics.dropped_by_reason.entry(reason).or_default() += 1;
        self.record(
            Some(to),
            Some(send),
            EventKind::Drop {
                from,
                send,
                msg: kind,
                reason,
            },
            0,
        );
    }

    /// Handles one queue item; returns the node it touched, if any.
    fn dispatch(&mut self, item: Item<P>) -> Option<NodeId> {
        // A paused node takes no input: stash it until resume (timers are re-armed then).
        let target = match &item {
            Item::Deliver { to, .. } | Item::ClientArrive { to, .. } => Some(*to),
            Item::Timer { node, .. } | Item::Serve { node, .. } | Item::Outputs { node, .. } => {
                Some(*node)
            }
            _ => None,
        };
        if let Some(t) = target
            && let NodeStatus::Paused(_) = self.status[t]
        {
            if !matches!(item, Item::Timer { .. }) {
                self.stalled[t].push(item);
            }
            return None;
        }
        match item {
            Item::Deliver {
                from,
                to,
                msg,
                send,
                send_lamport,
                lost,
            } => {
                let kind = msg.kind();
                if lost {
                    self.drop_msg(from, to, kind, send, DropReason::Loss);
                    return Some(to);
                }
                if !self.net.reachable(from, to) {
                    self.drop_msg(from, to, kind, send, DropReason::Partitioned);
                    return Some(to);
                }
                if self.net.is_held(from, to) {
                    self.held.push(Item::Deliver {
                        from,
                        to,
                        msg,
                        send,
                        send_lamport,
                        lost,
                    });
                    return None;
                }
                if self.status[to] == NodeStatus::Crashed {
                    self.drop_msg(from, to, kind, send, DropReason::NodeDown);
                    return Some(to);
                }
                let item = Item::Deliver {
                    from,
                    to,
                    msg,
                    send,
                    send_lamport,
                    lost,
                };
                if self.any_station && self.stations[to].is_some() {
                    self.admit(to, item);
                    return None;
                }
                self.handle_input(item)
            }
            Item::Timer { node, key, token } => {
                let live = self.timers[node]
                    .get(&key)
                    .is_some_and(|s| s.token == token);
                if !live || self.status[node] != NodeStatus::Up {
                    return None;
                }
                let slot = self.timers[node].remove(&key).expect("checked");
                self.metrics.timers_fired += 1;
                let label = self.trace.full().then(|| format!("{key:?}"));
                let content = hash_of(&key);
                let ev = self.record(Some(node), slot.set_by, EventKind::Timer { label }, content);
                self.with_node(node, Some(ev), |s, ctx, _| {
                    s.expect("an up node has state").on_timer(key, ctx);
                    None
                });
                Some(node)
            }
            Item::Script(action) => {
                self.perform(*action);
                None
            }
            Item::ClientNext(c) => {
                self.client_next(c);
                None
            }
            Item::ClientArrive { to, req, cause } => {
                if self.status[to] == NodeStatus::Crashed {
                    return None; // lost with the node; the client will time out
                }
                let item = Item::ClientArrive { to, req, cause };
                if self.stations[to].is_some() {
                    self.admit(to, item);
                    return None;
                }
                self.handle_input(item)
            }
            Item::Serve {
                node,
                input,
                inc,
                token,
            } => self.serve(node, *input, inc, token),
            Item::Outputs { node, deferred } => {
                let mut d = *deferred;
                if d.inc != self.incarnation[node] {
                    return None; // lost in a crash
                }
                self.execute(node, d.cause, &mut d.cmds);
                if d.frees_worker {
                    self.release_worker(node);
                }
                None
            }
            Item::Arrival => {
                self.open_loop_arrival();
                None
            }
            Item::ClientReplyArrive {
                from,
                to,
                reply,
                sent,
            } => {
                self.client_reply(from, to, *reply, sent);
                None
            }
            Item::Chaos { heal_all } => {
                self.chaos_step(heal_all);
                None
            }
            Item::ClientTimeout(r) => {
                let current = self.clients[r.client as usize]
                    .pending
                    .get(&r.seq)
                    .is_some_and(|p| p.attempt == r.attempt);
                if current {
                    self.client_retry(r.client, r.seq, None, true);
                }
                None
            }
        }
    }

    /// Runs the handler of a message or client request that reached `node` (directly, or
    /// at the end of its service time).
    fn handle_input(&mut self, item: Item<P>) -> Option<NodeId> {
        match item {
            Item::Deliver {
                from,
                to,
                msg,
                send,
                send_lamport,
                ..
            } => {
                let kind = msg.kind();
                self.metrics.delivered.add(kind);
                self.lamport[to] = self.lamport[to].max(send_lamport);
                let ev = self.record(
                    Some(to),
                    Some(send),
                    EventKind::Deliver {
                        from,
                        send,
                        msg: kind,
                    },
                    0,
                );
                self.with_node(to, Some(ev), |s, ctx, _| {
                    s.expect("an up node has state").on_message(from, msg, ctx);
                    None
                });
                Some(to)
            }
            Item::ClientArrive { to, req, cause } => {
                let ev = self.record(
                    Some(to),
                    cause,
                    EventKind::ClientRequest {
                        client: req.from.client,
                        seq: req.from.seq,
                        attempt: req.from.attempt,
                    },
                    hash_of(&req),
                );
                self.with_node(to, Some(ev), |s, ctx, _| {
                    s.expect("an up node has state")
                        .on_client_request(*req, ctx);
                    None
                });
                Some(to)
            }
            _ => unreachable!("only messages and client requests are inputs"),
        }
    }

    // ---------------------------------------------------------------- faults and actions

    fn perform(&mut self, action: Action) {
        let id = |s: &Self, name: &str| s.node_id(name).expect("names are validated");
        match &action {
            Action::Crash(n) => {
                let n = id(self, n);
                if self.status[n] == NodeStatus::Crashed {
                    return;
                }
                self.status[n] = NodeStatus::Crashed;
                self.states[n] = None;
                self.timers[n].clear();
                self.crash_station(n);
                // Inputs that were waiting at a paused node die with it.
                for e in std::mem::take(&mut self.stalled[n]) {
                    if let Item::Deliver {
                        from, msg, send, ..
                    } = e
                    {
                        self.drop_msg(from, n, msg.kind(), send, DropReason::NodeDown);
                    }
                }
                self.record(Some(n), None, EventKind::Crash, 0);
            }
            Action::Restart(n) => {
                let n = id(self, n);
                if self.status[n] != NodeStatus::Crashed {
                    return;
                }
                self.status[n] = NodeStatus::Up;
                let ev = self.record(Some(n), None, EventKind::Restart, 0);
                let durable = self.durable[n].clone();
                self.with_node(n, Some(ev), |_, ctx, cfg| {
                    Some(P::on_restart(cfg, &durable, ctx))
                });
                // The restart rebuilt this node's state: check it now, as for any event on a
                // node (checkers that look only at the touched node would otherwise wait for
                // its next message or timer).
                self.check_invariants(Some(n));
            }
            Action::Pause(n) => {
                let n = id(self, n);
                if self.status[n] != NodeStatus::Up {
                    return;
                }
                self.status[n] = NodeStatus::Paused(self.now);
                self.record(Some(n), None, EventKind::Pause, 0);
            }
            Action::Resume(n) => {
                let n = id(self, n);
                let NodeStatus::Paused(since) = self.status[n] else {
                    return;
                };
                self.status[n] = NodeStatus::Up;
                self.record(Some(n), None, EventKind::Resume, 0);
                // Frozen timers resume with the time they had left.
                let frozen = self.now - since;
                let keys: Vec<P::Timer> = self.timers[n].keys().cloned().collect();
                for key in keys {
                    self.timer_token += 1;
                    let token = self.timer_token;
                    let slot = self.timers[n].get_mut(&key).expect("listed");
                    slot.fire_at += frozen;
                    slot.started_at += frozen;
                    slot.token = token;
                    let at = slot.fire_at;
                    self.push(
                        at,
                        0,
                        Item::Timer {
                            node: n,
                            key,
                            token,
                        },
                    );
                }
                for item in std::mem::take(&mut self.stalled[n]) {
                    let now = self.now;
                    self.push(now, 0, item);
                }
            }
            Action::Release(..) => {
                let names = &self.setup.names;
                self.net
                    .apply(&action, |n| names.iter().position(|x| x == n));
                self.record_network(&action);
                // Held messages go out in the order they arrived at the hold.
                let (go, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
                    .into_iter()
                    .partition(|e| matches!(e, Item::Deliver { from, to, .. } if !self.net.is_held(*from, *to)));
                self.held = keep;
                let now = self.now;
                for e in go {
                    self.push(now, 0, e);
                }
            }
            Action::FireTimer(n) => {
                let n = id(self, n);
                if self.status[n] != NodeStatus::Up {
                    return;
                }
                let earliest = self.timers[n]
                    .iter()
                    .min_by_key(|(_, s)| (s.fire_at, s.token))
                    .map(|(k, _)| k.clone());
                if let Some(key) = earliest {
                    self.timer_token += 1;
                    let token = self.timer_token;
                    let slot = self.timers[n].get_mut(&key).expect("found");
                    slot.fire_at = self.now;
                    slot.token = token;
                    let now = self.now;
                    self.push(
                        now,
                        0,
                        Item::Timer {
                            node: n,
                            key,
                            token,
                        },
                    );
                }
            }
            Action::Partition(_)
            | Action::PartitionOneway { .. }
            | Action::Heal
            | Action::Cut(..)
            | Action::CutOneway(..)
            | Action::HealLink(..)
            | Action::Hold(..)
            | Action::SetLink { .. }
            | Action::SetNetwork(_) => {
                let names = &self.setup.names;
                self.net
                    .apply(&action, |n| names.iter().position(|x| x == n));
                self.record_network(&action);
            }
            Action::SetDrift(n, ppm) => {
                let n = id(self, n);
                self.drift_ppm[n] = *ppm;
                self.record_network(&action);
            }
            Action::ClientRequest { to, op } => {
                let target = to.as_deref().map(|n| id(self, n));
                let c = self.clients.len() as ClientId;
                self.clients.push(ClientState::default());
                self.start_op(c, op.clone(), target, false);
            }
            Action::Caption(text) => {
                self.record(None, None, EventKind::Caption { text: text.clone() }, 0);
            }
            Action::PausePoint(text) => {
                self.record(None, None, EventKind::PausePoint { text: text.clone() }, 0);
            }
        }
    }

    fn record_network(&mut self, action: &Action) {
        self.record(
            None,
            None,
            EventKind::Network {
                action: Box::new(action.clone()),
            },
            0,
        );
    }

    fn chaos_step(&mut self, heal_all: bool) {
        let Some(c) = self.setup.chaos.clone() else {
            return;
        };
        if heal_all {
            self.perform(Action::Heal);
            for i in 0..self.n {
                let name = self.setup.names[i].clone();
                match self.status[i] {
                    NodeStatus::Crashed => self.perform(Action::Restart(name)),
                    NodeStatus::Paused(_) => self.perform(Action::Resume(name)),
                    NodeStatus::Up => {}
                }
            }
            return;
        }
        let crashed: Vec<bool> = self
            .status
            .iter()
            .map(|s| *s == NodeStatus::Crashed)
            .collect();
        let paused: Vec<bool> = self
            .status
            .iter()
            .map(|s| matches!(s, NodeStatus::Paused(_)))
            .collect();
        let partitioned = !self.net.groups().is_empty();
        // Views are only built when asked for: the default run pays nothing.
        let leaders: Vec<bool> = if c.leader_minority {
            self.states
                .iter()
                .map(|s| s.as_ref().is_some_and(|s| s.view().role == "leader"))
                .collect()
        } else {
            vec![false; self.n]
        };
        if let Some(a) = c.next_fault(
            &mut self.chaos_rng,
            &self.setup.names,
            &crashed,
            &paused,
            &leaders,
            partitioned,
        ) {
            let crashed = match &a {
                Action::Crash(name) => Some(name.clone()),
                _ => None,
            };
            self.perform(a);
            if let Some(name) = crashed {
                self.schedule_chaos_restart(&c, name);
            }
        }
        let next = self.now + c.gap(&mut self.chaos_rng);
        if next < c.stop {
            self.push(next, 1, Item::Chaos { heal_all: false });
        }
    }

    /// With `restart_after`, a node crashed by chaos comes back after a drawn delay.
    fn schedule_chaos_restart(&mut self, c: &Chaos, name: String) {
        let Some(d) = c.restart_after else { return };
        let e = d.0.max(2);
        let after = SimTime(self.chaos_rng.random_range(e / 2..=e.saturating_add(e / 2)));
        let at = self.now + after;
        self.push(at, 1, Item::Script(Box::new(Action::Restart(name))));
    }

    /// `crash_after_send`: the node that just answered may crash at once, within the
    /// `max_down` budget (crashes and pauses count), while faults are running.
    fn chaos_after_send(&mut self, node: NodeId) {
        let Some(c) = &self.setup.chaos else { return };
        if !c.crash || !c.crashes_after_send(self.now) || self.status[node] != NodeStatus::Up {
            return;
        }
        let down = self.status.iter().filter(|s| **s != NodeStatus::Up).count();
        if down >= c.max_down(self.n) {
            return;
        }
        let c = c.clone();
        if !c.crash_now(&mut self.chaos_rng) {
            return;
        }
        let name = self.setup.names[node].clone();
        self.perform(Action::Crash(name.clone()));
        self.check_invariants(None);
        self.schedule_chaos_restart(&c, name);
    }

    // ---------------------------------------------------------------- clients

    fn client_next(&mut self, c: ClientId) {
        let Some(w) = self.setup.workload.clone() else {
            return;
        };
        if w.stop.is_some_and(|s| self.now >= s) {
            return;
        }
        let op = self.generate_op(&w);
        let target = self.first_target(&w);
        self.start_op(c, op, target, true);
    }

    /// Where a new generated operation goes first (`None`: a uniformly random node).
    fn first_target(&mut self, w: &Workload) -> Option<NodeId> {
        match &w.target {
            Target::Random => None,
            Target::Node(name) => self.node_id(name).ok(),
            Target::Role(role) => self.random_of_role(role),
        }
    }

    fn random_of_role(&mut self, role: &str) -> Option<NodeId> {
        let of = self.setup.roles.nodes_of(role);
        if of.is_empty() {
            return None;
        }
        let k = self.client_rng.random_range(0..of.len());
        Some(of[k])
    }

    /// Network delay between the clients and `node`: none for a node of role `client`,
    /// where requests are born.
    fn client_hop(&mut self, node: NodeId) -> SimTime {
        if self.setup.roles.role(node) == "client" {
            SimTime::ZERO
        } else {
            self.setup.network.latency.sample(&mut self.client_rng)
        }
    }

    /// Schedules the open-loop arrival after one at `from`, unless it would come after the
    /// workload stops.
    fn schedule_arrival(&mut self, from: SimTime) {
        let Some(w) = &self.setup.workload else {
            return;
        };
        let Some(arrival) = &w.arrival else {
            return;
        };
        let stop = w
            .stop
            .unwrap_or(self.setup.duration)
            .min(self.setup.duration);
        if from >= stop {
            return;
        }
        let (rel, horizon) = (from - w.start, stop - w.start);
        if let Some(gap) = arrival.next_gap(rel, horizon, &mut self.client_rng) {
            let at = SimTime(from.0.saturating_add(gap.0));
            if at <= stop {
                self.push(at, 0, Item::Arrival);
            }
        }
    }

    /// An open-loop arrival: a new operation, whatever the earlier ones are doing.
    fn open_loop_arrival(&mut self) {
        let Some(w) = self.setup.workload.clone() else {
            return;
        };
        let c = (self.arrivals % u64::from(w.clients.max(1))) as ClientId;
        self.arrivals += 1;
        let op = self.generate_op(&w);
        let target = self.first_target(&w);
        self.start_op(c, op, target, false);
        self.schedule_arrival(self.now);
    }

    fn generate_op(&mut self, w: &Workload) -> Op {
        let seq = self.keys_picked;
        self.keys_picked += 1;
        let r = &mut self.client_rng;
        let m = &w.mix;
        let total = (m.get + m.put + m.cas + m.request).max(1);
        let pick = r.random_range(0..total);
        let key = format!("k{}", w.keys.pick(seq, r));
        let value = format!("{}", r.random_range(0..100u32));
        if pick < m.get {
            Op::Get { key }
        } else if pick < m.get + m.put {
            Op::Put { key, value }
        } else if pick < m.get + m.put + m.cas {
            let from = if r.random_bool(0.5) {
                Some(format!("{}", r.random_range(0..100u32)))
            } else {
                None
            };
            Op::Cas {
                key,
                from,
                to: value,
            }
        } else {
            Op::Request(value)
        }
    }

    fn start_op(&mut self, c: ClientId, op: Op, target: Option<NodeId>, generated: bool) {
        let st = &mut self.clients[c as usize];
        let seq = st.next_seq;
        st.next_seq += 1;
        self.history.entries.push(HistoryEntry {
            client: c,
            seq,
            op: op.clone(),
            invoked_at: self.now,
            returned_at: None,
            outcome: None,
            attempts: 0,
            node: None,
        });
        let history = self.history.entries.len() - 1;
        let invoked = self.record(
            None,
            None,
            EventKind::ClientInvoke {
                client: c,
                seq,
                op: Box::new(op.clone()),
            },
            0,
        );
        self.clients[c as usize].pending.insert(
            seq,
            PendingOp {
                seq,
                op,
                attempt: 0,
                history,
                generated,
                cause: Some(invoked),
            },
        );
        let node = target.unwrap_or_else(|| self.client_rng.random_range(0..self.n));
        self.send_attempt(c, seq, node);
    }

    fn send_attempt(&mut self, c: ClientId, seq: u64, node: NodeId) {
        let timeout = self.client_timeout();
        let p = self.clients[c as usize]
            .pending
            .get_mut(&seq)
            .expect("an operation in progress");
        p.attempt += 1;
        self.history.entries[p.history].attempts = p.attempt;
        let req = ClientRequest {
            from: ClientRef {
                client: c,
                seq: p.seq,
                attempt: p.attempt,
            },
            op: p.op.clone(),
        };
        let r = req.from;
        let cause = p.cause;
        let at = self.now + self.client_hop(node);
        self.push(
            at,
            0,
            Item::ClientArrive {
                to: node,
                req: Box::new(req),
                cause,
            },
        );
        let t = SimTime(self.now.0.saturating_add(timeout.0));
        self.push(t, 0, Item::ClientTimeout(r));
    }

    fn client_timeout(&self) -> SimTime {
        self.setup
            .workload
            .as_ref()
            .map_or(SimTime::from_millis(500), |w| w.timeout)
    }
    fn max_attempts(&self) -> u32 {
        self.setup.workload.as_ref().map_or(5, |w| w.max_attempts)
    }

    /// An answer reached its client; `sent` is the node's `client-reply` event.
    fn client_reply(&mut self, from: NodeId, to: ClientRef, reply: ClientReply, sent: EventId) {
        let Some(p) = self.clients[to.client as usize].pending.get(&to.seq) else {
            return; // an answer to an operation the client already finished
        };
        if p.attempt != to.attempt {
            return; // an answer to an attempt the client already gave up on
        }
        let h = p.history;
        self.history.entries[h].node = Some(from);
        match reply {
            ClientReply::Ok { value } => {
                self.finish_op(to.client, to.seq, Outcome::Ok { value }, Some(sent))
            }
            ClientReply::Fail { reason } => {
                self.finish_op(to.client, to.seq, Outcome::Fail { reason }, Some(sent))
            }
            ClientReply::CompareFailed { current } => self.finish_op(
                to.client,
                to.seq,
                Outcome::CompareFailed { current },
                Some(sent),
            ),
            ClientReply::Redirect { leader } => {
                if let Some(p) = self.clients[to.client as usize].pending.get_mut(&to.seq) {
                    p.cause = Some(sent);
                }
                self.client_retry(to.client, to.seq, leader, false)
            }
        }
    }

    /// Another attempt at `hint` (or a random other node), unless attempts are used up.
    fn client_retry(&mut self, c: ClientId, seq: u64, hint: Option<NodeId>, timed_out: bool) {
        let p = self.clients[c as usize].pending.get(&seq).expect("pending");
        if p.attempt >= self.max_attempts() {
            // After a redirect, the return's parent is that redirect; a timeout has none.
            let (outcome, parent) = if timed_out {
                (Outcome::Timeout, None)
            } else {
                let reason = "no leader found".into();
                (Outcome::Fail { reason }, p.cause)
            };
            self.finish_op(c, seq, outcome, parent);
            return;
        }
        if timed_out {
            // The next attempt follows from the invocation, not from an answer.
            let p = self.clients[c as usize]
                .pending
                .get_mut(&seq)
                .expect("pending");
            p.cause = None;
        }
        let role = match self.setup.workload.as_ref().map(|w| &w.target) {
            Some(Target::Role(r)) => Some(r.clone()),
            _ => None,
        };
        let node = match (hint, role) {
            (Some(n), _) if n < self.n => n,
            (_, Some(r)) => self
                .random_of_role(&r)
                .unwrap_or_else(|| self.client_rng.random_range(0..self.n)),
            _ => self.client_rng.random_range(0..self.n),
        };
        self.send_attempt(c, seq, node);
    }

    /// Ends an operation; `parent` is the answer that ended it (none for a timeout).
    fn finish_op(&mut self, c: ClientId, seq: u64, outcome: Outcome, parent: Option<EventId>) {
        let p = self.clients[c as usize]
            .pending
            .remove(&seq)
            .expect("pending");
        let e = &mut self.history.entries[p.history];
        // The node whose answer ended it; a timeout was nobody's answer.
        let node = match outcome {
            Outcome::Timeout => None,
            _ => e.node,
        };
        e.returned_at = Some(self.now);
        e.outcome = Some(outcome.clone());
        let latency = self.now - e.invoked_at;
        self.metrics
            .series
            .client_finished(self.now, latency, outcome.answered());
        self.record(
            None,
            parent,
            EventKind::ClientReturn {
                client: c,
                seq: p.seq,
                attempts: p.attempt,
                node,
                determinate: outcome.answered(),
                outcome: Box::new(outcome),
            },
            0,
        );
        if p.generated {
            let interval = self
                .setup
                .workload
                .as_ref()
                .map_or(SimTime::ZERO, |w| w.interval);
            let at = SimTime(self.now.0.saturating_add(interval.0));
            self.push(at, 0, Item::ClientNext(c));
        }
    }

    // ---------------------------------------------------------------- service stations

    /// An input reached `node`, which has a service model: a worker takes it, or it waits,
    /// or the queue is full and it is dropped.
    fn admit(&mut self, node: NodeId, item: Item<P>) {
        let station = self.stations[node].as_mut().expect("a station");
        match station.admit(item) {
            Admit::Start(item) => self.start_service(node, item),
            Admit::Queued => {}
            Admit::Shed(item) => self.shed(node, item),
        }
    }

    fn start_service(&mut self, node: NodeId, item: Item<P>) {
        let model = &self.stations[node].as_ref().expect("a station").model;
        let rng = self.service_rng[node].as_mut().expect("a service stream");
        let d = crate::sim::service::service_time(model, rng);
        self.serve_token += 1;
        let token = self.serve_token;
        if let Item::Deliver {
            from, msg, send, ..
        } = &item
        {
            self.serving[node].push(InService {
                token,
                from: *from,
                kind: msg.kind(),
                send: *send,
            });
        }
        let inc = self.incarnation[node];
        let at = SimTime(self.now.0.saturating_add(d.0));
        self.push(
            at,
            0,
            Item::Serve {
                node,
                input: Box::new(item),
                inc,
                token,
            },
        );
    }

    fn shed(&mut self, node: NodeId, item: Item<P>) {
        *self
            .metrics
            .dropped_by_reason
            .entry(DropReason::QueueFull)
            .or_default() += 1;
        match item {
            Item::Deliver {
                from, msg, send, ..
            } => {
                self.metrics.dropped.add(msg.kind());
                self.record(
                    Some(node),
                    Some(send),
                    EventKind::Drop {
                        from,
                        send,
                        msg: msg.kind(),
                        reason: DropReason::QueueFull,
                    },
                    0,
                );
            }
            Item::ClientArrive { req, cause, .. } => {
                self.record(
                    Some(node),
                    cause,
                    EventKind::Shed {
                        client: req.from.client,
                        seq: req.from.seq,
                        attempt: req.from.attempt,
                    },
                    0,
                );
            }
            _ => unreachable!("only inputs are admitted"),
        }
    }

    /// The service time of an input at `node` ended: its handler runs.
    fn serve(&mut self, node: NodeId, input: Item<P>, inc: u32, token: u64) -> Option<NodeId> {
        if inc != self.incarnation[node] {
            return None; // the node crashed meanwhile; the loss was recorded then
        }
        self.serving[node].retain(|s| s.token != token);
        self.holds_worker = true;
        let touched = self.handle_input(input);
        if std::mem::take(&mut self.holds_worker) {
            self.release_worker(node);
        }
        touched
    }

    /// A worker of `node` is free: it takes the next waiting input, if any.
    fn release_worker(&mut self, node: NodeId) {
        let Some(station) = self.stations[node].as_mut() else {
            return;
        };
        if let Some(next) = station.release() {
            self.start_service(node, next);
        }
    }

    /// A crash empties `node`'s station: waiting and in-service messages are lost.
    fn crash_station(&mut self, node: NodeId) {
        self.incarnation[node] = self.incarnation[node].wrapping_add(1);
        let Some(station) = self.stations[node].as_mut() else {
            return;
        };
        let waiting = station.clear();
        for s in std::mem::take(&mut self.serving[node]) {
            self.drop_msg(s.from, node, s.kind, s.send, DropReason::NodeDown);
        }
        for item in waiting {
            if let Item::Deliver {
                from, msg, send, ..
            } = item
            {
                self.drop_msg(from, node, msg.kind(), send, DropReason::NodeDown);
            }
        }
    }

    // ---------------------------------------------------------------- time series

    /// Takes every sample due strictly before `t` (the state then is the state now, since
    /// no event has happened after it yet).
    fn sample_before(&mut self, t: SimTime) {
        if self.next_sample_at >= t {
            return; // the common case: checked once per event, without touching the series
        }
        while self.metrics.series.next_at() < t {
            self.take_sample();
        }
        self.next_sample_at = self.metrics.series.next_at();
    }

    fn take_sample(&mut self) {
        let secs = self.metrics.series.interval().as_secs_f64();
        let mut values = Vec::new();
        for (node, st) in self.stations.iter().enumerate() {
            let Some(st) = st else { continue };
            let (done, shed) = self.station_seen[node];
            values.push((SeriesKey::of("queue", node), st.queue_len() as f64));
            values.push((SeriesKey::of("busy", node), f64::from(st.busy)));
            values.push((
                SeriesKey::of("completed", node),
                (st.completed - done) as f64 / secs,
            ));
            values.push((SeriesKey::of("shed", node), (st.shed - shed) as f64 / secs));
            self.station_seen[node] = (st.completed, st.shed);
        }
        let mut gauges = std::mem::take(&mut self.gauges_buf);
        gauges.clear();
        let at = self.metrics.series.next_at();
        P::gauges_at(&self.setup.config, at, &self.states, &mut gauges);
        for g in &gauges {
            let key = match g.node {
                Some(n) => SeriesKey::of(g.name, n),
                None => SeriesKey::global(g.name),
            };
            values.push((key, g.value));
        }
        self.gauges_buf = gauges;
        let mut parts = Vec::new();
        P::partition_gauges_at(&self.setup.config, at, &self.states, &mut parts);
        for g in parts {
            values.push((SeriesKey::of_part(g.name, g.part), g.value));
        }
        self.metrics.series.sample(values);
    }

    // ---------------------------------------------------------------- invariants

    /// The trace events where the operations `ops` (indices into the history) last reached a
    /// node: the app marks them on the space-time diagram.
    fn witness_requests(&self, ops: &[usize]) -> Vec<EventId> {
        let wanted: BTreeSet<(ClientId, u64)> = ops
            .iter()
            .map(|&i| &self.history.entries[i])
            .map(|h| (h.client, h.seq))
            .collect();
        let mut last: BTreeMap<(ClientId, u64), EventId> = BTreeMap::new();
        for ev in self.trace.events() {
            if let EventKind::ClientRequest { client, seq, .. } = ev.kind
                && wanted.contains(&(client, seq))
            {
                last.insert((client, seq), ev.id);
            }
        }
        last.into_values().collect()
    }

    /// At the end of a complete run, for a configuration that promises linearizability.
    fn check_linearizability(&mut self) {
        if self.linearizability_checked || !P::linearizable(&self.setup.config) {
            return;
        }
        self.linearizability_checked = true;
        let Err(e) = linearizability::check_with(&self.history, P::register_value) else {
            return;
        };
        let v = Violation {
            invariant: "Linearizability".to_string(),
            statement: "Every client operation appears to take effect at one instant between \
                        its invocation and its response (Herlihy and Wing)"
                .to_string(),
            explanation: format!(
                "no order of these {} operations on key {} respects real time and a register's \
                 semantics:\n    {}",
                e.ops.len(),
                e.key,
                e.explanation.replace('\n', "\n    ")
            ),
            at: self.now,
            nodes: e.nodes,
            events: self.witness_requests(&e.ops),
        };
        let node = v.nodes.first().copied();
        self.record(
            node,
            None,
            EventKind::Violation {
                violation: Box::new(v.clone()),
            },
            0,
        );
        self.violations.push(v);
    }

    fn check_invariants(&mut self, touched: Option<NodeId>) {
        if self.invariants.is_empty() {
            return;
        }
        let mut failures = Vec::new();
        {
            let world = World {
                now: self.now,
                states: &self.states,
                durable: &self.durable,
                touched,
                last_event: &self.last_event,
                history: &self.history,
            };
            for (inv, done) in self
                .invariants
                .iter_mut()
                .zip(self.invariant_done.iter_mut())
            {
                if *done {
                    continue;
                }
                if let Err(f) = inv.check_with_network(&world, &self.net) {
                    *done = true;
                    let mut events = world.events_of(&f.nodes);
                    if let Some(last) = self.trace.len().checked_sub(1) {
                        events.push(last);
                    }
                    events.sort();
                    events.dedup();
                    failures.push(Violation {
                        invariant: inv.name().to_string(),
                        statement: inv.statement().to_string(),
                        explanation: f.explanation,
                        at: self.now,
                        nodes: f.nodes,
                        events,
                    });
                }
            }
        }
        let mut counts = Vec::new();
        for inv in &self.invariants {
            inv.counts(&mut counts);
        }
        for (name, total) in counts {
            self.metrics.counters.insert(name, total);
        }
        for v in failures {
            let node = v.nodes.first().copied();
            self.record(
                node,
                None,
                EventKind::Violation {
                    violation: Box::new(v.clone()),
                },
                0,
            );
            self.violations.push(v);
        }
    }
}
