//! The saga's options: how it is coordinated (`mode`), the failures the services can have
//! (business failures, transient errors, failing compensations), the retry policy (step
//! timeout, back-off, attempts) and the bug variants that break a promise.

use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

/// Who decides what happens next in a saga.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// No saga at all: the guide's first picture ("The Distributed Transaction Problem"). The
    /// `client` node calls each service in turn and, when a step fails after others
    /// succeeded, undoes nothing: the order stays created and the card stays charged.
    Direct,
    /// A central `orchestrator` with a persisted saga log calls each step in order and, when
    /// one fails, runs the compensations of the steps done so far in reverse order.
    #[default]
    Orchestration,
    /// No coordinator: each service reacts to the previous service's event and emits its
    /// own (`OrderCreated` → payment → `PaymentCharged` → inventory → `StockReserved` →
    /// order); a failure emits an event that makes the earlier services compensate
    /// (`StockRefused` → refund → `PaymentRefunded` → cancel the order).
    Choreography,
}

/// The `config: (...)` of a `saga` scenario. Every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SagaConfig {
    pub mode: Mode,
    /// Units in the inventory at the start; each order reserves one. An order that finds
    /// none left is refused ("out of stock").
    pub stock: u64,
    /// Chance that the inventory refuses an order's reservation anyway (the item is sold out
    /// elsewhere): a business failure, decided once per order and remembered.
    pub out_of_stock: f64,
    /// Chance that the payment service declines an order's card: a business failure.
    pub decline: f64,
    /// Chance that one attempt of a forward step fails with a transient error (no effect):
    /// the caller retries it after a back-off.
    pub error_rate: f64,
    /// Chance that one attempt of a compensation (refund, release, cancel) fails with a
    /// transient error: it is retried, with back-off, until it succeeds.
    pub compensation_error_rate: f64,
    /// Money charged per order.
    pub amount: u64,
    /// How long a caller (the orchestrator, a choreography service publishing an event, a
    /// client) waits for an answer before it treats the attempt as failed.
    pub step_timeout: SimTime,
    /// Wait before retry `k` of a step: `retry_backoff * 2^(k-1)`, at most
    /// `retry_backoff_max`.
    pub retry_backoff: SimTime,
    /// The longest back-off (Temporal's "maximum interval"), so that a saga held up by a long
    /// fault resumes soon after the fault heals.
    pub retry_backoff_max: SimTime,
    /// Attempts of a compensable forward step (create, charge, reserve) before the
    /// orchestrator gives up on it and compensates; and of a client's `PlaceOrder`. Steps
    /// after the last compensable one (approve) and compensations are retried until they
    /// succeed: a saga must be able to finish.
    pub max_attempts: u32,
    /// BUG: the payment service ignores the idempotency key (the order id) of a `Charge`: a
    /// retried or duplicated request charges the card again.
    pub bug_no_idempotency: bool,
    /// BUG: the payment's compensation is skipped (no refund), yet the saga is reported as
    /// compensated.
    pub bug_skip_compensation: bool,
}

impl Default for SagaConfig {
    fn default() -> Self {
        SagaConfig {
            mode: Mode::Orchestration,
            stock: 1_000_000,
            out_of_stock: 0.0,
            decline: 0.0,
            error_rate: 0.0,
            compensation_error_rate: 0.0,
            amount: 50,
            step_timeout: SimTime::from_millis(200),
            retry_backoff: SimTime::from_millis(50),
            retry_backoff_max: SimTime::from_secs(1),
            max_attempts: 5,
            bug_no_idempotency: false,
            bug_skip_compensation: false,
        }
    }
}

/// Largest `max_attempts`, `stock` and `amount` accepted.
pub const MAX_ATTEMPTS: u32 = 10_000;
pub const MAX_STOCK: u64 = 1_000_000_000;
pub const MAX_AMOUNT: u64 = 1_000_000;

impl SagaConfig {
    /// Checks the options against each other; the message says what was expected.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS {
            return Err(format!(
                "expected max_attempts between 1 and {MAX_ATTEMPTS}, got {}",
                self.max_attempts
            ));
        }
        if self.stock > MAX_STOCK {
            return Err(format!(
                "expected stock at most {MAX_STOCK}, got {}",
                self.stock
            ));
        }
        if self.amount == 0 || self.amount > MAX_AMOUNT {
            return Err(format!(
                "expected amount between 1 and {MAX_AMOUNT}, got {}",
                self.amount
            ));
        }
        for (name, t) in [
            ("step_timeout", self.step_timeout),
            ("retry_backoff", self.retry_backoff),
        ] {
            if t == SimTime::ZERO {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.retry_backoff_max < self.retry_backoff {
            return Err(format!(
                "expected retry_backoff_max ({}) >= retry_backoff ({})",
                self.retry_backoff_max, self.retry_backoff
            ));
        }
        for (name, p) in [
            ("out_of_stock", self.out_of_stock),
            ("decline", self.decline),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} is a probability: expected 0..1, got {p}"));
            }
        }
        for (name, p) in [
            ("error_rate", self.error_rate),
            ("compensation_error_rate", self.compensation_error_rate),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!(
                    "{name} is a probability below 1: expected 0 <= {name} < 1 (a step that \
                     always fails is retried forever), got {p}"
                ));
            }
        }
        if self.bug_skip_compensation && self.mode == Mode::Direct {
            return Err(
                "bug_skip_compensation needs mode: Orchestration or Choreography (Direct never compensates)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Exponential back-off: `retry_backoff * 2^(n-1)` for the `n`th wait (n >= 1), at most
    /// `retry_backoff_max`.
    pub fn backoff(&self, n: u32) -> SimTime {
        self.retry_backoff
            .saturating_mul(1u64 << n.saturating_sub(1).min(30))
            .min(self.retry_backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_options_are_refused_with_what_was_expected() {
        let bad = |f: fn(&mut SagaConfig)| {
            let mut c = SagaConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.max_attempts = 0).contains("max_attempts between 1"));
        assert!(bad(|c| c.error_rate = 1.0).contains("below 1"));
        assert!(bad(|c| c.decline = 1.5).contains("expected 0..1"));
        assert!(bad(|c| c.step_timeout = SimTime::ZERO).contains("step_timeout must be positive"));
        assert!(
            bad(|c| {
                c.mode = Mode::Direct;
                c.bug_skip_compensation = true;
            })
            .contains("Direct never compensates")
        );
        assert!(SagaConfig::default().validate().is_ok());
    }

    #[test]
    fn back_off_doubles_per_attempt() {
        let c = SagaConfig::default();
        assert_eq!(c.backoff(1), SimTime::from_millis(50));
        assert_eq!(c.backoff(3), SimTime::from_millis(200));
        assert_eq!(c.backoff(40), SimTime::from_secs(1));
    }
}
