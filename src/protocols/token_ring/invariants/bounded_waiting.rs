//! Bounded Waiting (fairness; Le Lann 1977: the token visits every process in turn, so none
//! waits more than one rotation). Two checks, at every event:
//!
//! 1. At the touched node: a holder serves every request that was waiting when the token
//!    arrived before it lets the token go. Holding (outside the critical section) or passing the
//!    token while a request older than the token's arrival still waits is a violation.
//! 2. At every live node: every pending request is served within
//!    [`TokenRingConfig::waiting_bound`] (three worst-case rotations) of the latest of its
//!    arrival, the first sight of the circulating token's generation and the last fault. The
//!    bound is claimed only while a token is in hand somewhere (a lost token is a liveness
//!    matter, healed by regeneration) and only for a node that can talk both ways with that
//!    token's holder: a node cut off on a minority side cannot be served. Faults that restart
//!    the clock: a crash, a restart, a change of partitions, cut or held links. This is what
//!    catches a live, reachable node left out of a regenerated ring.

use crate::protocols::token_ring::{Role, TokenRing, TokenRingConfig};
use crate::sim::network::Network;
use crate::sim::{Failure, Invariant, NodeId, SimTime, World};
use std::collections::BTreeSet;

/// The network faults that matter: two-way groups, blocked links, held links.
type Links = (
    Vec<Vec<NodeId>>,
    BTreeSet<(NodeId, NodeId)>,
    BTreeSet<(NodeId, NodeId)>,
);

pub struct BoundedWaiting {
    /// The documented bound for this configuration and ring size.
    bound: SimTime,
    /// When the last fault happened (crash, restart, network change): the clock starts anew.
    calm_since: SimTime,
    /// Which nodes were live at the last event, to see crashes and restarts.
    live: Vec<bool>,
    /// The network faults at the last event, to see partitions, heals, cuts and holds.
    links: Links,
    /// The newest generation of a token in hand at a live node, and when it was first seen.
    token: (u64, SimTime),
}

impl BoundedWaiting {
    pub fn new(cfg: &TokenRingConfig, nodes: usize) -> Self {
        BoundedWaiting {
            bound: cfg.waiting_bound(nodes),
            calm_since: SimTime::ZERO,
            live: vec![true; nodes],
            links: Default::default(),
            token: (0, SimTime::ZERO),
        }
    }

    /// Check 1: the holder at the touched node served what waited when the token came.
    fn holder_served(w: &World<TokenRing>) -> Result<(), Failure> {
        let Some(n) = w.touched else { return Ok(()) };
        let Some(s) = &w.states[n] else { return Ok(()) };
        let has_token = matches!(s.role, Role::Holding { in_cs: false } | Role::Passing);
        if !has_token {
            return Ok(());
        }
        if let Some((r, at)) = s.pending.iter().find(|(_, at)| *at < s.token_since) {
            return Err(Failure::new(
                format!(
                    "n{} has the token since {} but request c{}#{} waiting since {at} was not served",
                    n + 1,
                    s.token_since,
                    r.client,
                    r.seq
                ),
                vec![n],
            ));
        }
        Ok(())
    }

    /// Restarts the clock on a crash, a restart or a change in the network's faults.
    fn note_faults(&mut self, w: &World<TokenRing>, net: &Network) {
        for n in w.changed() {
            let live = w.states[n].is_some();
            if self.live[n] != live {
                self.live[n] = live;
                self.calm_since = w.now;
            }
        }
        if w.touched.is_none() {
            let links = (
                net.groups(),
                net.blocked_links().clone(),
                net.held_links().clone(),
            );
            if links != self.links {
                self.links = links;
                self.calm_since = w.now;
            }
        }
    }
}

impl Invariant<TokenRing> for BoundedWaiting {
    fn name(&self) -> &'static str {
        "Bounded Waiting"
    }
    fn statement(&self) -> &'static str {
        "a request waiting when the token arrives is served before the token leaves, and while \
         the token circulates without faults every pending request of a node that can reach its \
         holder is served within three rotations"
    }
    fn check(&mut self, w: &World<TokenRing>) -> Result<(), Failure> {
        Self::holder_served(w)
    }
    fn check_with_network(&mut self, w: &World<TokenRing>, net: &Network) -> Result<(), Failure> {
        Self::holder_served(w)?;
        self.note_faults(w, net);
        // The circulating token: the newest generation in hand at a live node.
        let Some((holder, generation)) = w
            .live()
            .filter(|(_, s)| s.holds() || s.role == Role::Passing)
            .filter_map(|(i, s)| s.token.map(|t| (i, t.generation)))
            .max_by_key(|&(i, g)| (g, w.states[i].as_ref().is_some_and(|s| s.holds())))
        else {
            return Ok(()); // no token: nothing can be served until one is regenerated
        };
        if generation != self.token.0 {
            self.token = (generation, w.now);
        }
        let since = self.calm_since.max(self.token.1);
        if w.now <= since + self.bound {
            return Ok(()); // cheap exit: no request can be late yet
        }
        let talks = |i: NodeId| {
            i == holder
                || (net.reachable(holder, i)
                    && net.reachable(i, holder)
                    && !net.is_held(holder, i)
                    && !net.is_held(i, holder))
        };
        for (i, s) in w.live() {
            let Some((r, at)) = s.pending.iter().min_by_key(|(_, at)| *at) else {
                continue;
            };
            let start = since.max(*at);
            if w.now > start + self.bound && talks(i) {
                return Err(Failure::new(
                    format!(
                        "n{} can reach the holder n{} of generation {generation}, but request \
                         c{}#{} has waited since {at} (counted from {start}), longer than the \
                         bound {}",
                        i + 1,
                        holder + 1,
                        r.client,
                        r.seq,
                        self.bound
                    ),
                    vec![i, holder],
                ));
            }
        }
        Ok(())
    }
}
