//! Mutual Exclusion (Dijkstra 1965; Le Lann 1977: "only the process holding the token may
//! enter its critical section"): at no time are two nodes in the critical section.
//! A scan of the live nodes; token rings are small.

use crate::protocols::token_ring::TokenRing;
use crate::sim::{Failure, Invariant, NodeId, World};

pub struct MutualExclusion;

impl Invariant<TokenRing> for MutualExclusion {
    fn name(&self) -> &'static str {
        "Mutual Exclusion"
    }
    fn statement(&self) -> &'static str {
        "at most one node is in the critical section at any time"
    }
    fn check(&mut self, w: &World<TokenRing>) -> Result<(), Failure> {
        // Only an event at a node can put it in the critical section.
        if let Some(n) = w.touched
            && !w.states[n].as_ref().is_some_and(|s| s.in_cs())
        {
            return Ok(());
        }
        let inside: Vec<NodeId> = w
            .live()
            .filter(|(_, s)| s.in_cs())
            .map(|(i, _)| i)
            .collect();
        if inside.len() > 1 {
            let gens: Vec<String> = inside
                .iter()
                .map(|&i| {
                    let s = w.states[i].as_ref().expect("live");
                    format!("n{} (g{})", i + 1, s.token.map_or(0, |t| t.generation))
                })
                .collect();
            return Err(Failure::new(
                format!(
                    "{} are in the critical section together",
                    gens.join(" and ")
                ),
                inside,
            ));
        }
        Ok(())
    }
}
