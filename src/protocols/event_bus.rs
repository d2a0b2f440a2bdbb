//! A small built-in event bus shared by `outbox` and `microservices`: a durable log of
//! published events, pushed to every subscriber and pushed again until each acknowledges it
//! (at-least-once delivery, the guarantee both guides build on).
//!
//! ```text
//!  publisher ──Publish(e)──► bus: append e at offset k, persist ──Confirm──► publisher
//!                              │
//!                              ├──Deliver(k, e)──► subscriber ──Ack(k)──► bus: acked, persist
//!                              └── no Ack after redeliver_after: Deliver(k, e) again
//! ```
//!
//! Redelivery backs off: the n-th delivery of an event to a subscriber waits
//! `redeliver_after * 2^(n-1)`, at most [`MAX_BACKOFF`] times `redeliver_after`, so that a
//! slow or overloaded subscriber is not buried under redeliveries of what it has not yet
//! handled (a fixed period makes the backlog grow itself: a redelivery storm).
//!
//! The bus is a pure state machine that returns its outputs as data ([`BusOut`]); each
//! protocol maps them to its own messages and timers. The log and the acknowledgements are
//! durable: a restarted bus delivers every unacknowledged event again. The bus does not
//! deduplicate: a publisher that publishes twice gets two offsets, and the subscriber's
//! processed-ids table is what makes the effect happen once (the idempotent consumer).

use crate::sim::{NodeId, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// The longest redelivery wait, in multiples of `redeliver_after`.
pub const MAX_BACKOFF: u64 = 8;

/// The bus's durable state: the log, and per subscriber the offsets it acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct BusLog<E> {
    /// Every published event, in arrival order; the index is its offset.
    pub events: Vec<E>,
    /// Per subscriber: offsets acknowledged.
    pub acked: BTreeMap<NodeId, BTreeSet<u64>>,
}

impl<E> Default for BusLog<E> {
    fn default() -> Self {
        BusLog {
            events: Vec::new(),
            acked: BTreeMap::new(),
        }
    }
}

impl<E> BusLog<E> {
    /// Deliveries not yet acknowledged, over all subscribers.
    pub fn unacked(&self) -> usize {
        self.acked
            .values()
            .map(|a| self.events.len().saturating_sub(a.len()))
            .sum()
    }
}

/// One output of the bus, for the protocol to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusOut<E> {
    /// Tell the publisher its event is durably on the bus.
    Confirm { to: NodeId, event: E },
    /// Push the event at `offset` to subscriber `to`.
    Deliver { to: NodeId, offset: u64, event: E },
    /// Arm the redelivery timer of (`to`, `offset`).
    Redeliver {
        to: NodeId,
        offset: u64,
        after: SimTime,
    },
    /// Disarm it: acknowledged.
    Cancel { to: NodeId, offset: u64 },
    /// The log or the acknowledgements changed: persist them.
    Persist,
}

/// The bus node's state (all of it durable, in `log`).
#[derive(Clone, Debug, PartialEq)]
pub struct Bus<E> {
    pub log: BusLog<E>,
    /// Wait for an `Ack` before delivering again.
    pub redeliver_after: SimTime,
    /// Deliveries so far of each unacknowledged (subscriber, offset) (volatile: a restarted
    /// bus starts its back-off again).
    pub deliveries: BTreeMap<(NodeId, u64), u32>,
}

impl<E: Clone> Bus<E> {
    /// A fresh bus, or one restarted from its log: every unacknowledged delivery is pushed
    /// again.
    pub fn start(
        log: BusLog<E>,
        subscribers: &[NodeId],
        redeliver_after: SimTime,
    ) -> (Self, Vec<BusOut<E>>) {
        let mut bus = Bus {
            log,
            redeliver_after,
            deliveries: BTreeMap::new(),
        };
        let mut out = Vec::new();
        for &s in subscribers {
            bus.log.acked.entry(s).or_default();
        }
        for offset in 0..bus.log.events.len() as u64 {
            for &s in subscribers {
                if !bus.log.acked[&s].contains(&offset) {
                    bus.deliver(s, offset, &mut out);
                }
            }
        }
        (bus, out)
    }

    fn deliver(&mut self, to: NodeId, offset: u64, out: &mut Vec<BusOut<E>>) {
        let event = self.log.events[offset as usize].clone();
        out.push(BusOut::Deliver { to, offset, event });
        let n = self.deliveries.entry((to, offset)).or_default();
        *n += 1;
        let factor = (1u64 << (*n - 1).min(10)).min(MAX_BACKOFF);
        out.push(BusOut::Redeliver {
            to,
            offset,
            after: self.redeliver_after.saturating_mul(factor),
        });
    }

    /// A publisher's event: appended, persisted, confirmed, then pushed to every subscriber.
    pub fn publish(&mut self, from: NodeId, event: E) -> Vec<BusOut<E>> {
        let offset = self.log.events.len() as u64;
        self.log.events.push(event.clone());
        let mut out = vec![BusOut::Persist, BusOut::Confirm { to: from, event }];
        let subs: Vec<NodeId> = self.log.acked.keys().copied().collect();
        for s in subs {
            self.deliver(s, offset, &mut out);
        }
        out
    }

    /// A subscriber's acknowledgement.
    pub fn ack(&mut self, from: NodeId, offset: u64) -> Vec<BusOut<E>> {
        let Some(acked) = self.log.acked.get_mut(&from) else {
            return Vec::new();
        };
        if offset as usize >= self.log.events.len() || !acked.insert(offset) {
            return Vec::new();
        }
        self.deliveries.remove(&(from, offset));
        vec![BusOut::Persist, BusOut::Cancel { to: from, offset }]
    }

    /// The redelivery timer of (`to`, `offset`) fired.
    pub fn redeliver(&mut self, to: NodeId, offset: u64) -> Vec<BusOut<E>> {
        let mut out = Vec::new();
        if self
            .log
            .acked
            .get(&to)
            .is_some_and(|a| !a.contains(&offset))
        {
            self.deliver(to, offset, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bus() -> Bus<u32> {
        Bus::start(BusLog::default(), &[2], SimTime::from_millis(100)).0
    }

    #[test]
    fn a_published_event_is_persisted_confirmed_and_pushed_until_acknowledged() {
        let mut b = bus();
        let out = b.publish(0, 7);
        let after = SimTime::from_millis(100);
        assert_eq!(
            out,
            vec![
                BusOut::Persist,
                BusOut::Confirm { to: 0, event: 7 },
                BusOut::Deliver {
                    to: 2,
                    offset: 0,
                    event: 7
                },
                BusOut::Redeliver {
                    to: 2,
                    offset: 0,
                    after
                },
            ]
        );
        assert_eq!(b.log.unacked(), 1);
        assert_eq!(
            b.redeliver(2, 0)[0],
            BusOut::Deliver {
                to: 2,
                offset: 0,
                event: 7
            }
        );
        assert_eq!(
            b.ack(2, 0),
            vec![BusOut::Persist, BusOut::Cancel { to: 2, offset: 0 }]
        );
        assert!(b.redeliver(2, 0).is_empty());
        assert!(b.ack(2, 0).is_empty(), "a second Ack changes nothing");
    }

    #[test]
    fn redelivery_backs_off_up_to_its_cap() {
        let mut b = bus();
        b.publish(0, 7);
        let waits: Vec<u64> = (0..5)
            .map(|_| match b.redeliver(2, 0)[1] {
                BusOut::Redeliver { after, .. } => after.as_micros() / 1000,
                _ => panic!("a timer"),
            })
            .collect();
        assert_eq!(waits, vec![200, 400, 800, 800, 800]);
    }

    #[test]
    fn a_restarted_bus_pushes_every_unacknowledged_event_again() {
        let mut b = bus();
        b.publish(0, 7);
        b.publish(0, 8);
        b.ack(2, 0);
        let (_, out) = Bus::start(b.log.clone(), &[2], SimTime::from_millis(100));
        let delivered: Vec<u64> = out
            .iter()
            .filter_map(|o| match o {
                BusOut::Deliver { offset, .. } => Some(*offset),
                _ => None,
            })
            .collect();
        assert_eq!(delivered, vec![1]);
    }
}
