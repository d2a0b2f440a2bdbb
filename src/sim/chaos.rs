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
    /// A partition cuts the cluster into this many groups (2: one side of at most half the
    /// nodes against the rest, the original behaviour; 3 or more: every node in one of that
    /// many non-empty groups, so no group may hold a majority).
    #[serde(default = "two", skip_serializing_if = "is_two")]
    pub groups: usize,
    /// Half of the partitions cut off the node that currently shows the `leader` role together
    /// with a random minority (so clients writing to it meet a leader that cannot commit).
    #[serde(default, skip_serializing_if = "is_false")]
    pub leader_minority: bool,
    /// A node crashed by chaos is restarted this long after (uniform in [d/2, 3d/2]) instead of
    /// waiting for a drawn restart: short values make restarts frequent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_after: Option<SimTime>,
    /// After a node's event that sent at least one message (it has just answered), crash it
    /// with this probability, within the `max_down` budget: the worst moment for state that
    /// was answered from but not persisted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub crash_after_send: f64,
}

fn two() -> usize {
    2
}
fn is_two(v: &usize) -> bool {
    *v == 2
}
fn is_false(v: &bool) -> bool {
    !*v
}
fn is_zero(v: &f64) -> bool {
    *v == 0.0
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

    /// The most nodes down at once.
    pub fn max_down(&self, nodes: usize) -> usize {
        self.max_down.unwrap_or((nodes.saturating_sub(1)) / 2)
    }

    /// Whether a crash may follow a node's answer now: the option is on and faults are
    /// running. The draw itself is [`Chaos::crash_now`].
    pub fn crashes_after_send(&self, now: SimTime) -> bool {
        self.crash_after_send > 0.0 && now >= self.start && now < self.stop
    }

    /// Draws whether to crash a node that just answered.
    pub fn crash_now(&self, rng: &mut ChaCha8Rng) -> bool {
        rng.random_bool(self.crash_after_send.clamp(0.0, 1.0))
    }

    /// The partition groups: the original one-minority-side cut unless `groups > 2` or
    /// `leader_minority` asks otherwise (those draw more numbers, so the default stream is
    /// unchanged).
    fn partition_groups(
        &self,
        rng: &mut ChaCha8Rng,
        names: &[String],
        leaders: &[bool],
    ) -> Vec<Vec<String>> {
        let n = names.len();
        let mut order: Vec<NodeId> = (0..n).collect();
        order.shuffle(rng);
        let named = |ids: &[NodeId]| ids.iter().map(|&i| names[i].clone()).collect::<Vec<_>>();
        if self.leader_minority
            && let Some(lead) = (0..n).find(|&i| leaders[i])
            && rng.random_bool(0.5)
        {
            let k = rng.random_range(1..=n.saturating_sub(1) / 2).max(1);
            let mut side = vec![lead];
            side.extend(order.iter().copied().filter(|&i| i != lead).take(k - 1));
            return vec![named(&side)];
        }
        if self.groups > 2 {
            let g = self.groups.min(n);
            // g - 1 distinct cut points in 1..n give g non-empty groups.
            let mut cuts: Vec<usize> = (1..n).collect();
            cuts.shuffle(rng);
            let mut cuts: Vec<usize> = cuts[..g - 1].to_vec();
            cuts.sort_unstable();
            let mut out = Vec::new();
            let mut from = 0;
            for c in cuts.into_iter().chain([n]) {
                out.push(named(&order[from..c]));
                from = c;
            }
            return out;
        }
        let k = rng.random_range(1..=n / 2);
        vec![named(&order[..k])]
    }

    /// Picks the next fault given who is down. `crashed`/`paused` are per node; `leaders`
    /// marks the nodes that show the `leader` role (for `leader_minority`).
    pub fn next_fault(
        &self,
        rng: &mut ChaCha8Rng,
        names: &[String],
        crashed: &[bool],
        paused: &[bool],
        leaders: &[bool],
        partitioned: bool,
    ) -> Option<Action> {
        let n = names.len();
        let max_down = self.max_down(n);
        let down = (0..n).filter(|&i| crashed[i] || paused[i]).count();
        let mut options: Vec<u8> = Vec::new();
        if self.crash && down < max_down {
            options.push(0); // crash
        }
        if self.restart_after.is_none() && crashed.iter().any(|c| *c) {
            options.push(1); // restart (unless restarts are scheduled with each crash)
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
            2 => Some(Action::Partition(
                self.partition_groups(rng, names, leaders),
            )),
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
            groups: 2,
            leader_minority: false,
            restart_after: None,
            crash_after_send: 0.0,
        };
        let g = c.gap(&mut ChaCha8Rng::seed_from_u64(1));
        assert!(g >= SimTime(u64::MAX / 2));
    }

    fn chaos(groups: usize, leader_minority: bool) -> Chaos {
        Chaos {
            start: SimTime::ZERO,
            stop: SimTime::from_secs(1),
            every: SimTime::from_millis(100),
            max_down: None,
            crash: false,
            partition: true,
            pause: false,
            groups,
            leader_minority,
            restart_after: None,
            crash_after_send: 0.0,
        }
    }

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn three_groups_cover_every_node_once_and_none_is_empty() {
        let c = chaos(3, false);
        let names = names(7);
        for seed in 0..200 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let Some(Action::Partition(g)) = c.next_fault(
                &mut rng,
                &names,
                &[false; 7],
                &[false; 7],
                &[false; 7],
                false,
            ) else {
                panic!("seed {seed}: expected a partition");
            };
            assert_eq!(g.len(), 3, "seed {seed}: {g:?}");
            assert!(g.iter().all(|s| !s.is_empty()), "seed {seed}: {g:?}");
            let mut all: Vec<&String> = g.iter().flatten().collect();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 7, "seed {seed}: {g:?}");
        }
    }

    #[test]
    fn leader_minority_cuts_off_the_leader_in_a_minority_about_half_the_time() {
        let c = chaos(2, true);
        let names = names(5);
        let mut leaders = [false; 5];
        leaders[3] = true;
        let mut with_leader = 0;
        for seed in 0..200 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let Some(Action::Partition(g)) =
                c.next_fault(&mut rng, &names, &[false; 5], &[false; 5], &leaders, false)
            else {
                panic!("seed {seed}: expected a partition");
            };
            assert_eq!(g.len(), 1, "seed {seed}: {g:?}");
            assert!(g[0].len() <= 2, "seed {seed}: a minority side, got {g:?}");
            if g[0].contains(&"n4".to_string()) {
                with_leader += 1;
            }
        }
        assert!((80..=160).contains(&with_leader), "{with_leader} of 200");
    }

    #[test]
    fn the_default_partition_draws_the_same_numbers_as_before() {
        // The original code: shuffle, then one side of 1..=n/2 nodes.
        let c = chaos(2, false);
        let names = names(5);
        for seed in 0..50 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let got = c.next_fault(
                &mut rng,
                &names,
                &[false; 5],
                &[false; 5],
                &[false; 5],
                false,
            );
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let _pick: usize = rng.random_range(0..1);
            let mut order: Vec<NodeId> = (0..5).collect();
            order.shuffle(&mut rng);
            let k = rng.random_range(1..=2);
            let side: Vec<String> = order[..k].iter().map(|&i| names[i].clone()).collect();
            assert_eq!(got, Some(Action::Partition(vec![side])), "seed {seed}");
        }
    }
}
