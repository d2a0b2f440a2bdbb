//! The protocol registry. Adding a protocol is one module plus one line in [`PROTOCOLS`].

use crate::registry::{ProtocolEntry, entry};

pub mod commit;
pub mod gossip;
pub mod multi_paxos;
pub mod paxos;
pub mod raft;
pub mod relay;
pub mod three_tier;
pub mod token_ring;
pub mod zab;

/// Every protocol a scenario can name, in `distsim list` order.
pub const PROTOCOLS: &[ProtocolEntry] = &[
    entry::<raft::Raft>(),
    entry::<paxos::Paxos>(),
    entry::<multi_paxos::MultiPaxos>(),
    entry::<zab::Zab>(),
    entry::<commit::two_phase::TwoPhaseCommit>(),
    entry::<commit::three_phase::ThreePhaseCommit>(),
    entry::<token_ring::TokenRing>(),
    entry::<gossip::Gossip>(),
    entry::<relay::Relay>(),
    entry::<three_tier::ThreeTier>(),
];
