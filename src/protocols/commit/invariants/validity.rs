//! Validity (AC3 of Bernstein, Hadzilacos and Goodman, ch. 7): "The Commit decision can only be
//! reached if all processes voted Yes." A vote counts when it is in the participant's
//! write-ahead log (votes are forced before they are sent).

use crate::protocols::commit::{Decision, Record, TxId, Vote, Wal};
use crate::sim::{Failure, Invariant, NodeId, Protocol, World};
use std::collections::{BTreeMap, BTreeSet};

/// Collects Yes votes as they are logged and checks each transaction's first Commit record.
pub struct Validity {
    /// The nodes that must all vote Yes before anyone may commit.
    participants: Vec<NodeId>,
    /// Per node, how many log records were already read.
    cursors: Vec<usize>,
    /// The participants whose logs hold a Yes vote, per transaction.
    yes: BTreeMap<TxId, BTreeSet<NodeId>>,
    /// Transactions whose commit was already checked (the first commit record decides).
    checked: BTreeSet<TxId>,
}

impl Validity {
    pub fn new(participants: Vec<NodeId>, nodes: usize) -> Self {
        Validity {
            participants,
            cursors: vec![0; nodes],
            yes: BTreeMap::new(),
            checked: BTreeSet::new(),
        }
    }
}

impl<P: Protocol<Durable = Wal>> Invariant<P> for Validity {
    fn name(&self) -> &'static str {
        "Validity"
    }
    fn statement(&self) -> &'static str {
        "a transaction is committed only if every participant voted Yes (AC3)"
    }
    fn check(&mut self, w: &World<P>) -> Result<(), Failure> {
        // Votes first, then commits: within one scan a vote and a commit may both be new.
        let mut commits = Vec::new();
        for n in w.changed() {
            let records = w.durable[n].records();
            let from = self.cursors[n].min(records.len());
            self.cursors[n] = records.len();
            for r in &records[from..] {
                match *r {
                    Record::Vote {
                        tx,
                        vote: Vote::Yes,
                    } => {
                        self.yes.entry(tx).or_default().insert(n);
                    }
                    Record::Decision {
                        tx,
                        decision: Decision::Commit,
                    } => commits.push((tx, n)),
                    _ => {}
                }
            }
        }
        for (tx, n) in commits {
            if !self.checked.insert(tx) {
                continue;
            }
            let yes = self.yes.get(&tx);
            let missing: Vec<NodeId> = self
                .participants
                .iter()
                .copied()
                .filter(|p| yes.is_none_or(|y| !y.contains(p)))
                .collect();
            if !missing.is_empty() {
                let mut nodes = vec![n];
                nodes.extend(missing.iter().copied().filter(|&m| m != n));
                return Err(Failure::new(
                    format!(
                        "T{tx} was committed by the first node listed, but {} participant(s) (the others listed) never voted Yes",
                        missing.len()
                    ),
                    nodes,
                ));
            }
        }
        Ok(())
    }
}
