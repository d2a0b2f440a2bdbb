//! A consumer: subscribes, processes each delivery (its service model is the processing
//! time: the handler runs when the service ends), then acknowledges it (`AtLeastOnce`), and
//! sends heartbeats so the broker can tell it is alive.
//!
//! Processing a message means recording its effect: the message id is appended to the
//! consumer's processed log, which is on disk (the consumer's database). The log is what the
//! checkers read to count duplicates and losses. Under `AtLeastOnce` the effect is written
//! *before* the `Ack` leaves, so a crash between the two makes the broker deliver the message
//! again: the duplicate that at-least-once allows.

use super::config::{Delivery, QueueConfig};
use super::message::{MsgId, QueueMsg};
use super::{Queue, QueueDurable, QueueTimer};
use crate::sim::{Ctx, NodeId};
use rand::Rng;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumer {
    /// Ids of the messages processed, in order (also on disk).
    pub processed: Vec<MsgId>,
    /// Deliveries whose processing failed (nacked, or dropped under auto-ack).
    pub failures: u64,
    /// Deliveries received marked redelivered.
    pub redeliveries: u64,
    /// This run's session (its start time in microseconds).
    pub session: u64,
    /// The queue it consumes (0: the default queue), so checkers can tell copies apart.
    pub queue: usize,
}

impl Consumer {
    /// Starts (or restarts, from the processed log on disk): subscribe, start heartbeats.
    pub fn start(cfg: &QueueConfig, processed: Vec<MsgId>, ctx: &mut Ctx<Queue>) -> Self {
        if let Some(&b) = ctx.nodes_of("broker").first() {
            ctx.send(b, QueueMsg::Subscribe { session: ctx.now.0 });
        }
        ctx.set_timer(QueueTimer::Heartbeat, cfg.heartbeat);
        Consumer {
            processed,
            session: ctx.now.0,
            queue: super::consumer_queue(cfg, ctx, ctx.id),
            ..Default::default()
        }
    }

    pub fn on_message(
        &mut self,
        from: NodeId,
        msg: QueueMsg,
        cfg: &QueueConfig,
        ctx: &mut Ctx<Queue>,
    ) {
        let QueueMsg::Deliver {
            tag,
            id,
            poison,
            redelivered,
            ..
        } = msg
        else {
            return;
        };
        if redelivered {
            self.redeliveries += 1;
        }
        let failed = poison
            || (cfg.fail_probability > 0.0 && ctx.rng().random::<f64>() < cfg.fail_probability);
        if failed {
            self.failures += 1;
            ctx.count("processing_failures", 1);
            if cfg.delivery == Delivery::AtLeastOnce {
                ctx.send(from, QueueMsg::Nack { tag });
            }
            return;
        }
        self.processed.push(id);
        ctx.count("processed", 1);
        ctx.persist(QueueDurable::consumer(self.processed.clone()));
        if cfg.delivery == Delivery::AtLeastOnce {
            ctx.send(from, QueueMsg::Ack { tag });
        }
    }

    pub fn on_timer(&mut self, timer: QueueTimer, cfg: &QueueConfig, ctx: &mut Ctx<Queue>) {
        if timer == QueueTimer::Heartbeat {
            if let Some(&b) = ctx.nodes_of("broker").first() {
                ctx.send(
                    b,
                    QueueMsg::Heartbeat {
                        session: self.session,
                    },
                );
            }
            ctx.set_timer(QueueTimer::Heartbeat, cfg.heartbeat);
        }
    }
}
