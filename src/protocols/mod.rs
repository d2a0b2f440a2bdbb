//! The protocol registry. Adding a protocol is one module plus one line in [`PROTOCOLS`].

use crate::registry::{ProtocolEntry, entry};

pub mod caching;
pub mod commit;
pub mod event_bus;
pub mod gossip;
pub mod leader_follower;
pub mod leaderless;
pub mod log;
pub mod microservices;
pub mod multi_leader;
pub mod multi_paxos;
pub mod outbox;
pub mod partitioned;
pub mod paxos;
pub mod queue;
pub mod raft;
pub mod relay;
pub mod saga;
pub mod storage;
pub mod stream;
pub mod three_tier;
pub mod token_ring;
pub mod workflow;
pub mod zab;

/// The largest cluster for protocols in which every node talks to every other (consensus and
/// atomic commit): their state and their message bursts grow as nodes², so 1,000 nodes
/// already mean a million messages per broadcast round and 10,000 would need gigabytes.
pub const MAX_ALL_TO_ALL_NODES: usize = 1_000;

/// Refuses clusters above [`MAX_ALL_TO_ALL_NODES`] for the protocol `name`.
pub fn check_all_to_all_nodes(name: &str, nodes: usize) -> Result<(), String> {
    if nodes > MAX_ALL_TO_ALL_NODES {
        return Err(format!(
            "{name} runs on at most {MAX_ALL_TO_ALL_NODES} nodes (every node talks to every \
             other, so memory grows as nodes²), got {nodes}"
        ));
    }
    Ok(())
}

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
    entry::<caching::Caching>(),
    entry::<queue::Queue>(),
    entry::<log::Log>(),
    entry::<stream::Stream>(),
    entry::<leader_follower::LeaderFollower>(),
    entry::<leaderless::Leaderless>(),
    entry::<multi_leader::MultiLeader>(),
    entry::<partitioned::Partitioned>(),
    entry::<saga::Saga>(),
    entry::<outbox::Outbox>(),
    entry::<microservices::Microservices>(),
    entry::<workflow::Workflow>(),
];
