//! Gossip's messages and timers: versioned updates for rumor mongering and anti-entropy
//! (Demers et al. §1), secrets for the telephone calls.

use crate::sim::{Message, NodeId};
use serde::Serialize;

/// The order of updates to one key: a Lamport counter, then the writer's id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Version {
    pub counter: u64,
    pub origin: NodeId,
}

/// One write: the newest one per key is what a node holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Update {
    pub key: String,
    pub version: Version,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GossipMsg {
    /// Push: the caller's (hot) updates.
    Push { updates: Vec<Update> },
    /// Pull: the caller's versions; the peer answers with what is newer.
    Pull { digest: Vec<(String, Version)> },
    /// Push-pull: both at once.
    PushPull {
        updates: Vec<Update>,
        digest: Vec<(String, Version)>,
    },
    /// The answer to a pull (newer updates) and feedback on a push (updates already `known`).
    Reply {
        updates: Vec<Update>,
        known: Vec<(String, Version)>,
    },
    /// A telephone call: the caller's secrets. `call` is the call's index in the optimal
    /// schedule, or the caller's own sequence number for random calls; the answer repeats it.
    Call { call: u64, secrets: Vec<NodeId> },
    /// The callee's secrets after hearing the caller's: both now know the union.
    CallReply { call: u64, secrets: Vec<NodeId> },
}

impl Message for GossipMsg {
    fn kind(&self) -> &'static str {
        match self {
            GossipMsg::Push { .. } => "Push",
            GossipMsg::Pull { .. } => "Pull",
            GossipMsg::PushPull { .. } => "PushPull",
            GossipMsg::Reply { .. } => "Reply",
            GossipMsg::Call { .. } => "Call",
            GossipMsg::CallReply { .. } => "CallReply",
        }
    }
    fn label(&self) -> String {
        let ups = |u: &[Update]| -> String {
            let v: Vec<String> = u
                .iter()
                .map(|u| format!("{}={}@{}", u.key, u.value, u.version.counter))
                .collect();
            v.join(" ")
        };
        match self {
            GossipMsg::Push { updates } => format!("push {}", ups(updates)),
            GossipMsg::Pull { digest } => format!("pull ({} keys)", digest.len()),
            GossipMsg::PushPull { updates, digest } => {
                format!("push-pull {} ({} keys)", ups(updates), digest.len())
            }
            GossipMsg::Reply { updates, known } => {
                format!("reply {} (knew {})", ups(updates), known.len())
            }
            GossipMsg::Call { call, secrets } => {
                format!("call #{}: {} secrets", call + 1, secrets.len())
            }
            GossipMsg::CallReply { call, secrets } => {
                format!("reply #{}: {} secrets", call + 1, secrets.len())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GossipTimer {
    /// The next gossip round (and, for random calls, the next chance to call).
    Round,
    /// The slot of call `k` of the optimal schedule, placed by this node, has come.
    Call(usize),
    /// No answer yet to this node's call `call` (the number carried by `Call`).
    CallTimeout(u64),
}
