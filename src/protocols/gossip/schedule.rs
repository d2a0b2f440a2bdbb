//! The gossiping (telephone) problem: `n` people each know one secret; in a call two people
//! tell each other every secret they know. How many calls until everybody knows everything?
//!
//! For `n >= 4` the answer is `2n - 4` (Tijdeman 1971; Baker and Shostak, "Gossips and
//! telephones", Discrete Mathematics 2(3), 1972, <https://doi.org/10.1016/0012-365X(72)90001-5>);
//! 1 call for `n = 2` and 3 for `n = 3`. The schedule below meets the bound: every other person
//! calls person 0, the four people 0..3 gossip completely among themselves in four calls, and
//! every other person calls person 0 again.

use crate::sim::NodeId;

/// The minimal number of calls for `n` people (the `2n - 4` theorem and its small cases).
pub fn minimal_calls(n: usize) -> usize {
    match n {
        0 | 1 => 0,
        2 => 1,
        3 => 3,
        _ => 2 * n - 4,
    }
}

/// An optimal call schedule for `n` people, as (caller, callee) pairs in call order.
pub fn optimal_schedule(n: usize) -> Vec<(NodeId, NodeId)> {
    match n {
        0 | 1 => Vec::new(),
        2 => vec![(0, 1)],
        3 => vec![(0, 1), (0, 2), (1, 0)],
        _ => {
            let outer = 4..n;
            let mut calls: Vec<(NodeId, NodeId)> = outer.clone().map(|i| (i, 0)).collect();
            calls.extend([(0, 1), (2, 3), (0, 2), (1, 3)]);
            calls.extend(outer.map(|i| (i, 0)));
            calls
        }
    }
}

/// Plays a schedule on sets of secrets (one bit per person) and returns who knows what.
pub fn play(n: usize, calls: &[(NodeId, NodeId)]) -> Vec<u128> {
    assert!(n <= 128, "play() keeps secrets in a u128");
    let mut known: Vec<u128> = (0..n).map(|i| 1u128 << i).collect();
    for &(a, b) in calls {
        let both = known[a] | known[b];
        known[a] = both;
        known[b] = both;
    }
    known
}
