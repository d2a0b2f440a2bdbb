//! An acceptor keeps its promise: having answered `Prepare(n)`, it "promises never again to
//! accept a proposal numbered less than n" (Paxos Made Simple, 2.2, P1a).
//!
//! The checker remembers each acceptor's durable promise after every event; when the acceptor's
//! accepted proposal changes, its ballot must be at least the promise held *before* the event.

use crate::protocols::paxos::{Ballot, Paxos};
use crate::sim::{Failure, Invariant, World};

pub struct PromiseRespected {
    /// Durable promise and accepted proposal per acceptor after the previous event.
    last: Vec<(Ballot, Option<(Ballot, String)>)>,
}

impl PromiseRespected {
    pub fn new(nodes: usize) -> Self {
        PromiseRespected {
            last: vec![(Ballot::ZERO, None); nodes],
        }
    }
}

impl Invariant<Paxos> for PromiseRespected {
    fn name(&self) -> &'static str {
        "Promise Respected"
    }
    fn statement(&self) -> &'static str {
        "An acceptor never accepts a proposal numbered below a ballot it has promised."
    }
    fn check(&mut self, w: &World<Paxos>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let d = &w.durable[n];
        let (promised_before, accepted_before) = &self.last[n];
        let result = match &d.accepted {
            Some((b, v)) if d.accepted != *accepted_before && b < promised_before => {
                Err(Failure::new(
                    format!("accepted {v} in ballot {b} after promising ballot {promised_before}"),
                    vec![n],
                ))
            }
            _ => Ok(()),
        };
        self.last[n] = (d.promised, d.accepted.clone());
        result
    }
}
