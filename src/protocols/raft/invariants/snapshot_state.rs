//! Snapshot State (§7): a snapshot holds "the current state" of the state machine after the
//! last included entry, so a server that loads it (after a restart, or from InstallSnapshot)
//! continues exactly as one that applied the log. Formally: a snapshot's state equals the state
//! machine after applying the committed entries `1..=lastIncludedIndex` in order — which also
//! makes two servers' snapshots at the same index equal.
//!
//! The checker keeps a ghost replica: it learns the committed entries from the live servers
//! after each event, replays them through the same state machine (`KvStore::apply`), and
//! compares every new snapshot, live or persisted, with the replayed state at its index. The
//! states it computed are kept by index, so each is replayed once from the nearest one below.
//! A snapshot past the committed entries it knows is Snapshot Committed's business and skipped.

use super::{CommittedEntries, name, snapshot_of};
use crate::protocols::raft::{Index, KvStore, Raft};
use crate::sim::{Failure, Invariant, World};
use std::collections::BTreeMap;

pub struct SnapshotState {
    committed: CommittedEntries,
    /// The replayed state machine after applying entries `1..=i`, for the indices computed.
    states: BTreeMap<Index, KvStore>,
    /// Per node: the snapshot index already checked.
    checked: Vec<Index>,
}

impl SnapshotState {
    pub fn new(nodes: usize) -> Self {
        SnapshotState {
            committed: CommittedEntries::new(nodes),
            states: BTreeMap::from([(0, KvStore::default())]),
            checked: vec![0; nodes],
        }
    }

    /// The state after applying the committed entries up to `index`, if all are known.
    fn state_at(&mut self, index: Index) -> Option<&KvStore> {
        if !self.states.contains_key(&index) {
            self.committed.get(index)?;
            let (&from, base) = self.states.range(..=index).next_back().expect("0 is there");
            let mut kv = base.clone();
            for i in from + 1..=index {
                kv.apply(self.committed.get(i).expect("known up to index"));
            }
            self.states.insert(index, kv);
        }
        self.states.get(&index)
    }
}

impl Invariant<Raft> for SnapshotState {
    fn name(&self) -> &'static str {
        "Snapshot State"
    }
    fn statement(&self) -> &'static str {
        "a snapshot's state is the state machine after applying the committed entries up to its \
         last included index"
    }
    fn check(&mut self, w: &World<Raft>) -> Result<(), Failure> {
        self.committed.learn(w);
        for n in w.changed() {
            let snap = snapshot_of(w, n);
            let index = snap.last_included_index;
            if index == 0 || index == self.checked[n] {
                continue;
            }
            let Some(replayed) = self.state_at(index) else {
                continue;
            };
            if *replayed != *snap.state {
                let show = |kv: &KvStore| {
                    let pairs: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{{{}}}", pairs.join(" "))
                };
                return Err(Failure::new(
                    format!(
                        "{}'s snapshot up to {index} holds {}, but applying the committed entries 1..={index} gives {}",
                        name(n),
                        show(&snap.state),
                        show(replayed)
                    ),
                    vec![n],
                ));
            }
            self.checked[n] = index;
        }
        Ok(())
    }
}
