//! Gossip: epidemic dissemination of updates, after Demers et al., "Epidemic Algorithms for
//! Replicated Database Maintenance", PODC 1987 (<https://doi.org/10.1145/41840.41841>), and
//! Karp et al., "Randomized Rumor Spreading", FOCS 2000; and the gossiping (telephone) problem
//! of Baker and Shostak, "Gossips and telephones", Discrete Mathematics 2(3), 1972.
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
//! Two of Demers' strategies are modelled (`epidemic.rs`):
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
//! The third mode is the **gossiping (telephone) problem** (`mode: Calls`, `telephone.rs`):
//! node `i` starts with secret `i`, and a `Call { secrets }` answered by `CallReply { secrets }`
//! leaves both sides knowing the union. `schedule: Optimal` plays the `2n - 4` call schedule of
//! [`schedule`] as a partial order: a call waits for the previous call of each of its parties,
//! so it takes `2n - 4` calls whatever the latency; lost calls are retried. `schedule: Random`
//! lets every node that does not yet know every secret, and is not in a call, call a random
//! peer each `period`. `calls` counts completed calls, `know_all` the nodes that know every
//! secret.
//!
//! Safety properties (`invariants/`): versions held by a node never go back (Version
//! Monotonicity), and one version of a key names one value everywhere (Version Uniqueness).

mod config;
mod epidemic;
pub mod invariants;
mod message;
pub mod schedule;
mod telephone;

pub use config::{GossipConfig, Mode, Schedule, Style};
pub use message::{GossipMsg, GossipTimer, Update, Version};
pub use telephone::Line;

use crate::sim::{
    ClientReply, ClientRequest, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Op, Protocol,
    SimTime, TimerView, Tone,
};
use std::collections::{BTreeMap, BTreeSet};

/// What survives a crash: the store, the secrets and the progress through the calls (a
/// replica's disk).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GossipDurable {
    pub store: BTreeMap<String, Update>,
    pub secrets: BTreeSet<NodeId>,
    /// Optimal schedule: how many of this node's calls are finished. Random calls: how many
    /// calls it placed.
    pub calls_done: u64,
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
    /// Calls this node placed that were answered (since start or restart).
    pub calls_made: u64,
    /// The telephone line: this node's calls and the one in progress.
    pub line: Line,
    /// Cluster size, so the view can tell whether every secret is known.
    nodes: usize,
    /// Sequence for rumor keys created by client requests (`r<node>.<seq>`).
    next_rumor: u64,
    /// When the pending round, call or answer timer was set and when it fires (for the view).
    timer: Option<(SimTime, SimTime, &'static str)>,
}

impl Gossip {
    fn fresh(cfg: &GossipConfig, ctx: &Ctx<Self>, calls_done: u64) -> Self {
        Gossip {
            nodes: ctx.nodes,
            cfg: cfg.clone(),
            store: BTreeMap::new(),
            hot: BTreeSet::new(),
            secrets: BTreeSet::new(),
            round: 0,
            calls_made: 0,
            line: Line::new(cfg.schedule, ctx.nodes, ctx.id, calls_done),
            next_rumor: 0,
            timer: None,
        }
    }

    fn durable(&self) -> GossipDurable {
        GossipDurable {
            store: self.store.clone(),
            secrets: self.secrets.clone(),
            calls_done: self.line.done,
        }
    }

    /// Does this node know every secret (telephone mode)?
    pub fn knows_all(&self, nodes: usize) -> bool {
        self.secrets.len() == nodes
    }

    fn arm_round(&mut self, ctx: &mut Ctx<Self>) {
        let after = self.cfg.period;
        self.timer = Some((ctx.now, ctx.now + after, "round"));
        ctx.set_timer(GossipTimer::Round, after);
    }

    /// Starts the node's activity after init or restart.
    fn start(&mut self, ctx: &mut Ctx<Self>) {
        if self.cfg.mode == Mode::Calls && self.cfg.schedule == Schedule::Optimal {
            self.next_calls(ctx);
        } else {
            self.arm_round(ctx);
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
        cfg.validate(nodes)
    }

    fn init(cfg: &GossipConfig, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Gossip::fresh(cfg, ctx, 0);
        if cfg.mode == Mode::Calls {
            me.secrets.insert(ctx.id);
            ctx.persist(me.durable());
            if ctx.nodes == 1 {
                ctx.count("know_all", 1);
            }
        } else if cfg.origin == Some(ctx.id) {
            me.write("rumor".into(), "hello".into(), ctx);
        }
        me.start(ctx);
        me
    }

    fn on_restart(cfg: &GossipConfig, durable: &GossipDurable, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Gossip::fresh(cfg, ctx, durable.calls_done);
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
        me.start(ctx);
        me
    }

    fn on_message(&mut self, from: NodeId, msg: GossipMsg, ctx: &mut Ctx<Self>) {
        match msg {
            GossipMsg::Push { updates } => self.on_push(from, updates, ctx),
            GossipMsg::Pull { digest } => self.on_pull(from, &digest, ctx),
            GossipMsg::PushPull { updates, digest } => {
                self.on_push_pull(from, updates, &digest, ctx)
            }
            GossipMsg::Reply { updates, known } => self.on_reply(updates, &known, ctx),
            GossipMsg::Call { call, secrets } => self.on_call(from, call, secrets, ctx),
            GossipMsg::CallReply { call, secrets } => self.on_call_reply(from, call, secrets, ctx),
        }
    }

    fn on_timer(&mut self, timer: GossipTimer, ctx: &mut Ctx<Self>) {
        match timer {
            GossipTimer::Round => {
                self.round += 1;
                if self.cfg.mode == Mode::Calls {
                    self.random_call(ctx);
                } else {
                    self.epidemic_round(ctx);
                }
                self.arm_round(ctx);
            }
            GossipTimer::Call(_) => self.next_calls(ctx),
            GossipTimer::CallTimeout(call) => self.on_call_timeout(call, ctx),
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
                .field("calls", self.calls_made)
                .field("line", self.line.status());
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

    /// Anti-entropy's promise (Demers et al. §1: a simple epidemic, so every update reaches
    /// every site eventually): every live node holds every key at the newest version any live
    /// node has. Rumor mongering promises no such thing (a residue of nodes never hears a dead
    /// rumor), nor do telephone calls under faults, so they state no condition.
    fn healed(cfg: &GossipConfig, states: &[Option<Self>]) -> Option<Result<(), String>> {
        if cfg.mode != Mode::AntiEntropy {
            return None;
        }
        let mut newest: BTreeMap<&str, Version> = BTreeMap::new();
        for s in states.iter().flatten() {
            for (k, u) in &s.store {
                let v = newest.entry(k).or_insert(u.version);
                *v = (*v).max(u.version);
            }
        }
        for (i, s) in states.iter().enumerate() {
            let Some(s) = s else { continue };
            for (k, v) in &newest {
                let have = s.store.get(*k).map(|u| u.version);
                if have != Some(*v) {
                    let have = have.map_or("nothing".to_string(), |h| h.counter.to_string());
                    return Some(Err(format!(
                        "n{} holds {k} at version {have}, the newest is {}",
                        i + 1,
                        v.counter
                    )));
                }
            }
        }
        Some(Ok(()))
    }

    fn invariants(_cfg: &GossipConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![
            Box::new(invariants::VersionMonotonicity::new(nodes)),
            Box::new(invariants::VersionUniqueness::default()),
        ]
    }

    /// `informed_fraction`, the epidemic's curve: the fraction of all nodes that know
    /// everything there is to know (every secret in `Calls` mode; otherwise the newest version
    /// of every key written anywhere).
    fn gauges(cfg: &GossipConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        out.push(Gauge {
            name: "informed_fraction",
            node: None,
            value: informed_fraction(cfg, states),
        });
    }
}

/// See [`Gossip::gauges`]; crashed nodes count as not informed.
pub fn informed_fraction(cfg: &GossipConfig, states: &[Option<Gossip>]) -> f64 {
    if states.is_empty() {
        return 0.0;
    }
    let live = states.iter().flatten();
    let informed = if cfg.mode == Mode::Calls {
        live.filter(|s| s.secrets.len() == states.len()).count()
    } else {
        let mut newest: BTreeMap<&str, Version> = BTreeMap::new();
        for s in states.iter().flatten() {
            for (k, u) in &s.store {
                let v = newest.entry(k.as_str()).or_insert(u.version);
                *v = (*v).max(u.version);
            }
        }
        if newest.is_empty() {
            return 0.0;
        }
        live.filter(|s| {
            newest
                .iter()
                .all(|(k, v)| s.store.get(*k).is_some_and(|u| u.version == *v))
        })
        .count()
    };
    informed as f64 / states.len() as f64
}
