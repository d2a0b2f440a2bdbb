//! The protocol-actor interface: what a protocol implements and what it may ask of the world.
//!
//! A protocol is a pure state machine (see `shared/STYLE.md`, after etcd raft and stateright):
//! the engine hands it one input at a time (`on_message`, `on_timer`, `on_client_request`) and
//! the protocol *records* what it wants done through a [`Ctx`]: `send`, `broadcast`,
//! `set_timer`, `cancel_timer`, `persist`, `reply_to_client`, `note`. Nothing is performed
//! during the handler; the engine executes the recorded [`Command`]s afterwards. The protocol
//! never sees the wall clock or a global random generator: `ctx.now` is simulated time and
//! `ctx.rng()` is this node's own seeded ChaCha stream.

use crate::sim::client::{ClientRef, ClientReply, ClientRequest};
use crate::sim::invariant::Invariant;
use crate::sim::roles::{RoleSpec, RoleTable};
use crate::sim::time::SimTime;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::hash::Hash;

/// Index of a node in the scenario (0-based); names are kept by the scenario.
pub type NodeId = usize;

/// A protocol message. `kind` names the message type as in the paper (`RequestVote`);
/// `label` is a short payload summary for the event log and the app's hover text.
pub trait Message: Clone + Debug + Hash + Send + 'static {
    fn kind(&self) -> &'static str;
    fn label(&self) -> String {
        format!("{self:?}")
    }
}

/// A pure protocol actor. One value of `Self` is the volatile state of one node.
pub trait Protocol: Sized + Clone + Send + 'static {
    type Msg: Message;
    /// Timers are keyed: setting a timer whose key is already pending replaces it.
    type Timer: Clone + Debug + Ord + Hash + Send + 'static;
    /// What survives a crash. The engine keeps the last value given to `ctx.persist`.
    type Durable: Clone + Debug + Default + Send + 'static;
    /// Protocol options from the scenario's `config: (...)`; unknown fields must be rejected
    /// (`#[serde(deny_unknown_fields)]`) so typos are reported with their location.
    type Config: DeserializeOwned + Serialize + Default + Clone + Debug + Send + Sync + 'static;

    /// Registry name used in scenario files (`protocol: "raft"`).
    const NAME: &'static str;
    /// One line for `distsim list`.
    const SUMMARY: &'static str;
    /// Every message kind, in legend order (the app colours messages by kind).
    const MESSAGE_KINDS: &'static [&'static str];
    /// The heading of the app's table of each node's entries: what an entry's colour (its
    /// `term`) and filling (`committed`) mean for this protocol.
    const ENTRIES_HEADING: &'static str = "log (colour: term; filled: committed)";
    /// The node roles this protocol accepts, in left-to-right drawing order, with how many
    /// of each it needs. Empty: every node runs the same actor in one implicit role.
    const ROLES: &'static [RoleSpec] = &[];

    /// Checks the configuration against the cluster size; the error names what was expected.
    fn validate_config(_cfg: &Self::Config, _nodes: usize) -> Result<(), String> {
        Ok(())
    }
    /// A fresh node at time zero.
    fn init(cfg: &Self::Config, ctx: &mut Ctx<Self>) -> Self;
    /// A node coming back after a crash: it is rebuilt from its durable state only.
    fn on_restart(cfg: &Self::Config, durable: &Self::Durable, ctx: &mut Ctx<Self>) -> Self;
    fn on_message(&mut self, from: NodeId, msg: Self::Msg, ctx: &mut Ctx<Self>);
    fn on_timer(&mut self, timer: Self::Timer, ctx: &mut Ctx<Self>);
    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>);
    /// What the app draws for this node. Must be a pure function of the state.
    fn view(&self) -> NodeView;
    /// Brings `view` up to date with [`Self::view`] and says whether it changed. The engine
    /// calls it after every event on a node, with the view it keeps for that node: the one this
    /// state last brought up to date, or, for a state that has never been asked (a new node, a
    /// restart), any earlier view. The default builds the whole view and compares; a protocol
    /// whose view holds a list that grows with the run (Raft's log) overrides it so that an
    /// event costs what changed, not the length of the list. Debug builds check the result
    /// against [`Self::view`] after every event.
    fn refresh_view(&mut self, view: &mut NodeView) -> bool {
        let v = self.view();
        if v == *view {
            false
        } else {
            *view = v;
            true
        }
    }
    /// Safety properties checked after every event.
    fn invariants(_cfg: &Self::Config, _nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        Vec::new()
    }
    /// Whether this configuration promises linearizable get / put / cas to clients. If so,
    /// the client history is checked against a register per key when the run reaches its
    /// end ([`crate::sim::linearizability`]), and a failure is the `Linearizability`
    /// violation.
    fn linearizable(_cfg: &Self::Config) -> bool {
        false
    }
    /// The liveness condition once every fault has healed, for the `Healed` expectation: `None`
    /// when the protocol states none; otherwise whether the live nodes (`None` while crashed)
    /// have converged (a leader or a decision, every live node caught up), and if not, why.
    fn healed(_cfg: &Self::Config, _states: &[Option<Self>]) -> Option<Result<(), String>> {
        None
    }
    /// The register value a get's answer reports, for the linearizability check: the answer
    /// itself, unless the protocol adds to it (the storage protocols answer `value@version`).
    fn register_value(answer: &str) -> &str {
        answer
    }
    /// Time series computed over all nodes at each metrics sample (gossip's informed
    /// fraction, each Raft node's commit index): `(name, node or None, value)`.
    fn gauges(_cfg: &Self::Config, _states: &[Option<Self>], _out: &mut Vec<Gauge>) {}
    /// [`Self::gauges`] for series measured over a recent window, which need the sample's
    /// time `at` (hit ratios over the last second).
    fn gauges_at(cfg: &Self::Config, at: SimTime, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        let _ = at;
        Self::gauges(cfg, states, out);
    }
    /// Time series per partition rather than per node (a key range's keys and load), at each
    /// metrics sample; the series set keeps at most
    /// [`MAX_PARTS`](crate::sim::series::MAX_PARTS) partitions per name.
    fn partition_gauges_at(
        _cfg: &Self::Config,
        _at: SimTime,
        _states: &[Option<Self>],
        _out: &mut Vec<PartGauge>,
    ) {
    }
}

/// One value of a per-partition time series at a sample: `range[0..250).keys` is `name`
/// `keys` of `part` `range[0..250)`.
#[derive(Clone, Debug, PartialEq)]
pub struct PartGauge {
    pub name: &'static str,
    /// The partition, as the legend names it (`range[0..250)`, `range[750..)`).
    pub part: String,
    pub value: f64,
}

/// One value of a protocol time series at a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Gauge {
    pub name: &'static str,
    /// The node it describes, or `None` for a cluster-wide value.
    pub node: Option<NodeId>,
    pub value: f64,
}

/// One recorded output of a handler; executed by the engine after the handler returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Command<P: Protocol> {
    Send {
        to: NodeId,
        msg: P::Msg,
    },
    SetTimer {
        timer: P::Timer,
        after: SimTime,
    },
    CancelTimer {
        timer: P::Timer,
    },
    Persist(P::Durable),
    Reply {
        to: ClientRef,
        reply: ClientReply,
    },
    Note(String),
    /// Adds to a protocol counter (`commits`, `elections`, ...), kept in the metrics.
    Count {
        name: &'static str,
        by: u64,
    },
    /// Sets this node's current value of a protocol time series (`hit_ratio`, ...).
    Gauge {
        name: &'static str,
        value: f64,
    },
    /// Work charged by the handler: its sends and replies leave this much later, and a
    /// worker of the node's service model stays busy until then.
    Work(SimTime),
}

/// The handler's window on the world: identity, time, randomness, and the command recorder.
pub struct Ctx<'a, P: Protocol> {
    /// This node.
    pub id: NodeId,
    /// Number of nodes in the cluster (ids are `0..nodes`).
    pub nodes: usize,
    /// Current simulated time.
    pub now: SimTime,
    rng: &'a mut ChaCha8Rng,
    out: &'a mut Vec<Command<P>>,
    roles: Option<&'a RoleTable>,
}

impl<'a, P: Protocol> Ctx<'a, P> {
    pub fn new(
        id: NodeId,
        nodes: usize,
        now: SimTime,
        rng: &'a mut ChaCha8Rng,
        out: &'a mut Vec<Command<P>>,
    ) -> Self {
        Ctx {
            id,
            nodes,
            now,
            rng,
            out,
            roles: None,
        }
    }
    /// The same context, knowing which node plays which role.
    pub fn with_roles(mut self, roles: &'a RoleTable) -> Self {
        self.roles = Some(roles);
        self
    }
    /// The role of `node` (`""` for protocols without roles).
    pub fn role(&self, node: NodeId) -> &'a str {
        self.roles.map_or("", |r| r.role(node))
    }
    /// The nodes playing `role`, in id order.
    pub fn nodes_of(&self, role: &str) -> &'a [NodeId] {
        self.roles.map_or(&[][..], |r| r.nodes_of(role))
    }
    /// Charges `d` of work to this handler: its sends and replies leave `d` later, and on a
    /// node with a service model the worker stays busy until then.
    pub fn work(&mut self, d: SimTime) {
        if d > SimTime::ZERO {
            self.out.push(Command::Work(d));
        }
    }
    /// This node's own seeded random stream.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        self.rng
    }
    pub fn send(&mut self, to: NodeId, msg: P::Msg) {
        assert!(to < self.nodes, "send to unknown node {to}");
        self.out.push(Command::Send { to, msg });
    }
    /// Sends `msg` to every other node, in id order.
    pub fn broadcast(&mut self, msg: P::Msg) {
        for to in (0..self.nodes).filter(|&to| to != self.id) {
            self.out.push(Command::Send {
                to,
                msg: msg.clone(),
            });
        }
    }
    pub fn set_timer(&mut self, timer: P::Timer, after: SimTime) {
        self.out.push(Command::SetTimer { timer, after });
    }
    pub fn cancel_timer(&mut self, timer: P::Timer) {
        self.out.push(Command::CancelTimer { timer });
    }
    /// Makes `durable` this node's durable state: what `on_restart` will be given.
    pub fn persist(&mut self, durable: P::Durable) {
        self.out.push(Command::Persist(durable));
    }
    pub fn reply_to_client(&mut self, to: ClientRef, reply: ClientReply) {
        self.out.push(Command::Reply { to, reply });
    }
    /// An annotation in the trace ("became leader for term 3").
    pub fn note(&mut self, text: impl Into<String>) {
        self.out.push(Command::Note(text.into()));
    }
    pub fn count(&mut self, name: &'static str, by: u64) {
        self.out.push(Command::Count { name, by });
    }
    pub fn gauge(&mut self, name: &'static str, value: f64) {
        self.out.push(Command::Gauge { name, value });
    }
    /// The commands recorded so far (for handler tests).
    pub fn commands(&self) -> &[Command<P>] {
        self.out
    }
}

/// A colour hint; the app maps it to its palette (and greys out crashed nodes itself).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tone {
    #[default]
    Neutral,
    /// A leader, coordinator or token holder.
    Leader,
    /// Trying to become one (candidate, proposer in phase 1).
    Candidate,
    Follower,
    /// Done, committed, informed.
    Good,
    /// Uncertain or blocked (2PC participant waiting for a decision).
    Warning,
    /// Aborted, failed.
    Bad,
}

/// One entry of a node's drawn list (a Raft log entry, a slot, a known rumor).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntryView {
    /// Index in the list, 1-based where the protocol numbers from 1.
    pub index: u64,
    /// Term, ballot or epoch of the entry: the app colours entries by it.
    pub term: u64,
    /// Short text drawn in or next to the box (`x=3`).
    pub label: String,
    /// Committed, chosen, applied.
    pub committed: bool,
}

/// The part of a node's list it no longer holds one by one: folded into a snapshot (Raft's
/// log compaction, §7). The drawn `entries` then start at `index + 1`; the app can draw one
/// box for the snapshot before them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompactedView {
    /// The last index the snapshot replaces (Raft's last included index).
    pub index: u64,
    /// Its term (Raft's last included term).
    pub term: u64,
    /// Short text for the snapshot's box (`snapshot (3 keys)`).
    pub label: String,
}

/// A running timer the app draws as an arc (Raft's election timeout).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimerView {
    pub label: String,
    pub started_at: SimTime,
    pub fires_at: SimTime,
}

/// What the app shows of one node: enough to redraw it at any past time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    /// Role in the protocol's words: `leader`, `candidate`, `holder`, `uncertain`.
    pub role: String,
    pub tone: Tone,
    /// Term, epoch or ballot, where the protocol has one.
    pub term: Option<u64>,
    /// Key fields as (name, value), in display order.
    pub fields: Vec<(String, String)>,
    /// The list to draw as boxes (log, slots, rumors).
    pub entries: Vec<EntryView>,
    /// The prefix of the list compacted into a snapshot, if any (`entries` start after it).
    #[serde(default)]
    pub compacted: Option<CompactedView>,
    pub timer: Option<TimerView>,
}

impl NodeView {
    pub fn new(role: impl Into<String>, tone: Tone) -> Self {
        NodeView {
            role: role.into(),
            tone,
            ..Default::default()
        }
    }
    pub fn field(mut self, name: &str, value: impl ToString) -> Self {
        self.fields.push((name.to_string(), value.to_string()));
        self
    }
}
