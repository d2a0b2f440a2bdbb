//! Atomicity (AC1 and AC2 of Bernstein, Hadzilacos and Goodman, ch. 7): "All processes that
//! reach a decision reach the same one", and "a process cannot reverse its decision after it
//! has reached one". A decision counts as reached when it is in the node's write-ahead log.

use crate::protocols::commit::{Decision, Record, TxId, Wal};
use crate::sim::{Failure, Invariant, NodeId, Protocol, World};
use std::collections::BTreeMap;

/// Remembers the first decision seen for each transaction and compares every later one.
pub struct Atomicity {
    /// Per node, how many log records were already checked (logs are append-only).
    cursors: Vec<usize>,
    /// The first decision logged for each transaction, and the node that logged it.
    outcome: BTreeMap<TxId, (Decision, NodeId)>,
}

impl Atomicity {
    pub fn new(nodes: usize) -> Self {
        Atomicity {
            cursors: vec![0; nodes],
            outcome: BTreeMap::new(),
        }
    }
}

impl<P: Protocol<Durable = Wal>> Invariant<P> for Atomicity {
    fn name(&self) -> &'static str {
        "Atomicity"
    }
    fn statement(&self) -> &'static str {
        "all nodes that decide a transaction decide the same outcome, and none reverses its decision (AC1, AC2)"
    }
    fn check(&mut self, w: &World<P>) -> Result<(), Failure> {
        for n in w.changed() {
            let records = w.durable[n].records();
            let from = self.cursors[n].min(records.len());
            self.cursors[n] = records.len();
            for r in &records[from..] {
                let Record::Decision { tx, decision } = *r else {
                    continue;
                };
                match self.outcome.get(&tx) {
                    None => {
                        self.outcome.insert(tx, (decision, n));
                    }
                    Some(&(first, m)) if first != decision => {
                        let explanation = if m == n {
                            format!(
                                "T{tx}: a node logged {} and then {}: it reversed its decision",
                                first.as_str(),
                                decision.as_str()
                            )
                        } else {
                            format!(
                                "T{tx}: the first node listed logged {}, the second logged {}",
                                first.as_str(),
                                decision.as_str()
                            )
                        };
                        let mut nodes = vec![m];
                        if n != m {
                            nodes.push(n);
                        }
                        return Err(Failure::new(explanation, nodes));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }
}
