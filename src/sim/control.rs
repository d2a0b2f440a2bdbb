//! Control commands: scripted timeline events and user actions are the same values.
//!
//! A scenario's `timeline` is a list of `(time, Action)`; the app turns every user action into
//! an `Action` applied at the current simulated time and records it, so a session saved as a
//! scenario replays exactly. Actions name nodes by their scenario names.

use crate::sim::client::Op;
use crate::sim::network::Latency;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A partial update of link parameters; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fifo: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Stop a node: volatile state and timers are lost, durable state kept.
    Crash(String),
    /// Bring a crashed node back from its durable state.
    Restart(String),
    /// Stall a node: messages wait, timers freeze.
    Pause(String),
    Resume(String),
    /// Two-way partition into groups; nodes not named form one more group.
    Partition(Vec<Vec<String>>),
    /// Block messages from every node of `from` to every node of `to`.
    PartitionOneway {
        from: Vec<String>,
        to: Vec<String>,
    },
    /// Remove every partition and cut link.
    Heal,
    /// Cut the link between two nodes, both directions.
    Cut(String, String),
    /// Cut one direction only: messages from the first to the second are lost.
    CutOneway(String, String),
    /// Heal the link between two nodes, both directions.
    HealLink(String, String),
    /// Hold the link (both directions): messages wait until `Release`.
    Hold(String, String),
    Release(String, String),
    /// Change one link's parameters (both directions).
    SetLink {
        a: String,
        b: String,
        patch: LinkPatch,
    },
    /// Change the default parameters of every link without an override.
    SetNetwork(LinkPatch),
    /// Fire the node's earliest pending timer now.
    FireTimer(String),
    /// Clock drift in parts per million: positive means the node's timers run slow.
    SetDrift(String, i64),
    /// A one-off client operation, sent to `to` (or a random node).
    ClientRequest {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        op: Op,
    },
    /// Narration shown as a caption from this time on.
    Caption(String),
    /// A presenter pause point: the app may stop here.
    PausePoint(String),
}

impl Action {
    /// The node names this action mentions (for validation).
    pub fn node_names(&self) -> Vec<&str> {
        match self {
            Action::Crash(n)
            | Action::Restart(n)
            | Action::Pause(n)
            | Action::Resume(n)
            | Action::FireTimer(n)
            | Action::SetDrift(n, _) => vec![n],
            Action::Partition(groups) => groups.iter().flatten().map(|s| s.as_str()).collect(),
            Action::PartitionOneway { from, to } => {
                from.iter().chain(to).map(|s| s.as_str()).collect()
            }
            Action::Cut(a, b)
            | Action::CutOneway(a, b)
            | Action::HealLink(a, b)
            | Action::Hold(a, b)
            | Action::Release(a, b)
            | Action::SetLink { a, b, .. } => vec![a, b],
            Action::ClientRequest { to, .. } => to.iter().map(|s| s.as_str()).collect(),
            Action::Heal | Action::SetNetwork(_) | Action::Caption(_) | Action::PausePoint(_) => {
                vec![]
            }
        }
    }

    /// Is this a fault or network change (a timeline marker in the app)?
    pub fn is_fault(&self) -> bool {
        !matches!(
            self,
            Action::ClientRequest { .. } | Action::Caption(_) | Action::PausePoint(_)
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Crash(n) => write!(f, "crash {n}"),
            Action::Restart(n) => write!(f, "restart {n}"),
            Action::Pause(n) => write!(f, "pause {n}"),
            Action::Resume(n) => write!(f, "resume {n}"),
            Action::Partition(g) => {
                let parts: Vec<String> = g.iter().map(|g| format!("{{{}}}", g.join(","))).collect();
                write!(f, "partition {}", parts.join(" | "))
            }
            Action::PartitionOneway { from, to } => {
                write!(
                    f,
                    "partition {{{}}} -> {{{}}}",
                    from.join(","),
                    to.join(",")
                )
            }
            Action::Heal => write!(f, "heal"),
            Action::Cut(a, b) => write!(f, "cut {a} <-> {b}"),
            Action::CutOneway(a, b) => write!(f, "cut {a} -> {b}"),
            Action::HealLink(a, b) => write!(f, "heal {a} <-> {b}"),
            Action::Hold(a, b) => write!(f, "hold {a} <-> {b}"),
            Action::Release(a, b) => write!(f, "release {a} <-> {b}"),
            Action::SetLink { a, b, patch } => write!(f, "set link {a} <-> {b} {patch:?}"),
            Action::SetNetwork(p) => write!(f, "set network {p:?}"),
            Action::FireTimer(n) => write!(f, "fire timer of {n}"),
            Action::SetDrift(n, ppm) => write!(f, "drift {n} {ppm}ppm"),
            Action::ClientRequest { to, op } => match to {
                Some(n) => write!(f, "client {op} at {n}"),
                None => write!(f, "client {op}"),
            },
            Action::Caption(t) => write!(f, "caption: {t}"),
            Action::PausePoint(t) => write!(f, "pause point: {t}"),
        }
    }
}
