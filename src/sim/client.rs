//! Clients and their history.
//!
//! Clients live outside the cluster. Each issues one operation at a time (closed loop) with a
//! think time between operations, or at scripted times from the scenario's timeline. A request
//! travels to a node with the network's default latency; the node answers with `Ok`, `Fail`, or
//! `Redirect` to the node it believes is the leader. The client follows redirects, retries on a
//! timeout at another node, and gives up after `max_attempts`. Every operation's invocation and
//! outcome goes into the [`History`], which checkers read.

use crate::sim::actor::NodeId;
use crate::sim::load::{Arrival, Keys};
use crate::sim::time::SimTime;
use serde::{Deserialize, Serialize};
use std::fmt;

pub type ClientId = u32;

/// A client operation. Key-value protocols answer `Get`/`Put`/`Cas`; others take `Request`
/// (token ring: enter the critical section; 2PC: run a transaction; gossip: spread a rumor).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    Get {
        key: String,
    },
    Put {
        key: String,
        value: String,
    },
    /// Compare-and-set: writes `to` only if the current value is `from` (`None`: absent).
    Cas {
        key: String,
        from: Option<String>,
        to: String,
    },
    /// A protocol's own request, with a free-form argument.
    Request(String),
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Get { key } => write!(f, "get {key}"),
            Op::Put { key, value } => write!(f, "put {key}={value}"),
            Op::Cas { key, from, to } => {
                write!(f, "cas {key} {}->{to}", from.as_deref().unwrap_or("_"))
            }
            Op::Request(arg) => write!(f, "request {arg}"),
        }
    }
}

/// Identifies one attempt of one client operation; a node keeps it to reply later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientRef {
    pub client: ClientId,
    /// Unique per client, shared by all attempts of one operation.
    pub seq: u64,
    pub attempt: u32,
}

/// A request as a node receives it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientRequest {
    pub from: ClientRef,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClientReply {
    /// Done; `value` is the read value (or the previous value, protocol's choice).
    Ok { value: Option<String> },
    /// Not the leader; try this node (or any, if unknown).
    Redirect { leader: Option<NodeId> },
    /// Refused; the client does not retry.
    Fail { reason: String },
    /// A compare-and-set whose compare did not match: the operation was served (nothing was
    /// written) and `current` is the value found. An answer, not a refusal: it counts for
    /// availability like `Ok`.
    CompareFailed { current: Option<String> },
}

impl ClientReply {
    /// The answer's name in the trace (`client-reply` events).
    pub fn answer(&self) -> &'static str {
        match self {
            ClientReply::Ok { .. } => "ok",
            ClientReply::Redirect { .. } => "redirect",
            ClientReply::Fail { .. } => "fail",
            ClientReply::CompareFailed { .. } => "compare-failed",
        }
    }
}

/// How a workload picks the node a request goes to.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Target {
    /// A uniformly random node for each new operation.
    #[default]
    Random,
    /// Always this node first (then wherever redirects and retries lead).
    Node(String),
    /// A random node of this role for each operation and each retry. Requests are *born* at
    /// a node of role `client`: they reach it, and its replies return, with no network delay.
    Role(String),
}

/// The kind mix of generated operations, as weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpMix {
    #[serde(default)]
    pub get: u32,
    #[serde(default)]
    pub put: u32,
    #[serde(default)]
    pub cas: u32,
    /// Weight of protocol-specific `Request` operations.
    #[serde(default)]
    pub request: u32,
}

impl Default for OpMix {
    fn default() -> Self {
        OpMix {
            get: 1,
            put: 2,
            cas: 1,
            request: 0,
        }
    }
}

/// The generated client load of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Number of concurrent closed-loop clients (with `arrival`, the open-loop operations
    /// are shared out among this many client ids, round robin).
    #[serde(default = "one")]
    pub clients: u32,
    /// Open loop: operations arrive by this process whatever happens to earlier ones
    /// (`Poisson(rate: 200)`); absent, each client waits for a reply, then `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<Arrival>,
    /// Think time between one operation's end and the next one's start.
    #[serde(default = "default_interval")]
    pub interval: SimTime,
    /// When clients start issuing operations.
    #[serde(default)]
    pub start: SimTime,
    /// When they stop (default: the scenario's end).
    #[serde(default)]
    pub stop: Option<SimTime>,
    #[serde(default)]
    pub mix: OpMix,
    /// Keys are `k0..k{count-1}`: `keys: 3` or `keys: (count: 10000, pick: Zipf(s: 0.99))`.
    #[serde(default)]
    pub keys: Keys,
    #[serde(default)]
    pub target: Target,
    /// How long a client waits for one attempt before retrying elsewhere.
    #[serde(default = "default_timeout")]
    pub timeout: SimTime,
    /// Attempts per operation (redirects and timeouts both count) before it is recorded as failed.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
}

fn one() -> u32 {
    1
}
fn default_interval() -> SimTime {
    SimTime::from_millis(100)
}
fn default_timeout() -> SimTime {
    SimTime::from_millis(500)
}
fn default_attempts() -> u32 {
    5
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            clients: 1,
            arrival: None,
            interval: default_interval(),
            start: SimTime::ZERO,
            stop: None,
            mix: OpMix::default(),
            keys: Keys::default(),
            target: Target::Random,
            timeout: default_timeout(),
            max_attempts: default_attempts(),
        }
    }
}

/// The final outcome of one operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Ok {
        value: Option<String>,
    },
    Fail {
        reason: String,
    },
    /// A compare-and-set found `current` instead of its expected value and wrote nothing:
    /// served, so it counts as available.
    CompareFailed {
        current: Option<String>,
    },
    /// Every attempt timed out (the operation may or may not have taken effect).
    Timeout,
}

/// One operation in the history: invoked, and (unless still pending) returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub client: ClientId,
    pub seq: u64,
    pub op: Op,
    pub invoked_at: SimTime,
    pub returned_at: Option<SimTime>,
    pub outcome: Option<Outcome>,
    pub attempts: u32,
    /// The node that answered last.
    pub node: Option<NodeId>,
}

/// All client operations of a run, in invocation order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct History {
    pub entries: Vec<HistoryEntry>,
}

impl Outcome {
    /// The system answered the operation (an `Ok`, or a compare-and-set that did not match).
    pub fn answered(&self) -> bool {
        matches!(self, Outcome::Ok { .. } | Outcome::CompareFailed { .. })
    }
}

impl History {
    pub fn ok_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.outcome, Some(Outcome::Ok { .. })))
            .count()
    }
    /// Latencies of successful operations, sorted.
    pub fn ok_latencies(&self) -> Vec<SimTime> {
        let mut v: Vec<SimTime> = self
            .entries
            .iter()
            .filter(|e| matches!(e.outcome, Some(Outcome::Ok { .. })))
            .filter_map(|e| e.returned_at.map(|r| r - e.invoked_at))
            .collect();
        v.sort();
        v
    }
    /// Latencies of answered operations ([`Outcome::answered`]), sorted.
    pub fn answered_latencies(&self) -> Vec<SimTime> {
        let mut v: Vec<SimTime> = self
            .entries
            .iter()
            .filter(|e| e.outcome.as_ref().is_some_and(Outcome::answered))
            .filter_map(|e| e.returned_at.map(|r| r - e.invoked_at))
            .collect();
        v.sort();
        v
    }
}
