//! Bounded Waiting (fairness): a holder serves every request that was waiting when the token
//! arrived before it lets the token go, so with the token circulating every requester enters
//! within one rotation and requests are served in ring order. Checked at the touched node:
//! holding (outside the critical section) or passing the token while a request older than the
//! token's arrival still waits is a violation.

use crate::protocols::token_ring::{Role, TokenRing};
use crate::sim::{Failure, Invariant, World};

pub struct BoundedWaiting;

impl Invariant<TokenRing> for BoundedWaiting {
    fn name(&self) -> &'static str {
        "Bounded Waiting"
    }
    fn statement(&self) -> &'static str {
        "a request waiting when the token arrives is served before the token leaves"
    }
    fn check(&mut self, w: &World<TokenRing>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        let has_token = matches!(s.role, Role::Holding { in_cs: false } | Role::Passing);
        if !has_token {
            return Ok(());
        }
        if let Some((r, at)) = s.pending.iter().find(|(_, at)| *at < s.token_since) {
            return Err(Failure::new(
                format!(
                    "n{} has the token since {} but request c{}#{} waiting since {at} was not served",
                    n + 1,
                    s.token_since,
                    r.client,
                    r.seq
                ),
                vec![n],
            ));
        }
        Ok(())
    }
}
