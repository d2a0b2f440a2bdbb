//! A producer: turns each user request into a `Publish` with a fresh `Nats-Msg-Id` and
//! answers the user on the `PubAck`. Without one within `publish_timeout` it publishes again
//! with the *same* id, with back-off, up to `max_publish_attempts`: the broker's dedup window
//! is what makes the retry safe.

use super::config::StreamConfig;
use super::message::{Seq, StreamMsg};
use super::{Stream, StreamDurable, StreamTimer};
use crate::protocols::queue::{MsgId, QueueConfig, unique_id};
use crate::sim::{ClientRef, ClientReply, ClientRequest, Ctx};
use std::collections::BTreeMap;

/// What a producer keeps on disk: its id counter and the acknowledged publishes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PubLog {
    /// Messages published so far (see [`unique_id`]).
    pub next: u64,
    /// Acknowledged publishes, in order: (message id, stream sequence).
    pub acked: Vec<(MsgId, Seq)>,
}

/// A publish waiting for its ack: the user to answer and the attempts so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub user: ClientRef,
    pub attempts: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Producer {
    pub log: PubLog,
    pub pending: BTreeMap<MsgId, Pending>,
    /// Acks that came back `duplicate: true` (the retry found the first copy).
    pub duplicate_acks: u64,
    /// Publishes given up.
    pub failed: u64,
}

impl Producer {
    pub fn start(log: PubLog) -> Self {
        Producer {
            log,
            ..Default::default()
        }
    }

    fn publish(msg_id: MsgId, ctx: &mut Ctx<Stream>) {
        if let Some(&b) = ctx.nodes_of("broker").first() {
            ctx.send(b, StreamMsg::Publish { msg_id });
        }
    }

    pub fn on_client_request(
        &mut self,
        req: ClientRequest,
        cfg: &StreamConfig,
        ctx: &mut Ctx<Stream>,
    ) {
        let msg_id = unique_id(&mut self.log.next, ctx);
        ctx.persist(StreamDurable::producer(self.log.clone()));
        self.pending.insert(
            msg_id,
            Pending {
                user: req.from,
                attempts: 1,
            },
        );
        Self::publish(msg_id, ctx);
        ctx.set_timer(StreamTimer::PubAckTimeout(msg_id), cfg.publish_timeout);
    }

    pub fn on_message(&mut self, msg: StreamMsg, ctx: &mut Ctx<Stream>) {
        let StreamMsg::PubAck {
            msg_id,
            seq,
            duplicate,
        } = msg
        else {
            return;
        };
        if duplicate {
            self.duplicate_acks += 1;
            ctx.count("duplicate_acks", 1);
        }
        // The ack of a second copy finds nothing pending.
        let Some(p) = self.pending.remove(&msg_id) else {
            return;
        };
        ctx.cancel_timer(StreamTimer::PubAckTimeout(msg_id));
        self.log.acked.push((msg_id, seq));
        ctx.persist(StreamDurable::producer(self.log.clone()));
        ctx.count("pub_acked", 1);
        ctx.reply_to_client(
            p.user,
            ClientReply::Ok {
                value: Some(format!("m{msg_id}@s{seq}")),
            },
        );
    }

    pub fn on_timer(&mut self, timer: StreamTimer, cfg: &StreamConfig, ctx: &mut Ctx<Stream>) {
        let StreamTimer::PubAckTimeout(msg_id) = timer else {
            return;
        };
        let Some(p) = self.pending.get_mut(&msg_id) else {
            return;
        };
        if p.attempts < cfg.max_publish_attempts {
            p.attempts += 1;
            let attempts = p.attempts;
            ctx.count("publish_retries", 1);
            Self::publish(msg_id, ctx);
            ctx.set_timer(
                StreamTimer::PubAckTimeout(msg_id),
                QueueConfig::backoff(cfg.publish_timeout, attempts),
            );
        } else {
            let p = self.pending.remove(&msg_id).expect("just seen");
            self.failed += 1;
            ctx.count("publish_failed", 1);
            ctx.reply_to_client(
                p.user,
                ClientReply::Fail {
                    reason: format!("m{msg_id} not acknowledged after {} attempt(s)", p.attempts),
                },
            );
        }
    }
}
