//! The protocol registry. Adding a protocol is one module plus one line in [`PROTOCOLS`].

use crate::registry::{ProtocolEntry, entry};

pub mod commit;
pub mod gossip;
pub mod raft;
pub mod relay;
pub mod token_ring;

/// Every protocol a scenario can name, in `distsim list` order.
pub const PROTOCOLS: &[ProtocolEntry] = &[
    entry::<raft::Raft>(),
    entry::<relay::Relay>(),
    entry::<gossip::Gossip>(),
    entry::<token_ring::TokenRing>(),
    entry::<commit::two_phase::TwoPhaseCommit>(),
    entry::<commit::three_phase::ThreePhaseCommit>(),
];
