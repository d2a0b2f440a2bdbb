//! Version Monotonicity (Demers et al. 1987, §1.3: an update replaces a value only if its
//! timestamp is newer). A node's version of a key never goes back, across crashes too (the
//! store is durable). Incremental: each event compares only the touched node with what it
//! held before.

use crate::protocols::gossip::{Gossip, Version};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::BTreeMap;

pub struct VersionMonotonicity {
    /// The versions each node held after the last event that touched it.
    last: Vec<BTreeMap<String, Version>>,
}

impl VersionMonotonicity {
    pub fn new(nodes: usize) -> Self {
        VersionMonotonicity {
            last: vec![BTreeMap::new(); nodes],
        }
    }

    fn check_node(&mut self, n: NodeId, s: &Gossip) -> Result<(), Failure> {
        let seen = &mut self.last[n];
        for (key, before) in seen.iter() {
            let now = s.store.get(key).map(|u| u.version);
            if now.is_none_or(|v| v < *before) {
                return Err(Failure::new(
                    format!(
                        "node {n} held {key} at version {}.{} and now holds {}",
                        before.counter,
                        before.origin,
                        now.map_or("nothing".to_string(), |v| format!(
                            "version {}.{}",
                            v.counter, v.origin
                        ))
                    ),
                    vec![n],
                ));
            }
        }
        if seen.len() != s.store.len() || s.store.values().any(|u| seen[&u.key] != u.version) {
            *seen = s
                .store
                .values()
                .map(|u| (u.key.clone(), u.version))
                .collect();
        }
        Ok(())
    }
}

impl Invariant<Gossip> for VersionMonotonicity {
    fn name(&self) -> &'static str {
        "Version Monotonicity"
    }
    fn statement(&self) -> &'static str {
        "the version a node holds for a key never decreases"
    }
    fn check(&mut self, w: &World<Gossip>) -> Result<(), Failure> {
        for n in w.changed() {
            if let Some(s) = &w.states[n] {
                self.check_node(n, s)?;
            }
        }
        Ok(())
    }
}
