//! ZAB, the ZooKeeper Atomic Broadcast protocol: a primary-backup log with epochs.
//!
//! After Junqueira, Reed and Serafini, "Zab: High-performance broadcast for primary-backup
//! systems" (DSN 2011), <https://marcoserafini.github.io/papers/zab.pdf>, with the fast leader
//! election of ZooKeeper. Every transaction has a **zxid** `(epoch, counter)`; a node's durable
//! state is its *history* of accepted transactions, the last epoch it accepted a `NewEpoch` for
//! (`accepted_epoch`, the paper's `f.p`) and the last epoch it acknowledged a `NewLeader` for
//! (`current_epoch`, `f.a`).
//!
//! - **Phase 0, election.** A *looking* node votes for the node with the highest
//!   `(current_epoch, last zxid, id)` it has heard of, and broadcasts `Notification`s; once a
//!   quorum votes for one node in the same round, that node *leads* and the others *follow*.
//!   A looking node that hears from an established leader joins it.
//! - **Phase 1, discovery.** Each follower sends `CEpoch { accepted_epoch }`; with a quorum the
//!   leader picks `e' = max + 1` and sends `NewEpoch { e' }`. A follower accepts only an epoch
//!   above its `accepted_epoch` (persisted), and answers `AckEpoch` with its `current_epoch`
//!   and history; the leader adopts the most up-to-date history of the quorum.
//! - **Phase 2, synchronization.** `NewLeader { e', sync }` brings the follower's history to
//!   the leader's in one of ZooKeeper's three modes (`LearnerHandler.syncFollower`), chosen from
//!   the follower's last zxid (reported in `AckEpoch`, or in `CEpoch` for a late follower):
//!   **DIFF** when the leader holds that zxid (send only the transactions after it), **TRUNC**
//!   when the follower is ahead of the leader's whole history (drop what follows the leader's
//!   last zxid; also when it diverges inside one epoch: truncate, then the rest), **SNAP**
//!   otherwise — it diverged across an epoch boundary, which ZooKeeper never truncates — or when
//!   more than `snap_threshold` transactions would have to be sent (the whole history). The
//!   follower applies it, sets `current_epoch = e'` and answers `AckNewLeader`. With a quorum
//!   the leader is *established*: it sends `Commit` for the whole history.
//! - **Phase 3, broadcast.** A client command gets the next zxid `(e', n)`; the leader sends
//!   `Proposal` to its followers, which append in zxid order and `Ack`; with a quorum of acks
//!   it sends `Commit`, and everybody *delivers* (applies) the history prefix in zxid order.
//!   The leader pings its followers; a follower that hears nothing for `timeout`, or a leader
//!   that loses its quorum, goes back to election.
//!
//! Zab assumes FIFO channels (TCP). Here links may drop and reorder, so a follower accepts a
//! `Proposal` only after its predecessor (`prev`), acknowledgements are cumulative, and the
//! leader re-sends what a follower has not acknowledged on every ping — what TCP would do.
//!
//! Checked after every event (`invariants/`, one file each): Primary Order, Integrity,
//! Agreement and One Leader Per Epoch (the broadcast's properties), Epoch Acknowledged Once (a
//! follower acknowledges an epoch to one prospective leader), Established By Quorum (a leader
//! broadcasts only once a quorum accepted its history) and Follower Prefix (a synchronized
//! follower holds a prefix of its established leader's history).

pub mod invariants;

use crate::protocols::multi_paxos::kv::{ClientOp, KvStore};
use crate::sim::client::ClientRef;
use crate::sim::{
    ClientReply, ClientRequest, Ctx, EntryView, Invariant, Message, NodeId, NodeView, Op, Protocol,
    SimTime, TimerView, Tone,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A transaction id: the epoch of the leader that proposed it, and a counter in that epoch.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Zxid {
    pub epoch: u64,
    pub counter: u64,
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch, self.counter)
    }
}

/// One transaction of the history.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Txn {
    pub zxid: Zxid,
    pub op: ClientOp,
}

/// How the leader brings a follower's history to its own (ZooKeeper's sync modes). Each is
/// one message here, not ZooKeeper's DIFF/TRUNC/SNAP packet followed by proposals, because our
/// links lose and reorder messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// The follower holds the leader's history up to `after`: append `txns`.
    Diff { after: Zxid, txns: Vec<Txn> },
    /// The follower holds proposals the leader never had after `to`: drop them, append `txns`.
    Trunc { to: Zxid, txns: Vec<Txn> },
    /// Replace the follower's history with the leader's whole one.
    Snap { history: Vec<Txn> },
}

impl SyncMode {
    /// The counter and the event-log word of this mode.
    pub fn name(&self) -> &'static str {
        match self {
            SyncMode::Diff { .. } => "DIFF",
            SyncMode::Trunc { .. } => "TRUNC",
            SyncMode::Snap { .. } => "SNAP",
        }
    }
}

impl fmt::Display for SyncMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncMode::Diff { after, txns } => write!(f, "DIFF after {after}, {} txns", txns.len()),
            SyncMode::Trunc { to, txns } => write!(f, "TRUNC to {to}, {} txns", txns.len()),
            SyncMode::Snap { history } => write!(f, "SNAP, {} txns", history.len()),
        }
    }
}

/// ZooKeeper's choice (`LearnerHandler.syncFollower`) of how to synchronize a follower whose
/// last zxid is `peer_last` with the leader's `history`:
/// - the leader holds `peer_last` (or it is the empty history's `0.0`): **DIFF**, the
///   transactions after it;
/// - `peer_last` is above the leader's last zxid: **TRUNC** to that last zxid, the follower's
///   extra proposals were never committed ("Newer than committedLog, send trunc");
/// - otherwise the follower holds proposals the leader never had in the middle of the leader's
///   history: **TRUNC** to the leader's zxid just below `peer_last` and the rest after it, if
///   the leader's next transaction is of `peer_last`'s epoch; **SNAP** if it is of a later epoch
///   ("We cannot send TRUNC that cross epoch boundary");
/// - and **SNAP** whenever a DIFF or TRUNC would carry more than `snap_threshold` transactions.
pub fn choose_sync(history: &[Txn], peer_last: Zxid, snap_threshold: usize) -> SyncMode {
    let last = last_zxid(history);
    let snap = || SyncMode::Snap {
        history: history.to_vec(),
    };
    let mode = if peer_last == Zxid::default() {
        SyncMode::Diff {
            after: peer_last,
            txns: history.to_vec(),
        }
    } else if peer_last > last {
        SyncMode::Trunc {
            to: last,
            txns: Vec::new(),
        }
    } else {
        match history.binary_search_by_key(&peer_last, |t| t.zxid) {
            Ok(i) => SyncMode::Diff {
                after: peer_last,
                txns: history[i + 1..].to_vec(),
            },
            Err(i) if history[i].zxid.epoch == peer_last.epoch => SyncMode::Trunc {
                to: last_zxid(&history[..i]),
                txns: history[i..].to_vec(),
            },
            Err(_) => return snap(),
        }
    };
    match &mode {
        SyncMode::Diff { txns, .. } | SyncMode::Trunc { txns, .. }
            if txns.len() > snap_threshold =>
        {
            snap()
        }
        _ => mode,
    }
}

/// A vote in the leader election: compared by epoch, then zxid, then node id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote {
    pub epoch: u64,
    pub zxid: Zxid,
    pub leader: NodeId,
}

/// What a node is doing, as told in its `Notification`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZabConfig {
    /// A looking node that has not settled on a leader after a random time in
    /// `[election_timeout_min, election_timeout_max]` starts a new election round.
    #[serde(default = "default_election_min")]
    pub election_timeout_min: SimTime,
    #[serde(default = "default_election_max")]
    pub election_timeout_max: SimTime,
    /// Once a quorum agrees on a vote, wait this long for a better vote before deciding
    /// (ZooKeeper's `finalizeWait`), so a late node with a longer history is not left out.
    #[serde(default = "default_finalize")]
    pub finalize_wait: SimTime,
    /// The leader's ping (and retransmission) period.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: SimTime,
    /// A follower that hears nothing from its leader for this long, or a leader that has not
    /// heard from a quorum for this long, goes back to election.
    #[serde(default = "default_timeout")]
    pub timeout: SimTime,
    /// Synchronization sends a DIFF or TRUNC only while at most this many transactions are
    /// missing; a follower further behind gets a SNAP (ZooKeeper's committed-log window,
    /// `zookeeper.commitLogCount`, 500 by default). 0 always sends SNAP unless nothing is
    /// missing (ZooKeeper's `forceSnapSync`).
    #[serde(default = "default_snap_threshold")]
    pub snap_threshold: usize,
}

fn default_election_min() -> SimTime {
    SimTime::from_millis(150)
}
fn default_election_max() -> SimTime {
    SimTime::from_millis(300)
}
fn default_finalize() -> SimTime {
    SimTime::from_millis(50)
}
fn default_heartbeat() -> SimTime {
    SimTime::from_millis(50)
}
fn default_timeout() -> SimTime {
    SimTime::from_millis(250)
}
fn default_snap_threshold() -> usize {
    50
}

impl Default for ZabConfig {
    fn default() -> Self {
        ZabConfig {
            election_timeout_min: default_election_min(),
            election_timeout_max: default_election_max(),
            finalize_wait: default_finalize(),
            heartbeat: default_heartbeat(),
            timeout: default_timeout(),
            snap_threshold: default_snap_threshold(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ZabMsg {
    /// Fast leader election: the sender's vote in its election round, and its state.
    Notification {
        round: u64,
        vote: Vote,
        state: PeerState,
    },
    /// Discovery: a follower's last accepted epoch (the paper's CEPOCH) and its last zxid, which
    /// a leader already established synchronizes it from.
    CEpoch {
        accepted_epoch: u64,
        last_zxid: Zxid,
    },
    /// Discovery: the new epoch the leader proposes.
    NewEpoch { epoch: u64 },
    /// Discovery: the follower's current epoch and history (ACK-E).
    AckEpoch {
        epoch: u64,
        current_epoch: u64,
        history: Vec<Txn>,
    },
    /// Synchronization: the leader's history of the new epoch, as DIFF, TRUNC or SNAP.
    NewLeader { epoch: u64, sync: SyncMode },
    /// Synchronization: the follower holds the initial history (ACK-LD), up to `zxid`.
    AckNewLeader { epoch: u64, zxid: Zxid },
    /// Broadcast: a new transaction; `prev` is the zxid before it in the leader's history.
    Proposal { epoch: u64, txn: Txn, prev: Zxid },
    /// Broadcast: the follower holds every transaction up to `zxid` (cumulative).
    Ack { epoch: u64, zxid: Zxid },
    /// Deliver every transaction up to `zxid` (also ends synchronization).
    Commit { epoch: u64, zxid: Zxid },
    /// The leader is alive; `committed` is its commit point.
    Ping { epoch: u64, committed: Zxid },
}

impl Message for ZabMsg {
    fn kind(&self) -> &'static str {
        match self {
            ZabMsg::Notification { .. } => "Notification",
            ZabMsg::CEpoch { .. } => "CEpoch",
            ZabMsg::NewEpoch { .. } => "NewEpoch",
            ZabMsg::AckEpoch { .. } => "AckEpoch",
            ZabMsg::NewLeader { .. } => "NewLeader",
            ZabMsg::AckNewLeader { .. } => "AckNewLeader",
            ZabMsg::Proposal { .. } => "Proposal",
            ZabMsg::Ack { .. } => "Ack",
            ZabMsg::Commit { .. } => "Commit",
            ZabMsg::Ping { .. } => "Ping",
        }
    }
    fn label(&self) -> String {
        match self {
            ZabMsg::Notification { round, vote, state } => format!(
                "round {round}: vote n{} ({}, {}) {state:?}",
                vote.leader + 1,
                vote.epoch,
                vote.zxid
            ),
            ZabMsg::CEpoch {
                accepted_epoch,
                last_zxid,
            } => format!("accepted epoch {accepted_epoch}, last {last_zxid}"),
            ZabMsg::NewEpoch { epoch } => format!("new epoch {epoch}"),
            ZabMsg::AckEpoch {
                epoch,
                current_epoch,
                history,
            } => format!(
                "ack epoch {epoch}: current {current_epoch}, {} txns",
                history.len()
            ),
            ZabMsg::NewLeader { epoch, sync } => format!("new leader {epoch}: {sync}"),
            ZabMsg::AckNewLeader { epoch, zxid } => format!("ack new leader {epoch} at {zxid}"),
            ZabMsg::Proposal { txn, .. } => format!("propose {} {}", txn.zxid, txn.op),
            ZabMsg::Ack { zxid, .. } => format!("ack {zxid}"),
            ZabMsg::Commit { zxid, .. } => format!("commit {zxid}"),
            ZabMsg::Ping { committed, .. } => format!("ping, committed {committed}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZabTimer {
    /// Looking: start a new election round.
    Election,
    /// Looking: a quorum agreed `finalize_wait` ago; decide if it still does.
    Finalize,
    /// Leader: ping, re-send, and check the quorum.
    Tick,
    /// Follower: the leader has been silent too long.
    LeaderSilent,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZabDurable {
    /// `f.p`: the last epoch accepted in a `NewEpoch`.
    pub accepted_epoch: u64,
    /// Who proposed `accepted_epoch`, so a follower may rejoin that same leader.
    pub accepted_from: Option<NodeId>,
    /// `f.a`: the last epoch whose `NewLeader` was acknowledged.
    pub current_epoch: u64,
    /// Accepted transactions, in zxid order.
    pub history: Vec<Txn>,
}

/// Where a leader is in establishing its epoch.
#[derive(Clone, Debug, PartialEq)]
pub enum LeaderStage {
    /// Collecting `CEpoch` from a quorum.
    Discovery,
    /// `NewEpoch` sent; collecting `AckEpoch`.
    AwaitAckEpoch,
    /// `NewLeader` sent; collecting `AckNewLeader`.
    Synchronization,
    /// Established: proposing.
    Broadcast,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Leading {
    pub stage: LeaderStage,
    /// The new epoch (0 until chosen in discovery).
    pub epoch: u64,
    /// `accepted_epoch` reported by each follower (and the leader itself).
    pub cepochs: BTreeMap<NodeId, u64>,
    /// `AckEpoch` answers: each follower's current epoch and last zxid.
    pub ack_epoch: BTreeMap<NodeId, (u64, Zxid)>,
    /// The most up-to-date `(current_epoch, last zxid)` among them, whose history was adopted.
    pub best: Option<(u64, Zxid)>,
    /// When this node started leading (a grace period before the quorum check).
    pub since: SimTime,
    /// Followers that acknowledged `NewLeader`, with the last zxid each acknowledged.
    pub synced: BTreeMap<NodeId, Zxid>,
    /// When each synchronized follower last acknowledged (for the quorum check).
    pub heard: BTreeMap<NodeId, SimTime>,
    /// Counter of the last zxid proposed in this epoch.
    pub counter: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    Looking {
        round: u64,
        vote: Vote,
        /// Votes of this round, per node.
        votes: BTreeMap<NodeId, Vote>,
    },
    Following {
        leader: NodeId,
        /// Synchronized: `NewLeader` of the current epoch was acknowledged.
        synced: bool,
    },
    Leading(Box<Leading>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Zab {
    pub durable: ZabDurable,
    pub role: Role,
    /// Election round (ZooKeeper's logical clock), volatile.
    pub round: u64,
    /// A quorum agreed and the `Finalize` timer runs.
    pub finalizing: bool,
    /// Highest zxid known committed; every transaction up to it may be delivered.
    pub committed: Zxid,
    /// The state machine: delivered transactions applied in order.
    pub kv: KvStore,
    /// The zxids delivered so far, in order (for the order and agreement checkers).
    pub delivered: Vec<Zxid>,
    /// Clients waiting on this leader, by `(client, seq)`.
    pub waiting: BTreeMap<(u32, u64), ClientRef>,
    /// Requests received while the leader was not yet established.
    pub queued: Vec<ClientRequest>,
    /// The running election or leader-silence timer, for the view.
    pub timer: Option<TimerView>,
    /// A ghost variable (kept for a checker, never read by the rules): how many
    /// synchronizations (DIFF, TRUNC or SNAP) this node applied since it started, so
    /// [`invariants::FollowerPrefix`] compares whole histories after each one.
    pub syncs: u64,
    pub cfg: ZabConfig,
}

fn last_zxid(h: &[Txn]) -> Zxid {
    h.last().map_or(Zxid::default(), |t| t.zxid)
}

impl Zab {
    fn fresh(cfg: &ZabConfig, durable: ZabDurable) -> Self {
        Zab {
            durable,
            role: Role::Looking {
                round: 0,
                vote: Vote::default(),
                votes: BTreeMap::new(),
            },
            round: 0,
            finalizing: false,
            committed: Zxid::default(),
            kv: KvStore::default(),
            delivered: Vec::new(),
            waiting: BTreeMap::new(),
            queued: Vec::new(),
            timer: None,
            syncs: 0,
            cfg: cfg.clone(),
        }
    }

    fn quorum(nodes: usize) -> usize {
        nodes / 2 + 1
    }

    pub fn last_zxid(&self) -> Zxid {
        last_zxid(&self.durable.history)
    }

    fn my_vote(&self, id: NodeId) -> Vote {
        Vote {
            epoch: self.durable.current_epoch,
            zxid: self.last_zxid(),
            leader: id,
        }
    }

    pub fn state(&self) -> PeerState {
        match self.role {
            Role::Looking { .. } => PeerState::Looking,
            Role::Following { .. } => PeerState::Following,
            Role::Leading(_) => PeerState::Leading,
        }
    }

    /// The vote this node stands by (its leader once it has one).
    fn current_vote(&self, id: NodeId) -> Vote {
        match &self.role {
            Role::Looking { vote, .. } => *vote,
            Role::Following { leader, .. } => Vote {
                leader: *leader,
                ..self.my_vote(id)
            },
            Role::Leading(_) => self.my_vote(id),
        }
    }

    /// The epoch this node works in as follower or leader.
    fn epoch(&self) -> u64 {
        match &self.role {
            Role::Leading(l) => l.epoch,
            _ => self.durable.current_epoch,
        }
    }

    fn arm(&mut self, timer: ZabTimer, after: SimTime, label: &str, ctx: &mut Ctx<Self>) {
        ctx.set_timer(timer, after);
        self.timer = Some(TimerView {
            label: label.into(),
            started_at: ctx.now,
            fires_at: ctx.now + after,
        });
    }

    fn arm_silence(&mut self, ctx: &mut Ctx<Self>) {
        let t = self.cfg.timeout;
        self.arm(ZabTimer::LeaderSilent, t, "leader timeout", ctx);
    }

    fn notify(&self, to: Option<NodeId>, ctx: &mut Ctx<Self>) {
        let msg = ZabMsg::Notification {
            round: self.round,
            vote: self.current_vote(ctx.id),
            state: self.state(),
        };
        match to {
            Some(to) => ctx.send(to, msg),
            None => ctx.broadcast(msg),
        }
    }

    fn send_cepoch(&self, to: NodeId, ctx: &mut Ctx<Self>) {
        let msg = ZabMsg::CEpoch {
            accepted_epoch: self.durable.accepted_epoch,
            last_zxid: self.last_zxid(),
        };
        ctx.send(to, msg);
    }

    /// The leader's synchronization of a follower whose last zxid is `peer_last`.
    fn sync_for(&self, peer_last: Zxid) -> SyncMode {
        choose_sync(&self.durable.history, peer_last, self.cfg.snap_threshold)
    }

    // ------------------------------------------------------------ role changes

    /// Phase 0: a new election round, voting for itself.
    fn become_looking(&mut self, ctx: &mut Ctx<Self>) {
        if let Role::Leading(_) = self.role {
            ctx.cancel_timer(ZabTimer::Tick);
            ctx.note(format!("leader of epoch {} steps down", self.epoch()));
        }
        ctx.cancel_timer(ZabTimer::LeaderSilent);
        ctx.cancel_timer(ZabTimer::Finalize);
        self.finalizing = false;
        for (_, c) in std::mem::take(&mut self.waiting) {
            ctx.reply_to_client(c, ClientReply::Redirect { leader: None });
        }
        for r in std::mem::take(&mut self.queued) {
            ctx.reply_to_client(r.from, ClientReply::Redirect { leader: None });
        }
        self.round += 1;
        let vote = self.my_vote(ctx.id);
        self.role = Role::Looking {
            round: self.round,
            vote,
            votes: [(ctx.id, vote)].into_iter().collect(),
        };
        ctx.count("elections", 1);
        let (lo, hi) = (
            self.cfg.election_timeout_min.as_micros(),
            self.cfg.election_timeout_max.as_micros(),
        );
        let after = SimTime(ctx.rng().random_range(lo..=hi));
        self.arm(ZabTimer::Election, after, "election", ctx);
        self.notify(None, ctx);
        self.check_election(ctx);
    }

    fn become_follower(&mut self, leader: NodeId, ctx: &mut Ctx<Self>) {
        assert_ne!(leader, ctx.id, "invalid transition [follower of itself]");
        ctx.cancel_timer(ZabTimer::Election);
        ctx.cancel_timer(ZabTimer::Finalize);
        self.finalizing = false;
        self.role = Role::Following {
            leader,
            synced: false,
        };
        self.arm_silence(ctx);
        self.send_cepoch(leader, ctx);
    }

    fn become_leader(&mut self, ctx: &mut Ctx<Self>) {
        ctx.cancel_timer(ZabTimer::Election);
        ctx.cancel_timer(ZabTimer::Finalize);
        self.finalizing = false;
        self.timer = None;
        let mut l = Leading {
            stage: LeaderStage::Discovery,
            epoch: 0,
            cepochs: BTreeMap::new(),
            ack_epoch: BTreeMap::new(),
            best: None,
            since: ctx.now,
            synced: BTreeMap::new(),
            heard: BTreeMap::new(),
            counter: 0,
        };
        l.cepochs.insert(ctx.id, self.durable.accepted_epoch);
        l.heard.insert(ctx.id, ctx.now);
        self.role = Role::Leading(Box::new(l));
        ctx.note("leads: discovery of a new epoch");
        ctx.set_timer(ZabTimer::Tick, self.cfg.heartbeat);
        // Followers that decided before us already sent CEpoch; others are told by notification.
        self.notify(None, ctx);
        self.discovery_progress(ctx);
    }

    // ------------------------------------------------------------ election

    fn on_notification(
        &mut self,
        from: NodeId,
        round: u64,
        vote: Vote,
        state: PeerState,
        ctx: &mut Ctx<Self>,
    ) {
        let Role::Looking { .. } = self.role else {
            // Established nodes tell a looking node who leads.
            if state == PeerState::Looking {
                self.notify(Some(from), ctx);
            }
            // Our leader is still gathering its quorum and has not answered: say CEpoch again.
            if let Role::Following {
                leader,
                synced: false,
            } = self.role
                && leader == from
                && state == PeerState::Leading
            {
                self.send_cepoch(from, ctx);
            }
            return;
        };
        if state == PeerState::Leading {
            // An established leader exists: join it (ZooKeeper's "out of election" path).
            self.become_follower(from, ctx);
            return;
        }
        if state == PeerState::Following {
            return; // wait to hear from the leader itself
        }
        let me = self.my_vote(ctx.id);
        let Role::Looking {
            round: my_round,
            vote: my_vote,
            votes,
        } = &mut self.role
        else {
            unreachable!()
        };
        let mut changed = false;
        if round > *my_round {
            *my_round = round;
            self.round = round;
            votes.clear();
            *my_vote = me.max(vote);
            votes.insert(ctx.id, *my_vote);
            changed = true;
        } else if round < *my_round {
            self.notify(Some(from), ctx);
            return;
        } else if vote > *my_vote {
            *my_vote = vote;
            votes.insert(ctx.id, vote);
            changed = true;
        }
        // Within a round a node's vote only improves; a smaller one is an older message that
        // the network delivered late (ZooKeeper relies on TCP order instead).
        if votes.get(&from).is_none_or(|v| vote >= *v) {
            votes.insert(from, vote);
        }
        if changed {
            self.notify(None, ctx);
        }
        self.check_election(ctx);
    }

    /// Does a quorum vote like this node in this round?
    fn quorum_agrees(&self, nodes: usize) -> bool {
        let Role::Looking { vote, votes, .. } = &self.role else {
            return false;
        };
        votes.values().filter(|v| *v == vote).count() >= Self::quorum(nodes)
    }

    /// A quorum votes for one node in this round: after `finalize_wait` without a better
    /// vote, that node leads and the others follow.
    fn check_election(&mut self, ctx: &mut Ctx<Self>) {
        if !self.quorum_agrees(ctx.nodes) || self.finalizing {
            return;
        }
        if self.cfg.finalize_wait > SimTime::ZERO {
            self.finalizing = true;
            ctx.set_timer(ZabTimer::Finalize, self.cfg.finalize_wait);
        } else {
            self.decide(ctx);
        }
    }

    fn decide(&mut self, ctx: &mut Ctx<Self>) {
        let Role::Looking { vote, .. } = &self.role else {
            return;
        };
        let leader = vote.leader;
        if leader == ctx.id {
            self.become_leader(ctx);
        } else {
            self.become_follower(leader, ctx);
        }
    }

    // ------------------------------------------------------------ leader: discovery, sync

    fn leading(&mut self) -> Option<&mut Leading> {
        match &mut self.role {
            Role::Leading(l) => Some(l),
            _ => None,
        }
    }

    /// Discovery: with a quorum of `CEpoch`, choose and propose the new epoch.
    fn discovery_progress(&mut self, ctx: &mut Ctx<Self>) {
        let q = Self::quorum(ctx.nodes);
        let me = ctx.id;
        let Some(l) = self.leading() else { return };
        if l.stage != LeaderStage::Discovery || l.cepochs.len() < q {
            return;
        }
        let epoch = l.cepochs.values().max().copied().unwrap_or(0) + 1;
        l.epoch = epoch;
        l.stage = LeaderStage::AwaitAckEpoch;
        let followers: Vec<NodeId> = l.cepochs.keys().copied().filter(|n| *n != me).collect();
        self.durable.accepted_epoch = epoch;
        self.durable.accepted_from = Some(me);
        ctx.persist(self.durable.clone());
        ctx.note(format!("proposes epoch {epoch}"));
        for f in followers {
            ctx.send(f, ZabMsg::NewEpoch { epoch });
        }
        let cur = self.durable.current_epoch;
        let history = self.durable.history.clone();
        self.on_ack_epoch(me, epoch, cur, history, ctx);
    }

    fn on_ack_epoch(
        &mut self,
        from: NodeId,
        epoch: u64,
        current_epoch: u64,
        history: Vec<Txn>,
        ctx: &mut Ctx<Self>,
    ) {
        let q = Self::quorum(ctx.nodes);
        let me = ctx.id;
        let Some(l) = self.leading() else { return };
        if epoch != l.epoch {
            return;
        }
        match l.stage {
            LeaderStage::Discovery => return,
            LeaderStage::AwaitAckEpoch => {}
            // A late follower joins: bring it to the current history at once.
            LeaderStage::Synchronization | LeaderStage::Broadcast => {
                let sync = self.sync_for(last_zxid(&history));
                ctx.send(from, ZabMsg::NewLeader { epoch, sync });
                return;
            }
        }
        // Discovery's last step: adopt the history of the follower with the highest current
        // epoch, then the highest zxid (the leader's own answer comes first).
        let key = (current_epoch, last_zxid(&history));
        l.ack_epoch.insert(from, key);
        let better = l.best.is_none_or(|b| key > b);
        let enough = l.ack_epoch.len() >= q;
        if better {
            l.best = Some(key);
        }
        let followers: Vec<(NodeId, Zxid)> = l
            .ack_epoch
            .iter()
            .filter(|(n, _)| **n != me)
            .map(|(n, (_, z))| (*n, *z))
            .collect();
        if better && from != me {
            ctx.note(format!("adopts the history of n{}", from + 1));
            self.durable.history = history;
        }
        if !enough {
            return;
        }
        let l = self.leading().expect("leading");
        l.stage = LeaderStage::Synchronization;
        // Synchronization: the leader acknowledges its own NewLeader.
        self.durable.current_epoch = epoch;
        ctx.persist(self.durable.clone());
        for (f, peer_last) in followers {
            let sync = self.sync_for(peer_last);
            ctx.send(f, ZabMsg::NewLeader { epoch, sync });
        }
        let last = self.last_zxid();
        self.on_ack_new_leader(me, epoch, last, ctx);
    }

    fn on_ack_new_leader(&mut self, from: NodeId, epoch: u64, acked: Zxid, ctx: &mut Ctx<Self>) {
        let q = Self::quorum(ctx.nodes);
        let last = self.last_zxid();
        let committed = self.committed;
        let Some(l) = self.leading() else { return };
        if epoch != l.epoch {
            return;
        }
        l.heard.insert(from, ctx.now);
        l.synced.insert(from, acked);
        match l.stage {
            LeaderStage::Synchronization if l.synced.len() >= q => {
                l.stage = LeaderStage::Broadcast;
                let to: Vec<NodeId> = l.synced.keys().copied().filter(|n| *n != ctx.id).collect();
                ctx.note(format!("established in epoch {epoch}"));
                ctx.count("leaders", 1);
                for f in to {
                    ctx.send(f, ZabMsg::Commit { epoch, zxid: last });
                }
                self.commit_upto(last, ctx);
                for r in std::mem::take(&mut self.queued) {
                    self.on_client_request(r, ctx);
                }
            }
            LeaderStage::Broadcast if from != ctx.id => {
                ctx.send(
                    from,
                    ZabMsg::Commit {
                        epoch,
                        zxid: committed,
                    },
                );
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------ broadcast

    /// Leader: a quorum holds everything up to some zxid: commit it.
    fn on_ack(&mut self, from: NodeId, epoch: u64, zxid: Zxid, ctx: &mut Ctx<Self>) {
        let q = Self::quorum(ctx.nodes);
        let Some(l) = self.leading() else { return };
        if epoch != l.epoch {
            return;
        }
        l.heard.insert(from, ctx.now);
        if l.stage != LeaderStage::Broadcast {
            return;
        }
        let Some(acked) = l.synced.get_mut(&from) else {
            return;
        };
        *acked = (*acked).max(zxid);
        let mut acks: Vec<Zxid> = l.synced.values().copied().collect();
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&quorum_zxid) = acks.get(q - 1) else {
            return;
        };
        if quorum_zxid > self.committed {
            let to: Vec<NodeId> = self
                .leading()
                .expect("leading")
                .synced
                .keys()
                .copied()
                .filter(|n| *n != ctx.id)
                .collect();
            for f in to {
                ctx.send(
                    f,
                    ZabMsg::Commit {
                        epoch,
                        zxid: quorum_zxid,
                    },
                );
            }
            self.commit_upto(quorum_zxid, ctx);
        }
    }

    /// Marks everything up to `zxid` committed and delivers what this node holds of it.
    fn commit_upto(&mut self, zxid: Zxid, ctx: &mut Ctx<Self>) {
        self.committed = self.committed.max(zxid);
        let upto = self.committed;
        while let Some(t) = self.durable.history.get(self.delivered.len()) {
            if t.zxid > upto {
                break;
            }
            let reply = self.kv.apply(Some(&t.op));
            self.delivered.push(t.zxid);
            ctx.count("commits", 1);
            if let Some(to) = self.waiting.remove(&(t.op.client, t.op.seq))
                && let Some(reply) = reply
            {
                ctx.reply_to_client(to, reply);
            }
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx<Self>) {
        let q = Self::quorum(ctx.nodes);
        let (now, timeout, me) = (ctx.now, self.cfg.timeout, ctx.id);
        let committed = self.committed;
        let history = self.durable.history.clone();
        let (history_ref, snap_threshold) = (&history, self.cfg.snap_threshold);
        let Some(l) = self.leading() else { return };
        l.heard.insert(me, now);
        let alive = l
            .heard
            .values()
            .filter(|t| now.saturating_sub(**t) <= timeout)
            .count();
        let established = l.stage == LeaderStage::Broadcast;
        let lost = if established {
            alive < q
        } else {
            now.saturating_sub(l.since) > timeout + timeout
        };
        if lost {
            ctx.note(if established {
                "lost its quorum"
            } else {
                "could not establish its epoch"
            });
            self.become_looking(ctx);
            return;
        }
        let epoch = l.epoch;
        if established {
            for (f, acked) in l.synced.iter().filter(|(f, _)| **f != me) {
                // Re-send what the follower has not acknowledged (bounded), then ping.
                let from = history.partition_point(|t| t.zxid <= *acked);
                for i in from..history.len().min(from + 32) {
                    let prev = if i == 0 {
                        Zxid::default()
                    } else {
                        history[i - 1].zxid
                    };
                    ctx.send(
                        *f,
                        ZabMsg::Proposal {
                            epoch,
                            txn: history[i].clone(),
                            prev,
                        },
                    );
                }
                ctx.send(*f, ZabMsg::Ping { epoch, committed });
            }
        } else {
            // Still establishing: re-send this stage's message to followers that have not
            // answered it (links may lose messages), and keep inviting everyone.
            match l.stage {
                LeaderStage::AwaitAckEpoch => {
                    for f in l.cepochs.keys().filter(|f| !l.ack_epoch.contains_key(f)) {
                        ctx.send(*f, ZabMsg::NewEpoch { epoch });
                    }
                }
                LeaderStage::Synchronization => {
                    let unsynced = l
                        .ack_epoch
                        .iter()
                        .filter(|(f, _)| !l.synced.contains_key(f));
                    for (f, (_, peer_last)) in unsynced {
                        let sync = choose_sync(history_ref, *peer_last, snap_threshold);
                        ctx.send(*f, ZabMsg::NewLeader { epoch, sync });
                    }
                }
                LeaderStage::Discovery | LeaderStage::Broadcast => {}
            }
            let state = PeerState::Leading;
            let vote = self.my_vote(me);
            ctx.broadcast(ZabMsg::Notification {
                round: self.round,
                vote,
                state,
            });
        }
        ctx.set_timer(ZabTimer::Tick, self.cfg.heartbeat);
    }

    // ------------------------------------------------------------ follower

    /// Messages of the epoch protocol from the leader this node follows.
    fn follower_handle(&mut self, from: NodeId, msg: ZabMsg, ctx: &mut Ctx<Self>) {
        let Role::Following { leader, synced } = self.role else {
            return;
        };
        if from != leader {
            return;
        }
        self.arm_silence(ctx);
        let is_ping = matches!(msg, ZabMsg::Ping { .. });
        match msg {
            ZabMsg::NewEpoch { epoch } => {
                let d = &self.durable;
                let rejoin = epoch == d.accepted_epoch && d.accepted_from == Some(from);
                if epoch > d.accepted_epoch || rejoin {
                    self.durable.accepted_epoch = epoch;
                    self.durable.accepted_from = Some(from);
                    ctx.persist(self.durable.clone());
                    ctx.send(
                        from,
                        ZabMsg::AckEpoch {
                            epoch,
                            current_epoch: self.durable.current_epoch,
                            history: self.durable.history.clone(),
                        },
                    );
                } else {
                    // An epoch already superseded: back to election (the paper's "goto Phase 0").
                    self.become_looking(ctx);
                }
            }
            ZabMsg::NewLeader { epoch, sync } => {
                if epoch != self.durable.accepted_epoch {
                    self.become_looking(ctx);
                    return;
                }
                if !self.apply_sync(from, epoch, sync, synced, ctx) {
                    return;
                }
                self.role = Role::Following {
                    leader,
                    synced: true,
                };
                let zxid = self.last_zxid();
                ctx.send(from, ZabMsg::AckNewLeader { epoch, zxid });
            }
            ZabMsg::Proposal { epoch, txn, prev } if synced => {
                if epoch != self.durable.current_epoch {
                    // A proposal of an earlier epoch of this same leader, delayed past the
                    // elections since: its `prev` may even match our history (an epoch in
                    // between proposed nothing), but the history it extends is gone.
                    if epoch < self.durable.current_epoch {
                        ctx.note(format!(
                            "ignores Proposal {} of epoch {epoch} (now in epoch {})",
                            txn.zxid, self.durable.current_epoch
                        ));
                        ctx.count("stale_proposals_ignored", 1);
                    }
                    return;
                }
                let (last, zxid) = (self.last_zxid(), txn.zxid);
                if zxid > last && prev == last {
                    self.durable.history.push(txn);
                    ctx.persist(self.durable.clone());
                }
                if zxid <= self.last_zxid() {
                    let zxid = self.last_zxid();
                    ctx.send(from, ZabMsg::Ack { epoch, zxid });
                }
            }
            ZabMsg::Commit { epoch, zxid }
            | ZabMsg::Ping {
                epoch,
                committed: zxid,
            } if synced && epoch == self.durable.current_epoch => {
                self.commit_upto(zxid, ctx);
                if is_ping || self.last_zxid() < zxid {
                    // Answer pings (the leader counts its quorum), and say where we are when
                    // behind so the leader re-sends the rest.
                    let zxid = self.last_zxid();
                    ctx.send(from, ZabMsg::Ack { epoch, zxid });
                }
            }
            ZabMsg::Ping { .. } if !synced => {
                // The leader broadcasts to us as if we were synchronized: we restarted since,
                // and our CEpoch was lost. Its pings keep our silence timer from firing, so
                // nothing else would bring us back: ask again (a new connection, in ZooKeeper).
                self.send_cepoch(from, ctx);
            }
            _ => {}
        }
    }
}

impl Zab {
    /// Follower: apply the leader's DIFF, TRUNC or SNAP of epoch `epoch`. Returns false when it
    /// cannot (the zxid it starts from is not in our history), having asked the leader again.
    fn apply_sync(
        &mut self,
        from: NodeId,
        epoch: u64,
        sync: SyncMode,
        synced: bool,
        ctx: &mut Ctx<Self>,
    ) -> bool {
        let mode = sync.name();
        let (base, txns) = match sync {
            SyncMode::Diff { after, txns } => (Some(after), txns),
            SyncMode::Trunc { to, txns } => (Some(to), txns),
            SyncMode::Snap { history } => (None, history),
        };
        let mine = &self.durable.history;
        let keep = match base {
            None => 0,
            Some(z) if z == Zxid::default() => 0,
            Some(z) => match mine.binary_search_by_key(&z, |t| t.zxid) {
                Ok(i) => i + 1,
                Err(_) if synced => return false, // a late copy, computed before our last sync
                Err(_) => {
                    // Computed from a history we no longer hold: report where we are.
                    ctx.note(format!("cannot apply {mode}: {} is not in its history", z));
                    self.send_cepoch(from, ctx);
                    return false;
                }
            },
        };
        let mut history = mine[..keep].to_vec();
        history.extend(txns);
        // A late copy of a synchronization already applied in this epoch yields a prefix of what
        // we hold now (the leader's proposals since): keep ours.
        let stale = epoch == self.durable.current_epoch && mine.starts_with(&history);
        if stale {
            return true;
        }
        let common = mine
            .iter()
            .zip(&history)
            .take_while(|(a, b)| a == b)
            .count();
        let discarded = mine.len() - common;
        let detail = if mode == "SNAP" {
            format!("{} txns", history.len())
        } else {
            format!("keeps {keep}, appends {}", history.len() - keep)
        };
        ctx.note(format!("{mode} from n{}: {detail}", from + 1));
        ctx.count(
            match mode {
                "DIFF" => "sync_diff",
                "TRUNC" => "sync_trunc",
                _ => "sync_snap",
            },
            1,
        );
        if discarded > 0 {
            ctx.note(format!("discards {discarded} uncommitted proposal(s)"));
            ctx.count("discarded", discarded as u64);
        }
        self.durable.current_epoch = epoch;
        self.durable.history = history;
        ctx.persist(self.durable.clone());
        self.syncs += 1;
        true
    }
}

impl Protocol for Zab {
    type Msg = ZabMsg;
    type Timer = ZabTimer;
    type Durable = ZabDurable;
    type Config = ZabConfig;

    const NAME: &'static str = "zab";
    const SUMMARY: &'static str =
        "ZAB: fast leader election, discovery, synchronization, zxid-ordered broadcast";
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "Notification",
        "CEpoch",
        "NewEpoch",
        "AckEpoch",
        "NewLeader",
        "AckNewLeader",
        "Proposal",
        "Ack",
        "Commit",
        "Ping",
    ];

    fn validate_config(cfg: &ZabConfig, nodes: usize) -> Result<(), String> {
        crate::protocols::check_all_to_all_nodes("ZAB", nodes)?;
        if cfg.election_timeout_min > cfg.election_timeout_max
            || cfg.election_timeout_min == SimTime::ZERO
        {
            return Err(format!(
                "expected 0 < election_timeout_min <= election_timeout_max, got {} and {}",
                cfg.election_timeout_min, cfg.election_timeout_max
            ));
        }
        if cfg.heartbeat == SimTime::ZERO || cfg.heartbeat >= cfg.timeout {
            return Err(format!(
                "expected 0 < heartbeat < timeout, got heartbeat {} and timeout {}",
                cfg.heartbeat, cfg.timeout
            ));
        }
        Ok(())
    }

    fn init(cfg: &ZabConfig, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Zab::fresh(cfg, ZabDurable::default());
        me.become_looking(ctx);
        me
    }

    fn on_restart(cfg: &ZabConfig, durable: &ZabDurable, ctx: &mut Ctx<Self>) -> Self {
        let mut me = Zab::fresh(cfg, durable.clone());
        me.become_looking(ctx);
        me
    }

    fn on_message(&mut self, from: NodeId, msg: ZabMsg, ctx: &mut Ctx<Self>) {
        match msg {
            ZabMsg::Notification { round, vote, state } => {
                self.on_notification(from, round, vote, state, ctx)
            }
            ZabMsg::CEpoch {
                accepted_epoch,
                last_zxid,
            } => {
                let Some(l) = self.leading() else { return };
                if l.stage != LeaderStage::Discovery && accepted_epoch > l.epoch {
                    // The follower has seen a newer epoch: this leader is out of date.
                    ctx.note(format!("n{} has seen epoch {accepted_epoch}", from + 1));
                    self.become_looking(ctx);
                    return;
                }
                if l.stage == LeaderStage::Discovery {
                    l.cepochs.insert(from, accepted_epoch);
                    self.discovery_progress(ctx);
                } else if accepted_epoch == l.epoch
                    && matches!(
                        l.stage,
                        LeaderStage::Synchronization | LeaderStage::Broadcast
                    )
                {
                    // The follower already accepted this epoch number, perhaps from a rival
                    // that never got a quorum: it must not acknowledge it again (only a higher
                    // one), so a NewEpoch would send it back to election for ever. A quorum
                    // already acknowledged our epoch, so skip to synchronization (ZooKeeper's
                    // learner answers such a NEWEPOCH with an acknowledgement that does not
                    // count, and is then synchronized all the same).
                    let epoch = l.epoch;
                    let sync = self.sync_for(last_zxid);
                    ctx.send(from, ZabMsg::NewLeader { epoch, sync });
                } else {
                    // A late follower: it must accept the epoch already chosen.
                    let epoch = l.epoch;
                    ctx.send(from, ZabMsg::NewEpoch { epoch });
                }
            }
            ZabMsg::AckEpoch {
                epoch,
                current_epoch,
                history,
            } => self.on_ack_epoch(from, epoch, current_epoch, history, ctx),
            ZabMsg::AckNewLeader { epoch, zxid } => self.on_ack_new_leader(from, epoch, zxid, ctx),
            ZabMsg::Ack { epoch, zxid } => self.on_ack(from, epoch, zxid, ctx),
            msg @ (ZabMsg::NewEpoch { .. }
            | ZabMsg::NewLeader { .. }
            | ZabMsg::Proposal { .. }
            | ZabMsg::Commit { .. }
            | ZabMsg::Ping { .. }) => {
                if let Role::Leading(l) = &self.role {
                    // Another leader with a higher epoch is active: step down.
                    let theirs = match msg {
                        ZabMsg::NewEpoch { epoch }
                        | ZabMsg::NewLeader { epoch, .. }
                        | ZabMsg::Proposal { epoch, .. }
                        | ZabMsg::Commit { epoch, .. }
                        | ZabMsg::Ping { epoch, .. } => epoch,
                        _ => 0,
                    };
                    if theirs > l.epoch.max(self.durable.accepted_epoch) {
                        self.become_looking(ctx);
                    }
                    return;
                }
                self.follower_handle(from, msg, ctx)
            }
        }
    }

    fn on_timer(&mut self, timer: ZabTimer, ctx: &mut Ctx<Self>) {
        match timer {
            ZabTimer::Election => {
                self.timer = None;
                if let Role::Looking { .. } = self.role {
                    self.become_looking(ctx);
                }
            }
            ZabTimer::Finalize => {
                self.finalizing = false;
                if self.quorum_agrees(ctx.nodes) {
                    self.decide(ctx);
                }
            }
            ZabTimer::Tick => self.on_tick(ctx),
            ZabTimer::LeaderSilent => {
                self.timer = None;
                if let Role::Following { .. } = self.role {
                    ctx.note("leader silent: back to election");
                    self.become_looking(ctx);
                }
            }
        }
    }

    fn on_client_request(&mut self, req: ClientRequest, ctx: &mut Ctx<Self>) {
        if matches!(req.op, Op::Request(_)) {
            let reason = "zab serves get, put and cas".into();
            ctx.reply_to_client(req.from, ClientReply::Fail { reason });
            return;
        }
        let me = ctx.id;
        let redirect = match &self.role {
            Role::Looking { .. } => Some(None),
            Role::Following { leader, .. } => Some(Some(*leader)),
            Role::Leading(_) => None,
        };
        if let Some(leader) = redirect {
            ctx.reply_to_client(req.from, ClientReply::Redirect { leader });
            return;
        }
        let (client, seq) = (req.from.client, req.from.seq);
        if let Some(reply) = self.kv.answered(client, seq) {
            ctx.reply_to_client(req.from, reply.clone());
            return;
        }
        let l = self.leading().expect("leading");
        if l.stage != LeaderStage::Broadcast {
            self.queued.push(req);
            return;
        }
        if self.waiting.insert((client, seq), req.from).is_some() {
            return; // already proposed: answered on delivery
        }
        let l = self.leading().expect("leading");
        l.counter += 1;
        let (epoch, counter) = (l.epoch, l.counter);
        let followers: Vec<NodeId> = l.synced.keys().copied().filter(|n| *n != me).collect();
        let prev = self.last_zxid();
        let txn = Txn {
            zxid: Zxid { epoch, counter },
            op: ClientOp {
                client,
                seq,
                op: req.op,
            },
        };
        self.durable.history.push(txn.clone());
        ctx.persist(self.durable.clone());
        for f in followers {
            ctx.send(
                f,
                ZabMsg::Proposal {
                    epoch,
                    txn: txn.clone(),
                    prev,
                },
            );
        }
        self.on_ack(me, epoch, txn.zxid, ctx);
    }

    fn view(&self) -> NodeView {
        let (role, tone, phase) = match &self.role {
            Role::Looking { .. } => ("looking", Tone::Candidate, "election"),
            // One colour per role label (the app's legend maps labels to colours); the phase
            // is a field.
            Role::Following { synced: false, .. } => ("syncing", Tone::Warning, "discovery"),
            Role::Following { synced: true, .. } => ("follower", Tone::Follower, "broadcast"),
            Role::Leading(l) => match l.stage {
                LeaderStage::Discovery | LeaderStage::AwaitAckEpoch => {
                    ("leader", Tone::Leader, "discovery")
                }
                LeaderStage::Synchronization => ("leader", Tone::Leader, "synchronization"),
                LeaderStage::Broadcast => ("leader", Tone::Leader, "broadcast"),
            },
        };
        let mut v = NodeView::new(role, tone)
            .field("phase", phase)
            .field("accepted epoch", self.durable.accepted_epoch)
            .field("current epoch", self.durable.current_epoch)
            .field("last zxid", self.last_zxid())
            .field("committed", self.committed)
            .field("delivered", self.delivered.len());
        match &self.role {
            Role::Following { leader, .. } => v = v.field("leader", format!("n{}", leader + 1)),
            Role::Looking { vote, round, .. } => {
                v = v
                    .field("vote", format!("n{}", vote.leader + 1))
                    .field("round", round)
            }
            Role::Leading(_) => {}
        }
        v.term = Some(self.epoch());
        const SHOWN: usize = 20;
        let h = &self.durable.history;
        let skip = h.len().saturating_sub(SHOWN);
        for (i, t) in h.iter().enumerate().skip(skip) {
            v.entries.push(EntryView {
                index: i as u64 + 1,
                term: t.zxid.epoch,
                label: format!("{} {}", t.zxid, t.op),
                committed: i < self.delivered.len(),
            });
        }
        v.timer = self.timer.clone();
        v
    }

    /// One established leader in its broadcast phase, every other live node a synced follower,
    /// and every live node has committed and delivered what the leader did.
    fn healed(_cfg: &ZabConfig, states: &[Option<Self>]) -> Option<Result<(), String>> {
        let leaders: Vec<usize> = (0..states.len())
            .filter(|&i| matches!(&states[i], Some(s) if matches!(s.role, Role::Leading(_))))
            .collect();
        let [lead] = leaders.as_slice() else {
            let ids: Vec<String> = leaders.iter().map(|i| format!("n{}", i + 1)).collect();
            return Some(Err(format!(
                "expected one leader, found [{}]",
                ids.join(", ")
            )));
        };
        let l = states[*lead].as_ref().expect("live");
        if !matches!(&l.role, Role::Leading(x) if x.stage == LeaderStage::Broadcast) {
            return Some(Err(format!("leader n{} is not broadcasting", lead + 1)));
        }
        for (i, s) in states.iter().enumerate() {
            let Some(s) = s else { continue };
            let synced = match &s.role {
                Role::Leading(_) => true,
                Role::Following { synced, .. } => *synced,
                Role::Looking { .. } => false,
            };
            if !synced || s.committed != l.committed || s.delivered.len() != l.delivered.len() {
                return Some(Err(format!(
                    "n{} has not caught up with leader n{}: committed {}/{}, delivered {}/{}",
                    i + 1,
                    lead + 1,
                    s.committed,
                    l.committed,
                    s.delivered.len(),
                    l.delivered.len()
                )));
            }
        }
        Some(Ok(()))
    }

    /// Every get, put and cas is broadcast by the leader and answered on delivery, so the client
    /// history must be linearizable.
    fn linearizable(_cfg: &ZabConfig) -> bool {
        true
    }

    fn invariants(_cfg: &ZabConfig, nodes: usize) -> Vec<Box<dyn Invariant<Self>>> {
        vec![
            Box::new(invariants::PrimaryOrder::new(nodes)),
            Box::new(invariants::Integrity::default()),
            Box::new(invariants::Agreement::new(nodes)),
            Box::new(invariants::OneLeaderPerEpoch::default()),
            Box::new(invariants::EpochAckedOnce::default()),
            Box::new(invariants::FollowerPrefix::default()),
            Box::new(invariants::EstablishedByQuorum::default()),
        ]
    }
}
