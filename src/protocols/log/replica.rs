//! Partition replicas on a broker (with `replication_factor > 1`), after Kafka's replication
//! design (documentation, "Replication"; KIP-101 leader epochs; KIP-497 AlterIsr). Each
//! partition has one leader, chosen by the controller; the other replicas are followers that
//! pull from it. A record is *committed* once every in-sync replica has it: the leader's high
//! watermark is the smallest log end offset over the ISR, and consumers read only below it.
//!
//! ```text
//!   LeaderAndIsr ──► leader: takes produces; follower: ReplicaFetch loop from the leader
//!   Produce ──► leader appends (epoch, record) ──► acks=1: ProduceAck now
//!                                             └──► acks=all: wait until hw > offset
//!   ReplicaFetch(o, last epoch) ──► consistent? ReplicaRecords(o.., hw) : diverging(epoch, end)
//!   follower ──► appends, hw = min(leader hw, own end); diverging ──► truncate, fetch again
//!   IsrCheck ──► AlterIsr without followers behind for replica_lag_time; a caught-up follower
//!               is proposed back at once
//! ```
//!
//! While an `AlterIsr` is in flight the leader counts the replicas it names for the high
//! watermark too (KIP-497's "maximal ISR"): if the controller accepts, the new member already
//! has every committed record.

use super::broker::Broker;
use super::config::{Acks, LogConfig};
use super::message::{Epoch, LogMsg, Offset, Partition, PartitionState, Record, RecordId};
use super::{Log, LogTimer};
use crate::sim::{Ctx, NodeId, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// What a leader knows of a follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The follower's log end: its last consistent fetch offset.
    pub end: Offset,
    /// When it last fetched from the leader's log end (caught up).
    pub caught_up_at: SimTime,
}

/// One partition's replica on this broker.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replica {
    /// The partition as the controller last told this broker (leader epoch 0: not told yet).
    pub state: PartitionState,
    /// Every in-sync replica has the records below it; consumers read only those.
    pub hw: Offset,
    /// Leader: each follower's progress.
    pub followers: BTreeMap<NodeId, Progress>,
    /// Leader: replicas named in an `AlterIsr` at this partition epoch, counted for the high
    /// watermark until the controller answers.
    pub proposed: BTreeSet<NodeId>,
    /// Leader, `acks: All`: produces waiting for the high watermark, by offset.
    pub waiting: BTreeMap<Offset, (NodeId, RecordId)>,
}

impl Replica {
    pub fn leads(&self, me: NodeId) -> bool {
        self.state.leader == Some(me)
    }
    /// The replicas the high watermark waits for: the ISR and the proposed members.
    fn maximal_isr(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.state
            .isr
            .iter()
            .copied()
            .chain(self.proposed.iter().copied())
    }
}

impl Broker {
    /// The controller's `LeaderAndIsr`: newer partition states replace the known ones; a
    /// broker that now leads resets its followers' progress, one that follows starts fetching.
    pub(super) fn on_leader_and_isr(
        &mut self,
        version: u64,
        partitions: Vec<(Partition, PartitionState)>,
        cfg: &LogConfig,
        ctx: &mut Ctx<Log>,
    ) {
        self.version = self.version.max(version);
        for (p, s) in partitions {
            let Some(r) = self.replicas.get_mut(&p) else {
                continue;
            };
            if s.partition_epoch <= r.state.partition_epoch {
                continue;
            }
            let new_epoch = s.leader_epoch != r.state.leader_epoch;
            r.state = s;
            r.proposed.clear();
            if r.leads(ctx.id) {
                if new_epoch {
                    self.become_leader(p, ctx);
                }
                self.advance_hw(p, ctx);
            } else {
                if !r.waiting.is_empty() || !r.followers.is_empty() {
                    ctx.note(format!("{} no longer leads p{p}", me(ctx)));
                }
                r.waiting.clear();
                r.followers.clear();
                self.replica_fetch(p, cfg, ctx);
            }
        }
    }

    /// Leading a new epoch: every follower starts unknown (end 0, caught up now).
    fn become_leader(&mut self, p: Partition, ctx: &mut Ctx<Log>) {
        let me = me(ctx);
        let r = self.replicas.get_mut(&p).expect("a replica");
        r.followers = r
            .state
            .replicas
            .iter()
            .filter(|&&n| n != ctx.id)
            .map(|&n| {
                let progress = Progress {
                    end: 0,
                    caught_up_at: ctx.now,
                };
                (n, progress)
            })
            .collect();
        ctx.cancel_timer(LogTimer::ReplicaFetch(p));
        ctx.note(format!(
            "{me} leads p{p} (epoch {}, isr {})",
            r.state.leader_epoch,
            super::message::nodes_label(&r.state.isr, &|n| super::name(ctx, n))
        ));
    }

    /// Follower: asks the leader for records from its log end.
    pub(super) fn replica_fetch(&self, p: Partition, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        let Some(r) = self.replicas.get(&p) else {
            return;
        };
        match r.state.leader {
            Some(l) if l != ctx.id => {
                let msg = LogMsg::ReplicaFetch {
                    partition: p,
                    leader_epoch: r.state.leader_epoch,
                    offset: self.disk.end_of(p),
                    last_fetched_epoch: self.disk.last_epoch(p),
                };
                ctx.send(l, msg);
                ctx.set_timer(LogTimer::ReplicaFetch(p), cfg.replica_fetch_interval);
            }
            _ => ctx.cancel_timer(LogTimer::ReplicaFetch(p)),
        }
    }

    /// Leader: a produce. Appended in this leader epoch and acknowledged per `acks`.
    pub(super) fn produce_replicated(
        &mut self,
        from: NodeId,
        p: Partition,
        record: Record,
        cfg: &LogConfig,
        ctx: &mut Ctx<Log>,
    ) {
        let Some(r) = self.replicas.get(&p) else {
            return;
        };
        if !r.leads(ctx.id) {
            ctx.count("not_leader", 1);
            ctx.send(from, not_leader(p, &r.state));
            return;
        }
        let id = record.id;
        if cfg.acks == Acks::All && r.state.isr.len() < cfg.min_insync_replicas as usize {
            ctx.count("not_enough_replicas", 1);
            ctx.send(from, LogMsg::NotEnoughReplicas { id, partition: p });
            return;
        }
        self.disk.append(p, r.state.leader_epoch, record);
        let offset = self.disk.end_of(p) - 1;
        ctx.count("appended", 1);
        self.save(ctx);
        match cfg.acks {
            Acks::Zero => {}
            Acks::One => ack(from, id, p, offset, ctx),
            Acks::All if cfg.bug_ack_on_append => ack(from, id, p, offset, ctx),
            Acks::All => {
                let r = self.replicas.get_mut(&p).expect("seen");
                r.waiting.insert(offset, (from, id));
            }
        }
        self.advance_hw(p, ctx);
    }

    /// Leader: the high watermark moves up to the smallest log end over the (maximal) ISR;
    /// produces waiting below it are acknowledged.
    pub(super) fn advance_hw(&mut self, p: Partition, ctx: &mut Ctx<Log>) {
        let end = self.disk.end_of(p);
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        if !r.leads(ctx.id) {
            return;
        }
        let low = r
            .maximal_isr()
            .map(|n| match r.followers.get(&n) {
                Some(f) if n != ctx.id => f.end,
                _ if n == ctx.id => end,
                _ => 0,
            })
            .min()
            .unwrap_or(end);
        if low <= r.hw {
            return;
        }
        r.hw = low;
        let later = r.waiting.split_off(&low);
        let done = std::mem::replace(&mut r.waiting, later);
        for (offset, (producer, id)) in done {
            ack(producer, id, p, offset, ctx);
        }
    }

    /// Leader: a follower's fetch. A log that diverges from this leader's (its last epoch
    /// ends earlier here, or is unknown) is told where to truncate; otherwise the fetch offset
    /// is the follower's log end, and it gets the next records and the high watermark.
    pub(super) fn on_replica_fetch(
        &mut self,
        from: NodeId,
        p: Partition,
        (leader_epoch, offset, last): (Epoch, Offset, Epoch),
        cfg: &LogConfig,
        ctx: &mut Ctx<Log>,
    ) {
        let Some(r) = self.replicas.get(&p) else {
            return;
        };
        if !r.leads(ctx.id) || r.state.leader_epoch != leader_epoch {
            ctx.count("fenced_fetches", 1);
            return;
        }
        let (epoch, epoch_end) = self.disk.epoch_end(p, last);
        let consistent = offset == 0 || (epoch == last && epoch_end >= offset);
        let reply = |entries, hw, diverging| LogMsg::ReplicaRecords {
            partition: p,
            leader_epoch,
            offset,
            entries,
            high_watermark: hw,
            diverging,
        };
        if !consistent {
            ctx.send(from, reply(vec![], r.hw, Some((epoch, epoch_end))));
            return;
        }
        let end = self.disk.end_of(p);
        let r = self.replicas.get_mut(&p).expect("seen");
        if let Some(f) = r.followers.get_mut(&from) {
            f.end = offset;
            if offset >= end {
                f.caught_up_at = ctx.now;
            }
        }
        self.advance_hw(p, ctx);
        self.maybe_expand_isr(p, from, offset, ctx);
        let entries = self.disk.entries(p, offset, cfg.fetch_max);
        let hw = self.replicas[&p].hw;
        ctx.send(from, reply(entries, hw, None));
    }

    /// Leader: a follower outside the ISR that has reached this leader's log end is proposed
    /// back. (Kafka asks for the high watermark, which it checkpoints; here the high
    /// watermark is in memory, 0 after a restart: found by the chaos sweep, seed 154, where a
    /// restarted leader took back a follower missing acknowledged records.)
    fn maybe_expand_isr(&mut self, p: Partition, f: NodeId, offset: Offset, ctx: &mut Ctx<Log>) {
        let end = self.disk.end_of(p);
        let r = self.replicas.get_mut(&p).expect("seen");
        if r.state.isr.contains(&f) || r.proposed.contains(&f) || offset < end {
            return;
        }
        r.proposed.insert(f);
        let isr: Vec<NodeId> = r.maximal_isr().collect();
        alter_isr(p, r, isr, ctx);
    }

    /// Leader, every `heartbeat`: asks the controller to drop followers behind for longer
    /// than `replica_lag_time` (and repeats a proposal the controller has not answered).
    pub(super) fn isr_check(&mut self, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        let me = ctx.id;
        for (&p, r) in self.replicas.iter_mut() {
            if !r.leads(me) {
                continue;
            }
            let in_sync = |n: &NodeId| {
                *n == me
                    || r.followers.get(n).is_some_and(|f| {
                        ctx.now.saturating_sub(f.caught_up_at) <= cfg.replica_lag_time
                    })
            };
            let isr: Vec<NodeId> = r.maximal_isr().filter(in_sync).collect();
            let mut sorted = isr.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let mut now = r.state.isr.clone();
            now.sort_unstable();
            if sorted != now {
                alter_isr(p, r, isr, ctx);
            }
        }
        ctx.set_timer(LogTimer::IsrCheck, cfg.heartbeat);
    }

    /// Follower: the leader's answer. Stale answers (another epoch or offset) are ignored.
    pub(super) fn on_replica_records(
        &mut self,
        from: NodeId,
        msg: LogMsg,
        cfg: &LogConfig,
        ctx: &mut Ctx<Log>,
    ) {
        let LogMsg::ReplicaRecords {
            partition: p,
            leader_epoch,
            offset,
            entries,
            high_watermark,
            diverging,
        } = msg
        else {
            return;
        };
        let Some(r) = self.replicas.get(&p) else {
            return;
        };
        let current = r.state.leader == Some(from) && r.state.leader_epoch == leader_epoch;
        if !current || offset != self.disk.end_of(p) {
            return;
        }
        if let Some((epoch, end)) = diverging {
            self.truncate_diverging(p, epoch, end, ctx);
            self.replica_fetch(p, cfg, ctx);
            return;
        }
        let got = !entries.is_empty();
        for (epoch, record) in entries {
            self.disk.append(p, epoch, record);
        }
        if got {
            ctx.count("replicated", 1);
            self.save(ctx);
        }
        let end = self.disk.end_of(p);
        let r = self.replicas.get_mut(&p).expect("seen");
        r.hw = high_watermark.min(end);
        if got {
            self.replica_fetch(p, cfg, ctx);
        }
    }

    /// Truncates to where the leader's `epoch` ends, or where this log's own `epoch` ends if
    /// earlier (KIP-279: so a follower missing the leader's epoch goes back far enough).
    fn truncate_diverging(&mut self, p: Partition, epoch: Epoch, end: Offset, ctx: &mut Ctx<Log>) {
        let own_end = self.disk.epoch_end(p, epoch).1;
        let before = self.disk.end_of(p);
        let to = end.min(own_end).min(before);
        self.disk.truncate(p, to);
        let gone = before - to;
        ctx.count("truncated", gone);
        if gone > 0 {
            ctx.note(format!(
                "{} truncates p{p} to offset {to}: {gone} record(s) the leader does not have",
                me(ctx)
            ));
        }
        self.save(ctx);
    }

    /// A consumer's fetch on a replicated partition: only the leader answers, and only with
    /// records below the high watermark (committed).
    pub(super) fn consumer_fetch_replicated(
        &self,
        from: NodeId,
        p: Partition,
        offset: Offset,
        cfg: &LogConfig,
        ctx: &mut Ctx<Log>,
    ) {
        let Some(r) = self.replicas.get(&p) else {
            return;
        };
        if !r.leads(ctx.id) {
            ctx.send(from, not_leader(p, &r.state));
            return;
        }
        let records = self
            .disk
            .entries(p, offset, cfg.fetch_max)
            .into_iter()
            .zip(offset..r.hw)
            .map(|((_, rec), _)| rec)
            .collect();
        ctx.send(
            from,
            LogMsg::Records {
                partition: p,
                offset,
                records,
            },
        );
    }
}

fn me(ctx: &Ctx<Log>) -> String {
    super::name(ctx, ctx.id)
}

fn not_leader(p: Partition, s: &PartitionState) -> LogMsg {
    LogMsg::NotLeader {
        partition: p,
        leader: s.leader,
        leader_epoch: s.leader_epoch,
    }
}

fn ack(producer: NodeId, id: RecordId, partition: Partition, offset: Offset, ctx: &mut Ctx<Log>) {
    ctx.send(
        producer,
        LogMsg::ProduceAck {
            id,
            partition,
            offset,
        },
    );
}

fn alter_isr(p: Partition, r: &Replica, mut isr: Vec<NodeId>, ctx: &mut Ctx<Log>) {
    isr.sort_by_key(|n| r.state.replicas.iter().position(|m| m == n));
    isr.dedup();
    let Some(&controller) = ctx.nodes_of("broker").first() else {
        return;
    };
    ctx.send(
        controller,
        LogMsg::AlterIsr {
            partition: p,
            leader_epoch: r.state.leader_epoch,
            partition_epoch: r.state.partition_epoch,
            isr,
        },
    );
}
