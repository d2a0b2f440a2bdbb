//! Completed or Compensated: the guarantee of a saga (Garcia-Molina & Salem, SIGMOD 1987,
//! §2): "either T1, T2, …, Tn" runs, "or T1, T2, …, Tj, Cj, …, C2, C1" for some j < n.
//!
//! Stated on the stores: when a saga has ended `completed`, the order service holds the
//! order approved, the payment service the charge and the inventory the reservation; when it
//! ended `compensated` (or `failed`, in `Direct` mode), no store holds any effect of it: no
//! charged payment without an order, no stock reserved for a cancelled order. Checked when
//! the saga's end is logged, and again whenever a store changes that order afterwards (a
//! late, retried step landing after its compensation is caught here).

use crate::protocols::saga::{Row, Saga, SagaEnd, Service};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

/// Index of a service in per-order row arrays.
fn slot(s: Service) -> usize {
    match s {
        Service::Order => 0,
        Service::Payment => 1,
        Service::Inventory => 2,
    }
}
const SERVICES: [Service; 3] = [Service::Order, Service::Payment, Service::Inventory];

pub struct CompletedOrCompensated {
    /// Per node: how much of its store's journal and of its saga log's ends has been read.
    journal_read: Vec<usize>,
    ended_read: Vec<usize>,
    /// The node of each service, once seen.
    service_node: [Option<NodeId>; 3],
    /// Each order's row in each service, replayed from the journals.
    rows: BTreeMap<u64, [Option<Row>; 3]>,
    /// Each ended saga: how it ended and the node that logged it.
    ended: BTreeMap<u64, (SagaEnd, NodeId)>,
}

impl CompletedOrCompensated {
    pub fn new(nodes: usize) -> Self {
        CompletedOrCompensated {
            journal_read: vec![0; nodes],
            ended_read: vec![0; nodes],
            service_node: [None; 3],
            rows: BTreeMap::new(),
            ended: BTreeMap::new(),
        }
    }

    fn check_order(&self, order: u64, end: SagaEnd, owner: NodeId) -> Result<(), Failure> {
        let rows = self.rows.get(&order).copied().unwrap_or([None; 3]);
        let mut wrong = Vec::new();
        let mut nodes = vec![owner];
        for s in SERVICES {
            let row = rows[slot(s)];
            let ok = match end {
                SagaEnd::Completed if s == Service::Order => row == Some(Row::Approved),
                SagaEnd::Completed => row.is_some_and(Row::holds_effect),
                SagaEnd::Compensated | SagaEnd::Failed => !row.is_some_and(Row::holds_effect),
            };
            if !ok {
                wrong.push(format!(
                    "the {} service has it {}",
                    s.role(),
                    row.map_or("absent", |r| r.word(s))
                ));
                nodes.extend(self.service_node[slot(s)]);
            }
        }
        if wrong.is_empty() {
            return Ok(());
        }
        let what = match end {
            SagaEnd::Completed => "completed, but",
            SagaEnd::Compensated => "compensated, but",
            SagaEnd::Failed => "failed and nothing undid its steps:",
        };
        nodes.dedup();
        Err(Failure::new(
            format!("o{order} {what} {}", wrong.join(" and ")),
            nodes,
        ))
    }
}

impl Invariant<Saga> for CompletedOrCompensated {
    fn name(&self) -> &'static str {
        "Completed or Compensated"
    }
    fn statement(&self) -> &'static str {
        "a finished saga either ran every step or compensated every step it ran"
    }
    fn check(&mut self, w: &World<Saga>) -> Result<(), Failure> {
        let mut touched = BTreeSet::new();
        for n in w.changed() {
            let d = &w.durable[n];
            if let Some(s) = d.store.service {
                self.service_node[slot(s)] = Some(n);
                let from = self.journal_read[n].min(d.store.journal.len());
                for c in &d.store.journal[from..] {
                    self.rows.entry(c.order).or_insert([None; 3])[slot(s)] = Some(c.row);
                    touched.insert(c.order);
                }
                self.journal_read[n] = d.store.journal.len();
            }
            let from = self.ended_read[n].min(d.log.ended.len());
            for e in &d.log.ended[from..] {
                self.ended.insert(e.order, (e.end, n));
                touched.insert(e.order);
            }
            self.ended_read[n] = d.log.ended.len();
        }
        for order in touched {
            if let Some(&(end, owner)) = self.ended.get(&order) {
                self.check_order(order, end, owner)?;
            }
        }
        Ok(())
    }
}
