//! The services the activities act on, each with its own store: `payment` (charges and
//! refunds, the card balance) and `barista` (order tickets, drinks brewed, customers called).
//!
//! Every call carries the activity's idempotency key, `(workflow id, activity id)`: a retried
//! attempt whose first attempt ran is answered from the store, not run again (Temporal's docs:
//! activities should be idempotent, since they may run more than once). A refund that comes
//! before its charge (the charge's attempts timed out, the request was still on its way)
//! leaves a tombstone, and the late charge is refused.

use super::config::WorkflowConfig;
use super::message::{Activity, ActivityId, Outcome, WorkflowId};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// A card's state for one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Card {
    Charged,
    Refunded,
    /// Refunded before any charge arrived: a late charge is refused.
    Voided,
}

/// One effect applied to a store: the journal the checkers read with a cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effect {
    pub workflow: WorkflowId,
    pub activity_id: ActivityId,
    pub activity: Activity,
}

/// A service's durable store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Store {
    /// Which service this is ("payment" or "barista"); empty until started.
    pub role: String,
    /// Answers given, by idempotency key.
    pub answered: BTreeMap<(WorkflowId, ActivityId), Outcome>,
    /// Payment: each order's card.
    pub cards: BTreeMap<WorkflowId, Card>,
    /// Payment: money held (charges minus refunds).
    pub balance: u64,
    /// Barista: orders whose machine is broken (decided once, remembered).
    pub broken: BTreeMap<WorkflowId, bool>,
    /// Every effect applied, in order.
    pub journal: Vec<Effect>,
}

impl Store {
    pub fn new(role: &str) -> Self {
        Store {
            role: role.to_string(),
            ..Default::default()
        }
    }

    /// Orders whose card is charged now.
    pub fn charged(&self) -> usize {
        self.cards.values().filter(|&&c| c == Card::Charged).count()
    }

    /// Whether `activity` of `workflow` took effect here.
    pub fn applied(&self, workflow: WorkflowId, activity: Activity) -> bool {
        self.journal
            .iter()
            .any(|e| e.workflow == workflow && e.activity == activity)
    }

    /// Performs one attempt of an activity's call.
    pub fn invoke(
        &mut self,
        workflow: WorkflowId,
        activity_id: ActivityId,
        activity: Activity,
        cfg: &WorkflowConfig,
        rng: &mut ChaCha8Rng,
    ) -> Outcome {
        let key = (workflow, activity_id);
        let skip_key = cfg.bug_no_idempotency && activity == Activity::ChargeCard;
        if let Some(&o) = self.answered.get(&key)
            && !skip_key
        {
            return o;
        }
        let outcome = match activity {
            Activity::ChargeCard => match self.cards.get(&workflow) {
                Some(Card::Refunded | Card::Voided) => Outcome::Refused,
                Some(Card::Charged) if !skip_key => Outcome::Done,
                _ => {
                    // The bug charges again here: the key was not looked up.
                    self.balance += cfg.amount;
                    self.cards.insert(workflow, Card::Charged);
                    Outcome::Done
                }
            },
            Activity::RefundCard => {
                match self.cards.get(&workflow) {
                    Some(Card::Charged) => {
                        self.balance = self.balance.saturating_sub(cfg.amount);
                        self.cards.insert(workflow, Card::Refunded);
                    }
                    None => {
                        self.cards.insert(workflow, Card::Voided);
                    }
                    Some(_) => {}
                }
                Outcome::Done
            }
            Activity::Brew => {
                let p = cfg.brew_failure;
                let broken = *self
                    .broken
                    .entry(workflow)
                    .or_insert_with(|| p > 0.0 && rng.random::<f64>() < p);
                if broken {
                    Outcome::Refused
                } else {
                    Outcome::Done
                }
            }
            Activity::TakeOrder | Activity::Notify => Outcome::Done,
        };
        self.answered.insert(key, outcome);
        if outcome == Outcome::Done {
            self.journal.push(Effect {
                workflow,
                activity_id,
                activity,
            });
        }
        outcome
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
    fn a_retried_charge_is_answered_from_its_idempotency_key() {
        // Temporal's docs: "Activities should be idempotent": an attempt may run again.
        let cfg = WorkflowConfig::default();
        let mut s = Store::new("payment");
        for _ in 0..3 {
            let o = s.invoke(1, 2, Activity::ChargeCard, &cfg, &mut rng());
            assert_eq!(o, Outcome::Done);
        }
        assert_eq!((s.balance, s.journal.len()), (cfg.amount, 1));
    }

    #[test]
    fn without_the_key_a_retried_charge_charges_again() {
        let cfg = WorkflowConfig {
            bug_no_idempotency: true,
            ..Default::default()
        };
        let mut s = Store::new("payment");
        s.invoke(1, 2, Activity::ChargeCard, &cfg, &mut rng());
        s.invoke(1, 2, Activity::ChargeCard, &cfg, &mut rng());
        assert_eq!((s.balance, s.journal.len()), (2 * cfg.amount, 2));
    }

    #[test]
    fn a_refund_before_its_charge_leaves_a_tombstone_that_refuses_the_late_charge() {
        let cfg = WorkflowConfig::default();
        let mut s = Store::new("payment");
        assert_eq!(
            s.invoke(1, 5, Activity::RefundCard, &cfg, &mut rng()),
            Outcome::Done
        );
        assert_eq!(
            s.invoke(1, 2, Activity::ChargeCard, &cfg, &mut rng()),
            Outcome::Refused
        );
        assert_eq!((s.balance, s.cards[&1]), (0, Card::Voided));
    }

    #[test]
    fn a_broken_machine_stays_broken_for_that_order() {
        let cfg = WorkflowConfig {
            brew_failure: 1.0,
            ..Default::default()
        };
        let mut s = Store::new("barista");
        for attempt in 0..3 {
            let o = s.invoke(4, 3, Activity::Brew, &cfg, &mut rng());
            assert_eq!(o, Outcome::Refused, "attempt {attempt}");
        }
        assert!(s.journal.is_empty());
    }
}
