//! Monotonic reads (Terry et al., PDIS 1994): "successive reads reflect a non-decreasing set
//! of writes". A client that reads a key twice never sees it go back in time.
//!
//! Reading from a different, more lagging follower the second time breaks it (Kleppmann,
//! DDIA ch. 5, "Monotonic Reads"); so does a failover to a leader that lost writes a client
//! had already read.

use super::{Cursor, Timelines};
use crate::sim::client::ClientId;
use crate::sim::{Failure, Invariant, Protocol, World};

pub struct MonotonicReads {
    /// Whether the configuration promises the guarantee: a violation is then a failure.
    promised: bool,
    cursor: Cursor,
    /// Per (client, key): the newest version that client has read, by the time the read returned.
    read: Timelines<(ClientId, String)>,
    /// Reads older than an earlier read of the same client.
    violations: u64,
}

impl MonotonicReads {
    pub fn new(promised: bool) -> Self {
        MonotonicReads {
            promised,
            cursor: Cursor::default(),
            read: Timelines::new(),
            violations: 0,
        }
    }
}

impl<P: Protocol> Invariant<P> for MonotonicReads {
    fn name(&self) -> &'static str {
        "Monotonic Reads"
    }
    fn statement(&self) -> &'static str {
        "a client's later read of a key never returns an older version than its earlier read"
    }
    fn check(&mut self, w: &World<P>) -> Result<(), Failure> {
        let mut failure = None;
        for op in self.cursor.finished(w.history) {
            if op.is_write {
                continue;
            }
            let key = (op.client, op.key.clone());
            let timeline = self.read.entry(key).or_default();
            if let Some(earlier) = timeline.before(op.invoked_at)
                && op.version < earlier
            {
                self.violations += 1;
                if self.promised && failure.is_none() {
                    failure = Some(Failure::new(
                        format!(
                            "{}, but the same client had already read version {earlier}",
                            op.describe()
                        ),
                        op.node.into_iter().collect(),
                    ));
                }
            }
            timeline.add(op.returned_at, op.version);
        }
        failure.map_or(Ok(()), Err)
    }
    fn counts(&self, out: &mut Vec<(&'static str, u64)>) {
        out.push(("monotonic_read_violations", self.violations));
    }
}
