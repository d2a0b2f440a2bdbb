//! A consumer node: the client of one durable consumer. It subscribes (again every
//! `heartbeat`, so a lost `Subscribe` or a broker restart does not leave it idle), applies
//! each delivery (its service model is the processing time) and acknowledges it.
//!
//! It is *idempotent by stream sequence*: the sequences it applied are on its disk with the
//! effects, and a delivery of a sequence already applied (a redelivery after a lost ack, or
//! after a crash between applying and acking) is acknowledged again without being applied.
//! With the broker's dedup window on the publish side, this gives effectively-once
//! processing: duplicates are delivered, and counted, but each message is applied once.

use super::config::StreamConfig;
use super::message::{Seq, StreamMsg};
use super::{Stream, StreamDurable, StreamTimer};
use crate::protocols::queue::MsgId;
use crate::sim::{Ctx, NodeId};
use std::collections::BTreeSet;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumer {
    /// What it applied, in order: (stream sequence, message id); also on disk.
    pub applied: Vec<(Seq, MsgId)>,
    /// The sequences in `applied`.
    pub seen: BTreeSet<Seq>,
    /// Deliveries of a sequence it had applied already.
    pub duplicates: u64,
}

impl Consumer {
    pub fn start(cfg: &StreamConfig, applied: Vec<(Seq, MsgId)>, ctx: &mut Ctx<Stream>) -> Self {
        Self::subscribe(ctx);
        ctx.set_timer(StreamTimer::Heartbeat, cfg.heartbeat);
        Consumer {
            seen: applied.iter().map(|(s, _)| *s).collect(),
            applied,
            duplicates: 0,
        }
    }

    fn subscribe(ctx: &mut Ctx<Stream>) {
        if let Some(&b) = ctx.nodes_of("broker").first() {
            ctx.send(b, StreamMsg::Subscribe);
        }
    }

    pub fn on_message(
        &mut self,
        from: NodeId,
        msg: StreamMsg,
        cfg: &StreamConfig,
        ctx: &mut Ctx<Stream>,
    ) {
        let StreamMsg::Deliver { seq, msg_id, .. } = msg else {
            return;
        };
        let again = self.seen.contains(&seq);
        if again {
            self.duplicates += 1;
            ctx.count("duplicates_delivered", 1);
        }
        if !again || cfg.bug_consumer_no_dedup {
            self.seen.insert(seq);
            self.applied.push((seq, msg_id));
            ctx.count("applied", 1);
            ctx.persist(StreamDurable::consumer(self.applied.clone()));
        }
        if cfg.acks() {
            ctx.send(from, StreamMsg::Ack { seq });
        }
    }

    pub fn on_timer(&mut self, timer: StreamTimer, cfg: &StreamConfig, ctx: &mut Ctx<Stream>) {
        if timer == StreamTimer::Heartbeat {
            Self::subscribe(ctx);
            ctx.set_timer(StreamTimer::Heartbeat, cfg.heartbeat);
        }
    }
}
