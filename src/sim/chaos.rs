//! Randomized fault injection (after TigerBeetle's VOPR and openraft's fuzzer): a *safety
//! phase* of random crashes, restarts, partitions and pauses, then a *liveness phase* in which
//! every fault is removed so the cluster must heal.
//!
//! Faults are drawn from their own ChaCha stream (stream 3 of the seed), so the same seed gives
//! the same faults, and they are applied as ordinary [`Action`]s: they appear in the trace like
//! scripted ones.

use crate::sim::actor::NodeId;
use crate::sim::control::Action;
use crate::sim::time::SimTime;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub const STREAM_CHAOS: u64 = 3;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chaos {
    /// When faults start.
    #[serde(default)]
    pub start: SimTime,
    /// When faults stop: everything is healed, restarted and resumed (the liveness phase).
    pub stop: SimTime,
    /// Mean time between fault events (each gap is uniform in [every/2, 3*every/2]).
    #[serde(default = "default_every")]
    pub every: SimTime,
    /// At most this many nodes down (crashed or paused) at once; default: a minority.
    #[serde(default)]
    pub max_down: Option<usize>,
    /// Allow crashes (and restarts).
    #[serde(default = "yes")]
    pub crash: bool,
    /// Allow two-way partitions (and heals).
    #[serde(default = "yes")]
    pub partition: bool,
    /// Allow pauses (and resumes).
    #[serde(default)]
    pub pause: bool,
}

fn default_every() -> SimTime {
    SimTime::from_millis(500)
}
fn yes() -> bool {
    true
}

impl Chaos {
    /// The gap until the next fault event.
    pub fn gap(&self, rng: &mut ChaCha8Rng) -> SimTime {
        let e = self.every.0.max(2);
        SimTime(rng.random_range(e / 2..=e.saturating_add(e / 2)))
    }

    /// Picks the next fault given who is down. `crashed`/`paused` are per node.
    pub fn next_fault(
        &self,
        rng: &mut ChaCha8Rng,
        names: &[String],
        crashed: &[bool],
        paused: &[bool],
        partitioned: bool,
    ) -> Option<Action> {
        let n = names.len();
        let max_down = self.max_down.unwrap_or((n.saturating_sub(1)) / 2);
        let down = (0..n).filter(|&i| crashed[i] || paused[i]).count();
        let mut options: Vec<u8> = Vec::new();
        if self.crash && down < max_down {
            options.push(0); // crash
        }
        if crashed.iter().any(|c| *c) {
            options.push(1); // restart
        }
        if self.partition && n >= 2 {
            options.push(if partitioned { 3 } else { 2 }); // partition or heal
        }
        if self.pause && down < max_down {
            options.push(4);
        }
        if paused.iter().any(|p| *p) {
            options.push(5);
        }
        let pick = *options.get(rng.random_range(0..options.len().max(1)))?;
        let choose = |rng: &mut ChaCha8Rng, pred: &dyn Fn(NodeId) -> bool| -> Option<String> {
            let c: Vec<NodeId> = (0..n).filter(|&i| pred(i)).collect();
            (!c.is_empty()).then(|| names[c[rng.random_range(0..c.len())]].clone())
        };
        let up = |i: NodeId| !crashed[i] && !paused[i];
        match pick {
            0 => choose(rng, &up).map(Action::Crash),
            1 => choose(rng, &|i| crashed[i]).map(Action::Restart),
            2 => {
                let mut order: Vec<NodeId> = (0..n).collect();
                order.shuffle(rng);
                let k = rng.random_range(1..=n / 2);
                let side: Vec<String> = order[..k].iter().map(|&i| names[i].clone()).collect();
                Some(Action::Partition(vec![side]))
            }
            3 => Some(Action::Heal),
            4 => choose(rng, &up).map(Action::Pause),
            _ => choose(rng, &|i| paused[i]).map(Action::Resume),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_gap_of_the_largest_every_does_not_overflow() {
        let c = Chaos {
            start: SimTime::ZERO,
            stop: SimTime::from_secs(1),
            every: SimTime::MAX,
            max_down: None,
            crash: true,
            partition: true,
            pause: false,
        };
        let g = c.gap(&mut ChaCha8Rng::seed_from_u64(1));
        assert!(g >= SimTime(u64::MAX / 2));
    }
}
