//! Agreement on delivered prefixes: "if some process delivers a transaction, then every process
//! that delivers a transaction at that position delivers the same one" — any two nodes'
//! delivery sequences are prefixes of one another (Zab DSN 2011, III: Agreement and Total
//! order).
//!
//! The checker keeps the longest delivery sequence seen (zxid and the state machine's hash
//! chain at each position) and compares each node's new deliveries with it.

use crate::protocols::zab::{Zab, Zxid};
use crate::sim::{Failure, Invariant, NodeId, World};

pub struct Agreement {
    /// Position -> (zxid, node that first delivered it).
    reference: Vec<(Zxid, NodeId)>,
    /// Position -> the hash chain after it, to compare the transactions themselves.
    chains: Vec<u64>,
    checked: Vec<usize>,
}

impl Agreement {
    pub fn new(nodes: usize) -> Self {
        Agreement {
            reference: Vec::new(),
            chains: Vec::new(),
            checked: vec![0; nodes],
        }
    }
}

impl Invariant<Zab> for Agreement {
    fn name(&self) -> &'static str {
        "Agreement"
    }
    fn statement(&self) -> &'static str {
        "Nodes deliver the same transactions in the same order: delivery sequences are prefixes of one another."
    }
    fn check(&mut self, w: &World<Zab>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        let d = &s.delivered;
        if d.len() < self.checked[n] {
            self.checked[n] = 0;
        }
        for (i, z) in d.iter().enumerate().skip(self.checked[n]) {
            match self.reference.get(i) {
                None => self.reference.push((*z, n)),
                Some((r, by)) if r != z => {
                    return Err(Failure::new(
                        format!(
                            "position {}: n{} delivered {r}, n{} delivered {z}",
                            i + 1,
                            by + 1,
                            n + 1
                        ),
                        vec![*by, n],
                    ));
                }
                Some(_) => {}
            }
        }
        // The last position's hash chain covers the transactions' contents too.
        let k = d.len();
        if k > 0 && k > self.checked[n] {
            match self.chains.get(k - 1) {
                Some(c) if *c != s.kv.chain => {
                    return Err(Failure::new(
                        format!("after {k} deliveries n{} has a different state", n + 1),
                        vec![n],
                    ));
                }
                None if self.chains.len() == k - 1 => self.chains.push(s.kv.chain),
                _ => {}
            }
        }
        self.checked[n] = d.len();
        Ok(())
    }
}
