//! Fresh reads: "a read that misses a write acknowledged before it started" is *stale*.
//!
//! This is the real-time half of linearizability (Herlihy and Wing 1990): once a write has
//! been acknowledged, every read that starts afterwards must return it or something newer.
//! Reading from an asynchronously updated follower breaks it (Kleppmann, DDIA ch. 5, "Problems
//! with Replication Lag"); so does a failover that loses acknowledged writes.

use super::{Cursor, Timelines};
use crate::sim::{Failure, Invariant, Protocol, World};

pub struct FreshReads {
    /// Whether the configuration promises fresh reads: a stale read is then a violation.
    promised: bool,
    cursor: Cursor,
    /// Per key: the newest version acknowledged to any client, over time.
    acked: Timelines<String>,
    /// Stale reads seen so far.
    stale: u64,
}

impl FreshReads {
    pub fn new(promised: bool) -> Self {
        FreshReads {
            promised,
            cursor: Cursor::default(),
            acked: Timelines::new(),
            stale: 0,
        }
    }
}

impl<P: Protocol> Invariant<P> for FreshReads {
    fn name(&self) -> &'static str {
        "Fresh Reads"
    }
    fn statement(&self) -> &'static str {
        "a read returns every write acknowledged before the read started, or a newer one"
    }
    fn check(&mut self, w: &World<P>) -> Result<(), Failure> {
        let mut failure = None;
        for op in self.cursor.finished(w.history) {
            if op.is_write {
                let t = self.acked.entry(op.key.clone()).or_default();
                t.add(op.returned_at, op.version);
                continue;
            }
            let Some(newest) = self
                .acked
                .get(&op.key)
                .and_then(|t| t.before(op.invoked_at))
            else {
                continue;
            };
            if op.version < newest {
                self.stale += 1;
                if self.promised && failure.is_none() {
                    failure = Some(Failure::new(
                        format!(
                            "{}, but version {newest} of {} was acknowledged before it started",
                            op.describe(),
                            op.key
                        ),
                        op.node.into_iter().collect(),
                    ));
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }
    fn counts(&self, out: &mut Vec<(&'static str, u64)>) {
        out.push(("stale_reads", self.stale));
    }
}
