//! Linearizability of a client history against a key-value register.
//!
//! Herlihy and Wing, "Linearizability: A Correctness Condition for Concurrent Objects"
//! (TOPLAS 1990): a history is linearizable if every operation can be given a single instant
//! between its invocation and its response such that, taken in the order of those instants,
//! the operations are a legal run of the sequential object. Here the object is one register
//! per key (get / put / compare-and-set), and linearizability is *local* (the paper's
//! Theorem 1): a history is linearizable if and only if each key's sub-history is, so keys are
//! checked one at a time.
//!
//! The search is Wing and Gong's ("Testing and Verifying Concurrent Objects", JPDC 1993) with
//! Lowe's memoisation ("Testing for Linearizability", CCPE 2017), as Porcupine implements it:
//! invocations and responses form one list ordered by time; the search linearizes a pending
//! invocation whose model step matches its observed outcome, lifts it out of the list, and
//! backtracks when it meets a response whose invocation it has not linearized yet. A cache of
//! (set of linearized operations, register value) pairs already explored keeps the search
//! from repeating itself.
//!
//! What a client saw decides how much an operation constrains:
//! - `Ok` gets and compare-and-sets that found another value (`CompareFailed`) are
//!   *determinate*: the value they report must be the register's value at their instant.
//! - puts and successful compare-and-sets must take effect at an instant in their interval;
//!   the previous value a protocol may return with them is not checked.
//! - an operation that timed out, gave up (`Fail`) or was still pending at the end is
//!   *indeterminate*: it may take effect at any time after its invocation, or never. It has no
//!   response in the list (Porcupine's infinite return time), so it can always be linearized
//!   last, where it changes nothing any other operation saw. An indeterminate get constrains
//!   nothing and is dropped.
//!
//! Two operations at the same instant are concurrent (a response at `t` does not precede an
//! invocation at `t`): the simulator's order inside one instant is not a real-time order.

use crate::sim::actor::NodeId;
use crate::sim::client::{History, HistoryEntry, Op, Outcome};
use crate::sim::time::SimTime;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashSet;
use std::collections::BTreeMap;

/// A history that is not linearizable, with a small witness.
#[derive(Clone, Debug, PartialEq)]
pub struct NotLinearizable {
    pub key: String,
    /// Indices into the history's entries: a set of operations on `key` that cannot be
    /// ordered. It is 1-minimal: without any one of them, the rest can be.
    pub ops: Vec<usize>,
    /// The nodes that answered those operations.
    pub nodes: Vec<NodeId>,
    /// The operations, one per line, in invocation order.
    pub explanation: String,
}

/// Checks every key of `history`. Operations other than get, put and cas are ignored.
pub fn check(history: &History) -> Result<(), NotLinearizable> {
    check_with(history, |answer| answer)
}

/// [`check`] with `value` taking a get's answer to the register value it reports (a protocol
/// that answers `value@version` reports `value`).
pub fn check_with(history: &History, value: fn(&str) -> &str) -> Result<(), NotLinearizable> {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in history.entries.iter().enumerate() {
        if let Some(key) = key_of(&e.op) {
            by_key.entry(key).or_default().push(i);
        }
    }
    for (key, ops) in by_key {
        let mut interner = Interner::default();
        let all: Vec<RegOp> = ops
            .iter()
            .filter_map(|&i| RegOp::of(i, &history.entries[i], &mut interner, value))
            .collect();
        let all = without_unobserved_indeterminate_writes(all);
        let mut budget = SEARCH_BUDGET;
        if linearizable(&all, &mut budget) != Some(false) {
            continue; // linearizable, or too costly to decide: no violation is claimed
        }
        let witness = shrink(all, &mut budget);
        let ops: Vec<usize> = witness.iter().map(|o| o.entry).collect();
        let mut nodes: Vec<NodeId> = ops
            .iter()
            .filter_map(|&i| history.entries[i].node)
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let explanation = ops
            .iter()
            .map(|&i| describe(&history.entries[i]))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(NotLinearizable {
            key: key.to_string(),
            ops,
            nodes,
            explanation,
        });
    }
    Ok(())
}

fn key_of(op: &Op) -> Option<&str> {
    match op {
        Op::Get { key } | Op::Put { key, .. } | Op::Cas { key, .. } => Some(key),
        Op::Request(_) => None,
    }
}

/// One line of a witness: `c2 put k1=5 [1.200s, 1.350s] ok`.
pub fn describe(e: &HistoryEntry) -> String {
    let span = match e.returned_at {
        Some(r) => format!("[{}, {}]", e.invoked_at, r),
        None => format!("[{}, -]", e.invoked_at),
    };
    let outcome = match &e.outcome {
        None => "pending".to_string(),
        Some(Outcome::Ok { value }) if matches!(e.op, Op::Get { .. }) => {
            format!("-> {}", value.as_deref().unwrap_or("(absent)"))
        }
        Some(Outcome::Ok { .. }) => "ok".to_string(),
        Some(Outcome::CompareFailed { current }) => {
            format!(
                "compare failed, found {}",
                current.as_deref().unwrap_or("(absent)")
            )
        }
        Some(Outcome::Fail { reason }) => format!("failed ({reason})"),
        Some(Outcome::Timeout) => "timed out".to_string(),
    };
    format!("c{} {} {span} {outcome}", e.client, e.op)
}

/// Register values as small integers (`None`: the key is absent).
type Value = Option<u32>;

#[derive(Default)]
struct Interner {
    ids: BTreeMap<String, u32>,
}

impl Interner {
    fn id(&mut self, v: &str) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(v.to_string()).or_insert(next)
    }
    fn opt(&mut self, v: Option<&String>) -> Value {
        v.map(|s| self.id(s))
    }
}

/// What one operation requires of the register, and what it does to it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    /// A get that returned this value.
    Read(Value),
    /// A put (determinate or not): always possible.
    Write(u32),
    /// A compare-and-set that succeeded.
    CasOk { from: Value, to: u32 },
    /// A compare-and-set that found `current`, not `from`.
    CasFailed { from: Value, current: Value },
    /// A compare-and-set whose outcome is unknown: either branch.
    CasUnknown { from: Value, to: u32 },
}

impl Step {
    fn apply(self, s: Value) -> Option<Value> {
        match self {
            Step::Read(v) => (v == s).then_some(s),
            Step::Write(v) => Some(Some(v)),
            Step::CasOk { from, to } => (s == from).then_some(Some(to)),
            Step::CasFailed { from, current } => (s != from && s == current).then_some(s),
            Step::CasUnknown { from, to } => Some(if s == from { Some(to) } else { s }),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct RegOp {
    /// Index in the history.
    entry: usize,
    invoked: SimTime,
    /// `None`: indeterminate (no response constrains it).
    returned: Option<SimTime>,
    step: Step,
}

impl RegOp {
    fn of(
        entry: usize,
        e: &HistoryEntry,
        ids: &mut Interner,
        value_of: fn(&str) -> &str,
    ) -> Option<RegOp> {
        let determinate = match &e.outcome {
            Some(o) if o.answered() => e.returned_at,
            _ => None,
        };
        let step = match (&e.op, &e.outcome, determinate) {
            (Op::Get { .. }, _, None) => return None,
            (Op::Get { .. }, Some(Outcome::Ok { value }), Some(_)) => {
                Step::Read(value.as_deref().map(|v| ids.id(value_of(v))))
            }
            (Op::Put { value, .. }, _, _) => Step::Write(ids.id(value)),
            (Op::Cas { from, to, .. }, Some(Outcome::Ok { .. }), Some(_)) => Step::CasOk {
                from: ids.opt(from.as_ref()),
                to: ids.id(to),
            },
            (Op::Cas { from, .. }, Some(Outcome::CompareFailed { current }), Some(_)) => {
                Step::CasFailed {
                    from: ids.opt(from.as_ref()),
                    current: current.as_deref().map(|v| ids.id(value_of(v))),
                }
            }
            (Op::Cas { from, to, .. }, _, _) => Step::CasUnknown {
                from: ids.opt(from.as_ref()),
                to: ids.id(to),
            },
            // A get answered with anything but `Ok`, or a request: constrains nothing.
            _ => return None,
        };
        Some(RegOp {
            entry,
            invoked: e.invoked_at,
            returned: determinate,
            step,
        })
    }
}

/// Search steps allowed per key (the search and its shrinking together). The search is
/// exponential in the worst case (many concurrent indeterminate operations); past the budget
/// the key is reported as undecided, never as a violation.
pub const SEARCH_BUDGET: u64 = 5_000_000;

/// An indeterminate write whose value no operation observes may be taken as never having
/// happened: dropping it is exact (a linearization without it is one with it taking effect
/// "never"), and it removes most of the search's branching in runs with many timeouts.
fn without_unobserved_indeterminate_writes(ops: Vec<RegOp>) -> Vec<RegOp> {
    // An indeterminate cas may need its expected value to take effect, so it observes it too.
    let observed: FxHashSet<u32> = ops
        .iter()
        .filter_map(|o| match o.step {
            Step::CasUnknown { from, .. } => from,
            step => needs(step),
        })
        .collect();
    ops.into_iter()
        .filter(|o| {
            o.returned.is_some()
                || match o.step {
                    Step::Write(v) | Step::CasUnknown { to: v, .. } => observed.contains(&v),
                    _ => true,
                }
        })
        .collect()
}

/// A node of the doubly linked list of invocations and responses.
#[derive(Clone, Copy)]
struct Node {
    op: usize,
    is_call: bool,
    /// For a call: the index of its response node, if it has one.
    matching: Option<usize>,
    prev: usize,
    next: usize,
}

/// Wing and Gong's search with Lowe's cache over one key's operations. `None`: the budget
/// ran out before an answer.
fn linearizable(ops: &[RegOp], budget: &mut u64) -> Option<bool> {
    if ops.is_empty() {
        return Some(true);
    }
    // Events: (time, 0 = call / 1 = return, op). Calls sort before returns at equal times,
    // so operations that touch at one instant are concurrent.
    let mut events: Vec<(SimTime, u8, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, o) in ops.iter().enumerate() {
        events.push((o.invoked, 0, i));
        if let Some(r) = o.returned {
            events.push((r, 1, i));
        }
    }
    events.sort_unstable();
    // Node 0 is the head sentinel; event k is node k + 1; the tail sentinel closes the ring.
    let head = 0;
    let tail = events.len() + 1;
    let mut nodes: Vec<Node> = Vec::with_capacity(events.len() + 2);
    nodes.push(Node {
        op: usize::MAX,
        is_call: false,
        matching: None,
        prev: head,
        next: 1,
    });
    let mut return_of = vec![None; ops.len()];
    for (k, &(_, kind, op)) in events.iter().enumerate() {
        if kind == 1 {
            return_of[op] = Some(k + 1);
        }
        nodes.push(Node {
            op,
            is_call: kind == 0,
            matching: None,
            prev: k,
            next: k + 2,
        });
    }
    nodes.push(Node {
        op: usize::MAX,
        is_call: false,
        matching: None,
        prev: events.len(),
        next: tail,
    });
    for n in nodes.iter_mut().take(tail).skip(1) {
        if n.is_call {
            n.matching = return_of[n.op];
        }
    }

    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: FxHashSet<(Box<[u64]>, Value)> = FxHashSet::default();
    let mut calls: Vec<(usize, Value)> = Vec::new();
    let mut state: Value = None;
    let mut entry = nodes[head].next;
    while nodes[head].next != tail {
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        let n = nodes[entry];
        if entry != tail && n.is_call {
            if let Some(next_state) = ops[n.op].step.apply(state) {
                linearized[n.op / 64] |= 1 << (n.op % 64);
                let fresh = cache.insert((linearized.clone().into_boxed_slice(), next_state));
                if fresh {
                    calls.push((entry, state));
                    state = next_state;
                    lift(&mut nodes, entry);
                    entry = nodes[head].next;
                    continue;
                }
                linearized[n.op / 64] &= !(1 << (n.op % 64));
            }
            entry = n.next;
        } else {
            // The end of the list (every remaining call was tried here and none fits), or a
            // response whose call is still in the list (that call must come first, and no
            // choice made so far lets it): undo the latest choice.
            let Some((call, s)) = calls.pop() else {
                return Some(false);
            };
            state = s;
            let op = nodes[call].op;
            linearized[op / 64] &= !(1 << (op % 64));
            unlift(&mut nodes, call);
            entry = nodes[call].next;
        }
    }
    Some(true)
}

/// Takes a call (and its response, if any) out of the list.
fn lift(nodes: &mut [Node], call: usize) {
    let (p, n) = (nodes[call].prev, nodes[call].next);
    nodes[p].next = n;
    nodes[n].prev = p;
    if let Some(r) = nodes[call].matching {
        let (p, n) = (nodes[r].prev, nodes[r].next);
        nodes[p].next = n;
        nodes[n].prev = p;
    }
}

/// Puts a lifted call (and its response) back where they were.
fn unlift(nodes: &mut [Node], call: usize) {
    if let Some(r) = nodes[call].matching {
        let (p, n) = (nodes[r].prev, nodes[r].next);
        nodes[p].next = r;
        nodes[n].prev = r;
    }
    let (p, n) = (nodes[call].prev, nodes[call].next);
    nodes[p].next = call;
    nodes[n].prev = call;
}

/// The values an operation needs some write to have produced.
fn needs(step: Step) -> Option<u32> {
    match step {
        Step::Read(v) | Step::CasOk { from: v, .. } => v,
        Step::CasFailed { current, .. } => current,
        Step::Write(_) | Step::CasUnknown { .. } => None,
    }
}

fn writes(step: Step) -> Option<u32> {
    match step {
        Step::Write(v) | Step::CasOk { to: v, .. } | Step::CasUnknown { to: v, .. } => Some(v),
        Step::Read(_) | Step::CasFailed { .. } => None,
    }
}

/// A witness keeps a write of every value it reads, when the history had one: "read 1 after
/// 2 was written" explains a stale read; "read 1" alone hides where 1 came from.
fn explains(subset: &[RegOp], all_written: &FxHashSet<u32>) -> bool {
    let written: FxHashSet<u32> = subset.iter().filter_map(|o| writes(o.step)).collect();
    subset
        .iter()
        .filter_map(|o| needs(o.step))
        .all(|v| written.contains(&v) || !all_written.contains(&v))
}

/// A 1-minimal failing subset: first the shortest failing prefix (by invocation) found by
/// bisection, then each operation dropped in turn while the rest still fails and still
/// contains a write of every value it reads.
fn shrink(mut ops: Vec<RegOp>, budget: &mut u64) -> Vec<RegOp> {
    let all_written: FxHashSet<u32> = ops.iter().filter_map(|o| writes(o.step)).collect();
    ops.sort_by_key(|o| (o.invoked, o.entry));
    let (mut lo, mut hi) = (1, ops.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if linearizable(&ops[..mid], budget) != Some(false) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if explains(&ops[..lo], &all_written) && linearizable(&ops[..lo], budget) == Some(false) {
        ops.truncate(lo);
    }
    // Greedy removal is quadratic: only for witnesses of a readable size.
    // Passes until none removes anything: dropping a read can free the write it needed.
    let mut changed = ops.len() <= 400;
    while changed && *budget > 0 {
        changed = false;
        let mut i = ops.len();
        while i > 0 {
            i -= 1;
            let mut without = ops.clone();
            without.remove(i);
            if explains(&without, &all_written) && linearizable(&without, budget) == Some(false) {
                ops = without;
                changed = true;
            }
        }
    }
    ops
}

/// For tests and the benchmark: a history of `n` operations over `keys` keys produced by a
/// real register. Each operation takes effect at an instant inside its interval (times in
/// milliseconds); some time out, and then take effect or not.
pub fn random_register_history(
    rng: &mut ChaCha8Rng,
    n: usize,
    keys: usize,
    clients: u32,
) -> History {
    let mut regs: Vec<Option<String>> = vec![None; keys];
    let mut free_at = vec![0u64; clients as usize];
    let mut entries = Vec::new();
    let mut t = 0u64;
    for i in 0..n {
        t += rng.random_range(0..3);
        let c = rng.random_range(0..clients);
        // The operation takes effect at `t`, inside [start, end]; a client runs one at a time.
        t = t.max(free_at[c as usize]);
        let start = free_at[c as usize].max(t.saturating_sub(rng.random_range(0..5)));
        let end = t + rng.random_range(0..6);
        free_at[c as usize] = end + 1;
        let k = rng.random_range(0..keys);
        let key = format!("k{k}");
        let timed_out = rng.random_bool(0.05);
        let takes_effect = !timed_out || rng.random_bool(0.5);
        let (op, outcome) = match rng.random_range(0..3) {
            0 => (
                Op::Get { key },
                Outcome::Ok {
                    value: regs[k].clone(),
                },
            ),
            1 => {
                let value = format!("{i}");
                if takes_effect {
                    regs[k] = Some(value.clone());
                }
                (Op::Put { key, value }, Outcome::Ok { value: None })
            }
            _ => {
                let from = if rng.random_bool(0.5) {
                    regs[k].clone()
                } else {
                    Some(format!("{}", rng.random_range(0..n)))
                };
                let to = format!("{i}");
                let outcome = if regs[k] == from {
                    if takes_effect {
                        regs[k] = Some(to.clone());
                    }
                    Outcome::Ok { value: None }
                } else {
                    Outcome::CompareFailed {
                        current: regs[k].clone(),
                    }
                };
                (Op::Cas { key, from, to }, outcome)
            }
        };
        let outcome = if timed_out { Outcome::Timeout } else { outcome };
        entries.push(HistoryEntry {
            client: c,
            seq: i as u64,
            op,
            invoked_at: SimTime::from_millis(start),
            returned_at: Some(SimTime::from_millis(end)),
            outcome: Some(outcome),
            attempts: 1,
            node: None,
        });
    }
    entries.sort_by_key(|e| e.invoked_at);
    History { entries }
}

#[cfg(test)]
mod tests;
