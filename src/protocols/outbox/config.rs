//! The outbox's options: how often the relay polls, how long a publish waits for the bus's
//! `Confirm`, how soon the bus delivers again, and the bug variants.

use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

/// The `config: (...)` of an `outbox` scenario. Every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// The relay reads the outbox table this often and publishes the rows not yet published.
    pub poll_interval: SimTime,
    /// A publish (the relay's, or the dual writer's) not confirmed by the bus within this long
    /// is sent again.
    pub confirm_timeout: SimTime,
    /// The bus delivers an event again when its subscriber has not acknowledged it in this
    /// long.
    pub redeliver_after: SimTime,
    /// Dual write only: time from the database commit to the event leaving for the bus (the
    /// broker client's call). The window in which a crash loses the event.
    pub publish_delay: SimTime,
    /// BUG: no outbox. The order service commits the order, then publishes the event itself
    /// (`publish_delay` later, retried until confirmed while it lives): a crash between the two
    /// loses the event for good.
    pub bug_dual_write: bool,
    /// BUG: the shipping service does not look up its processed-ids table: a redelivered or
    /// republished event is applied again.
    pub bug_no_dedup: bool,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            poll_interval: SimTime::from_millis(100),
            confirm_timeout: SimTime::from_millis(200),
            redeliver_after: SimTime::from_millis(200),
            publish_delay: SimTime::from_millis(20),
            bug_dual_write: false,
            bug_no_dedup: false,
        }
    }
}

impl OutboxConfig {
    /// Checks the options; the message says what was expected.
    pub fn validate(&self) -> Result<(), String> {
        for (name, t) in [
            ("poll_interval", self.poll_interval),
            ("confirm_timeout", self.confirm_timeout),
            ("redeliver_after", self.redeliver_after),
        ] {
            if t == SimTime::ZERO {
                return Err(format!(
                    "{name} must be positive (a zero period never lets time pass)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_period_is_refused_with_its_name() {
        let c = OutboxConfig {
            poll_interval: SimTime::ZERO,
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .contains("poll_interval must be positive")
        );
        assert!(OutboxConfig::default().validate().is_ok());
    }
}
