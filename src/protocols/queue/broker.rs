//! The broker: an exchange and its queues, each pushed to its competing consumers with a
//! prefetch window.
//!
//! A `Publish` is routed by the exchange (`exchange.rs`): a copy is appended to every queue
//! whose binding matches its routing key (the one default queue when there are no bindings), written to disk (a durable queue) and then confirmed
//! to its producer. Ready messages are pushed round robin to the consumers that have room
//! (fewer than `prefetch` unacknowledged deliveries). An `Ack` settles a delivery; a `Nack`
//! puts the message back (at the head, or after a back-off) or, once it has been delivered
//! `max_deliveries` times, into the dead-letter queue. A consumer silent for
//! `consumer_timeout` is declared dead and its unacknowledged messages are requeued at the
//! head, marked redelivered.
//!
//! ```text
//!   Publish ──► ready ──Deliver──► unacked ──Ack──► gone
//!     │ persist   ▲ ▲                │  │
//!     ▼           │ └──consumer dead─┘  └─Nack─► delayed (back-off) ──► ready
//!   Confirm       └──────────────────────────────┘ or dead-lettered after max_deliveries
//! ```

use super::config::{Delivery, QueueConfig};
use super::message::{MsgId, QueueMsg, Tag};
use super::{Queue, QueueTimer};
use crate::sim::{Ctx, NodeId, SimTime};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One message as the broker keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub id: MsgId,
    pub poison: bool,
    /// Deliveries so far (0: never pushed).
    pub deliveries: u32,
    /// The queue this copy is in (index into the configured queues; 0 for the default
    /// queue). The broker keeps every queue's messages in one list, each tagged with its queue.
    pub queue: usize,
}

/// The exchange's last routing decision: the queues it put one publish in. Kept for the
/// Exchange Routing checker, which compares it with what the bindings say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// Publishes routed so far by this run of the broker: tells a new decision from one
    /// already checked.
    pub seq: u64,
    pub id: MsgId,
    pub key: String,
    /// Queues that got a copy, ascending.
    pub queues: Vec<usize>,
}

/// A delivery waiting for its `Ack`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unacked {
    pub consumer: NodeId,
    pub at: SimTime,
    pub msg: Stored,
}

/// The queue's contents: what a durable broker writes to disk and restarts from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disk {
    /// Next delivery tag; kept on disk so tags stay unique across restarts.
    pub next_tag: Tag,
    /// Messages waiting to be pushed, head first.
    pub ready: VecDeque<Stored>,
    /// Pushed and not acknowledged yet, by tag.
    pub unacked: BTreeMap<Tag, Unacked>,
    /// `Nack`ed messages waiting out their back-off: (ready again at, message), in order.
    pub delayed: Vec<(SimTime, Stored)>,
    /// The dead-letter queue: messages that failed `max_deliveries` times.
    pub dead: Vec<Stored>,
}

impl Disk {
    /// Every message copy the broker holds (ready, unacknowledged, delayed, dead-lettered).
    pub fn stored(&self) -> impl Iterator<Item = &Stored> + '_ {
        self.ready
            .iter()
            .chain(self.unacked.values().map(|u| &u.msg))
            .chain(self.delayed.iter().map(|(_, m)| m))
            .chain(self.dead.iter())
    }
    /// Every message the broker holds, in any queue.
    pub fn ids(&self) -> impl Iterator<Item = MsgId> + '_ {
        self.stored().map(|m| m.id)
    }
    /// Messages not settled yet: ready or waiting out a back-off.
    pub fn depth(&self) -> usize {
        self.ready.len() + self.delayed.len()
    }
}

/// What the broker knows of one subscribed consumer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsumerSlot {
    /// When it was last heard from (any message).
    pub last_heard: SimTime,
    /// The session it subscribed with.
    pub session: u64,
    /// Its deliveries not acknowledged yet (the prefetch window counts these).
    pub in_flight: BTreeSet<Tag>,
    /// The queue it consumes.
    pub queue: usize,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Broker {
    pub disk: Disk,
    /// Subscribed consumers believed alive, by node.
    pub consumers: BTreeMap<NodeId, ConsumerSlot>,
    /// Round-robin position over each queue's consumers.
    next_consumer: BTreeMap<usize, usize>,
    /// The exchange's last routing decision (for the Exchange Routing checker).
    pub routed: Option<Routed>,
    /// Under `bug_confirm_before_persist`: changes not written to disk yet.
    dirty: bool,
}

impl Broker {
    /// A broker starting empty (or from its disk after a restart: the connections are gone,
    /// so every unacknowledged and delayed message is ready again, redelivered first).
    pub fn start(cfg: &QueueConfig, disk: Disk, ctx: &mut Ctx<Queue>) -> Self {
        let mut disk = disk;
        let mut back: Vec<(Tag, Stored)> = std::mem::take(&mut disk.unacked)
            .into_iter()
            .map(|(t, u)| (t, u.msg))
            .collect();
        back.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        for (_, m) in back {
            disk.ready.push_front(m);
        }
        for (_, m) in std::mem::take(&mut disk.delayed) {
            disk.ready.push_back(m);
        }
        ctx.set_timer(QueueTimer::ConsumerCheck, cfg.heartbeat);
        if cfg.bug_confirm_before_persist {
            ctx.set_timer(QueueTimer::Flush, cfg.flush_interval);
        }
        Broker {
            disk,
            ..Default::default()
        }
    }

    /// Writes the queue to disk (durable queue), or, with the bug, marks it for the next flush.
    fn save(&mut self, cfg: &QueueConfig, ctx: &mut Ctx<Queue>) {
        if !cfg.durable {
            return;
        }
        if cfg.bug_confirm_before_persist {
            self.dirty = true;
        } else {
            ctx.persist(super::QueueDurable::broker(self.disk.clone()));
        }
    }

    pub fn on_message(
        &mut self,
        from: NodeId,
        msg: QueueMsg,
        cfg: &QueueConfig,
        ctx: &mut Ctx<Queue>,
    ) {
        if let Some(slot) = self.consumers.get_mut(&from) {
            slot.last_heard = ctx.now;
        }
        match msg {
            QueueMsg::Publish { id, poison, key } => {
                ctx.count("published", 1);
                let queues =
                    super::exchange::route(cfg.exchange, &cfg.queues, &key.0, cfg.bug_topic_hash);
                if queues.is_empty() {
                    ctx.count("unroutable", 1);
                }
                for &queue in &queues {
                    self.disk.ready.push_back(Stored {
                        id,
                        poison,
                        deliveries: 0,
                        queue,
                    });
                }
                let seq = self.routed.as_ref().map_or(1, |r| r.seq + 1);
                self.routed = Some(Routed {
                    seq,
                    id,
                    key: key.0,
                    queues,
                });
                self.save(cfg, ctx);
                ctx.send(from, QueueMsg::Confirm { id });
                self.dispatch(cfg, ctx);
            }
            QueueMsg::Subscribe { session } | QueueMsg::Heartbeat { session } => {
                match self.consumers.get(&from) {
                    Some(slot) if slot.session == session => {}
                    known => {
                        // A new session: whatever an earlier one of this consumer held is
                        // gone with it.
                        if known.is_some() {
                            self.requeue_consumer(from, ctx);
                            self.save(cfg, ctx);
                        }
                        self.join(from, session, cfg, ctx);
                        self.dispatch(cfg, ctx);
                    }
                }
            }
            QueueMsg::Ack { tag } => {
                if let Some(slot) = self.consumers.get_mut(&from) {
                    slot.in_flight.remove(&tag);
                }
                match self.disk.unacked.get(&tag) {
                    Some(u) if u.consumer == from => {
                        self.disk.unacked.remove(&tag);
                        ctx.count("acked", 1);
                        self.save(cfg, ctx);
                    }
                    // Deleted on delivery (the bug), or requeued when the consumer was
                    // declared dead: the channel that delivered it is gone.
                    _ => ctx.count("stale_acks", 1),
                }
                self.dispatch(cfg, ctx);
            }
            QueueMsg::Nack { tag } => {
                if let Some(slot) = self.consumers.get_mut(&from) {
                    slot.in_flight.remove(&tag);
                }
                match self.disk.unacked.get(&tag) {
                    Some(u) if u.consumer == from => {
                        let u = self.disk.unacked.remove(&tag).expect("just seen");
                        ctx.count("nacked", 1);
                        self.retry_or_dead_letter(u.msg, cfg, ctx);
                        self.save(cfg, ctx);
                    }
                    _ => ctx.count("stale_acks", 1),
                }
                self.dispatch(cfg, ctx);
            }
            QueueMsg::Confirm { .. } | QueueMsg::Deliver { .. } => {}
        }
    }

    fn join(&mut self, c: NodeId, session: u64, cfg: &QueueConfig, ctx: &mut Ctx<Queue>) {
        let queue = super::consumer_queue(cfg, ctx, c);
        self.consumers.insert(
            c,
            ConsumerSlot {
                last_heard: ctx.now,
                session,
                in_flight: BTreeSet::new(),
                queue,
            },
        );
        if cfg.queues.is_empty() {
            ctx.note(format!("{} subscribed", super::name(ctx, c)));
        } else {
            ctx.note(format!(
                "{} subscribed to queue {}",
                super::name(ctx, c),
                cfg.queue_name(queue)
            ));
        }
    }

    /// A failed delivery: dead-letter it after `max_deliveries`, else make it ready again,
    /// at once (at the head) or after its back-off.
    fn retry_or_dead_letter(&mut self, m: Stored, cfg: &QueueConfig, ctx: &mut Ctx<Queue>) {
        if cfg.max_deliveries > 0 && m.deliveries >= cfg.max_deliveries {
            ctx.count("dead_lettered", 1);
            ctx.note(format!(
                "m{} dead-lettered after {} deliveries",
                m.id, m.deliveries
            ));
            self.disk.dead.push(m);
        } else if cfg.retry_backoff == SimTime::ZERO {
            self.disk.ready.push_front(m);
        } else {
            let due = ctx.now + QueueConfig::backoff(cfg.retry_backoff, m.deliveries);
            let at = self.disk.delayed.partition_point(|(t, _)| *t <= due);
            self.disk.delayed.insert(at, (due, m));
            let first = self.disk.delayed[0].0;
            ctx.set_timer(QueueTimer::Retry, first.saturating_sub(ctx.now));
        }
    }

    /// Puts every unacknowledged message of consumer `c` back at the head of the queue, in
    /// delivery order, and forgets the consumer's window.
    fn requeue_consumer(&mut self, c: NodeId, ctx: &mut Ctx<Queue>) {
        self.consumers.remove(&c);
        let tags: Vec<Tag> = self
            .disk
            .unacked
            .iter()
            .filter(|(_, u)| u.consumer == c)
            .map(|(t, _)| *t)
            .collect();
        if !tags.is_empty() {
            ctx.count("requeued", tags.len() as u64);
        }
        for t in tags.into_iter().rev() {
            let u = self.disk.unacked.remove(&t).expect("listed above");
            self.disk.ready.push_front(u.msg);
        }
    }

    /// Requeues, at the head, every delivery unacknowledged for longer than `ack_timeout`.
    fn take_back_late(&mut self, cfg: &QueueConfig, ctx: &mut Ctx<Queue>) {
        let late: Vec<Tag> = self
            .disk
            .unacked
            .iter()
            .filter(|(_, u)| ctx.now.saturating_sub(u.at) > cfg.ack_timeout)
            .map(|(t, _)| *t)
            .collect();
        if late.is_empty() {
            return;
        }
        ctx.count("ack_timeouts", late.len() as u64);
        for t in late.into_iter().rev() {
            let u = self.disk.unacked.remove(&t).expect("listed above");
            if let Some(slot) = self.consumers.get_mut(&u.consumer) {
                slot.in_flight.remove(&t);
            }
            self.disk.ready.push_front(u.msg);
        }
        self.save(cfg, ctx);
    }

    /// Pushes ready messages, oldest first, each to a consumer of its queue with room, round
    /// robin over that queue's consumers. A queue whose consumers are all full is skipped; the
    /// other queues' messages still go.
    fn dispatch(&mut self, cfg: &QueueConfig, ctx: &mut Ctx<Queue>) {
        let auto_ack = cfg.delivery == Delivery::AtMostOnce;
        let mut changed = false;
        let mut blocked: BTreeSet<usize> = BTreeSet::new();
        let mut i = 0;
        while i < self.disk.ready.len() && !self.consumers.is_empty() {
            let q = self.disk.ready[i].queue;
            if blocked.contains(&q) {
                i += 1;
                continue;
            }
            let ids: Vec<NodeId> = self
                .consumers
                .iter()
                .filter(|(_, s)| s.queue == q)
                .map(|(c, _)| *c)
                .collect();
            let next = self.next_consumer.get(&q).copied().unwrap_or(0);
            let pick = (0..ids.len())
                .map(|k| ids[(next + k) % ids.len()])
                .find(|c| auto_ack || self.consumers[c].in_flight.len() < cfg.prefetch as usize);
            let Some(c) = pick else {
                blocked.insert(q);
                i += 1;
                continue;
            };
            self.next_consumer.insert(
                q,
                (ids.iter().position(|&x| x == c).expect("a consumer") + 1) % ids.len(),
            );
            let mut m = self.disk.ready.remove(i).expect("in range");
            m.deliveries += 1;
            let tag = self.disk.next_tag;
            self.disk.next_tag += 1;
            ctx.count("delivered", 1);
            if m.deliveries > 1 {
                ctx.count("redelivered", 1);
            }
            ctx.send(
                c,
                QueueMsg::Deliver {
                    tag,
                    id: m.id,
                    poison: m.poison,
                    redelivered: m.deliveries > 1,
                    delivery: m.deliveries,
                },
            );
            if !auto_ack {
                self.consumers
                    .get_mut(&c)
                    .expect("picked")
                    .in_flight
                    .insert(tag);
                if !cfg.bug_delete_on_delivery {
                    self.disk.unacked.insert(
                        tag,
                        Unacked {
                            consumer: c,
                            at: ctx.now,
                            msg: m,
                        },
                    );
                }
            }
            changed = true;
        }
        if changed {
            self.save(cfg, ctx);
        }
    }

    pub fn on_timer(&mut self, timer: QueueTimer, cfg: &QueueConfig, ctx: &mut Ctx<Queue>) {
        match timer {
            QueueTimer::ConsumerCheck => {
                let dead: Vec<NodeId> = self
                    .consumers
                    .iter()
                    .filter(|(_, s)| ctx.now.saturating_sub(s.last_heard) > cfg.consumer_timeout)
                    .map(|(c, _)| *c)
                    .collect();
                for c in dead {
                    let held = self.consumers[&c].in_flight.len();
                    ctx.count("consumers_declared_dead", 1);
                    ctx.note(format!(
                        "{} silent for {}: declared dead, its {held} unacked message(s) requeued",
                        super::name(ctx, c),
                        cfg.consumer_timeout
                    ));
                    self.requeue_consumer(c, ctx);
                    self.save(cfg, ctx);
                }
                self.take_back_late(cfg, ctx);
                self.dispatch(cfg, ctx);
                ctx.set_timer(QueueTimer::ConsumerCheck, cfg.heartbeat);
            }
            QueueTimer::Retry => {
                let due = self.disk.delayed.partition_point(|(t, _)| *t <= ctx.now);
                for (_, m) in self.disk.delayed.drain(..due).collect::<Vec<_>>() {
                    self.disk.ready.push_back(m);
                }
                if let Some((first, _)) = self.disk.delayed.first() {
                    ctx.set_timer(QueueTimer::Retry, first.saturating_sub(ctx.now));
                }
                self.save(cfg, ctx);
                self.dispatch(cfg, ctx);
            }
            QueueTimer::Flush => {
                if self.dirty {
                    self.dirty = false;
                    ctx.persist(super::QueueDurable::broker(self.disk.clone()));
                }
                ctx.set_timer(QueueTimer::Flush, cfg.flush_interval);
            }
            QueueTimer::ConfirmTimeout(_) | QueueTimer::Heartbeat => {}
        }
    }
}
