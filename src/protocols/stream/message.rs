//! The messages of the stream, named after NATS JetStream: a publish carrying its
//! `Nats-Msg-Id`, the `PubAck` with the stream sequence (and `duplicate: true` for a
//! deduplicated retry), a consumer's interest, deliveries and acks.

use crate::protocols::queue::MsgId;
use crate::sim::Message;

/// A position in the stream, from 1 (JetStream's stream sequence).
pub type Seq = u64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StreamMsg {
    /// Producer → broker: store this message. `msg_id` is the `Nats-Msg-Id` header: the same
    /// for every retry of one message.
    Publish { msg_id: MsgId },
    /// Broker → producer: stored as `seq`. `duplicate`: this id was already stored within the
    /// duplicate window, and `seq` is where it was stored the first time.
    PubAck {
        msg_id: MsgId,
        seq: Seq,
        duplicate: bool,
    },
    /// Consumer → broker: deliver my durable consumer to me (created on the first one).
    Subscribe,
    /// Broker → consumer: the message at `seq`; `delivery` counts the deliveries of it to
    /// this consumer (1 = first).
    Deliver {
        seq: Seq,
        msg_id: MsgId,
        delivery: u32,
    },
    /// Consumer → broker: handled `seq` (under `AckPolicy::All`, everything up to it).
    Ack { seq: Seq },
}

impl Message for StreamMsg {
    fn kind(&self) -> &'static str {
        match self {
            StreamMsg::Publish { .. } => "Publish",
            StreamMsg::PubAck { .. } => "PubAck",
            StreamMsg::Subscribe => "Subscribe",
            StreamMsg::Deliver { .. } => "Deliver",
            StreamMsg::Ack { .. } => "Ack",
        }
    }
    fn label(&self) -> String {
        match self {
            StreamMsg::Publish { msg_id } => format!("Nats-Msg-Id m{msg_id}"),
            StreamMsg::PubAck {
                msg_id,
                seq,
                duplicate,
            } => {
                if *duplicate {
                    format!("m{msg_id} s{seq} (duplicate)")
                } else {
                    format!("m{msg_id} s{seq}")
                }
            }
            StreamMsg::Subscribe => "durable".into(),
            StreamMsg::Deliver {
                seq,
                msg_id,
                delivery,
            } => {
                if *delivery > 1 {
                    format!("s{seq} m{msg_id} (delivery {delivery})")
                } else {
                    format!("s{seq} m{msg_id}")
                }
            }
            StreamMsg::Ack { seq } => format!("s{seq}"),
        }
    }
}
