//! Version Uniqueness: one version of a key names one value, on every node. Demers' replicas
//! converge only because timestamps are unique (a counter plus the writer's site id); two
//! writes with the same version and different values leave replicas that disagree forever
//! while each believes it is up to date. Incremental: the first value seen for each
//! (key, version) is remembered and the touched node is compared with it.

use crate::protocols::gossip::{Gossip, Version};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct VersionUniqueness {
    /// The first value seen for each (key, version), and the node it was seen at.
    seen: BTreeMap<(String, Version), (String, NodeId)>,
}

impl VersionUniqueness {
    fn check_node(&mut self, n: NodeId, s: &Gossip) -> Result<(), Failure> {
        for u in s.store.values() {
            match self.seen.get(&(u.key.clone(), u.version)) {
                Some((value, at)) if *value != u.value => {
                    return Err(Failure::new(
                        format!(
                            "version {}.{} of {} is `{}` at node {n} but `{value}` at node {at}",
                            u.version.counter, u.version.origin, u.key, u.value
                        ),
                        vec![n, *at],
                    ));
                }
                Some(_) => {}
                None => {
                    self.seen
                        .insert((u.key.clone(), u.version), (u.value.clone(), n));
                }
            }
        }
        Ok(())
    }
}

impl Invariant<Gossip> for VersionUniqueness {
    fn name(&self) -> &'static str {
        "Version Uniqueness"
    }
    fn statement(&self) -> &'static str {
        "all nodes holding the same version of a key hold the same value"
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
