//! A producer: turns each user request into a record, picks its partition by key (records
//! with one key stay in order on one partition), sends it to the partition's broker and
//! answers the user on `ProduceAck`; without one it sends again with back-off (a retry after
//! a lost ack appends the record twice).
//!
//! Replicated, it sends to the partition's leader as it last knew it; a `NotLeader` answer
//! naming the leader of a newer epoch redirects its pending records there at once (one of the
//! known epoch only sets the next retry's target), and a timeout tries the next replica
//! (which knows the leader, or says it does not). Under
//! `acks: Zero` the user is answered as the record is sent, and nothing is retried.

use super::broker::{broker_of, replicas_of};
use super::config::{Acks, LogConfig};
use super::message::{Epoch, LogMsg, Offset, Partition, Record, RecordId};
use super::{Log, LogDurable, LogTimer};
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx, NodeId, Op};
use std::collections::BTreeMap;

/// A record acknowledged to a producer, and where the ack said it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acked {
    pub id: RecordId,
    pub partition: Partition,
    pub offset: Offset,
}

/// A produce waiting for its ack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub user: ClientRef,
    pub partition: Partition,
    pub record: Record,
    pub attempts: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Producer {
    /// Records produced so far (on disk, so ids stay unique across restarts).
    pub next: u64,
    pub pending: BTreeMap<RecordId, Pending>,
    /// Next partition for a request without a key.
    round_robin: u32,
    /// Replicated: where each partition's leader was last known to be, with its epoch.
    pub leaders: BTreeMap<Partition, (Epoch, NodeId)>,
    /// Replicated: every record acknowledged (also on disk), for Acknowledged Records Kept.
    pub acked: Vec<Acked>,
}

/// The partition of a key: its number modulo the partitions (`k17` on 3: 2), as Kafka's
/// default partitioner hashes the key.
pub fn partition_of(key: &str, partitions: u32) -> Partition {
    let n: u64 = key
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or_else(|_| key.bytes().map(u64::from).sum());
    (n % partitions as u64) as Partition
}

impl Producer {
    pub fn start(next: u64, acked: Vec<Acked>) -> Self {
        Producer {
            next,
            acked,
            ..Default::default()
        }
    }

    fn save(&self, ctx: &mut Ctx<Log>) {
        ctx.persist(LogDurable::producer(self.next, self.acked.clone()));
    }

    /// The broker a record of `p` goes to: the known leader, or the preferred replica.
    fn target(&self, p: Partition, cfg: &LogConfig, ctx: &Ctx<Log>) -> Option<NodeId> {
        match self.leaders.get(&p) {
            Some(&(_, l)) if cfg.replicated() => Some(l),
            _ => broker_of(p, ctx.nodes_of("broker")),
        }
    }

    fn send(&self, partition: Partition, record: Record, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        if let Some(b) = self.target(partition, cfg, ctx) {
            ctx.send(b, LogMsg::Produce { partition, record });
        }
    }

    pub fn on_client_request(&mut self, req: ClientRequest, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        let (key, partition) = match &req.op {
            Op::Get { key } | Op::Put { key, .. } | Op::Cas { key, .. } => {
                (key.clone(), partition_of(key, cfg.partitions))
            }
            Op::Request(_) => {
                self.round_robin = (self.round_robin + 1) % cfg.partitions;
                ("-".to_string(), self.round_robin)
            }
        };
        let producers = ctx.nodes_of("producer");
        let index = producers.iter().position(|&p| p == ctx.id).unwrap_or(0) as u64;
        let id = self.next * producers.len().max(1) as u64 + index;
        self.next += 1;
        self.save(ctx);
        let record = Record { id, key };
        if cfg.acks == Acks::Zero {
            self.send(partition, record, cfg, ctx);
            ctx.count("produced", 1);
            let value = Some(format!("r{id} sent to p{partition}"));
            ctx.reply_to_client(req.from, ClientReply::Ok { value });
            return;
        }
        self.pending.insert(
            id,
            Pending {
                user: req.from,
                partition,
                record: record.clone(),
                attempts: 1,
            },
        );
        self.send(partition, record, cfg, ctx);
        ctx.set_timer(LogTimer::ProduceTimeout(id), cfg.produce_timeout);
    }

    pub fn on_message(&mut self, msg: LogMsg, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        match msg {
            LogMsg::ProduceAck {
                id,
                partition,
                offset,
            } => self.on_ack(id, partition, offset, cfg, ctx),
            LogMsg::NotLeader {
                partition,
                leader: Some(l),
                leader_epoch,
            } => self.redirect(partition, leader_epoch, l, cfg, ctx),
            LogMsg::NotEnoughReplicas { .. } => ctx.count("not_enough_replicas", 1),
            _ => {}
        }
    }

    /// A `NotLeader` naming leader `l` of `epoch`. A newer epoch than known: the partition's
    /// pending records go there now (the same attempt). The known epoch: `l` becomes the
    /// target of the next retry (the timeout may have moved it away from a slow leader).
    fn redirect(
        &mut self,
        p: Partition,
        epoch: Epoch,
        l: NodeId,
        cfg: &LogConfig,
        ctx: &mut Ctx<Log>,
    ) {
        let known = self.leaders.get(&p).map_or(0, |k| k.0);
        if epoch < known {
            return;
        }
        self.leaders.insert(p, (epoch, l));
        if epoch == known {
            return;
        }
        let records: Vec<Record> = self
            .pending
            .values()
            .filter(|q| q.partition == p)
            .map(|q| q.record.clone())
            .collect();
        for record in records {
            self.send(p, record, cfg, ctx);
        }
    }

    fn on_ack(
        &mut self,
        id: RecordId,
        partition: Partition,
        offset: Offset,
        cfg: &LogConfig,
        ctx: &mut Ctx<Log>,
    ) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        ctx.cancel_timer(LogTimer::ProduceTimeout(id));
        ctx.count("produced", 1);
        if cfg.replicated() {
            self.acked.push(Acked {
                id,
                partition,
                offset,
            });
            self.save(ctx);
        }
        ctx.reply_to_client(
            p.user,
            ClientReply::Ok {
                value: Some(format!("p{partition}@{offset}")),
            },
        );
    }

    pub fn on_timer(&mut self, timer: LogTimer, cfg: &LogConfig, ctx: &mut Ctx<Log>) {
        let LogTimer::ProduceTimeout(id) = timer else {
            return;
        };
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        if p.attempts < cfg.max_produce_attempts {
            p.attempts += 1;
            let after = cfg
                .produce_timeout
                .saturating_mul(1u64 << (p.attempts - 1).min(16));
            ctx.count("produce_retries", 1);
            let (partition, record) = (p.partition, p.record.clone());
            if cfg.replicated() {
                self.try_next_replica(partition, ctx, cfg);
            }
            self.send(partition, record, cfg, ctx);
            ctx.set_timer(LogTimer::ProduceTimeout(id), after);
        } else {
            let p = self.pending.remove(&id).expect("just seen");
            ctx.count("produce_failed", 1);
            ctx.reply_to_client(
                p.user,
                ClientReply::Fail {
                    reason: format!("r{id} not acknowledged after {} attempts", p.attempts),
                },
            );
        }
    }
}

impl Producer {
    /// No answer: the leader may be dead; ask the next replica (keeping the known epoch, so
    /// its `NotLeader` redirects only to a leader at least as new).
    fn try_next_replica(&mut self, p: Partition, ctx: &Ctx<Log>, cfg: &LogConfig) {
        let replicas = replicas_of(p, ctx.nodes_of("broker"), cfg.replication_factor);
        let Some(now) = self.target(p, cfg, ctx) else {
            return;
        };
        let i = replicas.iter().position(|&n| n == now).map_or(0, |i| i + 1);
        let epoch = self.leaders.get(&p).map_or(0, |l| l.0);
        self.leaders
            .insert(p, (epoch, replicas[i % replicas.len().max(1)]));
    }
}
