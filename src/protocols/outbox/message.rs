//! The outbox's messages: the event `OrderPlaced` published to the bus (`Publish`) and
//! confirmed (`Confirm`), then delivered to the shipping service (`Deliver`) and acknowledged
//! (`Ack`).

use crate::sim::Message;

/// An order's id: also the id of its `OrderPlaced` event, the key the consumer deduplicates on.
pub type OrderId = u64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OutboxMsg {
    /// Relay (or dual writer) → bus: the event `OrderPlaced(order)`.
    Publish { order: OrderId },
    /// Bus → publisher: the event is durably on the bus.
    Confirm { order: OrderId },
    /// Bus → consumer: the event at `offset`.
    Deliver { offset: u64, order: OrderId },
    /// Consumer → bus: handled (applied, or recognised as a duplicate).
    Ack { offset: u64 },
}

impl Message for OutboxMsg {
    fn kind(&self) -> &'static str {
        match self {
            OutboxMsg::Publish { .. } => "Publish",
            OutboxMsg::Confirm { .. } => "Confirm",
            OutboxMsg::Deliver { .. } => "Deliver",
            OutboxMsg::Ack { .. } => "Ack",
        }
    }
    fn label(&self) -> String {
        match self {
            OutboxMsg::Publish { order } => format!("OrderPlaced o{order}"),
            OutboxMsg::Confirm { order } => format!("o{order} confirmed"),
            OutboxMsg::Deliver { offset, order } => format!("#{offset} OrderPlaced o{order}"),
            OutboxMsg::Ack { offset } => format!("ack #{offset}"),
        }
    }
}
