//! The token ring's options: hold and critical-section times, the ack timeout and retries,
//! the loss timeout, the bug variant that drops the majority rule, and the timing bounds
//! derived from them (a stop, a rotation, the smallest safe loss timeout, the waiting bound).

use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenRingConfig {
    /// How long a holder with nothing to do keeps the token before passing it (so it can be seen).
    #[serde(default = "default_hold")]
    pub hold: SimTime,
    /// Time spent in the critical section for each visit with waiting requests.
    #[serde(default = "default_cs_time")]
    pub cs_time: SimTime,
    /// How long the sender waits for `TokenAck`; must exceed the round-trip latency.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout: SimTime,
    /// Sends to one successor before the token is given up for lost.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// No token seen for this long: it is presumed lost and a new generation is sought.
    #[serde(default = "default_loss_timeout")]
    pub loss_timeout: SimTime,
    /// Bug: regenerate as soon as the timeout fires, without a majority of promises, and never
    /// retire a token (the naive ring: split brain under a partition).
    #[serde(default)]
    pub bug_no_majority: bool,
}

fn default_hold() -> SimTime {
    SimTime::from_millis(5)
}
fn default_cs_time() -> SimTime {
    SimTime::from_millis(20)
}
fn default_ack_timeout() -> SimTime {
    SimTime::from_millis(40)
}
fn default_retries() -> u32 {
    2
}
fn default_loss_timeout() -> SimTime {
    SimTime::from_secs(2)
}

impl Default for TokenRingConfig {
    fn default() -> Self {
        TokenRingConfig {
            hold: default_hold(),
            cs_time: default_cs_time(),
            ack_timeout: default_ack_timeout(),
            retries: default_retries(),
            loss_timeout: default_loss_timeout(),
            bug_no_majority: false,
        }
    }
}

impl TokenRingConfig {
    /// The longest one node can keep the token before its successor has it: hold or serve,
    /// then every send of the token (each waits `ack_timeout`, which exceeds a round trip).
    pub fn stop_max(&self) -> SimTime {
        self.hold
            .saturating_add(self.cs_time)
            .saturating_add(self.ack_timeout.saturating_mul(self.retries as u64))
    }

    /// The longest rotation of a token that is not lost: `nodes` stops.
    pub fn rotation_max(&self, nodes: usize) -> SimTime {
        self.stop_max().saturating_mul(nodes as u64)
    }

    /// The smallest `loss_timeout` the partition argument allows for `nodes` nodes.
    pub fn min_loss_timeout(&self, nodes: usize) -> SimTime {
        self.rotation_max(nodes).saturating_mul(3)
    }

    /// Bounded Waiting's bound: while the token circulates and nothing fails, a request of a
    /// node that can talk to the holder is served within three rotations of the latest of its
    /// arrival, the token's generation and the last fault (one rotation for an excluded node to
    /// announce itself with `Join`, a stop for a holder to add it, one rotation to reach it).
    pub fn waiting_bound(&self, nodes: usize) -> SimTime {
        self.rotation_max(nodes).saturating_mul(3)
    }
}
