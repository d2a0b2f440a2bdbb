//! Unique Valid Token: a token is valid if its generation is the newest one promised anywhere
//! (older ones are refused by the majority that promised); at most one node holds a valid
//! token. Two holders of the newest generation would be a duplicated token that the
//! position numbering failed to kill.

use crate::protocols::token_ring::TokenRing;
use crate::sim::{Failure, Invariant, NodeId, World};

pub struct UniqueValidToken;

impl Invariant<TokenRing> for UniqueValidToken {
    fn name(&self) -> &'static str {
        "Unique Valid Token"
    }
    fn statement(&self) -> &'static str {
        "at most one node holds a token of the newest promised generation"
    }
    fn check(&mut self, w: &World<TokenRing>) -> Result<(), Failure> {
        if let Some(n) = w.touched
            && !w.states[n].as_ref().is_some_and(|s| s.holds())
        {
            return Ok(());
        }
        let newest = w
            .durable
            .iter()
            .map(|d| d.promised)
            .chain(w.live().map(|(_, s)| s.promised))
            .max()
            .unwrap_or(0);
        let holders: Vec<NodeId> = w
            .live()
            .filter(|(_, s)| s.holds() && s.token.is_some_and(|t| t.generation >= newest))
            .map(|(i, _)| i)
            .collect();
        if holders.len() > 1 {
            let names: Vec<String> = holders.iter().map(|i| format!("n{}", i + 1)).collect();
            return Err(Failure::new(
                format!(
                    "{} all hold a token of generation {newest}",
                    names.join(", ")
                ),
                holders,
            ));
        }
        Ok(())
    }
}
