//! Lost updates under last-writer-wins: "a write acknowledged after another was acknowledged
//! must not be ordered before it".
//!
//! Kleppmann, DDIA ch. 5 ("Last write wins (discarding concurrent writes)") and ch. 8
//! ("Timestamps for ordering events"): with timestamps from unsynchronised clocks, a write
//! that happened later in real time can carry a smaller timestamp; last-writer-wins then
//! keeps the earlier write on every replica and silently drops the later one, though its
//! client was told it succeeded. Checked from the history alone: each acknowledged write's
//! version (its timestamp) against the versions of the writes to the same key acknowledged
//! before it was invoked.

use super::{Cursor, Timelines};
use crate::sim::{Failure, Invariant, Protocol, World};

pub struct LostUpdates {
    /// Whether the configuration promises it (synchronised clocks): a lost update then fails.
    promised: bool,
    cursor: Cursor,
    /// Per key: the newest version acknowledged so far, over time.
    acked: Timelines<String>,
    lost: u64,
}

impl LostUpdates {
    pub fn new(promised: bool) -> Self {
        LostUpdates {
            promised,
            cursor: Cursor::default(),
            acked: Timelines::new(),
            lost: 0,
        }
    }
}

impl<P: Protocol> Invariant<P> for LostUpdates {
    fn name(&self) -> &'static str {
        "Lost Updates"
    }
    fn statement(&self) -> &'static str {
        "a write acknowledged after another write to the same key was acknowledged is ordered after it"
    }
    fn check(&mut self, w: &World<P>) -> Result<(), Failure> {
        let mut failure = None;
        for op in self.cursor.finished(w.history) {
            if !op.is_write {
                continue;
            }
            let t = self.acked.entry(op.key.clone()).or_default();
            if let Some(earlier) = t.before(op.invoked_at)
                && op.version < earlier
            {
                self.lost += 1;
                if self.promised && failure.is_none() {
                    failure = Some(Failure::new(
                        format!(
                            "{}, but version {earlier} of {} was acknowledged before it began: last-writer-wins drops it",
                            op.describe(),
                            op.key
                        ),
                        op.node.into_iter().collect(),
                    ));
                }
            }
            t.add(op.returned_at, op.version);
        }
        failure.map_or(Ok(()), Err)
    }
    fn counts(&self, out: &mut Vec<(&'static str, u64)>) {
        out.push(("lost_updates", self.lost));
    }
}
