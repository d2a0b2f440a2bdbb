//! The messages of the queue, named as in AMQP 0-9-1 (RabbitMQ): `basic.publish`,
//! publisher confirms (`basic.ack` from the broker), `basic.deliver`, `basic.ack` and
//! `basic.nack` from the consumer, and a heartbeat.

use super::exchange::RoutingKey;
use crate::sim::Message;

/// A message's id, unique over the run: given by its producer (`m7`).
pub type MsgId = u64;
/// A delivery tag: names one delivery of one message, so a late `Ack` for an earlier
/// delivery cannot settle a later one.
pub type Tag = u64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueMsg {
    /// Producer → broker: queue this message (`basic.publish`), routed by the exchange on
    /// `key` (empty for the default exchange). `poison`: its processing will always fail.
    Publish {
        id: MsgId,
        poison: bool,
        key: RoutingKey,
    },
    /// Broker → producer: the message is queued (on disk, for a durable queue): a publisher
    /// confirm.
    Confirm { id: MsgId },
    /// Consumer → broker: start pushing to me (`basic.consume`), sent at start and restart.
    /// `session` names this run of the consumer (its start time), so the broker can tell a
    /// restarted consumer, whose earlier deliveries are gone, from the one it knew.
    Subscribe { session: u64 },
    /// Consumer → broker: still alive (and still in `session`).
    Heartbeat { session: u64 },
    /// Broker → consumer: process this message (`basic.deliver`). `redelivered` is set when
    /// an earlier delivery of it was not acknowledged; `delivery` counts them (1 = first).
    Deliver {
        tag: Tag,
        id: MsgId,
        poison: bool,
        redelivered: bool,
        delivery: u32,
    },
    /// Consumer → broker: processed, forget it (`basic.ack`).
    Ack { tag: Tag },
    /// Consumer → broker: processing failed, try again or dead-letter it (`basic.nack`).
    Nack { tag: Tag },
}

impl Message for QueueMsg {
    fn kind(&self) -> &'static str {
        match self {
            QueueMsg::Publish { .. } => "Publish",
            QueueMsg::Confirm { .. } => "Confirm",
            QueueMsg::Subscribe { .. } => "Subscribe",
            QueueMsg::Heartbeat { .. } => "Heartbeat",
            QueueMsg::Deliver { .. } => "Deliver",
            QueueMsg::Ack { .. } => "Ack",
            QueueMsg::Nack { .. } => "Nack",
        }
    }
    fn label(&self) -> String {
        match self {
            QueueMsg::Publish { id, poison, key } => {
                let key = if key.0.is_empty() {
                    String::new()
                } else {
                    format!(" {}", key.0)
                };
                format!("m{id}{key}{}", if *poison { " (poison)" } else { "" })
            }
            QueueMsg::Confirm { id } => format!("m{id}"),
            QueueMsg::Subscribe { session } | QueueMsg::Heartbeat { session } => {
                format!("session {session}")
            }
            QueueMsg::Deliver {
                tag,
                id,
                redelivered,
                delivery,
                ..
            } => {
                if *redelivered {
                    format!("m{id} tag {tag} (delivery {delivery})")
                } else {
                    format!("m{id} tag {tag}")
                }
            }
            QueueMsg::Ack { tag } | QueueMsg::Nack { tag } => format!("tag {tag}"),
        }
    }
}
