//! "Only a single value is chosen" (Paxos Made Simple, 2.1).
//!
//! A value is *chosen* when a majority of acceptors have accepted it in the same ballot. The
//! checker keeps, for every ballot, the set of acceptors that accepted in it (read from their
//! durable state, so crashed acceptors still count), and the values that ever reached a
//! majority. An acceptor changes its accepted proposal at most once per event, so watching the
//! touched node after each event sees every acceptance.

use crate::protocols::paxos::{Ballot, Paxos};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

pub struct SingleValueChosen {
    majority: usize,
    /// The last accepted proposal seen per acceptor, to notice changes.
    last: Vec<Option<(Ballot, String)>>,
    /// Acceptors that accepted in each ballot (ballots carry one value each).
    votes: BTreeMap<Ballot, (String, BTreeSet<NodeId>)>,
    /// Chosen values, with the ballot that chose each first.
    chosen: BTreeMap<String, Ballot>,
}

impl SingleValueChosen {
    pub fn new(nodes: usize) -> Self {
        SingleValueChosen {
            majority: nodes / 2 + 1,
            last: vec![None; nodes],
            votes: BTreeMap::new(),
            chosen: BTreeMap::new(),
        }
    }
}

impl Invariant<Paxos> for SingleValueChosen {
    fn name(&self) -> &'static str {
        "Single Value Chosen"
    }
    fn statement(&self) -> &'static str {
        "Only a single value is chosen: no two ballots get different values accepted by a majority."
    }
    fn check(&mut self, w: &World<Paxos>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let now = &w.durable[n].accepted;
        if *now == self.last[n] {
            return Ok(());
        }
        self.last[n] = now.clone();
        let Some((ballot, value)) = now else {
            return Ok(());
        };
        let (v, by) = self
            .votes
            .entry(*ballot)
            .or_insert_with(|| (value.clone(), BTreeSet::new()));
        if v != value {
            return Err(Failure::new(
                format!("ballot {ballot} carries two values, {v} and {value}"),
                vec![n],
            ));
        }
        by.insert(n);
        if by.len() < self.majority || self.chosen.contains_key(value) {
            return Ok(());
        }
        let voters: Vec<NodeId> = by.iter().copied().collect();
        self.chosen.insert(value.clone(), *ballot);
        if self.chosen.len() > 1 {
            let list: Vec<String> = self
                .chosen
                .iter()
                .map(|(v, b)| format!("{v} (ballot {b})"))
                .collect();
            return Err(Failure::new(
                format!("two values are chosen: {}", list.join(" and ")),
                voters,
            ));
        }
        Ok(())
    }
}
