//! The controller (with `replication_factor > 1`): the first broker, which also coordinates
//! the group, keeps each partition's leader, leader epoch and ISR on its disk (Kafka's
//! controller with its metadata log, here one fixed broker: while it is down nobody is
//! elected). Brokers send it `BrokerHeartbeat`s; one silent for `session_timeout` is dead.
//!
//! ```text
//!   BrokerHeartbeat(v) ──► alive; if v < version: LeaderAndIsr(version, its partitions)
//!   broker silent ──► for each partition it led: leader = first live ISR member (or, unclean,
//!                     any live replica; or none: offline), leader_epoch+1; drop it from ISRs
//!   a dead broker heard again ──► leads the offline partitions whose ISR names it
//!   AlterIsr(p, leader_epoch, partition_epoch, isr) from the leader ──► isr, if both current
//! ```
//!
//! Every change bumps the partition epoch and the metadata version, is written to disk, and is
//! sent (`LeaderAndIsr`) to the partition's replicas.

use super::config::LogConfig;
use super::message::{LogMsg, Partition, PartitionState};
use super::{Log, broker::replicas_of};
use crate::sim::{Ctx, NodeId, SimTime};
use std::collections::BTreeMap;

/// What the controller writes to disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerDisk {
    /// Bumped at every change: a broker whose heartbeat shows an older one is sent its state.
    pub version: u64,
    pub partitions: BTreeMap<Partition, PartitionState>,
}

/// The controller's memory: when each broker was last heard from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Controller {
    pub last_heard: BTreeMap<NodeId, SimTime>,
    /// Brokers declared dead (silent for `session_timeout`) and not heard from since.
    pub dead: Vec<NodeId>,
}

/// The state a partition starts in: its preferred replica leads epoch 1, every replica in sync.
pub fn initial_state(p: Partition, brokers: &[NodeId], cfg: &LogConfig) -> PartitionState {
    let replicas = replicas_of(p, brokers, cfg.replication_factor);
    PartitionState {
        leader: replicas.first().copied(),
        leader_epoch: 1,
        partition_epoch: 1,
        isr: replicas.clone(),
        replicas,
    }
}

/// The election when `dead` is declared dead: a partition it led gets the first live member of
/// its ISR, or with `unclean` the first live replica (the ISR shrinks to it), or no leader; it
/// leaves every ISR that keeps another member (the last one stays: it alone may hold every
/// acknowledged record). Returns whether the state changed.
pub fn on_broker_dead(
    s: &mut PartitionState,
    dead: NodeId,
    is_dead: impl Fn(NodeId) -> bool,
    unclean: bool,
) -> bool {
    let before = s.clone();
    if s.leader == Some(dead) {
        let clean = s.isr.iter().copied().find(|&n| n != dead && !is_dead(n));
        let unclean_pick = || {
            s.replicas
                .iter()
                .copied()
                .find(|&n| n != dead && !is_dead(n))
        };
        s.leader = clean.or_else(|| if unclean { unclean_pick() } else { None });
        s.leader_epoch += 1;
        if let Some(l) = s.leader
            && !s.isr.contains(&l)
        {
            s.isr = vec![l];
        }
    }
    if s.isr.len() > 1 {
        s.isr.retain(|&n| n != dead);
    }
    if *s != before {
        s.partition_epoch += 1;
    }
    *s != before
}

/// The election when `back` is heard again: an offline partition whose ISR names it (or, with
/// `unclean`, any offline partition it replicates) gets it as leader.
pub fn on_broker_back(s: &mut PartitionState, back: NodeId, unclean: bool) -> bool {
    if s.leader.is_some() || !s.replicas.contains(&back) {
        return false;
    }
    if !s.isr.contains(&back) && !unclean {
        return false;
    }
    s.isr = vec![back];
    s.leader = Some(back);
    s.leader_epoch += 1;
    s.partition_epoch += 1;
    true
}

/// Counts a change of leader, and an unclean one (a leader from outside the old ISR).
fn count_election(was: Option<NodeId>, old_isr: &[NodeId], s: &PartitionState, ctx: &mut Ctx<Log>) {
    if was == s.leader {
        return;
    }
    ctx.count("leader_elections", 1);
    if let Some(l) = s.leader
        && !old_isr.contains(&l)
    {
        ctx.count("unclean_elections", 1);
        ctx.note(format!(
            "unclean election: {} was not in sync",
            super::name(ctx, l)
        ));
    }
}

impl Controller {
    /// Starts (or restarts) the controller: every broker gets a full `session_timeout` before it
    /// can be declared dead; partitions without a state get their initial one.
    pub fn start(disk: &mut ControllerDisk, cfg: &LogConfig, ctx: &mut Ctx<Log>) -> Self {
        let brokers = ctx.nodes_of("broker");
        if disk.partitions.is_empty() {
            for p in 0..cfg.partitions {
                disk.partitions.insert(p, initial_state(p, brokers, cfg));
            }
            disk.version = 1;
        }
        Controller {
            last_heard: brokers.iter().map(|&b| (b, ctx.now)).collect(),
            dead: Vec::new(),
        }
    }

    /// `LeaderAndIsr` for broker `b`: the state of every partition it replicates.
    pub fn state_for(disk: &ControllerDisk, b: NodeId) -> LogMsg {
        LogMsg::LeaderAndIsr {
            version: disk.version,
            partitions: disk
                .partitions
                .iter()
                .filter(|(_, s)| s.replicas.contains(&b))
                .map(|(p, s)| (*p, s.clone()))
                .collect(),
        }
    }

    /// Sends the new state of `changed` partitions to their replicas (but this broker).
    pub fn announce(disk: &ControllerDisk, changed: &[Partition], ctx: &mut Ctx<Log>) {
        let mut to: Vec<NodeId> = changed
            .iter()
            .flat_map(|p| disk.partitions[p].replicas.iter().copied())
            .collect();
        to.sort_unstable();
        to.dedup();
        to.retain(|&b| b != ctx.id);
        for b in to {
            ctx.send(b, Self::state_for(disk, b));
        }
    }

    /// A broker's heartbeat: alive (a dead one coming back may lead offline partitions), and
    /// sent the current state if its version is older. Returns the partitions changed.
    pub fn on_heartbeat(
        &mut self,
        disk: &mut ControllerDisk,
        from: NodeId,
        version: u64,
        cfg: &LogConfig,
        ctx: &mut Ctx<Log>,
    ) -> Vec<Partition> {
        self.last_heard.insert(from, ctx.now);
        let mut changed = Vec::new();
        if let Some(i) = self.dead.iter().position(|&n| n == from) {
            self.dead.remove(i);
            ctx.note(format!("controller: {} is back", super::name(ctx, from)));
            for (p, s) in disk.partitions.iter_mut() {
                let (was, old_isr) = (s.leader, s.isr.clone());
                if on_broker_back(s, from, cfg.unclean_leader_election) {
                    changed.push(*p);
                    count_election(was, &old_isr, s, ctx);
                }
            }
        }
        if changed.is_empty() && version < disk.version {
            ctx.send(from, Self::state_for(disk, from));
        }
        changed
    }

    /// Declares silent brokers dead and elects new leaders. Returns the partitions changed.
    pub fn check(
        &mut self,
        disk: &mut ControllerDisk,
        cfg: &LogConfig,
        ctx: &mut Ctx<Log>,
    ) -> Vec<Partition> {
        let silent: Vec<NodeId> = self
            .last_heard
            .iter()
            .filter(|(n, t)| {
                **n != ctx.id
                    && !self.dead.contains(n)
                    && ctx.now.saturating_sub(**t) > cfg.session_timeout
            })
            .map(|(n, _)| *n)
            .collect();
        self.dead.extend(&silent);
        let mut changed = Vec::new();
        for b in silent {
            ctx.note(format!("controller: {} is dead", super::name(ctx, b)));
            for (p, s) in disk.partitions.iter_mut() {
                let dead = &self.dead;
                let (was, old_isr) = (s.leader, s.isr.clone());
                if on_broker_dead(s, b, |n| dead.contains(&n), cfg.unclean_leader_election) {
                    changed.push(*p);
                    count_election(was, &old_isr, s, ctx);
                }
            }
        }
        changed.sort_unstable();
        changed.dedup();
        changed
    }

    /// A leader's `AlterIsr`: applied if its epochs are current, its ISR names the leader, and
    /// it only names replicas. Returns whether it was applied.
    pub fn on_alter_isr(
        disk: &mut ControllerDisk,
        from: NodeId,
        p: Partition,
        epochs: (u64, u64),
        isr: Vec<NodeId>,
    ) -> bool {
        let Some(s) = disk.partitions.get_mut(&p) else {
            return false;
        };
        let current = s.leader == Some(from)
            && (s.leader_epoch, s.partition_epoch) == epochs
            && isr.contains(&from)
            && isr.iter().all(|n| s.replicas.contains(n));
        if !current || s.isr == isr {
            return false;
        }
        s.isr = isr;
        s.partition_epoch += 1;
        true
    }
}
