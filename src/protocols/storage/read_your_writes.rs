//! Read your writes (Terry et al., "Session Guarantees for Weakly Consistent Replicated Data",
//! PDIS 1994): "read operations reflect previous writes" of the same client.
//!
//! A client that writes through the leader and then reads from a follower that has not caught
//! up yet does not see its own write: the comment it just posted has vanished (Kleppmann,
//! DDIA ch. 5, "Reading Your Own Writes").

use super::{Cursor, Timelines};
use crate::sim::client::ClientId;
use crate::sim::{Failure, Invariant, Protocol, World};

pub struct ReadYourWrites {
    /// Whether the configuration promises the guarantee: a violation is then a failure.
    promised: bool,
    cursor: Cursor,
    /// Per (client, key): the newest version of that client's own acknowledged writes.
    own: Timelines<(ClientId, String)>,
    /// Reads that missed the reader's own earlier write.
    violations: u64,
}

impl ReadYourWrites {
    pub fn new(promised: bool) -> Self {
        ReadYourWrites {
            promised,
            cursor: Cursor::default(),
            own: Timelines::new(),
            violations: 0,
        }
    }
}

impl<P: Protocol> Invariant<P> for ReadYourWrites {
    fn name(&self) -> &'static str {
        "Read Your Writes"
    }
    fn statement(&self) -> &'static str {
        "a client's read returns that client's own acknowledged writes, or newer ones"
    }
    fn check(&mut self, w: &World<P>) -> Result<(), Failure> {
        let mut failure = None;
        for op in self.cursor.finished(w.history) {
            let key = (op.client, op.key.clone());
            if op.is_write {
                self.own
                    .entry(key)
                    .or_default()
                    .add(op.returned_at, op.version);
                continue;
            }
            let Some(mine) = self.own.get(&key).and_then(|t| t.before(op.invoked_at)) else {
                continue;
            };
            if op.version < mine {
                self.violations += 1;
                if self.promised && failure.is_none() {
                    failure = Some(Failure::new(
                        format!(
                            "{}, but the same client had written version {mine} of {} before",
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
        out.push(("read_your_writes_violations", self.violations));
    }
}
