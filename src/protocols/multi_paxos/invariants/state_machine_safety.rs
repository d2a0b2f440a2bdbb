//! State Machine Safety: if a node has applied a command at a position of its log, no other
//! node ever applies a different command at that position (Raft's name for the property every
//! replicated state machine needs; "Paxos Made Simple" section 3 asks the same of the servers
//! executing the sequence of chosen commands).
//!
//! Each node keeps a hash chain over the commands it applied, so the checker compares, for each
//! number of applied commands, the chain of every node that reached it: O(1) per event.

use crate::protocols::multi_paxos::MultiPaxos;
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct StateMachineSafety {
    /// The chain value first seen after `k` applied commands, and the node it was seen on.
    chain_at: BTreeMap<u64, (u64, NodeId)>,
}

impl Invariant<MultiPaxos> for StateMachineSafety {
    fn name(&self) -> &'static str {
        "State Machine Safety"
    }
    fn statement(&self) -> &'static str {
        "Every node applies the same command at each position of the log."
    }
    fn check(&mut self, w: &World<MultiPaxos>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        let (k, chain) = (s.kv.applied, s.kv.chain);
        if k == 0 {
            return Ok(());
        }
        match self.chain_at.get(&k) {
            None => {
                self.chain_at.insert(k, (chain, n));
                Ok(())
            }
            Some((c, _)) if *c == chain => Ok(()),
            Some((_, other)) => Err(Failure::new(
                format!(
                    "after {k} applied commands n{} and n{} have different state machines",
                    other + 1,
                    n + 1
                ),
                vec![*other, n],
            )),
        }
    }
}
