//! The messages of the log, named after Kafka's protocol requests: Produce, Fetch,
//! JoinGroup, Heartbeat, SyncGroup (here `Assignment`) and OffsetCommit (here `Commit`); with
//! replication also the controller's LeaderAndIsr and AlterIsr (AlterPartition), broker
//! heartbeats, and the follower's Fetch (here `ReplicaFetch`, answered by `ReplicaRecords`).

use crate::sim::{Message, NodeId};

/// A record's id, unique over the run, given by its producer (`r7`).
pub type RecordId = u64;
pub type Partition = u32;
pub type Offset = u64;

/// One record of a partition: its id and key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub id: RecordId,
    pub key: String,
}

/// A leader epoch: bumped by the controller at every leader election of a partition.
pub type Epoch = u64;

/// The controller's record of one partition (Kafka's `PartitionRegistration`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PartitionState {
    /// The brokers holding a replica, the preferred leader first.
    pub replicas: Vec<NodeId>,
    /// The broker that takes produces and serves fetches; None: offline.
    pub leader: Option<NodeId>,
    /// Bumped at every election: a leader or follower of an older epoch is fenced.
    pub leader_epoch: Epoch,
    /// Bumped at every change (election or ISR): an `AlterIsr` built on an older state is
    /// refused, so two in flight cannot undo each other.
    pub partition_epoch: u64,
    /// The in-sync replicas, the leader included: the only candidates for leadership.
    pub isr: Vec<NodeId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogMsg {
    /// Producer → the partition's broker: append this record.
    Produce {
        partition: Partition,
        record: Record,
    },
    /// Broker → producer: appended (and on disk) at `offset`.
    ProduceAck {
        id: RecordId,
        partition: Partition,
        offset: Offset,
    },
    /// Consumer → coordinator: join the group (`session`: this run of the consumer), and,
    /// repeated, the heartbeat; `generation` is the last assignment it has (a member behind
    /// is sent its assignment again).
    JoinGroup { session: u64, generation: u64 },
    /// Coordinator → each member after a rebalance: your partitions in `generation`, each with
    /// the committed offset to start from.
    Assignment {
        generation: u64,
        partitions: Vec<(Partition, Offset)>,
    },
    /// Consumer → the partition's broker: records from `offset` on.
    Fetch {
        partition: Partition,
        offset: Offset,
    },
    /// Broker → consumer: the records from `offset` (possibly none).
    Records {
        partition: Partition,
        offset: Offset,
        records: Vec<Record>,
    },
    /// Consumer → coordinator: the group has consumed `partition` up to `offset` (the next
    /// offset to read). Refused unless `generation` is current and the partition is the
    /// sender's (fencing a zombie).
    Commit {
        generation: u64,
        partition: Partition,
        offset: Offset,
    },
    /// Broker → consumer: `offset` is below the log start (retention deleted it); the log now
    /// holds `start .. end` (Kafka's `OFFSET_OUT_OF_RANGE` error).
    OffsetOutOfRange {
        partition: Partition,
        offset: Offset,
        start: Offset,
        end: Offset,
    },
    /// A broker that does not lead `partition` → producer or consumer: the leader it knows
    /// (Kafka's `NOT_LEADER_OR_FOLLOWER`; the client refreshes its metadata).
    NotLeader {
        partition: Partition,
        leader: Option<NodeId>,
        leader_epoch: Epoch,
    },
    /// Leader → producer (`acks: All`): fewer than `min_insync_replicas` in sync, not appended.
    NotEnoughReplicas { id: RecordId, partition: Partition },
    /// Broker → controller, every `heartbeat`: alive, and the metadata version it has.
    BrokerHeartbeat { version: u64 },
    /// Controller → broker: the state of the partitions it replicates (sent when they change
    /// and to a heartbeat showing an older version).
    LeaderAndIsr {
        version: u64,
        partitions: Vec<(Partition, PartitionState)>,
    },
    /// Leader → controller: change the ISR to `isr` (Kafka's `AlterPartition`), refused unless
    /// `leader_epoch` and `partition_epoch` are current.
    AlterIsr {
        partition: Partition,
        leader_epoch: Epoch,
        partition_epoch: u64,
        isr: Vec<NodeId>,
    },
    /// Follower → leader: records from `offset`; `last_fetched_epoch` is the epoch of the
    /// follower's last record, for the leader to spot a diverging log (KIP-101, KIP-595).
    ReplicaFetch {
        partition: Partition,
        leader_epoch: Epoch,
        offset: Offset,
        last_fetched_epoch: Epoch,
    },
    /// Leader → follower: records from `offset` with their epochs and the high watermark; or,
    /// if the follower's log diverges, `diverging: (epoch, end offset)`: truncate there.
    ReplicaRecords {
        partition: Partition,
        leader_epoch: Epoch,
        offset: Offset,
        entries: Vec<(Epoch, Record)>,
        high_watermark: Offset,
        diverging: Option<(Epoch, Offset)>,
    },
}

impl Message for LogMsg {
    fn kind(&self) -> &'static str {
        match self {
            LogMsg::Produce { .. } => "Produce",
            LogMsg::ProduceAck { .. } => "ProduceAck",
            LogMsg::JoinGroup { .. } => "JoinGroup",
            LogMsg::Assignment { .. } => "Assignment",
            LogMsg::Fetch { .. } => "Fetch",
            LogMsg::Records { .. } => "Records",
            LogMsg::Commit { .. } => "Commit",
            LogMsg::OffsetOutOfRange { .. } => "OffsetOutOfRange",
            LogMsg::NotLeader { .. } => "NotLeader",
            LogMsg::NotEnoughReplicas { .. } => "NotEnoughReplicas",
            LogMsg::BrokerHeartbeat { .. } => "BrokerHeartbeat",
            LogMsg::LeaderAndIsr { .. } => "LeaderAndIsr",
            LogMsg::AlterIsr { .. } => "AlterIsr",
            LogMsg::ReplicaFetch { .. } => "ReplicaFetch",
            LogMsg::ReplicaRecords { .. } => "ReplicaRecords",
        }
    }
    fn label(&self) -> String {
        match self {
            LogMsg::Produce { partition, record } => {
                format!("r{} key {} -> p{partition}", record.id, record.key)
            }
            LogMsg::ProduceAck {
                id,
                partition,
                offset,
            } => format!("r{id} at p{partition}@{offset}"),
            LogMsg::JoinGroup {
                session,
                generation,
            } => format!("session {session} gen {generation}"),
            LogMsg::Assignment {
                generation,
                partitions,
            } => {
                let ps: Vec<String> = partitions
                    .iter()
                    .map(|(p, o)| format!("p{p}@{o}"))
                    .collect();
                format!("gen {generation}: {}", ps.join(" "))
            }
            LogMsg::Fetch { partition, offset } => format!("p{partition}@{offset}"),
            LogMsg::Records {
                partition,
                offset,
                records,
            } => format!("p{partition}@{offset} x{}", records.len()),
            LogMsg::Commit {
                generation,
                partition,
                offset,
            } => format!("p{partition}@{offset} gen {generation}"),
            LogMsg::OffsetOutOfRange {
                partition,
                offset,
                start,
                end,
            } => format!("p{partition}@{offset} < start {start} (end {end})"),
            LogMsg::NotLeader {
                partition,
                leader,
                leader_epoch,
            } => match leader {
                Some(l) => format!(
                    "p{partition}: leader {} (epoch {leader_epoch})",
                    node_label(*l)
                ),
                None => format!("p{partition}: no leader known"),
            },
            LogMsg::NotEnoughReplicas { id, partition } => format!("r{id} p{partition}"),
            LogMsg::BrokerHeartbeat { version } => format!("v{version}"),
            LogMsg::LeaderAndIsr {
                version,
                partitions,
            } => {
                let ps: Vec<String> = partitions
                    .iter()
                    .map(|(p, s)| state_label(*p, s, &node_label))
                    .collect();
                format!("v{version}: {}", ps.join("; "))
            }
            LogMsg::AlterIsr { partition, isr, .. } => {
                format!("p{partition} isr {}", nodes_label(isr, &node_label))
            }
            LogMsg::ReplicaFetch {
                partition,
                leader_epoch,
                offset,
                last_fetched_epoch,
            } => format!("p{partition}@{offset} e{leader_epoch} last e{last_fetched_epoch}"),
            LogMsg::ReplicaRecords {
                partition,
                offset,
                entries,
                high_watermark,
                diverging,
                ..
            } => match diverging {
                Some((e, end)) => format!("p{partition}@{offset} diverges: e{e} ends at {end}"),
                None => format!(
                    "p{partition}@{offset} x{} hw {high_watermark}",
                    entries.len()
                ),
            },
        }
    }
}

/// A node as a message label shows it: `n2` (labels do not know role names).
pub fn node_label(n: NodeId) -> String {
    format!("n{}", n + 1)
}

/// `[n2 n3]`, with `name` giving each node's name.
pub fn nodes_label(nodes: &[NodeId], name: &impl Fn(NodeId) -> String) -> String {
    let v: Vec<String> = nodes.iter().map(|&n| name(n)).collect();
    format!("[{}]", v.join(" "))
}

/// `p1 leader n2 e3 isr [n2 n3]`.
pub fn state_label(p: Partition, s: &PartitionState, name: &impl Fn(NodeId) -> String) -> String {
    let leader = s.leader.map_or("none".to_string(), name);
    format!(
        "p{p} leader {leader} e{} isr {}",
        s.leader_epoch,
        nodes_label(&s.isr, name)
    )
}
