//! A producer: turns each user request (the workload's `target: Role("producer")`) into a
//! `Publish` and answers the user when the broker confirms it (publisher confirms). Without a
//! confirm within `confirm_timeout` it retries with exponential back-off (`AtLeastOnce`, or the
//! `bug_retry_publish` variant) up to `max_publish_attempts`, or gives up (`AtMostOnce`).
//!
//! A retry cannot tell a lost `Publish` from a lost `Confirm`, so under at-least-once the same
//! message may be queued twice: producers' retries are one source of duplicates.

use super::config::QueueConfig;
use super::exchange::RoutingKey;
use super::message::{MsgId, QueueMsg};
use super::{Queue, QueueDurable, QueueTimer};
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx, Protocol};
use rand::Rng;
use std::collections::BTreeMap;

/// A publish waiting for its confirm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The user to answer.
    pub user: ClientRef,
    pub poison: bool,
    /// Publishes sent so far.
    pub attempts: u32,
}

/// What a producer keeps on disk: its id counter and the confirmed ids (its outbox log).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerLog {
    /// Messages published so far: the next id is `next * producers + index`.
    pub next: u64,
    /// Ids the broker confirmed, in order.
    pub confirmed: Vec<MsgId>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Producer {
    pub log: ProducerLog,
    /// Unconfirmed publishes, by message id.
    pub pending: BTreeMap<MsgId, Pending>,
    /// Publishes given up.
    pub failed: u64,
}

/// The id of a producer's next message, unique over the run without coordination: the
/// `next`th message of producer `index` (of `producers`) is `next * producers + index`.
/// Advances `next`, which the caller keeps on disk so that ids stay unique across restarts.
pub fn unique_id<P: Protocol>(next: &mut u64, ctx: &Ctx<P>) -> MsgId {
    let producers = ctx.nodes_of("producer");
    let index = producers.iter().position(|&p| p == ctx.id).unwrap_or(0) as u64;
    let id = *next * producers.len().max(1) as u64 + index;
    *next += 1;
    id
}

impl Producer {
    pub fn start(log: ProducerLog) -> Self {
        Producer {
            log,
            ..Default::default()
        }
    }

    pub fn on_client_request(
        &mut self,
        req: ClientRequest,
        cfg: &QueueConfig,
        ctx: &mut Ctx<Queue>,
    ) {
        let id = unique_id(&mut self.log.next, ctx);
        ctx.persist(QueueDurable::producer(self.log.clone()));
        let poison =
            cfg.poison_probability > 0.0 && ctx.rng().random::<f64>() < cfg.poison_probability;
        self.pending.insert(
            id,
            Pending {
                user: req.from,
                poison,
                attempts: 1,
            },
        );
        self.publish(id, poison, cfg, ctx);
        ctx.set_timer(QueueTimer::ConfirmTimeout(id), cfg.confirm_timeout);
    }

    fn publish(&self, id: MsgId, poison: bool, cfg: &QueueConfig, ctx: &mut Ctx<Queue>) {
        if let Some(&b) = ctx.nodes_of("broker").first() {
            let key = RoutingKey(cfg.routing_key(id).to_string());
            ctx.send(b, QueueMsg::Publish { id, poison, key });
        }
    }

    pub fn on_message(&mut self, msg: QueueMsg, ctx: &mut Ctx<Queue>) {
        let QueueMsg::Confirm { id } = msg else {
            return;
        };
        // A second confirm (of a retried publish) finds nothing pending.
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        ctx.cancel_timer(QueueTimer::ConfirmTimeout(id));
        self.log.confirmed.push(id);
        ctx.persist(QueueDurable::producer(self.log.clone()));
        ctx.count("confirmed", 1);
        ctx.reply_to_client(
            p.user,
            ClientReply::Ok {
                value: Some(format!("m{id}")),
            },
        );
    }

    pub fn on_timer(&mut self, timer: QueueTimer, cfg: &QueueConfig, ctx: &mut Ctx<Queue>) {
        let QueueTimer::ConfirmTimeout(id) = timer else {
            return;
        };
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        if cfg.retries_publish() && p.attempts < cfg.max_publish_attempts {
            p.attempts += 1;
            let (poison, attempts) = (p.poison, p.attempts);
            ctx.count("publish_retries", 1);
            self.publish(id, poison, cfg, ctx);
            ctx.set_timer(
                QueueTimer::ConfirmTimeout(id),
                QueueConfig::backoff(cfg.confirm_timeout, attempts),
            );
        } else {
            let p = self.pending.remove(&id).expect("just seen");
            self.failed += 1;
            ctx.count("publish_failed", 1);
            ctx.reply_to_client(
                p.user,
                ClientReply::Fail {
                    reason: format!("m{id} not confirmed after {} attempt(s)", p.attempts),
                },
            );
        }
    }
}
