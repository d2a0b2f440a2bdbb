//! The broker: one stream (append-only, numbered from 1) with a dedup window on the message
//! id, and one durable consumer per consumer node, each reading the whole stream.
//!
//! A `Publish` whose `Nats-Msg-Id` was stored less than `duplicate_window` ago is not stored
//! again: it is acknowledged with the sequence of the first copy and `duplicate: true`.
//! Otherwise the message is appended, the stream written to disk, and then acknowledged.
//! Each durable consumer has a delivered sequence and its pending (unacknowledged)
//! deliveries, on disk too: the broker pushes the next sequences while fewer than
//! `max_ack_pending` are pending, and delivers a pending one again after `ack_wait`, up to
//! `max_deliver` deliveries.
//!
//! ```text
//!   Publish(id) ─► id in window? ─yes─► PubAck(first seq, duplicate)
//!                      │ no
//!                      ▼
//!   stream [s1 s2 s3 … sN] ─► persist ─► PubAck(sN)
//!             │ per durable consumer: delivered ─Deliver─► pending ─Ack─► acked
//!             │                                   └─ ack_wait ─► Deliver again (≤ max_deliver)
//! ```

use super::config::{AckPolicy, StreamConfig};
use super::message::{Seq, StreamMsg};
use super::{Stream, StreamDurable, StreamTimer};
use crate::protocols::queue::MsgId;
use crate::sim::{Ctx, NodeId, SimTime};
use std::collections::BTreeMap;

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub seq: Seq,
    pub msg_id: MsgId,
    /// When it was stored: the dedup window runs from here.
    pub stored_at: SimTime,
}

/// A delivery waiting for its ack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// When it was last delivered.
    pub at: SimTime,
    /// Deliveries so far.
    pub deliveries: u32,
}

/// A durable consumer's state on the broker (JetStream keeps it with the stream).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableConsumer {
    /// The highest sequence delivered at least once.
    pub delivered: Seq,
    /// Delivered and not acknowledged, by sequence.
    pub pending: BTreeMap<Seq, Pending>,
    /// Every sequence up to this one is acknowledged (or given up after `max_deliver`).
    pub ack_floor: Seq,
}

impl DurableConsumer {
    /// Recomputes the ack floor: just below the lowest pending sequence.
    fn settle(&mut self) {
        self.ack_floor = match self.pending.keys().next() {
            Some(&s) => s - 1,
            None => self.delivered,
        };
    }
}

/// What the broker writes to disk and restarts from: the stream and the durable consumers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamDisk {
    /// The stream, `messages[i].seq == i + 1`.
    pub messages: Vec<Stored>,
    /// Durable consumers by consumer node.
    pub consumers: BTreeMap<NodeId, DurableConsumer>,
}

impl StreamDisk {
    /// The last sequence (0 when empty).
    pub fn last_seq(&self) -> Seq {
        self.messages.len() as Seq
    }
    /// The message at `seq`.
    pub fn get(&self, seq: Seq) -> Option<&Stored> {
        seq.checked_sub(1)
            .and_then(|i| self.messages.get(i as usize))
    }
    /// Messages whose id was stored before (a duplicate the window did not stop).
    pub fn duplicates_stored(&self) -> usize {
        let mut seen = std::collections::BTreeSet::new();
        self.messages
            .iter()
            .filter(|m| !seen.insert(m.msg_id))
            .count()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Broker {
    pub disk: StreamDisk,
    /// The latest store of each message id: (sequence, stored at). Rebuilt from the stream on
    /// restart, as JetStream rebuilds its dedup state from the stored `Nats-Msg-Id` headers.
    pub ids: BTreeMap<MsgId, (Seq, SimTime)>,
}

impl Broker {
    /// A broker starting from its disk (empty at first).
    pub fn start(cfg: &StreamConfig, disk: StreamDisk, ctx: &mut Ctx<Stream>) -> Self {
        let ids = disk
            .messages
            .iter()
            .map(|m| (m.msg_id, (m.seq, m.stored_at)))
            .collect();
        ctx.set_timer(StreamTimer::AckCheck, ack_check(cfg));
        Broker { disk, ids }
    }

    /// The sequence holding `msg_id` if it was stored less than `duplicate_window` ago.
    pub fn in_window(&self, msg_id: MsgId, cfg: &StreamConfig, now: SimTime) -> Option<Seq> {
        let &(seq, at) = self.ids.get(&msg_id)?;
        (now.saturating_sub(at) < cfg.duplicate_window).then_some(seq)
    }

    fn save(&self, ctx: &mut Ctx<Stream>) {
        ctx.persist(StreamDurable::broker(self.disk.clone()));
    }

    pub fn on_message(
        &mut self,
        from: NodeId,
        msg: StreamMsg,
        cfg: &StreamConfig,
        ctx: &mut Ctx<Stream>,
    ) {
        match msg {
            StreamMsg::Publish { msg_id } => self.publish(from, msg_id, cfg, ctx),
            StreamMsg::Subscribe => {
                if let std::collections::btree_map::Entry::Vacant(e) =
                    self.disk.consumers.entry(from)
                {
                    e.insert(DurableConsumer::default());
                    ctx.note(format!(
                        "durable consumer {} created",
                        crate::protocols::queue::name(ctx, from)
                    ));
                    self.save(ctx);
                }
                self.dispatch(cfg, ctx);
            }
            StreamMsg::Ack { seq } => {
                let Some(d) = self.disk.consumers.get_mut(&from) else {
                    return;
                };
                let acked: Vec<Seq> = match cfg.ack_policy {
                    AckPolicy::Explicit => d
                        .pending
                        .contains_key(&seq)
                        .then_some(seq)
                        .into_iter()
                        .collect(),
                    AckPolicy::All => d.pending.range(..=seq).map(|(s, _)| *s).collect(),
                    AckPolicy::None => Vec::new(),
                };
                if acked.is_empty() {
                    ctx.count("stale_acks", 1);
                    return;
                }
                for s in &acked {
                    d.pending.remove(s);
                }
                d.settle();
                ctx.count("acked", acked.len() as u64);
                self.save(ctx);
                self.dispatch(cfg, ctx);
            }
            StreamMsg::PubAck { .. } | StreamMsg::Deliver { .. } => {}
        }
    }

    fn publish(&mut self, from: NodeId, msg_id: MsgId, cfg: &StreamConfig, ctx: &mut Ctx<Stream>) {
        ctx.count("publishes", 1);
        if cfg.dedup()
            && let Some(seq) = self.in_window(msg_id, cfg, ctx.now)
        {
            ctx.count("duplicates_suppressed", 1);
            ctx.send(
                from,
                StreamMsg::PubAck {
                    msg_id,
                    seq,
                    duplicate: true,
                },
            );
            return;
        }
        let seq = self.disk.last_seq() + 1;
        if let Some(&(first, _)) = self.ids.get(&msg_id) {
            ctx.count("duplicates_stored", 1);
            ctx.note(format!(
                "m{msg_id} stored again as s{seq} (first as s{first})"
            ));
        }
        self.disk.messages.push(Stored {
            seq,
            msg_id,
            stored_at: ctx.now,
        });
        self.ids.insert(msg_id, (seq, ctx.now));
        ctx.count("stored", 1);
        self.save(ctx);
        ctx.send(
            from,
            StreamMsg::PubAck {
                msg_id,
                seq,
                duplicate: false,
            },
        );
        self.dispatch(cfg, ctx);
    }

    /// Pushes each durable consumer its next sequences while it has room.
    fn dispatch(&mut self, cfg: &StreamConfig, ctx: &mut Ctx<Stream>) {
        let last = self.disk.last_seq();
        let mut changed = false;
        for (&c, d) in self.disk.consumers.iter_mut() {
            while d.delivered < last
                && (!cfg.acks() || d.pending.len() < cfg.max_ack_pending as usize)
            {
                d.delivered += 1;
                let seq = d.delivered;
                let msg_id = self.disk.messages[(seq - 1) as usize].msg_id;
                ctx.count("delivered", 1);
                ctx.send(
                    c,
                    StreamMsg::Deliver {
                        seq,
                        msg_id,
                        delivery: 1,
                    },
                );
                if cfg.acks() {
                    d.pending.insert(
                        seq,
                        Pending {
                            at: ctx.now,
                            deliveries: 1,
                        },
                    );
                }
                d.settle();
                changed = true;
            }
        }
        if changed {
            self.save(ctx);
        }
    }

    /// Delivers again every pending message older than `ack_wait`, or gives it up after
    /// `max_deliver` deliveries.
    fn redeliver(&mut self, cfg: &StreamConfig, ctx: &mut Ctx<Stream>) {
        let mut changed = false;
        for (&c, d) in self.disk.consumers.iter_mut() {
            let late: Vec<Seq> = d
                .pending
                .iter()
                .filter(|(_, p)| ctx.now.saturating_sub(p.at) >= cfg.ack_wait)
                .map(|(s, _)| *s)
                .collect();
            for seq in late {
                changed = true;
                let p = d.pending.get_mut(&seq).expect("listed above");
                if cfg.max_deliver > 0 && p.deliveries >= cfg.max_deliver {
                    d.pending.remove(&seq);
                    ctx.count("max_deliver_reached", 1);
                    ctx.note(format!(
                        "s{seq} given up for {} after {} deliveries",
                        crate::protocols::queue::name(ctx, c),
                        cfg.max_deliver
                    ));
                    continue;
                }
                p.deliveries += 1;
                p.at = ctx.now;
                let delivery = p.deliveries;
                let msg_id = self.disk.messages[(seq - 1) as usize].msg_id;
                ctx.count("redelivered", 1);
                ctx.send(
                    c,
                    StreamMsg::Deliver {
                        seq,
                        msg_id,
                        delivery,
                    },
                );
            }
            d.settle();
        }
        if changed {
            self.save(ctx);
        }
    }

    pub fn on_timer(&mut self, timer: StreamTimer, cfg: &StreamConfig, ctx: &mut Ctx<Stream>) {
        if timer == StreamTimer::AckCheck {
            self.redeliver(cfg, ctx);
            // Room freed by messages given up.
            self.dispatch(cfg, ctx);
            ctx.set_timer(StreamTimer::AckCheck, ack_check(cfg));
        }
    }
}

/// How often the broker looks for deliveries past `ack_wait`: a quarter of it, so a late
/// delivery waits at most 1.25 × `ack_wait`.
pub fn ack_check(cfg: &StreamConfig) -> SimTime {
    SimTime(cfg.ack_wait.0.div_ceil(4))
}
