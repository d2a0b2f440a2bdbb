//! The microservices' options: the workload's mix of operations, the publish and redelivery
//! timeouts, and the bug variant.

use crate::sim::SimTime;
use serde::{Deserialize, Serialize};

/// The `config: (...)` of a `microservices` scenario. Every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MicroservicesConfig {
    /// Weight of "create a user" among a client's operations.
    pub create_user: u32,
    /// Weight of "create a note" (for a random user the client has seen created).
    pub create_note: u32,
    /// Weight of "delete a user" (a random user the client has seen created).
    pub delete_user: u32,
    /// The user service publishes an outbox event again when the bus has not confirmed it in
    /// this long.
    pub confirm_timeout: SimTime,
    /// The bus delivers an event again when the notes service has not acknowledged it in this
    /// long.
    pub redeliver_after: SimTime,
    /// With `bug_ack_before_apply`: how long an acknowledged event waits in the notes
    /// service's memory before its background worker applies it.
    pub apply_delay: SimTime,
    /// BUG: the notes service acknowledges each event as soon as it receives it (auto-ack)
    /// and applies it `apply_delay` later; a crash in between loses the event, since the bus
    /// will not deliver an acknowledged event again, and the user's notes outlive it.
    pub bug_ack_before_apply: bool,
}

impl Default for MicroservicesConfig {
    fn default() -> Self {
        MicroservicesConfig {
            create_user: 1,
            create_note: 3,
            delete_user: 1,
            confirm_timeout: SimTime::from_millis(200),
            redeliver_after: SimTime::from_millis(200),
            apply_delay: SimTime::from_millis(300),
            bug_ack_before_apply: false,
        }
    }
}

impl MicroservicesConfig {
    /// Checks the options; the message says what was expected.
    pub fn validate(&self) -> Result<(), String> {
        if self.create_user == 0 {
            return Err("create_user must be at least 1 (no user, no note to write)".into());
        }
        if self.create_user as u64 + self.create_note as u64 + self.delete_user as u64
            > u32::MAX as u64
        {
            return Err("expected create_user + create_note + delete_user to fit in u32".into());
        }
        for (name, t) in [
            ("confirm_timeout", self.confirm_timeout),
            ("redeliver_after", self.redeliver_after),
            ("apply_delay", self.apply_delay),
        ] {
            if t == SimTime::ZERO {
                return Err(format!("{name} must be positive"));
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
        let c = MicroservicesConfig {
            create_user: 0,
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .contains("create_user must be at least 1")
        );
        let c = MicroservicesConfig {
            redeliver_after: SimTime::ZERO,
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .contains("redeliver_after must be positive")
        );
        assert!(MicroservicesConfig::default().validate().is_ok());
    }
}
