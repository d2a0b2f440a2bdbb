//! Service time and queues: what makes a bottleneck visible.
//!
//! A node with a [`ServiceModel`] handles at most `workers` inputs (messages and client
//! requests) at once. Each input takes a service time drawn from the node's own service
//! stream; inputs that find every worker busy wait in a FIFO queue of `queue` places; an input
//! that finds the queue full is dropped with reason `queue full` (load shedding). The handler
//! runs when the input's service *completes*, so its outputs leave at that time; a handler may
//! charge more work (`ctx.work(d)`), which delays its outputs by `d` and keeps the worker busy.
//! Timers are internal and never queue.
//!
//! ```text
//!   arrival ──► worker free? ──yes──► in service (time ~ model) ──► handler ──► outputs
//!                   │ no                    ▲                          │ ctx.work(d)
//!                   ▼                       │                          ▼
//!             queue full? ──yes──► dropped  └──── next queued input ◄── worker free
//!                   │ no
//!                   ▼
//!              FIFO queue
//! ```
//!
//! Without a service model a node behaves as before: every handler runs the instant its input
//! arrives, in zero time.

use crate::sim::network::Latency;
use crate::sim::time::SimTime;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

pub const MAX_WORKERS: u32 = 10_000;
pub const MAX_QUEUE: u32 = 1_000_000;

/// `service: (workers: 4, time: LogNormal(median: "40ms", sigma: 0.3, min: "5ms"), queue: 200)`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceModel {
    /// Inputs handled at once.
    #[serde(default = "one")]
    pub workers: u32,
    /// Service time of one input.
    pub time: Latency,
    /// Places in the waiting line; an input arriving when it is full is dropped.
    #[serde(default = "default_queue")]
    pub queue: u32,
}

fn one() -> u32 {
    1
}
fn default_queue() -> u32 {
    1_000
}

impl ServiceModel {
    /// What is wrong with the model, if anything, in the scenario's words.
    pub fn validate(&self) -> Result<(), String> {
        if self.workers == 0 || self.workers > MAX_WORKERS {
            return Err(format!(
                "`workers` must be between 1 and {MAX_WORKERS}, got {}",
                self.workers
            ));
        }
        if self.queue > MAX_QUEUE {
            return Err(format!(
                "`queue` must be at most {MAX_QUEUE} places, got {}",
                self.queue
            ));
        }
        self.time.validate()
    }
}

/// What happens to an input arriving at a node with a service model.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit<T> {
    /// A worker took it: its service ends after a service time.
    Start(T),
    /// It waits in the queue.
    Queued,
    /// The queue was full: the input is dropped.
    Shed(T),
}

/// One node's workers and waiting line.
#[derive(Clone, Debug)]
pub struct Station<T> {
    pub model: ServiceModel,
    /// Workers busy right now (serving, or charged work after a handler).
    pub busy: u32,
    pub waiting: VecDeque<T>,
    /// Inputs whose handler has run, since the start.
    pub completed: u64,
    /// Inputs dropped because the queue was full, since the start.
    pub shed: u64,
}

impl<T> Station<T> {
    pub fn new(model: ServiceModel) -> Self {
        Station {
            model,
            busy: 0,
            waiting: VecDeque::new(),
            completed: 0,
            shed: 0,
        }
    }

    /// An input arrives.
    pub fn admit(&mut self, input: T) -> Admit<T> {
        if self.busy < self.model.workers {
            self.busy += 1;
            Admit::Start(input)
        } else if self.waiting.len() < self.model.queue as usize {
            self.waiting.push_back(input);
            Admit::Queued
        } else {
            self.shed += 1;
            Admit::Shed(input)
        }
    }

    /// A worker finished (its handler ran and any charged work is done). Returns the next
    /// waiting input, which that worker starts now.
    pub fn release(&mut self) -> Option<T> {
        debug_assert!(self.busy > 0, "release without a busy worker");
        self.completed += 1;
        match self.waiting.pop_front() {
            Some(next) => Some(next),
            None => {
                self.busy = self.busy.saturating_sub(1);
                None
            }
        }
    }

    /// A crash empties the station; returns what was waiting.
    pub fn clear(&mut self) -> VecDeque<T> {
        self.busy = 0;
        std::mem::take(&mut self.waiting)
    }

    pub fn queue_len(&self) -> usize {
        self.waiting.len()
    }
}

/// Service time of the next input at a station.
pub fn service_time(model: &ServiceModel, rng: &mut rand_chacha::ChaCha8Rng) -> SimTime {
    model.time.sample(rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(workers: u32, queue: u32) -> ServiceModel {
        ServiceModel {
            workers,
            time: Latency::Constant(SimTime::from_millis(10)),
            queue,
        }
    }

    #[test]
    fn inputs_beyond_the_workers_wait_in_order_and_beyond_the_queue_are_shed() {
        let mut s = Station::new(model(2, 2));
        assert_eq!(s.admit(1), Admit::Start(1));
        assert_eq!(s.admit(2), Admit::Start(2));
        assert_eq!(s.admit(3), Admit::Queued);
        assert_eq!(s.admit(4), Admit::Queued);
        assert_eq!(s.admit(5), Admit::Shed(5));
        assert_eq!(s.shed, 1);
        // FIFO: the first waiting input is the first to start.
        assert_eq!(s.release(), Some(3));
        assert_eq!(s.busy, 2);
        assert_eq!(s.release(), Some(4));
        assert_eq!(s.release(), None);
        assert_eq!(s.busy, 1);
        assert_eq!(s.release(), None);
        assert_eq!(s.busy, 0);
        assert_eq!(s.completed, 4);
    }

    #[test]
    fn a_model_is_validated() {
        assert!(model(0, 1).validate().unwrap_err().contains("workers"));
        assert!(
            model(1, MAX_QUEUE + 1)
                .validate()
                .unwrap_err()
                .contains("queue")
        );
        assert!(model(4, 0).validate().is_ok());
    }
}
