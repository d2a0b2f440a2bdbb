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

/// One call of a schedule as one of its two parties sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartyCall {
    /// The call's index in the schedule (0-based): its place in the order.
    pub index: usize,
    /// The other party.
    pub peer: NodeId,
    /// Whether this party places the call (else it answers it).
    pub caller: bool,
}

/// The calls of [`optimal_schedule`] that involve `id`, in schedule order, computed without
/// building the whole schedule (person 0 takes part in `2n - 6` calls, everyone else in two),
/// so that every node can know its own part in `O(its calls)`.
pub fn calls_of(n: usize, id: NodeId) -> Vec<PartyCall> {
    let call = |index, peer, caller| PartyCall {
        index,
        peer,
        caller,
    };
    if n < 4 {
        return optimal_schedule(n)
            .into_iter()
            .enumerate()
            .filter_map(|(index, (a, b))| match id {
                _ if id == a => Some(call(index, b, true)),
                _ if id == b => Some(call(index, a, false)),
                _ => None,
            })
            .collect();
    }
    // Calls 0..n-4: person i >= 4 calls 0; n-4..n: (0,1) (2,3) (0,2) (1,3); n..2n-4: i calls 0.
    let core = n - 4;
    match id {
        0 => {
            let mut v: Vec<PartyCall> = (4..n).map(|i| call(i - 4, i, false)).collect();
            v.extend([call(core, 1, true), call(core + 2, 2, true)]);
            v.extend((4..n).map(|i| call(n + i - 4, i, false)));
            v
        }
        1 => vec![call(core, 0, false), call(core + 3, 3, true)],
        2 => vec![call(core + 1, 3, true), call(core + 2, 0, false)],
        3 => vec![call(core + 1, 2, false), call(core + 3, 1, false)],
        i if i < n => vec![call(i - 4, 0, true), call(n + i - 4, 0, true)],
        _ => Vec::new(),
    }
}
