//! A broker: the append-only logs of the partitions it holds and, on the first broker, the
//! consumer group's coordinator (membership, assignment, committed offsets).
//!
//! ```text
//!   Produce ──► append to p's log, write to disk ──► ProduceAck(offset)
//!   Fetch(p, o) ──► Records(p, o, log[o .. o+fetch_max]), or OffsetOutOfRange if o < start
//!   Retention timer ──► delete closed segments past retention_time / retention_records
//!   JoinGroup (new member or session) / member silent ──► generation+1, Assignment to all
//!   Commit(gen, p, o) ──► committed[p] = o, if gen is current and p is the sender's
//! ```
//!
//! With `replication_factor > 1` a broker holds replicas of several partitions, leads some
//! and follows others (`replica.rs`), and the first broker is also the controller
//! (`controller.rs`); `Produce` and `Fetch` are then answered by the leader only.

use super::config::LogConfig;
use super::controller::{Controller, ControllerDisk};
use super::message::{Epoch, LogMsg, Offset, Partition, Record};
use super::replica::Replica;
use super::{Log, LogTimer};
use crate::sim::{Ctx, NodeId, SimTime};
use std::collections::BTreeMap;

/// The group's durable state, kept by the coordinator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupDisk {
    /// Rebalances so far: a commit from an older generation is refused.
    pub generation: u64,
    /// Next offset to read, per partition.
    pub committed: BTreeMap<Partition, Offset>,
    /// Whether the configured replay has happened.
    pub replayed: bool,
}

/// What a broker writes to disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokerDisk {
    /// The logs of the partitions this broker holds, from their log start offset on.
    pub logs: BTreeMap<Partition, Vec<Record>>,
    /// The group (coordinator only).
    pub group: GroupDisk,
    /// Per partition: the offset of the first record still in the log (retention deletes
    /// from the front; absent: 0).
    pub start: BTreeMap<Partition, Offset>,
    /// With retention: when each record in `logs` was appended (a segment's newest record
    /// decides when time-based retention deletes it).
    pub appended_at: BTreeMap<Partition, Vec<SimTime>>,
    /// Replicated: per partition, the leader epoch cache — each epoch with the offset of its
    /// first record (Kafka's leader-epoch-checkpoint, KIP-101).
    pub epochs: BTreeMap<Partition, Vec<(Epoch, Offset)>>,
    /// Replicated, the controller: the partitions' leaders, epochs and ISRs.
    pub controller: ControllerDisk,
}

impl BrokerDisk {
    /// The log start offset of `p`: the oldest offset still readable.
    pub fn start_of(&self, p: Partition) -> Offset {
        self.start.get(&p).copied().unwrap_or(0)
    }
    /// The log end offset of `p`: the offset the next record will get.
    pub fn end_of(&self, p: Partition) -> Offset {
        self.start_of(p) + self.logs.get(&p).map_or(0, |l| l.len() as Offset)
    }

    /// Replicated: appends `record` written in leader epoch `epoch`.
    pub fn append(&mut self, p: Partition, epoch: Epoch, record: Record) {
        let offset = self.end_of(p);
        let epochs = self.epochs.entry(p).or_default();
        if epochs.last().is_none_or(|(e, _)| *e != epoch) {
            epochs.push((epoch, offset));
        }
        self.logs.entry(p).or_default().push(record);
    }
    /// The epoch of the last record of `p` (0: empty).
    pub fn last_epoch(&self, p: Partition) -> Epoch {
        self.epochs
            .get(&p)
            .and_then(|e| e.last())
            .map_or(0, |e| e.0)
    }
    /// The largest epoch `<= e` in `p`'s epoch cache, and the offset where it ends (the next
    /// epoch's first offset, or the log end): the answer to KIP-101's OffsetsForLeaderEpoch.
    pub fn epoch_end(&self, p: Partition, e: Epoch) -> (Epoch, Offset) {
        let epochs = self.epochs.get(&p).map_or(&[][..], |v| v.as_slice());
        let i = epochs.partition_point(|(x, _)| *x <= e);
        let end = epochs.get(i).map_or(self.end_of(p), |(_, start)| *start);
        let epoch = if i == 0 { 0 } else { epochs[i - 1].0 };
        (epoch, end)
    }
    /// Up to `max` records of `p` from `offset`, with their epochs.
    pub fn entries(&self, p: Partition, offset: Offset, max: u32) -> Vec<(Epoch, Record)> {
        let Some(log) = self.logs.get(&p) else {
            return vec![];
        };
        let epochs = self.epochs.get(&p).map_or(&[][..], |v| v.as_slice());
        let from = (offset as usize).min(log.len());
        let to = (from + max as usize).min(log.len());
        (from..to)
            .map(|o| {
                let i = epochs.partition_point(|(_, s)| *s <= o as Offset);
                let epoch = if i == 0 { 0 } else { epochs[i - 1].0 };
                (epoch, log[o].clone())
            })
            .collect()
    }
    /// Replicated: drops the records of `p` from offset `to` on.
    pub fn truncate(&mut self, p: Partition, to: Offset) {
        if let Some(log) = self.logs.get_mut(&p) {
            log.truncate(to as usize);
        }
        if let Some(epochs) = self.epochs.get_mut(&p) {
            epochs.retain(|(_, start)| *start < to);
        }
    }

    /// Deletes the oldest closed segments of `p` that retention allows, at `now`; returns
    /// how many records went. Segment `k` holds offsets `k*segment_records ..
    /// (k+1)*segment_records`; the active (last) segment stays.
    pub fn apply_retention(&mut self, p: Partition, cfg: &LogConfig, now: SimTime) -> u64 {
        let seg = cfg.segment_records;
        let end = self.end_of(p);
        let mut start = self.start_of(p);
        loop {
            let seg_end = (start / seg + 1) * seg;
            if seg_end >= end {
                break; // the active segment
            }
            let by_size = cfg
                .retention_records
                .is_some_and(|keep| end - seg_end >= keep);
            let newest = self
                .appended_at
                .get(&p)
                .and_then(|t| t.get((seg_end - 1 - self.start_of(p)) as usize))
                .copied();
            let by_time = match (cfg.retention_time, newest) {
                (Some(keep), Some(t)) => now.saturating_sub(t) > keep,
                _ => false,
            };
            if !(by_size || by_time) {
                break;
            }
            start = seg_end;
        }
        let gone = start - self.start_of(p);
        if gone > 0 {
            if let Some(l) = self.logs.get_mut(&p) {
                l.drain(..gone as usize);
            }
            if let Some(t) = self.appended_at.get_mut(&p) {
                t.drain(..(gone as usize).min(t.len()));
            }
            self.start.insert(p, start);
        }
        gone
    }
}

/// A member as the coordinator knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub session: u64,
    pub last_heard: SimTime,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Broker {
    pub disk: BrokerDisk,
    /// Coordinator: live members by node.
    pub members: BTreeMap<NodeId, Member>,
    /// Coordinator: who owns each partition in the current generation.
    pub owner: BTreeMap<Partition, NodeId>,
    pub coordinator: bool,
    /// This broker's node (to tell, in its view, the partitions it leads).
    pub id: NodeId,
    /// Replicated: this broker's replicas, by partition.
    pub replicas: BTreeMap<Partition, Replica>,
    /// Replicated, first broker: the controller's memory.
    pub controller: Option<Controller>,
    /// Replicated: the controller's metadata version this broker has seen.
    pub version: u64,
    /// Replicated: the brokers' names, for the view's ISRs.
    pub names: BTreeMap<NodeId, String>,
}

/// The broker holding partition `p` (its preferred leader, when replicated).
pub fn broker_of(p: Partition, brokers: &[NodeId]) -> Option<NodeId> {
    (!brokers.is_empty()).then(|| brokers[p as usize % brokers.len()])
}

/// The brokers holding a replica of `p`: `p mod brokers` and the next ones, `rf` in all (at
/// most every broker).
pub fn replicas_of(p: Partition, brokers: &[NodeId], rf: u32) -> Vec<NodeId> {
    let n = brokers.len();
    (0..(rf as usize).min(n))
        .map(|i| brokers[(p as usize + i) % n])
        .collect()
}

impl Broker {
    pub fn start(cfg: &LogConfig, disk: BrokerDisk, ctx: &mut Ctx<Log>) -> Self {
        let coordinator = ctx.nodes_of("broker").first() == Some(&ctx.id);
        let mut b = Broker {
            disk,
            coordinator,
            id: ctx.id,
            ..Default::default()
        };
        for p in 0..cfg.partitions {
            if replicas_of(p, ctx.nodes_of("broker"), cfg.replication_factor).contains(&ctx.id) {
                b.disk.logs.entry(p).or_default();
            }
        }
        if cfg.replicated() {
            b.start_replication(cfg, ctx);
        }
        if cfg.retains() {
            ctx.set_timer(LogTimer::Retention, cfg.retention_check_interval);
        }
        if coordinator {
            ctx.set_timer(LogTimer::GroupCheck, cfg.heartbeat);
            if let Some(r) = &cfg.replay
                && !b.disk.group.replayed
            {
                ctx.set_timer(LogTimer::Replay, r.at.saturating_sub(ctx.now));
            }
        }
        b
    }

    /// Replicated: a replica per partition held; the controller starts and tells every broker
    /// the state; the others send heartbeats.
    fn start_replication(&mut self, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        for &p in self.disk.logs.keys() {
            self.replicas.insert(p, Replica::default());
        }
        for &b in ctx.nodes_of("broker") {
            self.names.insert(b, super::name(ctx, b));
        }
        if self.coordinator {
            let c = Controller::start(&mut self.disk.controller, cfg, ctx);
            self.controller = Some(c);
            self.save(ctx);
            let all: Vec<Partition> = self.disk.controller.partitions.keys().copied().collect();
            self.publish(&all, cfg, ctx);
        } else {
            self.heartbeat(ctx);
            ctx.set_timer(LogTimer::BrokerHeartbeat, cfg.heartbeat);
        }
        ctx.set_timer(LogTimer::IsrCheck, cfg.heartbeat);
    }

    fn heartbeat(&self, ctx: &mut Ctx<Log>) {
        if let Some(&c) = ctx.nodes_of("broker").first() {
            ctx.send(
                c,
                LogMsg::BrokerHeartbeat {
                    version: self.version,
                },
            );
        }
    }

    /// Controller: saves and sends the new state of `changed` partitions to their replicas
    /// (to itself directly).
    fn publish(&mut self, changed: &[Partition], cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        if changed.is_empty() {
            return;
        }
        self.disk.controller.version += 1;
        self.save(ctx);
        for p in changed {
            let s = &self.disk.controller.partitions[p];
            let name = |n| super::name(ctx, n);
            let text = super::message::state_label(*p, s, &name);
            ctx.note(format!("controller: {text}"));
        }
        let others: Vec<Partition> = changed.to_vec();
        Controller::announce(&self.disk.controller, &others, ctx);
        if let LogMsg::LeaderAndIsr {
            version,
            partitions,
        } = Controller::state_for(&self.disk.controller, ctx.id)
        {
            self.on_leader_and_isr(version, partitions, cfg, ctx);
        }
    }

    /// The messages of replication: to the controller, the leader or a follower.
    fn on_replication(&mut self, from: NodeId, msg: LogMsg, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        match msg {
            LogMsg::BrokerHeartbeat { version } => {
                if let Some(c) = &mut self.controller {
                    let changed =
                        c.on_heartbeat(&mut self.disk.controller, from, version, cfg, ctx);
                    self.publish(&changed, cfg, ctx);
                }
            }
            LogMsg::AlterIsr {
                partition,
                leader_epoch,
                partition_epoch,
                isr,
            } if self.controller.is_some() => {
                let epochs = (leader_epoch, partition_epoch);
                if Controller::on_alter_isr(&mut self.disk.controller, from, partition, epochs, isr)
                {
                    ctx.count("isr_changes", 1);
                    self.publish(&[partition], cfg, ctx);
                }
            }
            LogMsg::LeaderAndIsr {
                version,
                partitions,
            } => self.on_leader_and_isr(version, partitions, cfg, ctx),
            LogMsg::ReplicaFetch {
                partition,
                leader_epoch,
                offset,
                last_fetched_epoch,
            } => {
                let fetch = (leader_epoch, offset, last_fetched_epoch);
                self.on_replica_fetch(from, partition, fetch, cfg, ctx);
            }
            msg @ LogMsg::ReplicaRecords { .. } => self.on_replica_records(from, msg, cfg, ctx),
            LogMsg::Produce { partition, record } => {
                self.produce_replicated(from, partition, record, cfg, ctx)
            }
            LogMsg::Fetch { partition, offset } => {
                self.consumer_fetch_replicated(from, partition, offset, cfg, ctx)
            }
            _ => {}
        }
    }

    pub(super) fn save(&self, ctx: &mut Ctx<Log>) {
        ctx.persist(super::LogDurable::broker(self.disk.clone()));
    }

    pub fn on_message(&mut self, from: NodeId, msg: LogMsg, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        let group = matches!(msg, LogMsg::JoinGroup { .. } | LogMsg::Commit { .. });
        if cfg.replicated() && !group {
            self.on_replication(from, msg, cfg, ctx);
            return;
        }
        match msg {
            LogMsg::Produce { partition, record } => {
                let Some(log) = self.disk.logs.get_mut(&partition) else {
                    return;
                };
                let id = record.id;
                log.push(record);
                if cfg.retains() {
                    self.disk
                        .appended_at
                        .entry(partition)
                        .or_default()
                        .push(ctx.now);
                }
                let offset = self.disk.end_of(partition) - 1;
                ctx.count("appended", 1);
                self.save(ctx);
                ctx.send(
                    from,
                    LogMsg::ProduceAck {
                        id,
                        partition,
                        offset,
                    },
                );
            }
            LogMsg::Fetch { partition, offset } => {
                let Some(log) = self.disk.logs.get(&partition) else {
                    return;
                };
                let start = self.disk.start_of(partition);
                if offset < start {
                    ctx.count("offset_out_of_range", 1);
                    ctx.send(
                        from,
                        LogMsg::OffsetOutOfRange {
                            partition,
                            offset,
                            start,
                            end: self.disk.end_of(partition),
                        },
                    );
                    return;
                }
                let from_i = ((offset - start) as usize).min(log.len());
                let to = (from_i + cfg.fetch_max as usize).min(log.len());
                ctx.send(
                    from,
                    LogMsg::Records {
                        partition,
                        offset,
                        records: log[from_i..to].to_vec(),
                    },
                );
            }
            LogMsg::JoinGroup {
                session,
                generation,
            } if self.coordinator => {
                match self.members.get_mut(&from) {
                    Some(m) if m.session == session => {
                        m.last_heard = ctx.now;
                        if generation < self.disk.group.generation {
                            // Its Assignment was lost: send it again.
                            let partitions = self.share_of(from);
                            ctx.send(
                                from,
                                LogMsg::Assignment {
                                    generation: self.disk.group.generation,
                                    partitions,
                                },
                            );
                        }
                    }
                    _ => {
                        self.members.insert(
                            from,
                            Member {
                                session,
                                last_heard: ctx.now,
                            },
                        );
                        ctx.note(format!("{} joins the group", super::name(ctx, from)));
                        self.rebalance(cfg, ctx);
                    }
                }
            }
            LogMsg::Commit {
                generation,
                partition,
                offset,
            } if self.coordinator => {
                if generation == self.disk.group.generation
                    && self.owner.get(&partition) == Some(&from)
                {
                    self.disk.group.committed.insert(partition, offset);
                    ctx.count("commits", 1);
                    self.save(ctx);
                } else {
                    ctx.count("commits_refused", 1);
                }
            }
            _ => {}
        }
    }

    /// The partitions of member `m` in the current generation, with their committed offsets.
    fn share_of(&self, m: NodeId) -> Vec<(Partition, Offset)> {
        self.owner
            .iter()
            .filter(|(_, o)| **o == m)
            .map(|(p, _)| (*p, self.disk.group.committed.get(p).copied().unwrap_or(0)))
            .collect()
    }

    /// A new generation: partitions dealt round robin over the members in id order, each
    /// member told its partitions and where to start.
    fn rebalance(&mut self, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        self.disk.group.generation += 1;
        let generation = self.disk.group.generation;
        ctx.count("rebalances", 1);
        self.save(ctx);
        self.owner.clear();
        let members: Vec<NodeId> = self.members.keys().copied().collect();
        if members.is_empty() {
            return;
        }
        for p in 0..cfg.partitions {
            self.owner.insert(p, members[p as usize % members.len()]);
        }
        ctx.note(format!(
            "rebalance: generation {generation}, {} member(s)",
            members.len()
        ));
        for m in members {
            let partitions = self.share_of(m);
            ctx.send(
                m,
                LogMsg::Assignment {
                    generation,
                    partitions,
                },
            );
        }
    }

    pub fn on_timer(&mut self, timer: LogTimer, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        match timer {
            LogTimer::GroupCheck => {
                if let Some(c) = &mut self.controller {
                    let changed = c.check(&mut self.disk.controller, cfg, ctx);
                    self.publish(&changed, cfg, ctx);
                }
                let gone: Vec<NodeId> = self
                    .members
                    .iter()
                    .filter(|(_, m)| ctx.now.saturating_sub(m.last_heard) > cfg.session_timeout)
                    .map(|(n, _)| *n)
                    .collect();
                for n in &gone {
                    self.members.remove(n);
                    ctx.note(format!("{} left the group (silent)", super::name(ctx, *n)));
                }
                if !gone.is_empty() {
                    self.rebalance(cfg, ctx);
                }
                ctx.set_timer(LogTimer::GroupCheck, cfg.heartbeat);
            }
            LogTimer::Retention => {
                let ps: Vec<Partition> = self.disk.logs.keys().copied().collect();
                let mut gone = 0;
                for p in ps {
                    let n = self.disk.apply_retention(p, cfg, ctx.now);
                    if n > 0 {
                        ctx.note(format!(
                            "retention: p{p} deleted {n} record(s), log starts at {}",
                            self.disk.start_of(p)
                        ));
                    }
                    gone += n;
                }
                if gone > 0 {
                    ctx.count("retention_deleted", gone);
                    self.save(ctx);
                }
                ctx.set_timer(LogTimer::Retention, cfg.retention_check_interval);
            }
            LogTimer::Replay => {
                if let Some(r) = &cfg.replay {
                    for p in 0..cfg.partitions {
                        self.disk.group.committed.insert(p, r.offset);
                    }
                    self.disk.group.replayed = true;
                    ctx.note(format!("offsets reset to {}: replay", r.offset));
                    self.rebalance(cfg, ctx);
                }
            }
            LogTimer::BrokerHeartbeat => {
                self.heartbeat(ctx);
                ctx.set_timer(LogTimer::BrokerHeartbeat, cfg.heartbeat);
            }
            LogTimer::ReplicaFetch(p) => self.replica_fetch(p, cfg, ctx),
            LogTimer::IsrCheck => self.isr_check(cfg, ctx),
            _ => {}
        }
    }
}
