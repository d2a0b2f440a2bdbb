//! The queue's options: the delivery guarantee promised, flow control (prefetch), failure
//! detection, retries and the dead-letter queue, and the bug variants that break a promise.

use super::exchange::{self, Exchange, QueueSpec};
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
    /// How the exchange routes a publish to the queues (`Direct`, `Fanout`, `Topic`).
    pub exchange: Exchange,
    /// The queues bound to the exchange, each with its binding keys. Consumer `k` (1-based, in
    /// id order) consumes queue `(k-1) mod queues`. Empty: one queue that gets every message
    /// (the default exchange), consumed by every consumer.
    pub queues: Vec<QueueSpec>,
    /// The routing keys producers publish with: each message gets one, picked by a hash of
    /// its id. Empty: no key (the default exchange, or a fanout).
    pub routing_keys: Vec<String>,
    /// BUG: the topic exchange treats `#` as `*`: it matches exactly one word instead of zero
    /// or more, so a queue bound with `orders.#` misses `orders.new.eu`.
    pub bug_topic_hash: bool,
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
            exchange: Exchange::Direct,
            queues: Vec::new(),
            routing_keys: Vec::new(),
            bug_topic_hash: false,
            bug_confirm_before_persist: false,
            bug_delete_on_delivery: false,
            bug_retry_publish: false,
        }
    }
}

/// Largest prefetch, deliveries and publish attempts accepted.
pub const MAX_COUNT: u32 = 10_000;
/// Most queues bound to the exchange.
pub const MAX_QUEUES: usize = 64;

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
        self.validate_exchange()
    }

    /// Checks the exchange, its queues and the routing keys.
    fn validate_exchange(&self) -> Result<(), String> {
        if self.queues.len() > MAX_QUEUES {
            return Err(format!(
                "expected at most {MAX_QUEUES} queues, got {}",
                self.queues.len()
            ));
        }
        if self.queues.is_empty() && self.exchange != Exchange::Direct {
            return Err(format!(
                "a {:?} exchange needs queues to route to: give queues: [(name: \"q1\", bindings: [...]), ...]",
                self.exchange
            ));
        }
        if self.queues.is_empty() && !self.routing_keys.is_empty() {
            return Err(
                "routing_keys need queues with bindings: without queues every message goes to the one default queue"
                    .into(),
            );
        }
        for (i, q) in self.queues.iter().enumerate() {
            if q.name.is_empty() {
                return Err(format!("queue {} has no name", i + 1));
            }
            if self.queues[..i].iter().any(|o| o.name == q.name) {
                return Err(format!("queue name `{}` is used twice", q.name));
            }
            if self.exchange != Exchange::Fanout && q.bindings.is_empty() {
                return Err(format!(
                    "queue `{}` has no bindings: a {:?} exchange routes nothing to it",
                    q.name, self.exchange
                ));
            }
            for b in &q.bindings {
                exchange::check_words(
                    &format!("binding of queue `{}`", q.name),
                    b,
                    self.exchange == Exchange::Topic,
                )?;
            }
        }
        if !self.queues.is_empty()
            && self.exchange != Exchange::Fanout
            && self.routing_keys.is_empty()
        {
            return Err(format!(
                "a {:?} exchange routes by key: give routing_keys: [\"orders.new.eu\", ...] for the producers",
                self.exchange
            ));
        }
        for k in &self.routing_keys {
            exchange::check_words("routing key", k, false)?;
        }
        if self.bug_topic_hash && self.exchange != Exchange::Topic {
            return Err(
                "bug_topic_hash mis-matches `#` in topic bindings: set exchange: Topic".into(),
            );
        }
        Ok(())
    }

    /// Number of queues: the declared ones, or the one default queue.
    pub fn queue_count(&self) -> usize {
        self.queues.len().max(1)
    }

    /// Queue `q`'s name (`queue` for the default queue).
    pub fn queue_name(&self, q: usize) -> &str {
        self.queues.get(q).map_or("queue", |s| s.name.as_str())
    }

    /// The queue consumed by the consumer of 0-based rank `rank`.
    pub fn queue_of_consumer(&self, rank: usize) -> usize {
        rank % self.queue_count()
    }

    /// The routing key producers give message `id`.
    pub fn routing_key(&self, id: u64) -> &str {
        exchange::key_of(&self.routing_keys, id)
    }

    /// The queues a message published with `key` must be put in (the exchange's rule, without
    /// any bug).
    pub fn bound_queues(&self, key: &str) -> Vec<usize> {
        exchange::route(self.exchange, &self.queues, key, false)
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
