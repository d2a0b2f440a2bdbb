//! Ends Completed, Compensated or Cancelled: the workflow's promise to the customer. A
//! workflow that ended `completed` has its card charged, its drink brewed and its customer
//! called; one that ended `compensated` (brewing failed) or `cancelled` (a cancel signal or
//! the pickup deadline before brewing) holds no charge: it was never charged or was refunded.
//!
//! Stated on the stores' journals and the server's histories; checked when the end is
//! written and again whenever a store changes that order afterwards (a late charge landing
//! after its refund is caught here). That every started workflow does end is measured: the
//! `running` series must be 0 at quiescence.

use crate::protocols::workflow::{Activity, End, Workflow, WorkflowId};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

/// What the stores hold of one order.
#[derive(Clone, Copy, Debug, Default)]
struct Held {
    charges: u32,
    refunds: u32,
    brewed: bool,
    called: bool,
}

pub struct EndsSettled {
    journal_read: Vec<usize>,
    history_read: BTreeMap<WorkflowId, usize>,
    held: BTreeMap<WorkflowId, Held>,
    ended: BTreeMap<WorkflowId, End>,
    /// The services' nodes, to cite.
    services: BTreeSet<NodeId>,
}

impl EndsSettled {
    pub fn new(nodes: usize) -> Self {
        EndsSettled {
            journal_read: vec![0; nodes],
            history_read: BTreeMap::new(),
            held: BTreeMap::new(),
            ended: BTreeMap::new(),
            services: BTreeSet::new(),
        }
    }

    fn check_order(&self, wf: WorkflowId, end: End) -> Result<(), String> {
        let h = self.held.get(&wf).copied().unwrap_or_default();
        let charged = h.charges > h.refunds;
        let wrong = match end {
            End::Completed if !charged => "its card holds no charge",
            End::Completed if !h.brewed => "no drink was brewed",
            End::Completed if !h.called => "the customer was never called",
            End::Compensated | End::Cancelled if charged => "its card is still charged",
            _ => return Ok(()),
        };
        Err(format!("o{wf} ended {}, but {wrong}", end.word()))
    }
}

impl Invariant<Workflow> for EndsSettled {
    fn name(&self) -> &'static str {
        "Ends Completed, Compensated or Cancelled"
    }
    fn statement(&self) -> &'static str {
        "an ended workflow is completed (charged, brewed, called) or compensated or cancelled (no charge left)"
    }
    fn check(&mut self, w: &World<Workflow>) -> Result<(), Failure> {
        let mut touched = BTreeSet::new();
        for n in w.changed() {
            let journal = &w.durable[n].store.journal;
            let from = self.journal_read[n].min(journal.len());
            self.journal_read[n] = journal.len();
            for e in &journal[from..] {
                self.services.insert(n);
                let h = self.held.entry(e.workflow).or_default();
                match e.activity {
                    Activity::ChargeCard => h.charges += 1,
                    Activity::RefundCard => h.refunds += 1,
                    Activity::Brew => h.brewed = true,
                    Activity::Notify => h.called = true,
                    Activity::TakeOrder => {}
                }
                touched.insert(e.workflow);
            }
        }
        let mut server = None;
        if let Some((s, d)) = super::server(w)
            && w.changed().contains(&s)
        {
            server = Some(s);
            for (&wf, ex) in &d.server.executions {
                let read = self.history_read.entry(wf).or_default();
                let from = (*read).min(ex.history.len());
                *read = ex.history.len();
                if let Some(end) = ex.history[from..].iter().find_map(|e| e.end()) {
                    self.ended.insert(wf, end);
                    touched.insert(wf);
                }
            }
        }
        for wf in touched {
            if let Some(&end) = self.ended.get(&wf)
                && let Err(why) = self.check_order(wf, end)
            {
                let mut nodes: Vec<NodeId> = server.into_iter().collect();
                nodes.extend(self.services.iter().copied());
                return Err(Failure::new(why, nodes));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(held: Held, end: End) -> Result<(), String> {
        let mut c = EndsSettled::new(3);
        c.held.insert(7, held);
        c.ended.insert(7, end);
        c.check_order(7, end)
    }

    #[test]
    fn a_completed_order_is_charged_brewed_and_called() {
        let done = Held {
            charges: 1,
            refunds: 0,
            brewed: true,
            called: true,
        };
        assert_eq!(with(done, End::Completed), Ok(()));
        let e = with(
            Held {
                called: false,
                ..done
            },
            End::Completed,
        )
        .unwrap_err();
        assert_eq!(e, "o7 ended completed, but the customer was never called");
        let e = with(
            Held {
                brewed: false,
                ..done
            },
            End::Completed,
        )
        .unwrap_err();
        assert!(e.contains("no drink was brewed"), "{e}");
        let e = with(Held { refunds: 1, ..done }, End::Completed).unwrap_err();
        assert!(e.contains("holds no charge"), "{e}");
    }

    #[test]
    fn a_compensated_or_cancelled_order_holds_no_charge() {
        // "compensation when payment succeeded but brewing failed": the refund settles it.
        let refunded = Held {
            charges: 1,
            refunds: 1,
            brewed: false,
            called: false,
        };
        let never = Held::default();
        for end in [End::Compensated, End::Cancelled] {
            assert_eq!(with(refunded, end), Ok(()));
            assert_eq!(with(never, end), Ok(()));
            // A late charge landing after its refund leaves the card charged.
            let late = Held {
                charges: 2,
                ..refunded
            };
            let e = with(late, end).unwrap_err();
            assert!(e.contains("its card is still charged"), "{e}");
        }
    }
}
