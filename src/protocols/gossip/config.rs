//! Gossip's options: the dissemination strategy, the exchange style, timing, the telephone
//! schedule, and the bug variants that break one of the version rules.

use crate::sim::{NodeId, SimTime};
use serde::{Deserialize, Serialize};

/// Which of Demers' dissemination strategies runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Rumor mongering: only hot rumors are sent; SIR with a stop probability.
    #[default]
    Rumor,
    /// Anti-entropy: the whole store is reconciled every round.
    AntiEntropy,
    /// The telephone problem: secrets exchanged in pairwise calls.
    Calls,
}

/// Who sends what in a gossip exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Style {
    #[default]
    Push,
    Pull,
    PushPull,
}

/// How calls are chosen in `mode: Calls`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    /// The `2n - 4` schedule as a partial order: call `k` starts at its slot `(k + 1) * period`
    /// at the earliest, and only once both parties finished their previous calls.
    #[default]
    Optimal,
    /// Every node that does not know everything and is not waiting for an answer calls a random
    /// peer each period.
    Random,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GossipConfig {
    /// Dissemination strategy.
    #[serde(default)]
    pub mode: Mode,
    /// Push, pull or push-pull exchanges (rumor mongering and anti-entropy).
    #[serde(default)]
    pub style: Style,
    /// Peers contacted per round.
    #[serde(default = "default_fanout")]
    pub fanout: usize,
    /// Time between rounds (and between the call slots of the optimal schedule).
    #[serde(default = "default_period")]
    pub period: SimTime,
    /// Rumor mongering: probability of losing interest in a rumor when a peer already knew it
    /// (Demers' coin, `1/k`). 0 keeps every rumor hot forever.
    #[serde(default)]
    pub stop: f64,
    /// The node holding the first rumor (`rumor=hello`) at time zero; none if absent.
    #[serde(default = "default_origin")]
    pub origin: Option<NodeId>,
    /// The call schedule of `mode: Calls`.
    #[serde(default)]
    pub schedule: Schedule,
    /// `mode: Calls`: how long a caller waits for the answer before it calls again (optimal
    /// schedule: the same call, counted in `call_retries`) or gives up (random calls: counted
    /// in `calls_lost`). In the optimal schedule the answer to any attempt completes the call,
    /// so a round trip longer than the timeout only costs retries. Random calls wait twice as
    /// long after each consecutive loss, up to 8 times this; set it above the round trip.
    #[serde(default = "default_call_timeout")]
    pub call_timeout: SimTime,
    /// Bug: merge takes any update with a different version, older ones included.
    #[serde(default)]
    pub bug_accept_stale: bool,
    /// Bug: versions are bare Lamport counters without the writer's id as tie-breaker, so two
    /// concurrent writes can get the same version with different values.
    #[serde(default)]
    pub bug_version_without_origin: bool,
}

fn default_fanout() -> usize {
    1
}
fn default_period() -> SimTime {
    SimTime::from_millis(100)
}
fn default_origin() -> Option<NodeId> {
    Some(0)
}
fn default_call_timeout() -> SimTime {
    SimTime::from_secs(1)
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            mode: Mode::default(),
            style: Style::default(),
            fanout: default_fanout(),
            period: default_period(),
            stop: 0.0,
            origin: default_origin(),
            schedule: Schedule::default(),
            call_timeout: default_call_timeout(),
            bug_accept_stale: false,
            bug_version_without_origin: false,
        }
    }
}

impl GossipConfig {
    /// Checks the options against the cluster size; the error says what was expected.
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        if nodes < 2 {
            return Err(format!("gossip needs at least 2 nodes, got {nodes}"));
        }
        if self.fanout == 0 || self.fanout >= nodes {
            return Err(format!(
                "fanout must be between 1 and {} (nodes - 1), got {}",
                nodes - 1,
                self.fanout
            ));
        }
        if self.mode == Mode::Calls {
            // Every node learns every secret, and computes its share of the call schedule.
            crate::protocols::check_all_to_all_nodes("gossip in `Calls` mode", nodes)?;
        }
        if self.period == SimTime::ZERO {
            return Err("period must be positive (e.g. \"100ms\")".into());
        }
        if self.call_timeout == SimTime::ZERO {
            return Err("call_timeout must be positive (e.g. \"1s\")".into());
        }
        if !(0.0..=1.0).contains(&self.stop) {
            return Err(format!(
                "stop is a probability: expected a number in [0, 1], got {}",
                self.stop
            ));
        }
        if let Some(o) = self.origin
            && o >= nodes
        {
            return Err(format!(
                "origin must be a node index below {nodes}, got {o}"
            ));
        }
        Ok(())
    }
}
