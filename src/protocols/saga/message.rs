//! The saga's messages, named as the guide and microservices.io name them: the client's
//! `PlaceOrder`, the orchestrator's commands (`CreateOrder`, `Charge`, `Reserve`,
//! `ApproveOrder` and the compensations `CancelOrder`, `Refund`, `Release`) with their
//! `Reply`, and choreography's events (`OrderCreated`, `PaymentCharged`, ...) with their `Ack`.

use crate::sim::Message;

/// An order's id: also the idempotency key of every step of its saga.
pub type OrderId = u64;

/// The steps of the order saga, in order. The first three are compensable; `Approve` comes
/// after the last step that can fail for a business reason, so it is only ever retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Order service: create the order, `pending`. Compensation: cancel it.
    Create,
    /// Payment service: charge the card. Compensation: refund it.
    Charge,
    /// Inventory service: reserve one unit. Compensation: release it.
    Reserve,
    /// Order service: approve the order (the saga completed).
    Approve,
}

impl Step {
    pub const ALL: [Step; 4] = [Step::Create, Step::Charge, Step::Reserve, Step::Approve];
    /// Steps with a compensation, in forward order.
    pub const COMPENSABLE: usize = 3;

    pub fn index(self) -> usize {
        self as usize
    }
    /// The service that runs the step.
    pub fn service(self) -> Service {
        match self {
            Step::Create | Step::Approve => Service::Order,
            Step::Charge => Service::Payment,
            Step::Reserve => Service::Inventory,
        }
    }
    /// The command's name (the message kind).
    pub fn command(self) -> &'static str {
        match self {
            Step::Create => "CreateOrder",
            Step::Charge => "Charge",
            Step::Reserve => "Reserve",
            Step::Approve => "ApproveOrder",
        }
    }
    /// The compensation's name (the message kind).
    pub fn compensation(self) -> &'static str {
        match self {
            Step::Create => "CancelOrder",
            Step::Charge => "Refund",
            Step::Reserve => "Release",
            Step::Approve => "-",
        }
    }
}

/// The three services of the guide's order problem, each with its own store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Order,
    Payment,
    Inventory,
}

impl Service {
    /// The node role that plays it.
    pub fn role(self) -> &'static str {
        match self {
            Service::Order => "order",
            Service::Payment => "payment",
            Service::Inventory => "inventory",
        }
    }
}

/// What a service answers to a command or a compensation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Done (or already done: the idempotency key was seen).
    Done,
    /// Refused for a business reason (declined, out of stock), or because the order was
    /// already compensated. Nothing was changed.
    Refused,
    /// A transient error: nothing was changed; try again.
    Error,
}

/// How a saga ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SagaEnd {
    /// Every step ran: the order is approved, paid and reserved.
    Completed,
    /// A step failed and every step done before it was compensated.
    Compensated,
    /// `Direct` only: a step failed and nothing was undone.
    Failed,
}

impl SagaEnd {
    pub fn word(self) -> &'static str {
        match self {
            SagaEnd::Completed => "completed",
            SagaEnd::Compensated => "compensated",
            SagaEnd::Failed => "failed",
        }
    }
}

/// Choreography's events. Each has one subscriber (see [`Event::subscriber`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// Order service: an order was created (pending).
    OrderCreated,
    /// Payment service: the card was charged.
    PaymentCharged,
    /// Payment service: the card was declined.
    PaymentDeclined,
    /// Inventory service: one unit was reserved.
    StockReserved,
    /// Inventory service: no unit could be reserved.
    StockRefused,
    /// Payment service: the charge was refunded (a compensation).
    PaymentRefunded,
}

impl Event {
    /// The service that reacts to it.
    pub fn subscriber(self) -> Service {
        match self {
            Event::OrderCreated | Event::StockRefused => Service::Payment,
            Event::PaymentCharged => Service::Inventory,
            Event::PaymentDeclined | Event::StockReserved | Event::PaymentRefunded => {
                Service::Order
            }
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Event::OrderCreated => "OrderCreated",
            Event::PaymentCharged => "PaymentCharged",
            Event::PaymentDeclined => "PaymentDeclined",
            Event::StockReserved => "StockReserved",
            Event::StockRefused => "StockRefused",
            Event::PaymentRefunded => "PaymentRefunded",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SagaMsg {
    /// Client → orchestrator (or order service in choreography): start the saga of `order`.
    /// Sent again on a timeout: the order id makes it idempotent.
    PlaceOrder { order: OrderId },
    /// → client: the saga of `order` ended.
    OrderResult { order: OrderId, end: SagaEnd },
    /// Orchestrator (or the `Direct` client) → service: run `step` for `order`.
    Do { order: OrderId, step: Step },
    /// Orchestrator → service: compensate `step` for `order`.
    Undo { order: OrderId, step: Step },
    /// Service → caller: what became of `Do` (`undo: false`) or `Undo` (`undo: true`).
    Reply {
        order: OrderId,
        step: Step,
        undo: bool,
        outcome: Outcome,
    },
    /// Choreography: a service's event, published from its outbox until acknowledged.
    Publish { order: OrderId, event: Event },
    /// Choreography: the subscriber handled (or had already handled) the event.
    Ack { order: OrderId, event: Event },
}

impl Message for SagaMsg {
    fn kind(&self) -> &'static str {
        match self {
            SagaMsg::PlaceOrder { .. } => "PlaceOrder",
            SagaMsg::OrderResult { .. } => "OrderResult",
            SagaMsg::Do { step, .. } => step.command(),
            SagaMsg::Undo { step, .. } => step.compensation(),
            SagaMsg::Reply { .. } => "Reply",
            SagaMsg::Publish { event, .. } => event.name(),
            SagaMsg::Ack { .. } => "Ack",
        }
    }
    fn label(&self) -> String {
        match self {
            SagaMsg::PlaceOrder { order } => format!("o{order}"),
            SagaMsg::OrderResult { order, end } => format!("o{order} {}", end.word()),
            SagaMsg::Do { order, step } => format!("o{order} {}", step.command()),
            SagaMsg::Undo { order, step } => format!("o{order} {}", step.compensation()),
            SagaMsg::Reply {
                order,
                step,
                undo,
                outcome,
            } => {
                let what = if *undo {
                    step.compensation()
                } else {
                    step.command()
                };
                format!("o{order} {what} {outcome:?}")
            }
            SagaMsg::Publish { order, event } | SagaMsg::Ack { order, event } => {
                format!("o{order} {}", event.name())
            }
        }
    }
}
