//! The protocol registry. Adding a protocol is one module plus one line in [`PROTOCOLS`].

use crate::registry::{ProtocolEntry, entry};

pub mod paxos;
pub mod relay;

/// Every protocol a scenario can name, in `distsim list` order.
pub const PROTOCOLS: &[ProtocolEntry] = &[entry::<relay::Relay>(), entry::<paxos::Paxos>()];
