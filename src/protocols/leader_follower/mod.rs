//! Leader-follower (primary-backup, master-slave) replication, after M. Kleppmann, *Designing
//! Data-Intensive Applications* (O'Reilly 2017), ch. 5 "Leaders and Followers", and the
//! "Distributed Storage: A Visual Guide" seed (Level 2: leader-follower replication).
//!
//! One replica is the *leader*: every write goes to it (followers answer `Redirect`). It
//! appends the write to its log and ships the log to the *followers* with `Replicate`; each
//! follower stores what it receives (after the same consistency check as Raft's
//! AppendEntries) and answers `ReplicateAck`. When the leader acknowledges the write depends
//! on `replication`: `Sync` after every follower has stored it, `SemiSync(k)` after k have,
//! `Async` at once. Reads go to the leader, or to any replica (`reads: Any`), which answers
//! from its acknowledged prefix (`commit`); a follower's prefix lags the leader's by the
//! replication lag, plotted per replica as the `lag` series.
//!
//! Failover: a follower that hears no leader for `failover_timeout` (randomized) promotes
//! itself with a new *epoch* (unique per node: the smallest number above its own that is
//! its position modulo the cluster size). With `fencing`, epochs fence the old leader:
//! replicas refuse `Replicate` from an older epoch and a leader that hears of a newer one
//! steps down, throwing away whatever its log holds that the new leader's does not. Without
//! fencing, a deposed leader that comes back from a partition keeps leading: two leaders
//! accept writes (split brain), and followers take whichever leader's log reached them last.
//! A new leader serves reads only once its whole log is acknowledged under its own rule, so
//! it never answers from a prefix older than what the old leader acknowledged.
//!
//! ```text
//!              no Replicate for failover_timeout
//!   Follower ─────────────────────────────────────► Leader (epoch e' > e)
//!      ▲                                              │
//!      └──── fencing: hears of a newer epoch ─────────┘  (without fencing: never)
//!
//!   client ─put─► leader ─Replicate─► followers ─ReplicateAck─► leader ─ok @e.i─► client
//!                  Sync: all acks · SemiSync(k): k acks · Async: no wait
//! ```
//!
//! What is checked: from the client history, stale reads, read-your-writes and monotonic
//! reads (`protocols::storage`); from the replicas' logs, lost acknowledged writes
//! (`invariants/durability.rs`). Each is counted in every configuration and is a violation
//! where the configuration promises it (`LfConfig::promises_consistency`: `Sync`, leader
//! reads, fencing, a durable log). The bug switch `bug_ack_before_replication` breaks that
//! promise so the checkers can be seen to catch it.
//!
//! Linearizability: the same configuration claims it, and the whole client history is checked
//! against a register per key at the end of the run (`sim::linearizability`). Why it holds
//! without a read lease or a confirmation round (Raft §8's "a leader must check whether it
//! has been deposed before processing a read-only request"): under `Sync` a write is
//! acknowledged, and readable, only once *every* replica holds it, so no other leader can
//! make a write visible without the deposed leader's own copy, and the deposed leader's
//! acknowledged prefix misses nothing that any client was shown (DDIA ch. 5: a fully
//! synchronous configuration gives up availability, not freshness). What the claim does need:
//! reads and failed compare-and-sets answer from the acknowledged prefix only (a compare that
//! found an unacknowledged value waits for it), and a retried write is recognised by its
//! `WriteId` and answered from its first copy instead of being appended twice (Raft §8's
//! client serial numbers). The bug switch `bug_leader_reads_uncommitted` makes the leader read
//! its whole log: a leader cut off by a partition shows clients writes nobody else has, which
//! its successor never had. No acknowledged write is missed, so only the linearizability
//! check catches it.

mod config;
mod failover;
pub mod invariants;
mod message;
mod reads;
mod replication;

pub use config::{LfConfig, Reads, Replication};
pub use message::{Entry, Epoch, Index, LfMsg, WriteId};

use crate::protocols::storage::Version;
use crate::sim::{
    ClientRef, ClientRequest, Ctx, EntryView, Gauge, Invariant, NodeId, NodeView, Protocol,
    SimTime, TimerView, Tone,
};
use std::collections::BTreeMap;

/// A replica's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LfTimer {
    /// Leader: send `Replicate` to every follower (a heartbeat when there is nothing new).
    Heartbeat,
    /// Follower: the leader has been silent too long; promote this replica.
    Failover,
}

/// What survives a crash (with `durable_log`; otherwise nothing does).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LfDurable {
    pub epoch: Epoch,
    pub log: Vec<Entry>,
    /// How many times this log was cut back: the Durability checker rescans a log whose
    /// count changed, and only reads the new entries of one that grew.
    pub truncations: u64,
}

/// One replica. (`PartialEq` lets handler tests compare recorded `Command`s.)
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderFollower {
    id: NodeId,
    nodes: usize,
    cfg: LfConfig,
    /// The highest epoch this replica has accepted (its own, when it leads).
    epoch: Epoch,
    /// The replication log: every write this replica has stored, in the leader's order.
    log: Vec<Entry>,
    /// See [`LfDurable::truncations`].
    truncations: u64,
    role: Role,
    /// The leader this replica follows (itself when leading): where to redirect clients.
    leader: Option<NodeId>,
    /// Acknowledged prefix: what reads may see (followers learn it from `Replicate`).
    commit: Index,

    // Leader state, reset at promotion.
    /// Per replica: the highest index known to be stored there.
    match_index: Vec<Index>,
    /// Per replica: the next index to send there.
    next_index: Vec<Index>,
    /// A new leader serves reads once `commit` reaches its log length at promotion.
    ready_at: Index,
    /// Writes waiting for their acknowledgement, by log index.
    waiting: BTreeMap<Index, ClientRef>,
    /// Compare-and-sets that failed on a value not acknowledged yet, by the index of the entry
    /// they found, with the value they found: answered once `commit` reaches it, so a client
    /// never hears of a value that a failover could still undo.
    compares: BTreeMap<Index, Vec<(ClientRef, Option<String>)>>,

    /// The pending failover timeout as (started, fires), for the app's timer arc.
    failover_timer: Option<(SimTime, SimTime)>,
}

impl LeaderFollower {
    fn from_durable(cfg: &LfConfig, d: &LfDurable, ctx: &mut Ctx<Self>) -> Self {
        LeaderFollower {
            id: ctx.id,
            nodes: ctx.nodes,
            cfg: cfg.clone(),
            epoch: d.epoch,
            log: d.log.clone(),
            truncations: d.truncations,
            role: Role::Follower,
            leader: None,
            commit: 0,
            match_index: vec![0; ctx.nodes],
            next_index: vec![1; ctx.nodes],
            ready_at: 0,
            waiting: BTreeMap::new(),
            compares: BTreeMap::new(),
            failover_timer: None,
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }
    pub fn log(&self) -> &[Entry] {
        &self.log
    }
    pub fn truncations(&self) -> u64 {
        self.truncations
    }
    pub fn commit(&self) -> Index {
        self.commit
    }
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    pub fn match_index(&self) -> &[Index] {
        &self.match_index
    }
    fn last_index(&self) -> Index {
        self.log.len() as Index
    }
    fn epoch_at(&self, index: Index) -> Epoch {
        match index {
            0 => 0,
            i => self.log.get(i as usize - 1).map_or(0, |e| e.epoch),
        }
    }
    /// The version of the entry at `index` (1-based).
    fn version_at(&self, index: Index) -> Version {
        Version::new(self.epoch_at(index), index)
    }

    /// Saves epoch and log (only with `durable_log`: otherwise a crash loses them).
    fn persist(&self, ctx: &mut Ctx<Self>) {
        if self.cfg.durable_log {
            ctx.persist(LfDurable {
                epoch: self.epoch,
                log: self.log.clone(),
                truncations: self.truncations,
            });
        }
    }
}

impl Protocol for LeaderFollower {
    type Msg = LfMsg;
    type Timer = LfTimer;
    type Durable = LfDurable;
    type Config = LfConfig;

    const NAME: &'static str = "leader_follower";
    const SUMMARY: &'static str =
        "one leader replicates to followers (sync, semi-sync, async); failover with epochs";
    const MESSAGE_KINDS: &'static [&'static str] = &["Replicate", "Heartbeat", "ReplicateAck"];

    fn validate_config(cfg: &LfConfig, nodes: usize) -> Result<(), String> {
        cfg.validate(nodes)
    }

    /// The first replica leads epoch 1; the others follow it.
    fn init(cfg: &LfConfig, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Self::from_durable(cfg, &LfDurable::default(), ctx);
        me.epoch = 1;
        if ctx.id == 0 {
            me.become_leader(ctx);
        } else {
            me.leader = Some(0);
            me.reset_failover_timer(ctx);
        }
        me
    }

    /// A restarted replica is a follower of nobody yet, with its durable log (if any); it
    /// learns the leader from the next `Replicate`, or promotes itself if none comes. A lone
    /// replica leads again at once.
    fn on_restart(cfg: &LfConfig, d: &LfDurable, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Self::from_durable(cfg, d, ctx);
        if ctx.nodes == 1 {
            me.epoch = Self::next_epoch(me.epoch, me.id, 1);
            me.persist(ctx);
            me.become_leader(ctx);
        } else {
            me.reset_failover_timer(ctx);
        }
        me
    }

    fn on_message(&mut self, from: NodeId, msg: LfMsg, ctx: &mut Ctx<Self>) {
        match msg {
            LfMsg::Replicate {
                epoch,
                prev_index,
                prev_epoch,
                entries,
                commit,
            } => self.on_replicate(from, epoch, prev_index, prev_epoch, entries, commit, ctx),
            LfMsg::ReplicateAck { epoch, ok, last } => {
                self.on_replicate_ack(from, epoch, ok, last, ctx)
            }
        }
    }

    fn on_timer(&mut self, timer: LfTimer, ctx: &mut Ctx<Self>) {
        match timer {
            LfTimer::Heartbeat => self.on_heartbeat(ctx),
            LfTimer::Failover => self.on_failover_timeout(ctx),
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        self.on_request(req, ctx);
    }

    fn view(&self) -> NodeView {
        let (role, tone) = match self.role {
            Role::Leader => ("leader", Tone::Leader),
            Role::Follower => ("follower", Tone::Follower),
        };
        let mut v = NodeView::new(role, tone)
            .field("epoch", self.epoch)
            .field(
                "leader",
                self.leader
                    .map_or("?".to_string(), |l| format!("n{}", l + 1)),
            )
            .field("log", self.log.len())
            .field("commit", self.commit);
        if self.role == Role::Leader {
            v = v.field("waiting acks", self.waiting.len());
            if !self.compares.is_empty() {
                v = v.field(
                    "waiting compares",
                    self.compares.values().map(Vec::len).sum::<usize>(),
                );
            }
        }
        v.term = Some(self.epoch);
        let from = self.log.len().saturating_sub(8);
        v.entries = self.log[from..]
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let index = (from + i + 1) as Index;
                EntryView {
                    index,
                    term: e.epoch,
                    label: format!("{}={}", e.key, e.value),
                    committed: index <= self.commit,
                }
            })
            .collect();
        v.timer = self.failover_timer.map(|(s, f)| TimerView {
            label: "failover timeout".into(),
            started_at: s,
            fires_at: f,
        });
        v
    }

    /// Sync replication, leader reads, fencing and a durable log
    /// ([`LfConfig::promises_linearizability`]): the history is checked against a register
    /// per key at the end of the run. No read lease or confirmation round is needed: under
    /// `Sync` a write is acknowledged, and becomes readable, only once every replica holds
    /// it, the deposed leader included, so a deposed leader cannot have missed a write that
    /// some other leader made visible.
    fn linearizable(cfg: &LfConfig) -> bool {
        cfg.promises_linearizability()
    }

    /// A read answers `value@version`: the register's value is the part before the version.
    fn register_value(answer: &str) -> &str {
        answer.rsplit_once('@').map_or(answer, |(v, _)| v)
    }

    fn invariants(cfg: &LfConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        invariants::all(cfg, nodes)
    }

    /// `lag`: per live follower, how many entries it is behind the most advanced live leader;
    /// `leaders`: how many live replicas believe they lead (2 or more is a split brain).
    fn gauges(_cfg: &LfConfig, states: &[Option<Self>], out: &mut Vec<Gauge>) {
        let live = || states.iter().flatten();
        let leaders = live().filter(|s| s.role == Role::Leader).count();
        out.push(Gauge {
            name: "leaders",
            node: None,
            value: leaders as f64,
        });
        let Some(head) = live()
            .filter(|s| s.role == Role::Leader)
            .map(|s| s.last_index())
            .max()
        else {
            return;
        };
        for s in live() {
            let lag = match s.role {
                Role::Leader => 0,
                Role::Follower => head.saturating_sub(s.last_index()),
            };
            out.push(Gauge {
                name: "lag",
                node: Some(s.id),
                value: lag as f64,
            });
        }
    }
}
