//! No Key Lost: "every acknowledged write is readable from the node the router routes its
//! key to, or is in flight in a transfer to that node".
//!
//! Rebalancing must not lose data (DDIA ch. 6, "Rebalancing Partitions": "while rebalancing
//! is happening, the database should continue accepting reads and writes", and no key may be
//! dropped on the way). Checked against the state: for each key, the newest version
//! acknowledged to a client (from the history) must be held, at that version or a newer one,
//! by the storage node the router would send a read to now (its state, or its durable state
//! while it is down: it comes back with it), or by a storage node that still holds the key in
//! an unreleased move to that node (the `Transfer` is on its way or will be sent again).
//!
//! With `Sync` copies (`replication_factor` above 1) the statement is stronger: every copy
//! of the key's partition holds the version, since a write is acknowledged only once every
//! copy holds it and a new replica joins the set only once its transfer is in
//! (`rebalance.rs`).

use super::{PartConfig, PartDurable, Partitioned, RouterDurable, Stored};
use crate::protocols::storage::{Cursor, Version};
use crate::sim::{Failure, Invariant, NodeId, World};
use std::collections::{BTreeMap, BTreeSet};

pub struct NoKeyLost {
    /// Whether the router runs with `bug_route_before_transfer` (to route as it does).
    bug: bool,
    /// Copies per partition: with more than one, the router routes to the partition's leader.
    replicas: usize,
    /// Whether the configuration promises no loss: else losses are only counted.
    promised: bool,
    /// Acknowledged writes the router's route did not hold at some moment (not promised).
    lost: BTreeSet<(String, Version)>,
    /// The stores the router suspected at the last check (a failover changes routes).
    down: BTreeSet<NodeId>,
    cursor: Cursor,
    /// Per key: the newest version acknowledged to a client.
    acked: BTreeMap<String, Version>,
    /// Per node: (keys held, unreleased moves) at the last check, to notice a node dropping
    /// keys.
    shape: Vec<(usize, usize)>,
    routes: Option<(usize, u64, usize, bool)>,
}

impl NoKeyLost {
    pub fn new(cfg: &PartConfig) -> Self {
        NoKeyLost {
            bug: cfg.bug_route_before_transfer,
            replicas: cfg.replication_factor,
            promised: cfg.promises_consistency(),
            lost: BTreeSet::new(),
            down: BTreeSet::new(),
            cursor: Cursor::default(),
            acked: BTreeMap::new(),
            shape: Vec::new(),
            routes: None,
        }
    }
}

type Data = BTreeMap<String, Stored>;
type Outgoing = BTreeMap<u64, (NodeId, Vec<String>)>;

/// A storage node's keys and unreleased moves: live, or what it will restart with.
fn store_of<'a>(w: &'a World<Partitioned>, n: NodeId) -> Option<(&'a Data, &'a Outgoing)> {
    match (&w.states[n], &w.durable[n]) {
        (Some(Partitioned::Store(s)), _) => Some((&s.data, &s.outgoing)),
        (None, PartDurable::Store(d)) => Some((&d.data, &d.outgoing)),
        _ => None,
    }
}

fn router_of<'a>(w: &'a World<Partitioned>) -> Option<&'a RouterDurable> {
    for (n, s) in w.states.iter().enumerate() {
        match (s, &w.durable[n]) {
            (Some(Partitioned::Router(r)), _) => return Some(&r.d),
            (None, PartDurable::Router(d)) => return Some(&**d),
            _ => {}
        }
    }
    None
}

/// What decides the router's routes: members, the rebalancing and how far it has got.
fn route_shape(d: &RouterDurable) -> (usize, u64, usize, bool) {
    let (moving, started) = d.rebalance.as_ref().map_or((usize::MAX, false), |r| {
        let copies: usize = r.copies.values().map(|n| n.len()).sum();
        (r.moves.len() + copies, r.started)
    });
    (d.map.members.len(), d.next_move, moving, started)
}

impl Invariant<Partitioned> for NoKeyLost {
    fn name(&self) -> &'static str {
        "No Key Lost"
    }
    fn statement(&self) -> &'static str {
        "every acknowledged write is held by the node the router routes its key to, or is in flight in a transfer to it"
    }
    fn check(&mut self, w: &World<Partitioned>) -> Result<(), Failure> {
        let mut fresh = Vec::new();
        for op in self.cursor.finished(w.history) {
            if op.is_write {
                let v = self.acked.entry(op.key.clone()).or_insert(op.version);
                *v = (*v).max(op.version);
                fresh.push(op.key);
            }
        }
        if self.shape.len() != w.states.len() {
            self.shape = vec![(0, 0); w.states.len()];
        }
        // Only a node dropping keys, a change of route (the router) or an action (a crash,
        // a restart) can lose an older write: check every key then, else only the new ones.
        let mut everything = w.touched.is_none();
        for n in w.changed() {
            if let Some((data, out)) = store_of(w, n) {
                let shape = (data.len(), out.values().map(|(_, k)| k.len()).sum());
                if shape.0 < self.shape[n].0 || shape.1 < self.shape[n].1 {
                    everything = true;
                }
                self.shape[n] = shape;
            }
        }
        let Some(router) = router_of(w) else {
            return Ok(());
        };
        let routes = route_shape(router);
        if self.routes != Some(routes) || self.down != router.down {
            self.routes = Some(routes);
            self.down.clone_from(&router.down);
            everything = true;
        }
        let keys: Vec<&String> = if everything {
            self.acked.keys().collect()
        } else {
            fresh.iter().collect()
        };
        for key in keys {
            let Some(&version) = self.acked.get(key) else {
                continue;
            };
            let Some(owner) = router.route(key, self.bug, self.replicas) else {
                continue;
            };
            let has = |d: &Data| d.get(key).is_some_and(|(_, v)| *v >= version);
            if self.replicas > 1 && self.promised {
                // `Sync`: a write is acknowledged once every copy holds it, and a new replica
                // counts as a copy only once its transfer is in: every copy of the
                // partition holds it (or, down, will come back with it).
                let copies = router.replica_map(key).replicas(key, self.replicas);
                if let Some(&n) = copies
                    .iter()
                    .find(|&&n| !store_of(w, n).is_some_and(|(d, _)| has(d)))
                {
                    let held = store_of(w, n)
                        .and_then(|(d, _)| d.get(key))
                        .map_or("nothing".to_string(), |(_, v)| format!("version {v}"));
                    let set: Vec<String> = copies.iter().map(|c| format!("n{}", c + 1)).collect();
                    return Err(Failure::new(
                        format!(
                            "Key lost: version {version} of {key} was acknowledged, but n{}, one \
                             of its copies ({}), holds {held}",
                            n + 1,
                            set.join(", ")
                        ),
                        vec![n],
                    ));
                }
                continue;
            }
            if store_of(w, owner).is_some_and(|(d, _)| has(d)) {
                continue;
            }
            let in_flight = (0..w.states.len()).any(|n| {
                store_of(w, n).is_some_and(|(d, out)| {
                    has(d)
                        && out
                            .values()
                            .any(|(to, ks)| *to == owner && ks.iter().any(|k| k == key))
                })
            });
            if in_flight {
                continue;
            }
            if !self.promised {
                self.lost.insert((key.clone(), version));
                continue;
            }
            let held = store_of(w, owner)
                .and_then(|(d, _)| d.get(key))
                .map_or("nothing".to_string(), |(_, v)| format!("version {v}"));
            return Err(Failure::new(
                format!(
                    "Key lost: version {version} of {key} was acknowledged, but the router \
                     routes {key} to n{} which holds {held}, and no transfer of it is on its way",
                    owner + 1
                ),
                vec![owner],
            ));
        }
        Ok(())
    }
    fn counts(&self, out: &mut Vec<(&'static str, u64)>) {
        if self.replicas > 1 {
            out.push(("lost_writes", self.lost.len() as u64));
        }
    }
}
