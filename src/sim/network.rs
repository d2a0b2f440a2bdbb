//! The network model: link parameters, partitions, cuts and holds.
//!
//! Every directed link `a -> b` has parameters: a latency distribution, a drop probability, a
//! duplicate probability, and FIFO or unordered delivery. Links use the scenario's defaults
//! unless overridden per link.
//!
//! Reachability is separate from parameters. A two-way partition splits the nodes into groups
//! (nodes not named form one more group together); a one-way partition blocks `from -> to`
//! only; a cut blocks one link. `heal` removes every partition and cut.
//!
//! **Messages already in flight when a partition starts** (the trap of turmoil #251): a
//! partition is checked both when a message is sent *and when it arrives*. A message on the
//! wire when its link is cut is lost on arrival (`DropReason::Partitioned`), as packets in a
//! failed path are; one sent before a heal that arrives after it is delivered only if the link
//! was open at both ends of its journey. A *held* link is different: messages that arrive while
//! it is held wait, and are delivered in order when it is released.

use crate::sim::actor::NodeId;
use crate::sim::control::{Action, LinkPatch};
use crate::sim::time::SimTime;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A latency distribution. Samples are clamped to at least `min` (and at least 1us), so
/// time always moves forward when a message is sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Latency {
    Constant(SimTime),
    Uniform {
        min: SimTime,
        max: SimTime,
    },
    Normal {
        mean: SimTime,
        std_dev: SimTime,
        min: SimTime,
    },
    /// Heavy-tailed: `median * exp(sigma * N(0,1))`, floored at `min`.
    LogNormal {
        median: SimTime,
        sigma: f64,
        min: SimTime,
    },
    /// Memoryless, with this mean: the service time of queueing theory's M/M/c.
    Exponential {
        mean: SimTime,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Uniform {
            min: SimTime::from_millis(5),
            max: SimTime::from_millis(15),
        }
    }
}

impl Latency {
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> SimTime {
        let us = match self {
            Latency::Constant(t) => t.0,
            Latency::Uniform { min, max } => {
                if max.0 <= min.0 {
                    min.0
                } else {
                    rng.random_range(min.0..=max.0)
                }
            }
            Latency::Normal { mean, std_dev, min } => {
                let d = Normal::new(mean.0 as f64, std_dev.0 as f64).expect("validated std_dev");
                (d.sample(rng).max(min.0 as f64)) as u64
            }
            Latency::LogNormal { median, sigma, min } => {
                let d =
                    LogNormal::new((median.0.max(1) as f64).ln(), *sigma).expect("validated sigma");
                (d.sample(rng).min(1e15).max(min.0 as f64)) as u64
            }
            Latency::Exponential { mean } => {
                let d = Exp::new(1.0 / mean.0.max(1) as f64).expect("a positive rate");
                d.sample(rng).min(1e15) as u64
            }
        };
        SimTime(us.max(1))
    }

    /// A check of the distribution's parameters, with what was expected.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Latency::Uniform { min, max } if max < min => Err(format!(
                "Uniform latency needs min <= max (got min {min}, max {max})"
            )),
            Latency::LogNormal { sigma, .. }
                if !(sigma.is_finite() && *sigma >= 0.0 && *sigma <= 10.0) =>
            {
                Err(format!("LogNormal sigma must be in [0, 10] (got {sigma})"))
            }
            _ => Ok(()),
        }
    }

    /// A typical value, for display (mean or median).
    pub fn typical(&self) -> SimTime {
        match self {
            Latency::Constant(t) => *t,
            Latency::Uniform { min, max } => SimTime(min.0 / 2 + max.0 / 2 + (min.0 & max.0 & 1)),
            Latency::Normal { mean, .. } => *mean,
            Latency::LogNormal { median, .. } => *median,
            Latency::Exponential { mean } => *mean,
        }
    }
}

/// Parameters of one directed link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkParams {
    #[serde(default)]
    pub latency: Latency,
    /// Probability in [0,1] that a message is lost.
    #[serde(default)]
    pub drop: f64,
    /// Probability in [0,1] that a message is delivered twice.
    #[serde(default)]
    pub duplicate: f64,
    /// FIFO links never reorder: a message is not delivered before one sent earlier on the link.
    #[serde(default)]
    pub fifo: bool,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            latency: Latency::default(),
            drop: 0.0,
            duplicate: 0.0,
            fifo: false,
        }
    }
}

impl LinkParams {
    /// Overwrites the fields the patch sets.
    pub fn patch(&mut self, patch: &LinkPatch) {
        if let Some(l) = &patch.latency {
            self.latency = l.clone();
        }
        if let Some(d) = patch.drop {
            self.drop = d;
        }
        if let Some(d) = patch.duplicate {
            self.duplicate = d;
        }
        if let Some(f) = patch.fifo {
            self.fifo = f;
        }
    }
}

/// What became of a message handed to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fate {
    pub deliver_at: SimTime,
    /// Lost to random loss (it still travels, and vanishes on arrival).
    pub lost: bool,
    /// Delivered a second time, at this time.
    pub duplicate_at: Option<SimTime>,
}

/// The network's state: parameters and reachability.
#[derive(Clone, Debug)]
pub struct Network {
    nodes: usize,
    pub defaults: LinkParams,
    overrides: BTreeMap<(NodeId, NodeId), LinkParams>,
    /// Group of each node under the current two-way partition (all 0 when healed).
    group: Vec<u32>,
    partitioned: bool,
    /// One-way blocks `from -> to`, from partitions and cut links.
    blocked: BTreeSet<(NodeId, NodeId)>,
    held: BTreeSet<(NodeId, NodeId)>,
    /// Latest delivery time per FIFO link.
    fifo_last: BTreeMap<(NodeId, NodeId), SimTime>,
}

impl Network {
    pub fn new(nodes: usize, defaults: LinkParams) -> Self {
        Network {
            nodes,
            defaults,
            overrides: BTreeMap::new(),
            group: vec![0; nodes],
            partitioned: false,
            blocked: BTreeSet::new(),
            held: BTreeSet::new(),
            fifo_last: BTreeMap::new(),
        }
    }

    pub fn params(&self, from: NodeId, to: NodeId) -> &LinkParams {
        if self.overrides.is_empty() {
            return &self.defaults;
        }
        self.overrides.get(&(from, to)).unwrap_or(&self.defaults)
    }
    pub fn set_params(&mut self, from: NodeId, to: NodeId, p: LinkParams) {
        self.overrides.insert((from, to), p);
    }
    pub fn overrides(&self) -> &BTreeMap<(NodeId, NodeId), LinkParams> {
        &self.overrides
    }

    /// Decides latency, loss and duplication of a message sent now, from the network stream.
    pub fn route(&mut self, from: NodeId, to: NodeId, now: SimTime, rng: &mut ChaCha8Rng) -> Fate {
        let p = self.params(from, to);
        let mut deliver_at = now + p.latency.sample(rng);
        let lost = p.drop > 0.0 && rng.random_bool(p.drop);
        let dup = p.duplicate > 0.0 && !lost && rng.random_bool(p.duplicate);
        let duplicate_at = if dup {
            Some(now + p.latency.sample(rng))
        } else {
            None
        };
        if p.fifo {
            let last = self.fifo_last.entry((from, to)).or_insert(SimTime::ZERO);
            deliver_at = deliver_at.max(*last);
            *last = deliver_at;
        }
        Fate {
            deliver_at,
            lost,
            duplicate_at,
        }
    }

    /// Can a message go from `from` to `to` right now?
    pub fn reachable(&self, from: NodeId, to: NodeId) -> bool {
        if self.partitioned && self.group[from] != self.group[to] {
            return false;
        }
        self.blocked.is_empty() || !self.blocked.contains(&(from, to))
    }
    pub fn is_held(&self, from: NodeId, to: NodeId) -> bool {
        !self.held.is_empty() && self.held.contains(&(from, to))
    }

    /// Two-way partition into `groups`; nodes in no group form one more group.
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) {
        self.group = vec![0; self.nodes];
        for (i, g) in groups.iter().enumerate() {
            for &n in g {
                self.group[n] = i as u32 + 1;
            }
        }
        self.partitioned = true;
    }
    /// Blocks every link from a node in `from` to a node in `to`.
    pub fn partition_oneway(&mut self, from: &[NodeId], to: &[NodeId]) {
        for &a in from {
            for &b in to {
                if a != b {
                    self.blocked.insert((a, b));
                }
            }
        }
    }
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.blocked.insert((from, to));
    }
    pub fn heal_link(&mut self, from: NodeId, to: NodeId) {
        self.blocked.remove(&(from, to));
    }
    /// Removes every partition and cut (holds stay until released).
    pub fn heal(&mut self) {
        self.partitioned = false;
        self.group.iter_mut().for_each(|g| *g = 0);
        self.blocked.clear();
    }
    pub fn hold(&mut self, from: NodeId, to: NodeId) {
        self.held.insert((from, to));
    }
    pub fn release(&mut self, from: NodeId, to: NodeId) {
        self.held.remove(&(from, to));
    }

    /// Applies a network action (partition, heal, cut, hold, link settings), naming nodes
    /// through `id`. Returns false for actions that are not about the network. The engine and
    /// the app's redraw of past instants both use this, so they cannot disagree.
    pub fn apply(&mut self, action: &Action, id: impl Fn(&str) -> Option<NodeId>) -> bool {
        let ids = |v: &[String]| v.iter().filter_map(|n| id(n)).collect::<Vec<_>>();
        let pair = |a: &str, b: &str| id(a).zip(id(b));
        match action {
            Action::Partition(groups) => {
                let g: Vec<Vec<NodeId>> = groups.iter().map(|g| ids(g)).collect();
                self.partition(&g);
            }
            Action::PartitionOneway { from, to } => self.partition_oneway(&ids(from), &ids(to)),
            Action::Heal => self.heal(),
            Action::Cut(a, b)
            | Action::CutOneway(a, b)
            | Action::HealLink(a, b)
            | Action::Hold(a, b)
            | Action::Release(a, b) => {
                let Some((a, b)) = pair(a, b) else {
                    return true;
                };
                let both = !matches!(action, Action::CutOneway(..));
                for (x, y) in if both {
                    vec![(a, b), (b, a)]
                } else {
                    vec![(a, b)]
                } {
                    match action {
                        Action::Cut(..) | Action::CutOneway(..) => self.cut(x, y),
                        Action::HealLink(..) => self.heal_link(x, y),
                        Action::Hold(..) => self.hold(x, y),
                        _ => self.release(x, y),
                    }
                }
            }
            Action::SetLink { a, b, patch } => {
                let Some((a, b)) = pair(a, b) else {
                    return true;
                };
                for (x, y) in [(a, b), (b, a)] {
                    let mut p = self.params(x, y).clone();
                    p.patch(patch);
                    self.set_params(x, y, p);
                }
            }
            Action::SetNetwork(patch) => self.defaults.patch(patch),
            _ => return false,
        }
        true
    }

    /// The current two-way groups (empty when not partitioned), for drawing.
    pub fn groups(&self) -> Vec<Vec<NodeId>> {
        if !self.partitioned {
            return Vec::new();
        }
        let mut by: BTreeMap<u32, Vec<NodeId>> = BTreeMap::new();
        for (n, g) in self.group.iter().enumerate() {
            by.entry(*g).or_default().push(n);
        }
        by.into_values().collect()
    }
    /// Directed blocked links from one-way partitions and cuts, for drawing.
    pub fn blocked_links(&self) -> &BTreeSet<(NodeId, NodeId)> {
        &self.blocked
    }
    pub fn held_links(&self) -> &BTreeSet<(NodeId, NodeId)> {
        &self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn latency_samples_stay_in_range_and_above_floor() {
        let mut r = rng();
        let u = Latency::Uniform {
            min: SimTime(1_000),
            max: SimTime(10_000),
        };
        let n = Latency::Normal {
            mean: SimTime(5_000),
            std_dev: SimTime(10_000),
            min: SimTime(2_000),
        };
        let l = Latency::LogNormal {
            median: SimTime(5_000),
            sigma: 1.0,
            min: SimTime(3_000),
        };
        for _ in 0..1_000 {
            let s = u.sample(&mut r);
            assert!((1_000..=10_000).contains(&s.0));
            assert!(n.sample(&mut r).0 >= 2_000);
            assert!(l.sample(&mut r).0 >= 3_000);
        }
        assert_eq!(Latency::Constant(SimTime(0)).sample(&mut r), SimTime(1));
    }

    #[test]
    fn two_way_partition_puts_unnamed_nodes_together() {
        let mut net = Network::new(5, LinkParams::default());
        net.partition(&[vec![0, 1]]);
        assert!(net.reachable(0, 1));
        assert!(!net.reachable(0, 2));
        assert!(!net.reachable(3, 1));
        assert!(net.reachable(2, 4));
        assert_eq!(net.groups(), vec![vec![2, 3, 4], vec![0, 1]]);
        net.heal();
        assert!(net.reachable(0, 2));
    }

    #[test]
    fn one_way_partition_blocks_one_direction() {
        let mut net = Network::new(3, LinkParams::default());
        net.partition_oneway(&[0], &[1, 2]);
        assert!(!net.reachable(0, 1));
        assert!(net.reachable(1, 0));
        net.heal_link(0, 1);
        assert!(net.reachable(0, 1));
        assert!(!net.reachable(0, 2));
    }

    #[test]
    fn fifo_links_never_reorder() {
        let mut net = Network::new(
            2,
            LinkParams {
                fifo: true,
                latency: Latency::Uniform {
                    min: SimTime(1),
                    max: SimTime(1_000),
                },
                ..Default::default()
            },
        );
        let mut r = rng();
        let mut last = SimTime::ZERO;
        for t in 0..200 {
            let f = net.route(0, 1, SimTime(t), &mut r);
            assert!(f.deliver_at >= last);
            last = f.deliver_at;
        }
    }

    #[test]
    fn drop_probability_is_honoured() {
        let mut net = Network::new(
            2,
            LinkParams {
                drop: 0.3,
                ..Default::default()
            },
        );
        let mut r = rng();
        let lost = (0..10_000)
            .filter(|_| net.route(0, 1, SimTime::ZERO, &mut r).lost)
            .count();
        assert!(
            (2_700..3_300).contains(&lost),
            "lost {lost} of 10000 at p=0.3"
        );
    }
}
