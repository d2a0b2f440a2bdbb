//! A service's own database: one row per order, keyed by the order id, which is also the
//! idempotency key of every request about that order. A step or compensation is one local
//! transaction: it changes the row (and the stock or the balance), appends the change to the
//! store's journal (its write-ahead log, which the checkers read) and, in choreography, puts
//! the event it causes in the store's outbox, all in one `persist`.
//!
//! Idempotency (the guide's answer to retries): a request whose key has a row is answered
//! from the row, not run again. A compensation that finds no row leaves a tombstone
//! (`Voided`), so a late or retried step for a compensated order is refused: the step and
//! its compensation commute.

use super::config::SagaConfig;
use super::message::{Event, OrderId, Outcome, Service, Step};
use crate::sim::NodeId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// The state of one order in one service's store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Row {
    /// The step's effect is in place: the order exists (pending), the card is charged, a
    /// unit is reserved.
    Done,
    /// Order service only: the order is approved (the saga completed).
    Approved,
    /// The step was refused (declined, out of stock): no effect.
    Refused,
    /// The step's effect was compensated: cancelled, refunded, released.
    Undone,
    /// Compensated before the step ever ran: a tombstone that refuses the late step.
    Voided,
}

impl Row {
    /// Whether the service holds the step's effect for this order.
    pub fn holds_effect(self) -> bool {
        matches!(self, Row::Done | Row::Approved)
    }
    /// The row in the service's own words.
    pub fn word(self, service: Service) -> &'static str {
        match (service, self) {
            (Service::Order, Row::Done) => "pending",
            (Service::Order, Row::Approved) => "approved",
            (Service::Order, Row::Undone) => "cancelled",
            (Service::Payment, Row::Done) => "charged",
            (Service::Payment, Row::Refused) => "declined",
            (Service::Payment, Row::Undone) => "refunded",
            (Service::Inventory, Row::Done) => "reserved",
            (Service::Inventory, Row::Refused) => "out of stock",
            (Service::Inventory, Row::Undone) => "released",
            (_, Row::Refused) => "refused",
            (_, Row::Voided) => "voided",
            (_, Row::Approved) => "approved",
        }
    }
}

/// One journal entry: `order`'s row became `row`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub order: OrderId,
    pub row: Row,
}

/// A service's database. Everything here is durable: it is persisted with every change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Store {
    /// Which service this store belongs to (`None` before its first write).
    pub service: Option<Service>,
    /// One row per order seen.
    pub rows: BTreeMap<OrderId, Row>,
    /// Every change in order: the write-ahead log. Checkers read it with a cursor.
    pub journal: Vec<Change>,
    /// Inventory: units left.
    pub stock: u64,
    /// Payment: money held (charges minus refunds).
    pub balance: u64,
    /// Choreography: events written with the change that caused them, waiting for their
    /// subscriber's `Ack` (the outbox). Value: the node to publish to.
    pub outbox: BTreeMap<(OrderId, Event), NodeId>,
    /// Choreography, order service: the client node waiting for each order's result.
    pub askers: BTreeMap<OrderId, NodeId>,
}

impl Store {
    pub fn new(service: Service, cfg: &SagaConfig) -> Self {
        Store {
            service: Some(service),
            stock: if service == Service::Inventory {
                cfg.stock
            } else {
                0
            },
            ..Default::default()
        }
    }

    fn set(&mut self, order: OrderId, row: Row) {
        self.rows.insert(order, row);
        self.journal.push(Change { order, row });
    }

    /// Runs `step` for `order` (one attempt). Answers from the row when the key is known.
    pub fn apply_do(
        &mut self,
        order: OrderId,
        step: Step,
        cfg: &SagaConfig,
        rng: &mut ChaCha8Rng,
    ) -> Outcome {
        if cfg.error_rate > 0.0 && rng.random::<f64>() < cfg.error_rate {
            return Outcome::Error;
        }
        let row = self.rows.get(&order).copied();
        let charge_again = step == Step::Charge && cfg.bug_no_idempotency && row == Some(Row::Done);
        match (step, row) {
            (Step::Approve, Some(Row::Done)) => {
                self.set(order, Row::Approved);
                Outcome::Done
            }
            (Step::Approve, Some(Row::Approved)) => Outcome::Done,
            (Step::Approve, _) => Outcome::Refused,
            _ if charge_again => {
                // The bug: the key is not looked up, the card is charged once more.
                self.balance += cfg.amount;
                self.set(order, Row::Done);
                Outcome::Done
            }
            (_, Some(r)) if r.holds_effect() => Outcome::Done,
            (_, Some(_)) => Outcome::Refused,
            (Step::Create, None) => {
                self.set(order, Row::Done);
                Outcome::Done
            }
            (Step::Charge, None) => {
                if cfg.decline > 0.0 && rng.random::<f64>() < cfg.decline {
                    self.set(order, Row::Refused);
                    Outcome::Refused
                } else {
                    self.balance += cfg.amount;
                    self.set(order, Row::Done);
                    Outcome::Done
                }
            }
            (Step::Reserve, None) => {
                let sold_out = cfg.out_of_stock > 0.0 && rng.random::<f64>() < cfg.out_of_stock;
                if self.stock == 0 || sold_out {
                    self.set(order, Row::Refused);
                    Outcome::Refused
                } else {
                    self.stock -= 1;
                    self.set(order, Row::Done);
                    Outcome::Done
                }
            }
        }
    }

    /// Compensates this service's step for `order` (one attempt). Idempotent; a missing row
    /// becomes a tombstone.
    pub fn apply_undo(
        &mut self,
        order: OrderId,
        cfg: &SagaConfig,
        rng: &mut ChaCha8Rng,
    ) -> Outcome {
        if cfg.compensation_error_rate > 0.0 && rng.random::<f64>() < cfg.compensation_error_rate {
            return Outcome::Error;
        }
        match self.rows.get(&order).copied() {
            Some(r) if r.holds_effect() => {
                match self.service {
                    Some(Service::Payment) => {
                        self.balance = self.balance.saturating_sub(cfg.amount)
                    }
                    Some(Service::Inventory) => self.stock += 1,
                    _ => {}
                }
                self.set(order, Row::Undone);
            }
            None => self.set(order, Row::Voided),
            Some(_) => {}
        }
        Outcome::Done
    }

    /// Orders whose step is in effect here.
    pub fn holding(&self) -> usize {
        self.rows.values().filter(|r| r.holds_effect()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(3)
    }

    #[test]
    fn a_retried_charge_is_answered_from_its_key_not_charged_again() {
        // The guide: "Use idempotency keys so retries don't double-charge."
        let cfg = SagaConfig::default();
        let mut s = Store::new(Service::Payment, &cfg);
        assert_eq!(s.apply_do(7, Step::Charge, &cfg, &mut rng()), Outcome::Done);
        assert_eq!(s.apply_do(7, Step::Charge, &cfg, &mut rng()), Outcome::Done);
        assert_eq!(s.balance, 50);
        assert_eq!(
            s.journal,
            vec![Change {
                order: 7,
                row: Row::Done
            }]
        );
    }

    #[test]
    fn without_the_key_a_retried_charge_charges_twice() {
        let cfg = SagaConfig {
            bug_no_idempotency: true,
            ..Default::default()
        };
        let mut s = Store::new(Service::Payment, &cfg);
        s.apply_do(7, Step::Charge, &cfg, &mut rng());
        s.apply_do(7, Step::Charge, &cfg, &mut rng());
        assert_eq!(s.balance, 100);
        assert_eq!(s.journal.len(), 2);
    }

    #[test]
    fn a_compensation_before_its_step_leaves_a_tombstone_that_refuses_the_late_step() {
        // Garcia-Molina & Salem: a compensation must undo the step "from a semantic point of
        // view" whether or not the step's request was delivered; the two must commute.
        let cfg = SagaConfig::default();
        let mut s = Store::new(Service::Inventory, &cfg);
        assert_eq!(s.apply_undo(4, &cfg, &mut rng()), Outcome::Done);
        assert_eq!(s.rows[&4], Row::Voided);
        assert_eq!(
            s.apply_do(4, Step::Reserve, &cfg, &mut rng()),
            Outcome::Refused
        );
        assert_eq!(s.stock, cfg.stock);
    }

    #[test]
    fn a_reservation_takes_a_unit_its_release_gives_it_back_and_an_empty_stock_refuses() {
        let cfg = SagaConfig {
            stock: 1,
            ..Default::default()
        };
        let mut s = Store::new(Service::Inventory, &cfg);
        assert_eq!(
            s.apply_do(1, Step::Reserve, &cfg, &mut rng()),
            Outcome::Done
        );
        assert_eq!(
            s.apply_do(2, Step::Reserve, &cfg, &mut rng()),
            Outcome::Refused
        );
        assert_eq!(s.stock, 0);
        s.apply_undo(1, &cfg, &mut rng());
        assert_eq!((s.stock, s.rows[&1]), (1, Row::Undone));
        // Compensating twice changes nothing.
        s.apply_undo(1, &cfg, &mut rng());
        assert_eq!(s.stock, 1);
    }
}
