//! The event queue: items ordered by (time, class, insertion sequence).
//!
//! Ties at one instant pop in insertion order (FIFO), so runs are reproducible. Items of the
//! *late* class (scripted and user actions) pop after every ordinary item due at the same
//! instant. The heap holds small keys; items live in a slab, so heap moves stay cheap whatever
//! the size of a protocol's messages.

use crate::sim::time::SimTime;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

const LATE_BIT: u64 = 1 << 63;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    at: SimTime,
    /// The class in the top bit, the insertion sequence below.
    order: u64,
    slot: u32,
}

impl Ord for Key {
    /// Reversed, so the max-heap pops the earliest.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.order).cmp(&(self.at, self.order))
    }
}
impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

pub struct EventQueue<T> {
    heap: BinaryHeap<Key>,
    slots: Vec<Option<T>>,
    free: Vec<u32>,
    seq: u64,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<T> EventQueue<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `item` at `at`; `late` items pop after ordinary ones due at the same time.
    pub fn push(&mut self, at: SimTime, late: bool, item: T) {
        let seq = self.seq;
        self.seq += 1;
        assert!(seq < LATE_BIT, "event sequence overflow");
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(item);
                s
            }
            None => {
                assert!(
                    self.slots.len() < u32::MAX as usize,
                    "more than 2^32 queued events"
                );
                self.slots.push(Some(item));
                (self.slots.len() - 1) as u32
            }
        };
        let order = if late { seq | LATE_BIT } else { seq };
        self.heap.push(Key { at, order, slot });
    }

    /// Time of the earliest item.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|k| k.at)
    }

    pub fn pop(&mut self) -> Option<(SimTime, T)> {
        let k = self.heap.pop()?;
        let item = self.slots[k.slot as usize]
            .take()
            .expect("a queued slot holds its item");
        self.free.push(k.slot);
        Some((k.at, item))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_fifo() {
        let mut q = EventQueue::new();
        q.push(SimTime(5), false, "b1");
        q.push(SimTime(1), false, "a");
        q.push(SimTime(5), false, "b2");
        q.push(SimTime(5), false, "b3");
        q.push(SimTime(3), false, "c");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![
                (SimTime(1), "a"),
                (SimTime(3), "c"),
                (SimTime(5), "b1"),
                (SimTime(5), "b2"),
                (SimTime(5), "b3")
            ]
        );
    }

    #[test]
    fn late_items_pop_after_ordinary_ones_at_the_same_instant() {
        let mut q = EventQueue::new();
        q.push(SimTime(5), true, "action");
        q.push(SimTime(5), false, "event pushed later");
        q.push(SimTime(4), true, "earlier action");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, x)| x).collect();
        assert_eq!(
            order,
            vec!["earlier action", "event pushed later", "action"]
        );
    }

    #[test]
    fn slots_are_reused() {
        let mut q = EventQueue::new();
        for round in 0..100u64 {
            q.push(SimTime(round), false, round);
            q.push(SimTime(round), false, round);
            assert!(q.pop().is_some());
        }
        assert_eq!(q.len(), 100);
        assert!(q.slots.len() <= 101);
    }
}
