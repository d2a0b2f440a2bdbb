//! The stream's options: the dedup window, the durable consumers' ack policy, redelivery and
//! flow control, the producers' retries, and the bug variants.

use crate::protocols::queue::MAX_COUNT;
use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

/// How a durable consumer acknowledges (JetStream's `AckPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckPolicy {
    /// Every message is acknowledged individually; an unacknowledged one is delivered again
    /// after `ack_wait` (at-least-once).
    #[default]
    Explicit,
    /// An ack of sequence `n` acknowledges every pending message up to `n`, so a lost ack is
    /// covered by the next one.
    All,
    /// Nothing is acknowledged: a message counts as handled when it is sent, and one lost on
    /// the way or at a crashing consumer is never delivered again (at-most-once).
    None,
}

/// The `config: (...)` of a `stream` scenario. Every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// How long the broker remembers a message id (`Nats-Msg-Id`): a publish with an id
    /// stored less than this long ago is not stored again but acknowledged with the original
    /// sequence and `duplicate: true`. 0: no deduplication.
    pub duplicate_window: SimTime,
    /// The durable consumers' ack policy.
    pub ack_policy: AckPolicy,
    /// A delivery not acknowledged within this time is delivered again.
    pub ack_wait: SimTime,
    /// Deliveries of one message to one consumer, the first included, after which the broker
    /// stops delivering it (`MaxDeliver`). 0: no limit.
    pub max_deliver: u32,
    /// Most unacknowledged deliveries per consumer (`MaxAckPending`); ignored under
    /// `AckPolicy::None`, which has nothing pending.
    pub max_ack_pending: u32,
    /// How long a producer waits for a `PubAck` before publishing again with the same id.
    /// Retry `k` waits `publish_timeout * 2^(k-1)` (back-off).
    pub publish_timeout: SimTime,
    /// Publish attempts per message, the first included, before the user is told it failed.
    pub max_publish_attempts: u32,
    /// How often a consumer repeats its `Subscribe` (so a lost one, or a broker restart, does
    /// not leave it without its durable consumer).
    pub heartbeat: SimTime,
    /// BUG: the broker ignores the message id and stores every publish, retries included.
    pub bug_no_dedup: bool,
    /// BUG: a consumer applies every delivery, even a sequence it applied before.
    pub bug_consumer_no_dedup: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            duplicate_window: SimTime::from_secs(2),
            ack_policy: AckPolicy::Explicit,
            ack_wait: SimTime::from_secs(1),
            max_deliver: 0,
            max_ack_pending: 20,
            publish_timeout: SimTime::from_millis(200),
            max_publish_attempts: 5,
            heartbeat: SimTime::from_millis(500),
            bug_no_dedup: false,
            bug_consumer_no_dedup: false,
        }
    }
}

impl StreamConfig {
    /// Checks the options against each other; the message says what was expected.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v, min) in [
            ("max_ack_pending", self.max_ack_pending, 1),
            ("max_publish_attempts", self.max_publish_attempts, 1),
            ("max_deliver", self.max_deliver, 0),
        ] {
            if !(min..=MAX_COUNT).contains(&v) {
                return Err(format!(
                    "expected {name} between {min} and {MAX_COUNT}, got {v}"
                ));
            }
        }
        for (name, t) in [
            ("ack_wait", self.ack_wait),
            ("publish_timeout", self.publish_timeout),
            ("heartbeat", self.heartbeat),
        ] {
            if t == SimTime::ZERO {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.bug_no_dedup && self.duplicate_window == SimTime::ZERO {
            return Err(
                "bug_no_dedup breaks deduplication: set a positive duplicate_window".into(),
            );
        }
        Ok(())
    }

    /// Whether the broker deduplicates publishes by message id.
    pub fn dedup(&self) -> bool {
        self.duplicate_window > SimTime::ZERO && !self.bug_no_dedup
    }

    /// Whether deliveries wait for acknowledgements.
    pub fn acks(&self) -> bool {
        self.ack_policy != AckPolicy::None
    }
}
