//! The messages of the log, named after Kafka's protocol requests: Produce, Fetch,
//! JoinGroup, Heartbeat, SyncGroup (here `Assignment`) and OffsetCommit (here `Commit`).

use crate::sim::Message;

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
        }
    }
}
