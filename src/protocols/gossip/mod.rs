//! Gossip: epidemic dissemination of updates, after Demers et al., "Epidemic Algorithms for
//! Replicated Database Maintenance", PODC 1987 (<https://doi.org/10.1145/41840.41841>), and
//! Karp et al., "Randomized Rumor Spreading", FOCS 2000.
//!
//! Every node keeps a small replicated store: a key maps to the newest `Update` it knows, and
//! updates are ordered by a `Version` (a Lamport counter with the writer's id as tie-breaker).
//! Every `period` each node picks `fanout` random peers and exchanges updates with them:
//!
//! - `Push`: the caller sends what it has (`Push { updates }`);
//! - `Pull`: the caller sends a digest of its versions (`Pull { digest }`), the peer answers
//!   with whatever is newer (`Reply { updates }`);
//! - `PushPull`: both at once (`PushPull { updates, digest }`, answered by `Reply`).
//!
//! Two of Demers' strategies are modelled:
//!
//! - **Anti-entropy** (`mode: AntiEntropy`): every round exchanges the whole store. It always
//!   converges, at the price of traffic that does not stop.
//! - **Rumor mongering** (`mode: Rumor`): an update is a *hot rumor* while its node is
//!   *infective*; only hot rumors are sent. A node that learns a new update becomes infective
//!   for it; when it tells a rumor to someone who already knew it (the peer's `Reply` lists it
//!   in `known`: Demers' "feedback"), it loses interest with probability `stop` (Demers'
//!   "coin", `stop = 1/k`) and the rumor becomes *removed* at that node. Susceptible,
//!   infective, removed: the SIR epidemic. With `stop = 0` the rumor never dies, which is the
//!   plain push/pull/push-pull spreading whose rounds to full coverage are `O(log n)`.
//!
//! The third mode is the **gossiping (telephone) problem** (`mode: Calls`): node `i` starts
//! with secret `i`, and a `Call { secrets }` answered by `CallReply { secrets }` leaves both
//! sides knowing the union. `schedule: Optimal` plays the `2n - 4` call schedule of
//! [`schedule`], one call per `period`; `schedule: Random` lets every node that does not yet
//! know every secret call a random peer each `period`. `calls` counts calls, `know_all` the
//! nodes that know every secret.
//!
//! Safety properties (`invariants/`): versions held by a node never go back (Version
//! Monotonicity), and one version of a key names one value everywhere (Version Uniqueness).

pub mod invariants;
pub mod schedule;

use crate::sim::{
    ClientReply, ClientRequest, Ctx, EntryView, Invariant, Message, NodeId, NodeView, Op, Protocol,
    SimTime, TimerView, Tone,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Which of Demers' dissemination strategies runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Rumor mongering: only hot rumors are sent; SIR with a stop probability.
    #[default]
    Rumor,
    /// Anti-entropy: the whole store is reconciled every round.
    AntiEntropy,
    /// The telephone problem: secrets exchanged in pairwise calls.
    Calls,
}

/// Who sends what in a gossip exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Style {
    #[default]
    Push,
    Pull,
    PushPull,
}

/// How calls are chosen in `mode: Calls`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    /// The `2n - 4` schedule, one call per period.
    #[default]
    Optimal,
    /// Every node that does not know everything calls a random peer each period.
    Random,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GossipConfig {
    /// Dissemination strategy.
    #[serde(default)]
    pub mode: Mode,
    /// Push, pull or push-pull exchanges (rumor mongering and anti-entropy).
    #[serde(default)]
    pub style: Style,
    /// Peers contacted per round.
    #[serde(default = "default_fanout")]
    pub fanout: usize,
    /// Time between rounds (and between calls of the optimal schedule).
    #[serde(default = "default_period")]
    pub period: SimTime,
    /// Rumor mongering: probability of losing interest in a rumor when a peer already knew it
    /// (Demers' coin, `1/k`). 0 keeps every rumor hot forever.
    #[serde(default)]
    pub stop: f64,
    /// The node holding the first rumor (`rumor=hello`) at time zero; none if absent.
    #[serde(default = "default_origin")]
    pub origin: Option<NodeId>,
    /// The call schedule of `mode: Calls`.
    #[serde(default)]
    pub schedule: Schedule,
    /// Bug: merge takes any update with a different version, older ones included.
    #[serde(default)]
    pub bug_accept_stale: bool,
    /// Bug: versions are bare Lamport counters without the writer's id as tie-breaker, so two
    /// concurrent writes can get the same version with different values.
    #[serde(default)]
    pub bug_version_without_origin: bool,
}

fn default_fanout() -> usize {
    1
}
fn default_period() -> SimTime {
    SimTime::from_millis(100)
}
fn default_origin() -> Option<NodeId> {
    Some(0)
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            mode: Mode::default(),
            style: Style::default(),
            fanout: default_fanout(),
            period: default_period(),
            stop: 0.0,
            origin: default_origin(),
            schedule: Schedule::default(),
            bug_accept_stale: false,
            bug_version_without_origin: false,
        }
    }
}

/// The order of updates to one key: a Lamport counter, then the writer's id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Version {
    pub counter: u64,
    pub origin: NodeId,
}

/// One write: the newest one per key is what a node holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Update {
    pub key: String,
    pub version: Version,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GossipMsg {
    /// Push: the caller's (hot) updates.
    Push { updates: Vec<Update> },
    /// Pull: the caller's versions; the peer answers with what is newer.
    Pull { digest: Vec<(String, Version)> },
    /// Push-pull: both at once.
    PushPull {
        updates: Vec<Update>,
        digest: Vec<(String, Version)>,
    },
    /// The answer to a pull (newer updates) and feedback on a push (updates already `known`).
    Reply {
        updates: Vec<Update>,
        known: Vec<(String, Version)>,
    },
    /// A telephone call: the caller's secrets.
    Call { secrets: Vec<NodeId> },
    /// The callee's secrets after hearing the caller's: both now know the union.
    CallReply { secrets: Vec<NodeId> },
}

impl Message for GossipMsg {
    fn kind(&self) -> &'static str {
        match self {
            GossipMsg::Push { .. } => "Push",
            GossipMsg::Pull { .. } => "Pull",
            GossipMsg::PushPull { .. } => "PushPull",
            GossipMsg::Reply { .. } => "Reply",
            GossipMsg::Call { .. } => "Call",
            GossipMsg::CallReply { .. } => "CallReply",
        }
    }
    fn label(&self) -> String {
        let ups = |u: &[Update]| -> String {
            let v: Vec<String> = u
                .iter()
                .map(|u| format!("{}={}@{}", u.key, u.value, u.version.counter))
                .collect();
            v.join(" ")
        };
        match self {
            GossipMsg::Push { updates } => format!("push {}", ups(updates)),
            GossipMsg::Pull { digest } => format!("pull ({} keys)", digest.len()),
            GossipMsg::PushPull { updates, digest } => {
                format!("push-pull {} ({} keys)", ups(updates), digest.len())
            }
            GossipMsg::Reply { updates, known } => {
                format!("reply {} (knew {})", ups(updates), known.len())
            }
            GossipMsg::Call { secrets } => format!("call: {} secrets", secrets.len()),
            GossipMsg::CallReply { secrets } => format!("reply: {} secrets", secrets.len()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GossipTimer {
    /// The next gossip round.
    Round,
    /// Call number `k` of the optimal schedule, placed by this node.
    Call(usize),
}

/// What survives a crash: the store and the secrets (a replica's disk).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GossipDurable {
    pub store: BTreeMap<String, Update>,
    pub secrets: BTreeSet<NodeId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Gossip {
    /// The configuration, copied so handlers need no extra argument.
    cfg: GossipConfig,
    /// The newest update known per key: the replicated state.
    pub store: BTreeMap<String, Update>,
    /// Keys whose update this node is still spreading (infective, in SIR terms).
    pub hot: BTreeSet<String>,
    /// Secrets known (telephone mode); node `i` starts with secret `i`.
    pub secrets: BTreeSet<NodeId>,
    /// Rounds run since start or restart (shown, and useful in traces).
    round: u64,
    /// Calls this node placed.
    pub calls_made: u64,
    /// Cluster size, so the view can tell whether every secret is known.
    nodes: usize,
    /// Sequence for rumor keys created by client requests (`r<node>.<seq>`).
    next_rumor: u64,
    /// When the pending round or call timer was set and when it fires (for the view).
    timer: Option<(SimTime, SimTime, &'static str)>,
}

impl Gossip {
    fn fresh(cfg: &GossipConfig, nodes: usize) -> Self {
        Gossip {
            nodes,
            cfg: cfg.clone(),
            store: BTreeMap::new(),
            hot: BTreeSet::new(),
            secrets: BTreeSet::new(),
            round: 0,
            calls_made: 0,
            next_rumor: 0,
            timer: None,
        }
    }

    fn durable(&self) -> GossipDurable {
        GossipDurable {
            store: self.store.clone(),
            secrets: self.secrets.clone(),
        }
    }

    /// Does this node know every secret (telephone mode)?
    pub fn knows_all(&self, nodes: usize) -> bool {
        self.secrets.len() == nodes
    }

    fn arm(&mut self, timer: GossipTimer, after: SimTime, ctx: &mut Ctx<Self>) {
        let label = match timer {
            GossipTimer::Round => "round",
            GossipTimer::Call(_) => "call",
        };
        self.timer = Some((ctx.now, ctx.now + after, label));
        ctx.set_timer(timer, after);
    }

    /// Sets the timers of this node's calls in the optimal schedule still to come.
    fn arm_calls(&mut self, ctx: &mut Ctx<Self>) {
        let period = self.cfg.period;
        let calls = schedule::optimal_schedule(ctx.nodes);
        for (k, &(caller, _)) in calls.iter().enumerate() {
            let at = period.saturating_mul(k as u64 + 1);
            if caller == ctx.id && at > ctx.now {
                ctx.set_timer(GossipTimer::Call(k), at - ctx.now);
                if self.timer.is_none_or(|(_, fires, _)| fires <= ctx.now) {
                    self.timer = Some((ctx.now, at, "call"));
                }
            }
        }
    }

    /// A new write at this node: the next version of `key`.
    fn write(&mut self, key: String, value: String, ctx: &mut Ctx<Self>) -> Version {
        let counter = self.store.get(&key).map_or(0, |u| u.version.counter) + 1;
        let origin = if self.cfg.bug_version_without_origin {
            0
        } else {
            ctx.id
        };
        let version = Version { counter, origin };
        self.hot.insert(key.clone());
        self.store.insert(
            key.clone(),
            Update {
                key,
                version,
                value,
            },
        );
        ctx.count("writes", 1);
        ctx.count("informed", 1);
        ctx.persist(self.durable());
        version
    }

    /// Merges received updates; returns the (key, version) pairs this node already had.
    fn merge(&mut self, updates: Vec<Update>, ctx: &mut Ctx<Self>) -> Vec<(String, Version)> {
        let mut known = Vec::new();
        let mut changed = false;
        for u in updates {
            ctx.count("deliveries", 1);
            let newer = match self.store.get(&u.key) {
                None => true,
                Some(have) if self.cfg.bug_accept_stale => have.version != u.version,
                Some(have) => u.version > have.version,
            };
            if newer {
                ctx.count("informed", 1);
                if self.cfg.mode == Mode::Rumor {
                    self.hot.insert(u.key.clone());
                }
                self.store.insert(u.key.clone(), u);
                changed = true;
            } else {
                ctx.count("redundant", 1);
                known.push((u.key, u.version));
            }
        }
        if changed {
            ctx.persist(self.durable());
        }
        known
    }

    /// What to send: hot rumors when mongering, the whole store in anti-entropy.
    fn outgoing(&self) -> Vec<Update> {
        match self.cfg.mode {
            Mode::Rumor => self
                .hot
                .iter()
                .filter_map(|k| self.store.get(k).cloned())
                .collect(),
            _ => self.store.values().cloned().collect(),
        }
    }

    fn digest(&self) -> Vec<(String, Version)> {
        self.store
            .values()
            .map(|u| (u.key.clone(), u.version))
            .collect()
    }

    /// Updates newer than the peer's digest (only hot ones when mongering). Hot rumors the peer
    /// already has are feedback: each may make this node lose interest.
    fn newer_than(&mut self, digest: &[(String, Version)], ctx: &mut Ctx<Self>) -> Vec<Update> {
        let theirs: BTreeMap<&str, Version> =
            digest.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let mut out = Vec::new();
        let mut already = Vec::new();
        for u in self.outgoing() {
            match theirs.get(u.key.as_str()) {
                Some(v) if *v >= u.version => already.push((u.key, u.version)),
                _ => out.push(u),
            }
        }
        self.feedback(&already, ctx);
        out
    }

    /// Demers' feedback with a coin: for each hot rumor a peer already knew, stop spreading it
    /// with probability `stop`.
    fn feedback(&mut self, known: &[(String, Version)], ctx: &mut Ctx<Self>) {
        if self.cfg.mode != Mode::Rumor || self.cfg.stop <= 0.0 {
            return;
        }
        for (key, version) in known {
            let current = self.store.get(key).is_some_and(|u| u.version == *version);
            if current && self.hot.contains(key) && ctx.rng().random_bool(self.cfg.stop) {
                self.hot.remove(key);
                ctx.count("removed", 1);
            }
        }
    }

    /// `k` distinct random peers (not this node).
    fn peers(k: usize, ctx: &mut Ctx<Self>) -> Vec<NodeId> {
        let others = ctx.nodes - 1;
        let k = k.min(others);
        let mut chosen: Vec<NodeId> = Vec::with_capacity(k);
        while chosen.len() < k {
            let mut p = ctx.rng().random_range(0..others);
            if p >= ctx.id {
                p += 1;
            }
            if !chosen.contains(&p) {
                chosen.push(p);
            }
        }
        chosen
    }

    fn round(&mut self, ctx: &mut Ctx<Self>) {
        self.round += 1;
        if self.cfg.mode == Mode::Calls {
            if !self.knows_all(ctx.nodes) {
                let peer = Self::peers(1, ctx)[0];
                self.call(peer, ctx);
            }
            return;
        }
        for peer in Self::peers(self.cfg.fanout, ctx) {
            match self.cfg.style {
                Style::Push => {
                    let updates = self.outgoing();
                    if !updates.is_empty() {
                        ctx.send(peer, GossipMsg::Push { updates });
                    }
                }
                Style::Pull => {
                    let digest = self.digest();
                    ctx.send(peer, GossipMsg::Pull { digest });
                }
                Style::PushPull => {
                    let (updates, digest) = (self.outgoing(), self.digest());
                    ctx.send(peer, GossipMsg::PushPull { updates, digest });
                }
            }
        }
    }

    fn call(&mut self, peer: NodeId, ctx: &mut Ctx<Self>) {
        self.calls_made += 1;
        ctx.count("calls", 1);
        let secrets = self.secrets.iter().copied().collect();
        ctx.send(peer, GossipMsg::Call { secrets });
    }

    fn learn_secrets(&mut self, secrets: Vec<NodeId>, ctx: &mut Ctx<Self>) {
        let before = self.secrets.len();
        self.secrets
            .extend(secrets.into_iter().filter(|&s| s < ctx.nodes));
        if self.secrets.len() > before {
            ctx.persist(self.durable());
            if self.knows_all(ctx.nodes) {
                ctx.count("know_all", 1);
                ctx.note(format!("knows all {} secrets", ctx.nodes));
            }
        }
    }
}

impl Protocol for Gossip {
    type Msg = GossipMsg;
    type Timer = GossipTimer;
    type Durable = GossipDurable;
    type Config = GossipConfig;

    const NAME: &'static str = "gossip";
    const SUMMARY: &'static str =
        "epidemic dissemination: push/pull rumor mongering (SIR), anti-entropy, telephone calls";
    const MESSAGE_KINDS: &'static [&'static str] =
        &["Push", "Pull", "PushPull", "Reply", "Call", "CallReply"];

    fn validate_config(cfg: &GossipConfig, nodes: usize) -> Result<(), String> {
        if nodes < 2 {
            return Err(format!("gossip needs at least 2 nodes, got {nodes}"));
        }
        if cfg.fanout == 0 || cfg.fanout >= nodes {
            return Err(format!(
                "fanout must be between 1 and {} (nodes - 1), got {}",
                nodes - 1,
                cfg.fanout
            ));
        }
        if cfg.mode == Mode::Calls {
            // Every node learns every secret, and computes the whole call schedule.
            crate::protocols::check_all_to_all_nodes("gossip in `Calls` mode", nodes)?;
        }
        if cfg.period == SimTime::ZERO {
            return Err("period must be positive (e.g. \"100ms\")".into());
        }
        if !(0.0..=1.0).contains(&cfg.stop) {
            return Err(format!(
                "stop is a probability: expected a number in [0, 1], got {}",
                cfg.stop
            ));
        }
        if let Some(o) = cfg.origin
            && o >= nodes
        {
            return Err(format!(
                "origin must be a node index below {nodes}, got {o}"
            ));
        }
        Ok(())
    }

    fn init(cfg: &GossipConfig, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Gossip::fresh(cfg, ctx.nodes);
        if cfg.mode == Mode::Calls {
            me.secrets.insert(ctx.id);
            ctx.persist(me.durable());
            if ctx.nodes == 1 {
                ctx.count("know_all", 1);
            }
        } else if cfg.origin == Some(ctx.id) {
            me.write("rumor".into(), "hello".into(), ctx);
        }
        if cfg.mode == Mode::Calls && cfg.schedule == Schedule::Optimal {
            me.arm_calls(ctx);
        } else {
            me.arm(GossipTimer::Round, cfg.period, ctx);
        }
        me
    }

    fn on_restart(cfg: &GossipConfig, durable: &GossipDurable, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Gossip::fresh(cfg, ctx.nodes);
        me.store = durable.store.clone();
        me.secrets = durable.secrets.clone();
        // Rumor keys continue after the ones this node wrote before the crash (all persisted).
        let mine = format!("r{}.", ctx.id);
        me.next_rumor = me
            .store
            .keys()
            .filter_map(|k| k.strip_prefix(&mine)?.parse::<u64>().ok())
            .map(|s| s + 1)
            .max()
            .unwrap_or(0);
        if cfg.mode == Mode::Calls && cfg.schedule == Schedule::Optimal {
            me.arm_calls(ctx);
        } else {
            me.arm(GossipTimer::Round, cfg.period, ctx);
        }
        me
    }

    fn on_message(&mut self, from: NodeId, msg: GossipMsg, ctx: &mut Ctx<Self>) {
        match msg {
            GossipMsg::Push { updates } => {
                let known = self.merge(updates, ctx);
                if self.cfg.mode == Mode::Rumor && self.cfg.stop > 0.0 && !known.is_empty() {
                    let updates = Vec::new();
                    ctx.send(from, GossipMsg::Reply { updates, known });
                }
            }
            GossipMsg::Pull { digest } => {
                let updates = self.newer_than(&digest, ctx);
                if !updates.is_empty() {
                    let known = Vec::new();
                    ctx.send(from, GossipMsg::Reply { updates, known });
                }
            }
            GossipMsg::PushPull { updates, digest } => {
                let known = self.merge(updates, ctx);
                let updates = self.newer_than(&digest, ctx);
                let feedback = self.cfg.mode == Mode::Rumor && self.cfg.stop > 0.0;
                let known = if feedback { known } else { Vec::new() };
                if !updates.is_empty() || !known.is_empty() {
                    ctx.send(from, GossipMsg::Reply { updates, known });
                }
            }
            GossipMsg::Reply { updates, known } => {
                self.merge(updates, ctx);
                self.feedback(&known, ctx);
            }
            GossipMsg::Call { secrets } => {
                self.learn_secrets(secrets, ctx);
                let secrets = self.secrets.iter().copied().collect();
                ctx.send(from, GossipMsg::CallReply { secrets });
            }
            GossipMsg::CallReply { secrets } => self.learn_secrets(secrets, ctx),
        }
    }

    fn on_timer(&mut self, timer: GossipTimer, ctx: &mut Ctx<Self>) {
        match timer {
            GossipTimer::Round => {
                self.round(ctx);
                let period = self.cfg.period;
                self.arm(GossipTimer::Round, period, ctx);
            }
            GossipTimer::Call(k) => {
                let calls = schedule::optimal_schedule(ctx.nodes);
                let (caller, callee) = calls[k];
                assert_eq!(caller, ctx.id, "call {k} fired at the wrong node");
                self.call(callee, ctx);
                let next = calls
                    .iter()
                    .enumerate()
                    .skip(k + 1)
                    .find(|(_, c)| c.0 == ctx.id)
                    .map(|(j, _)| self.cfg.period.saturating_mul(j as u64 + 1));
                self.timer = next.map(|at| (ctx.now, at, "call"));
            }
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        if self.cfg.mode == Mode::Calls {
            let reason = "the telephone mode takes no client requests".to_string();
            ctx.reply_to_client(req.from, ClientReply::Fail { reason });
            return;
        }
        let reply = match req.op {
            Op::Get { key } => ClientReply::Ok {
                value: self.store.get(&key).map(|u| u.value.clone()),
            },
            Op::Put { key, value } => {
                let v = self.write(key, value, ctx);
                ClientReply::Ok {
                    value: Some(format!("v{}", v.counter)),
                }
            }
            Op::Request(arg) => {
                let key = format!("r{}.{}", ctx.id, self.next_rumor);
                self.next_rumor += 1;
                self.write(key.clone(), arg, ctx);
                ClientReply::Ok { value: Some(key) }
            }
            Op::Cas { .. } => ClientReply::Fail {
                reason: "gossip stores have no compare-and-set".into(),
            },
        };
        ctx.reply_to_client(req.from, reply);
    }

    fn view(&self) -> NodeView {
        let (role, tone) = match self.cfg.mode {
            Mode::Calls if self.secrets.len() == self.nodes => ("informed", Tone::Good),
            Mode::Calls if self.secrets.len() > 1 => ("learning", Tone::Candidate),
            Mode::Calls => ("susceptible", Tone::Neutral),
            _ if self.store.is_empty() => ("susceptible", Tone::Neutral),
            Mode::Rumor if !self.hot.is_empty() => ("infective", Tone::Candidate),
            Mode::Rumor => ("removed", Tone::Good),
            Mode::AntiEntropy => ("informed", Tone::Good),
        };
        let mut v = NodeView::new(role, tone).field("round", self.round);
        if self.cfg.mode == Mode::Calls {
            v = v
                .field("secrets", self.secrets.len())
                .field("calls", self.calls_made);
            v.entries = self
                .secrets
                .iter()
                .map(|&s| EntryView {
                    index: s as u64 + 1,
                    term: 0,
                    label: format!("s{}", s + 1),
                    committed: true,
                })
                .collect();
        } else {
            v = v
                .field("keys", self.store.len())
                .field("hot", self.hot.len());
            v.entries = self
                .store
                .values()
                .enumerate()
                .map(|(i, u)| EntryView {
                    index: i as u64 + 1,
                    term: u.version.counter,
                    label: format!("{}={}", u.key, u.value),
                    committed: !self.hot.contains(&u.key),
                })
                .collect();
        }
        v.timer = self.timer.map(|(started_at, fires_at, label)| TimerView {
            label: label.into(),
            started_at,
            fires_at,
        });
        v
    }

    fn invariants(_cfg: &GossipConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![
            Box::new(invariants::VersionMonotonicity::new(nodes)),
            Box::new(invariants::VersionUniqueness::default()),
        ]
    }
}
