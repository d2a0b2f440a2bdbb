//! The protocol registry. Adding a protocol is one module plus one line in [`PROTOCOLS`].

use crate::registry::{ProtocolEntry, entry};

pub mod multi_paxos;
pub mod paxos;
pub mod relay;
pub mod zab;

/// Every protocol a scenario can name, in `distsim list` order.
pub const PROTOCOLS: &[ProtocolEntry] = &[
    entry::<relay::Relay>(),
    entry::<paxos::Paxos>(),
    entry::<multi_paxos::MultiPaxos>(),
    entry::<zab::Zab>(),
];
