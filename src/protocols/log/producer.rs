//! A producer: turns each user request into a record, picks its partition by key (records
//! with one key stay in order on one partition), sends it to the partition's broker and
//! answers the user on `ProduceAck`; without one it sends again with back-off (a retry after
//! a lost ack appends the record twice).

use super::broker::broker_of;
use super::config::LogConfig;
use super::message::{LogMsg, Partition, Record, RecordId};
use super::{Log, LogDurable, LogTimer};
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx, Op};
use std::collections::BTreeMap;

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
    pub fn start(next: u64) -> Self {
        Producer {
            next,
            ..Default::default()
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
        ctx.persist(LogDurable::producer(self.next));
        let record = Record { id, key };
        self.pending.insert(
            id,
            Pending {
                user: req.from,
                partition,
                record: record.clone(),
                attempts: 1,
            },
        );
        send(partition, record, ctx);
        ctx.set_timer(LogTimer::ProduceTimeout(id), cfg.produce_timeout);
    }

    pub fn on_message(&mut self, msg: LogMsg, ctx: &mut Ctx<Log>) {
        let LogMsg::ProduceAck {
            id,
            partition,
            offset,
        } = msg
        else {
            return;
        };
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        ctx.cancel_timer(LogTimer::ProduceTimeout(id));
        ctx.count("produced", 1);
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
            send(p.partition, p.record.clone(), ctx);
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

fn send(partition: Partition, record: Record, ctx: &mut Ctx<Log>) {
    if let Some(b) = broker_of(partition, ctx.nodes_of("broker")) {
        ctx.send(b, LogMsg::Produce { partition, record });
    }
}
