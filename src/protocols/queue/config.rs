//! The queue's options: the delivery guarantee promised, flow control (prefetch), failure
//! detection, retries and the dead-letter queue, and the bug variants that break a promise.

use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

/// The delivery guarantee the configuration promises, and how it is kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// Automatic acknowledgement ("fire and forget"): the broker forgets a message the moment
    /// it pushes it, and producers never retry a publish. Nothing is processed twice; a
    /// message on its way to, or waiting at, a consumer that crashes is lost.
    AtMostOnce,
    /// Manual acknowledgement after processing, and producers retry a publish until it is
    /// confirmed. Nothing confirmed is lost; a consumer that crashes after processing but
    /// before its `Ack` arrives makes the broker deliver the message again (a duplicate).
    #[default]
    AtLeastOnce,
}

/// The `config: (...)` of a `queue` scenario. Every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// The promise: `AtMostOnce` (auto-ack) or `AtLeastOnce` (manual ack, publisher retries).
    pub delivery: Delivery,
    /// Most unacknowledged deliveries a consumer may hold (RabbitMQ's `basic.qos` prefetch
    /// count). Ignored under `AtMostOnce`, as in RabbitMQ: auto-ack has no flow control.
    pub prefetch: u32,
    /// The queue and its messages are written to disk before a publish is confirmed, and
    /// survive a broker restart. Off: a restart empties the queue (a transient queue).
    pub durable: bool,
    /// How long a producer waits for a publisher confirm before retrying (`AtLeastOnce`) or
    /// giving up (`AtMostOnce`). Retry `k` waits `confirm_timeout * 2^(k-1)` (back-off).
    pub confirm_timeout: SimTime,
    /// Publish attempts per message, the first included, before the producer tells its user
    /// the publish failed.
    pub max_publish_attempts: u32,
    /// How often a consumer sends the broker a heartbeat.
    pub heartbeat: SimTime,
    /// A consumer not heard from for this long is declared dead; its unacknowledged messages
    /// go back to the head of the queue, marked redelivered.
    pub consumer_timeout: SimTime,
    /// A delivery not acknowledged within this time is taken back and requeued, marked
    /// redelivered (RabbitMQ's delivery acknowledgement timeout; it closes the channel, this
    /// model requeues just the late delivery). It recovers deliveries and acks lost on the
    /// network; a consumer slower than this gets duplicates.
    pub ack_timeout: SimTime,
    /// Chance that processing one delivery fails for a passing reason; the consumer then
    /// `Nack`s it (under `AtMostOnce` it is just dropped).
    pub fail_probability: f64,
    /// Chance that a published message is *poison*: its processing fails every time.
    pub poison_probability: f64,
    /// Deliveries after which a message that keeps failing goes to the dead-letter queue
    /// (RabbitMQ quorum queues' `delivery-limit`). 0: never; it is redelivered forever.
    pub max_deliveries: u32,
    /// Delay before a `Nack`ed message is ready again, doubling with each delivery
    /// (`retry_backoff * 2^(deliveries-1)`, the retry-queue-with-TTL pattern). 0: it goes
    /// straight back to the head of the queue, as `basic.nack(requeue = true)` does.
    pub retry_backoff: SimTime,
    /// How often the broker writes to disk under `bug_confirm_before_persist`.
    pub flush_interval: SimTime,
    /// BUG: the broker confirms a publish as soon as it has it in memory and writes its queue
    /// to disk only every `flush_interval`. A confirmed message is not on disk yet.
    pub bug_confirm_before_persist: bool,
    /// BUG: under `AtLeastOnce` the broker deletes a message when it pushes it, as if it had
    /// been auto-acked, so a consumer crash loses the messages it held.
    pub bug_delete_on_delivery: bool,
    /// BUG: under `AtMostOnce` producers still retry an unconfirmed publish; when only the
    /// confirm was lost, the message is queued (and processed) twice.
    pub bug_retry_publish: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            delivery: Delivery::AtLeastOnce,
            prefetch: 10,
            durable: true,
            confirm_timeout: SimTime::from_millis(200),
            max_publish_attempts: 5,
            heartbeat: SimTime::from_millis(100),
            consumer_timeout: SimTime::from_millis(500),
            ack_timeout: SimTime::from_secs(5),
            fail_probability: 0.0,
            poison_probability: 0.0,
            max_deliveries: 0,
            retry_backoff: SimTime::ZERO,
            flush_interval: SimTime::from_millis(100),
            bug_confirm_before_persist: false,
            bug_delete_on_delivery: false,
            bug_retry_publish: false,
        }
    }
}

/// Largest prefetch, deliveries and publish attempts accepted.
pub const MAX_COUNT: u32 = 10_000;

impl QueueConfig {
    /// Checks the options against each other; the message says what was expected.
    pub fn validate(&self) -> Result<(), String> {
        if self.prefetch == 0 || self.prefetch > MAX_COUNT {
            return Err(format!(
                "expected prefetch between 1 and {MAX_COUNT}, got {}",
                self.prefetch
            ));
        }
        if self.max_publish_attempts == 0 || self.max_publish_attempts > MAX_COUNT {
            return Err(format!(
                "expected max_publish_attempts between 1 and {MAX_COUNT}, got {}",
                self.max_publish_attempts
            ));
        }
        if self.max_deliveries > MAX_COUNT {
            return Err(format!(
                "expected max_deliveries at most {MAX_COUNT} (0: no limit), got {}",
                self.max_deliveries
            ));
        }
        for (name, t) in [
            ("confirm_timeout", self.confirm_timeout),
            ("heartbeat", self.heartbeat),
            ("flush_interval", self.flush_interval),
            ("ack_timeout", self.ack_timeout),
        ] {
            if t == SimTime::ZERO {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.consumer_timeout <= self.heartbeat {
            return Err(format!(
                "expected consumer_timeout > heartbeat (a live consumer must be heard from \
                 within the timeout), got consumer_timeout {} and heartbeat {}",
                self.consumer_timeout, self.heartbeat
            ));
        }
        for (name, p) in [
            ("fail_probability", self.fail_probability),
            ("poison_probability", self.poison_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} is a probability: expected 0..1, got {p}"));
            }
        }
        if self.bug_confirm_before_persist && !self.durable {
            return Err(
                "bug_confirm_before_persist needs durable: true (a transient queue never writes to disk)"
                    .into(),
            );
        }
        if self.bug_delete_on_delivery && self.delivery != Delivery::AtLeastOnce {
            return Err(
                "bug_delete_on_delivery breaks the at-least-once promise: set delivery: AtLeastOnce"
                    .into(),
            );
        }
        if self.bug_retry_publish && self.delivery != Delivery::AtMostOnce {
            return Err(
                "bug_retry_publish breaks the at-most-once promise: set delivery: AtMostOnce (at-least-once retries anyway)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Whether producers retry an unconfirmed publish.
    pub fn retries_publish(&self) -> bool {
        self.delivery == Delivery::AtLeastOnce || self.bug_retry_publish
    }

    /// Exponential back-off: `base * 2^(n-1)` for the `n`th wait (n >= 1), capped at 2^16
    /// times the base.
    pub fn backoff(base: SimTime, n: u32) -> SimTime {
        base.saturating_mul(1u64 << n.saturating_sub(1).min(16))
    }
}
