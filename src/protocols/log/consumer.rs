//! A consumer in the group: it joins, is assigned partitions with their committed offsets,
//! and for each one fetches a batch, processes its records one by one (`process_time` each, a
//! timer), and commits the next offset — after processing (at-least-once) or as soon as it fetched
//! (at-most-once). Then it fetches the next batch; an empty fetch waits `poll_interval`.
//!
//! With retention, a fetch below the log start gets `OffsetOutOfRange`: the consumer resumes
//! at the log start (`auto_offset_reset: Earliest`) or end (`Latest`), records the offsets it
//! jumped over (a `Reset`, on disk) and marks its next record `resumed`.
//!
//! Replicated, a consumer fetches from the partition's leader as it last knew it (only the
//! leader answers, with records below its high watermark); `NotLeader` redirects it, and a
//! fetch left unanswered sends the next one to the next replica.
//!
//! Processing records a record's effect: `(partition, offset, generation, id)` appended to
//! the consumer's processed log, on its disk. The checkers read these logs.

use super::broker::{broker_of, replicas_of};
use super::config::{LogConfig, OffsetReset};
use super::message::{Epoch, LogMsg, Offset, Partition, Record, RecordId};
use super::{Log, LogDurable, LogTimer};
use crate::sim::{Ctx, NodeId};
use std::collections::{BTreeMap, BTreeSet};

/// One processed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Processed {
    pub partition: Partition,
    pub offset: Offset,
    /// The group generation it was processed in.
    pub generation: u64,
    pub id: RecordId,
    /// The first record after an offset reset: it need not follow the previous one.
    pub resumed: bool,
}

/// An offset reset after `OffsetOutOfRange`: the consumer jumped from `from` to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reset {
    pub partition: Partition,
    pub generation: u64,
    pub from: Offset,
    pub to: Offset,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumer {
    /// This run's session (its start time in microseconds).
    pub session: u64,
    /// The generation of the assignment held.
    pub generation: u64,
    /// Assigned partitions with the next offset to fetch.
    pub next: BTreeMap<Partition, Offset>,
    /// Batches being processed, by (partition, first offset): the offset of the next record
    /// to process and the records left.
    pub batches: BTreeMap<(Partition, Offset), (Offset, Vec<Record>)>,
    /// Every record processed (also on disk).
    pub processed: Vec<Processed>,
    /// Offset resets so far (also on disk).
    pub resets: Vec<Reset>,
    /// Partitions reset since their last processed record.
    pub resumed: BTreeSet<Partition>,
    /// Replicated: where each partition's leader was last known to be, with its epoch.
    pub leaders: BTreeMap<Partition, (Epoch, NodeId)>,
    /// Replicated: partitions with a fetch not answered yet.
    pub awaiting: BTreeSet<Partition>,
}

impl Consumer {
    pub fn start(
        cfg: &LogConfig,
        processed: Vec<Processed>,
        resets: Vec<Reset>,
        ctx: &mut Ctx<Log>,
    ) -> Self {
        let c = Consumer {
            session: ctx.now.0,
            processed,
            resets,
            ..Default::default()
        };
        c.heartbeat(ctx);
        ctx.set_timer(LogTimer::Heartbeat, cfg.heartbeat);
        c
    }

    fn heartbeat(&self, ctx: &mut Ctx<Log>) {
        if let Some(&b) = ctx.nodes_of("broker").first() {
            ctx.send(
                b,
                LogMsg::JoinGroup {
                    session: self.session,
                    generation: self.generation,
                },
            );
        }
    }

    fn fetch(&mut self, partition: Partition, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        let Some(&offset) = self.next.get(&partition) else {
            return;
        };
        if cfg.replicated() && !self.awaiting.insert(partition) {
            self.try_next_replica(partition, cfg, ctx);
        }
        let target = match self.leaders.get(&partition) {
            Some(&(_, l)) => Some(l),
            None => broker_of(partition, ctx.nodes_of("broker")),
        };
        if let Some(b) = target {
            ctx.send(b, LogMsg::Fetch { partition, offset });
        }
        // Fetch again if no answer comes (or, once a batch is in, when it is processed).
        ctx.set_timer(LogTimer::Poll(partition), cfg.poll_interval);
    }

    /// The last fetch went unanswered: the leader may be dead; ask the next replica.
    fn try_next_replica(&mut self, p: Partition, cfg: &LogConfig, ctx: &Ctx<Log>) {
        let replicas = replicas_of(p, ctx.nodes_of("broker"), cfg.replication_factor);
        if replicas.is_empty() {
            return;
        }
        let (epoch, now) = self.leaders.get(&p).copied().unwrap_or((0, replicas[0]));
        let i = replicas.iter().position(|&n| n == now).map_or(0, |i| i + 1);
        self.leaders
            .insert(p, (epoch, replicas[i % replicas.len()]));
    }

    /// `NotLeader` naming leader `l` of `epoch`: the next fetch goes there; at once if the
    /// epoch is newer than known.
    fn redirect(
        &mut self,
        p: Partition,
        epoch: Epoch,
        l: NodeId,
        cfg: &LogConfig,
        ctx: &mut Ctx<Log>,
    ) {
        self.awaiting.remove(&p);
        let known = self.leaders.get(&p).map_or(0, |k| k.0);
        if epoch < known {
            return;
        }
        self.leaders.insert(p, (epoch, l));
        if epoch > known && !self.batches.keys().any(|(bp, _)| *bp == p) {
            self.fetch(p, cfg, ctx);
        }
    }

    fn commit(&self, partition: Partition, offset: Offset, ctx: &mut Ctx<Log>) {
        if let Some(&b) = ctx.nodes_of("broker").first() {
            ctx.send(
                b,
                LogMsg::Commit {
                    generation: self.generation,
                    partition,
                    offset,
                },
            );
        }
    }

    pub fn on_message(&mut self, msg: LogMsg, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        match msg {
            LogMsg::Assignment {
                generation,
                partitions,
            } => {
                if generation <= self.generation {
                    return;
                }
                self.generation = generation;
                // Revoked: batches in progress are abandoned, their timers cancelled.
                for &(p, o) in self.batches.keys() {
                    ctx.cancel_timer(LogTimer::Process(p, o));
                }
                for &p in self.next.keys() {
                    ctx.cancel_timer(LogTimer::Poll(p));
                }
                self.batches.clear();
                self.resumed.clear();
                self.next = partitions.into_iter().collect();
                let ps: Vec<Partition> = self.next.keys().copied().collect();
                for p in ps {
                    self.fetch(p, cfg, ctx);
                }
            }
            LogMsg::Records {
                partition,
                offset,
                records,
            } => {
                self.awaiting.remove(&partition);
                if self.next.get(&partition) != Some(&offset) {
                    return; // stale: not ours, or an answer to an earlier fetch
                }
                // One batch of a partition at a time: a late answer to a fetch of an earlier
                // generation can carry the offset this batch will end at.
                if !cfg.bug_parallel_batches && self.batches.keys().any(|(p, _)| *p == partition) {
                    return;
                }
                if records.is_empty() {
                    return; // the Poll timer fetches again
                }
                let n = records.len() as Offset;
                if cfg.commits_on_fetch() {
                    self.commit(partition, offset + n, ctx);
                }
                self.next.insert(partition, offset + n);
                self.batches.insert(
                    (partition, offset),
                    (offset, records.into_iter().rev().collect()),
                );
                ctx.set_timer(LogTimer::Process(partition, offset), cfg.process_time);
                if cfg.bug_parallel_batches {
                    self.fetch(partition, cfg, ctx);
                } else {
                    ctx.cancel_timer(LogTimer::Poll(partition));
                }
            }
            LogMsg::OffsetOutOfRange {
                partition,
                offset,
                start,
                end,
            } => {
                if self.next.get(&partition) != Some(&offset)
                    || self.batches.keys().any(|(p, _)| *p == partition)
                {
                    return; // stale
                }
                let to = match cfg.auto_offset_reset {
                    OffsetReset::Earliest => start,
                    OffsetReset::Latest => end,
                };
                ctx.count("offset_resets", 1);
                ctx.count("reset_skipped", to.saturating_sub(offset));
                ctx.note(format!(
                    "p{partition}@{offset} deleted by retention: reset to {to} ({:?}), {} record(s) skipped",
                    cfg.auto_offset_reset,
                    to.saturating_sub(offset)
                ));
                self.resets.push(Reset {
                    partition,
                    generation: self.generation,
                    from: offset,
                    to,
                });
                self.resumed.insert(partition);
                self.save(ctx);
                self.next.insert(partition, to);
                ctx.cancel_timer(LogTimer::Poll(partition));
                self.fetch(partition, cfg, ctx);
            }
            LogMsg::NotLeader {
                partition,
                leader: Some(l),
                leader_epoch,
            } => self.redirect(partition, leader_epoch, l, cfg, ctx),
            _ => {}
        }
    }

    fn save(&self, ctx: &mut Ctx<Log>) {
        ctx.persist(LogDurable::consumer(
            self.processed.clone(),
            self.resets.clone(),
        ));
    }

    pub fn on_timer(&mut self, timer: LogTimer, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        match timer {
            LogTimer::Heartbeat => {
                self.heartbeat(ctx);
                ctx.set_timer(LogTimer::Heartbeat, cfg.heartbeat);
            }
            LogTimer::Poll(p) => {
                let busy = self.batches.keys().any(|(bp, _)| *bp == p);
                if !busy || cfg.bug_parallel_batches {
                    self.fetch(p, cfg, ctx);
                }
            }
            LogTimer::Process(p, start) => {
                let Some((at, left)) = self.batches.get_mut(&(p, start)) else {
                    return;
                };
                let Some(r) = left.pop() else {
                    return;
                };
                let resumed = self.resumed.remove(&p);
                self.processed.push(Processed {
                    partition: p,
                    offset: *at,
                    generation: self.generation,
                    id: r.id,
                    resumed,
                });
                *at += 1;
                let (end, done) = (*at, left.is_empty());
                ctx.count("processed", 1);
                self.save(ctx);
                if !done {
                    ctx.set_timer(LogTimer::Process(p, start), cfg.process_time);
                    return;
                }
                self.batches.remove(&(p, start));
                if !cfg.commits_on_fetch() {
                    self.commit(p, end, ctx);
                }
                if !cfg.bug_parallel_batches {
                    self.fetch(p, cfg, ctx);
                }
            }
            _ => {}
        }
    }
}
