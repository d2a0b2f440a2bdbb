//! The workflow's options: Temporal's timeouts (workflow task, start-to-close), the activity
//! retry policy, the pickup deadline, the services' failures and the bug variants.

use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

/// Temporal's `RetryPolicy` for activities: the wait before retry `k` is
/// `initial_interval * backoff_coefficient^(k-1)`, at most `maximum_interval`; after
/// `maximum_attempts` attempts the activity fails (0: unlimited).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    pub initial_interval: SimTime,
    pub backoff_coefficient: f64,
    pub maximum_interval: SimTime,
    pub maximum_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_interval: SimTime::from_millis(100),
            backoff_coefficient: 2.0,
            maximum_interval: SimTime::from_secs(2),
            maximum_attempts: 5,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempt`th attempt failed (attempt >= 1).
    pub fn backoff(&self, attempt: u32) -> SimTime {
        let exp = attempt.saturating_sub(1).min(60) as i32;
        let us = self.initial_interval.0 as f64 * self.backoff_coefficient.powi(exp);
        let max = self.maximum_interval.0 as f64;
        SimTime(us.min(max) as u64)
    }
}

/// The `config: (...)` of a `workflow` scenario. Every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowConfig {
    /// A workflow task not answered in this long is timed out and scheduled again (for another
    /// worker). Temporal's default is 10 s; workflow tasks here take milliseconds.
    pub workflow_task_timeout: SimTime,
    /// An activity attempt not answered in this long is timed out and retried per `retry`.
    pub start_to_close_timeout: SimTime,
    pub retry: RetryPolicy,
    /// The customer waits this long from the order: a durable timer; if it fires before the
    /// drink is brewed, the order is cancelled (and refunded).
    pub pickup_deadline: SimTime,
    /// A worker polls its task queues again this often while idle (a long poll's expiry).
    pub poll_interval: SimTime,
    /// Money charged per order.
    pub amount: u64,
    /// Chance that the barista cannot brew an order (the machine is broken): a non-retryable
    /// failure, decided once per order; the workflow refunds the card.
    pub brew_failure: f64,
    /// Chance that a client cancels an order it placed, with a `cancel` signal sent at a
    /// random time within `cancel_within` (the scenario's timeline can also send one:
    /// `ClientRequest(to: "client1", op: Request("cancel"))`).
    pub cancel_chance: f64,
    pub cancel_within: SimTime,
    /// BUG: the workflow code reads the worker's clock (`time.Now()`) instead of the
    /// workflow's (`workflow.Now()`) to compute the pickup timer: a replay later, or on
    /// another worker, issues a different `StartTimer` than the history recorded.
    pub nondeterministic_workflow: bool,
    /// BUG: the payment service ignores the activity's idempotency key: a retried
    /// `ChargeCard` whose first attempt charged charges again.
    pub bug_no_idempotency: bool,
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        WorkflowConfig {
            workflow_task_timeout: SimTime::from_millis(500),
            start_to_close_timeout: SimTime::from_secs(1),
            retry: RetryPolicy::default(),
            pickup_deadline: SimTime::from_secs(20),
            poll_interval: SimTime::from_millis(500),
            amount: 5,
            brew_failure: 0.0,
            cancel_chance: 0.0,
            cancel_within: SimTime::from_secs(2),
            nondeterministic_workflow: false,
            bug_no_idempotency: false,
        }
    }
}

pub const MAX_ATTEMPTS: u32 = 10_000;
pub const MAX_AMOUNT: u64 = 1_000_000;

impl WorkflowConfig {
    /// Checks the options against each other; the message says what was expected.
    pub fn validate(&self) -> Result<(), String> {
        for (name, t) in [
            ("workflow_task_timeout", self.workflow_task_timeout),
            ("start_to_close_timeout", self.start_to_close_timeout),
            ("retry.initial_interval", self.retry.initial_interval),
            ("pickup_deadline", self.pickup_deadline),
            ("poll_interval", self.poll_interval),
        ] {
            if t == SimTime::ZERO {
                return Err(format!("{name} must be positive"));
            }
        }
        let r = &self.retry;
        if !(1.0..=100.0).contains(&r.backoff_coefficient) {
            return Err(format!(
                "expected retry.backoff_coefficient between 1 and 100, got {}",
                r.backoff_coefficient
            ));
        }
        if r.maximum_interval < r.initial_interval {
            return Err(format!(
                "expected retry.maximum_interval ({}) >= retry.initial_interval ({})",
                r.maximum_interval, r.initial_interval
            ));
        }
        if r.maximum_attempts > MAX_ATTEMPTS {
            return Err(format!(
                "expected retry.maximum_attempts at most {MAX_ATTEMPTS} (0: unlimited), got {}",
                r.maximum_attempts
            ));
        }
        if self.amount == 0 || self.amount > MAX_AMOUNT {
            return Err(format!(
                "expected amount between 1 and {MAX_AMOUNT}, got {}",
                self.amount
            ));
        }
        for (name, p) in [
            ("brew_failure", self.brew_failure),
            ("cancel_chance", self.cancel_chance),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} is a probability: expected 0..1, got {p}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_options_are_refused_with_what_was_expected() {
        let bad = |f: fn(&mut WorkflowConfig)| {
            let mut c = WorkflowConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.retry.backoff_coefficient = 0.5).contains("backoff_coefficient"));
        assert!(bad(|c| c.brew_failure = 2.0).contains("expected 0..1"));
        assert!(
            bad(|c| c.start_to_close_timeout = SimTime::ZERO)
                .contains("start_to_close_timeout must be positive")
        );
        assert!(
            bad(|c| c.retry.maximum_interval = SimTime::from_millis(1))
                .contains("maximum_interval")
        );
        assert!(WorkflowConfig::default().validate().is_ok());
    }

    #[test]
    fn the_retry_interval_grows_by_the_coefficient_up_to_the_maximum() {
        // Temporal: "Backoff Coefficient: the rate at which the retry interval increases",
        // capped by "Maximum Interval".
        let r = RetryPolicy::default();
        assert_eq!(r.backoff(1), SimTime::from_millis(100));
        assert_eq!(r.backoff(2), SimTime::from_millis(200));
        assert_eq!(r.backoff(4), SimTime::from_millis(800));
        assert_eq!(r.backoff(9), SimTime::from_secs(2));
    }
}
