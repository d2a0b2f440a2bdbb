//! The space-time diagram's model (Lamport's picture, as ShiViz and OMNeT++'s sequence chart
//! draw it): one lane per node, time flowing right, every message an arrow from its send to
//! its delivery, lost messages ending in a cross, timers, faults and role changes as marks on
//! the lanes, crashed stretches and partitions as shaded intervals.
//!
//! Built incrementally from the trace like [`crate::visual::picture::TraceIndex`], so a frame
//! never scans the trace: arrows are kept in send order and a window is found by binary search
//! ([`SpaceTime::visible`]); long idle stretches can be collapsed ([`TimeMap`]); the causal past
//! and future of an event are found by walking parents and per-node order inside the window
//! ([`causality`]), which is exact there because a causal path only moves forward in time.

use crate::sim::NodeId;
use crate::sim::client::ClientId;
use crate::sim::time::SimTime;
use crate::sim::trace::{DropReason, EventId, EventKind, Trace};
use std::collections::{BTreeMap, BTreeSet};

/// How a message copy ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Still on the wire (as far as the trace goes).
    InFlight,
    Delivered,
    Dropped(DropReason),
}

/// One copy of a message: the send (or the network's duplicate of it) and its end.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrow {
    /// The send event (shared by a send and its duplicates: the selection key).
    pub send: EventId,
    pub from: NodeId,
    pub to: NodeId,
    pub kind: &'static str,
    pub sent: SimTime,
    /// When it was delivered or dropped; until then, when it is due.
    pub end: SimTime,
    /// The delivery or drop event, once it happened.
    pub end_event: Option<EventId>,
    pub fate: Fate,
    /// A second copy made by the network.
    pub duplicate: bool,
}

/// What a mark on a lane stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkKind {
    Timer,
    Crash,
    Restart,
    Pause,
    Resume,
    /// The node's role changed to this ("leader").
    Role(String),
    Note(String),
    /// A client's request reached the node.
    Request {
        client: ClientId,
        seq: u64,
    },
    /// The node answered a client's request (`ok`, `redirect`, …).
    Reply {
        client: ClientId,
        seq: u64,
        answer: &'static str,
    },
    Violation(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub event: EventId,
    pub node: NodeId,
    pub time: SimTime,
    pub kind: MarkKind,
}

/// A stretch of time in which a node was down (crashed or paused) or cut off by a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shade {
    pub node: NodeId,
    pub from: SimTime,
    /// `None`: still so at the end of the trace.
    pub to: Option<SimTime>,
    pub why: ShadeKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShadeKind {
    Crashed,
    Paused,
    /// On the smaller side of a partition.
    Partitioned,
}

/// The diagram's index over a trace, extended as the trace grows.
#[derive(Clone, Debug, Default)]
pub struct SpaceTime {
    nodes: usize,
    scanned: u64,
    /// Every message copy, in send order (so in time order).
    pub arrows: Vec<Arrow>,
    /// Copies not yet delivered or dropped: send id → indices into `arrows`.
    open: BTreeMap<EventId, Vec<usize>>,
    /// The longest time any copy has spent on the wire: a window's arrows are the sends
    /// from `t0 - longest` on, plus the open ones.
    longest: u64,
    pub marks: Vec<Mark>,
    pub shades: Vec<Shade>,
    /// Per node: the index in `shades` of its open down or partitioned stretch.
    open_down: Vec<Option<usize>>,
    open_cut: Vec<Option<usize>>,
    last_role: Vec<String>,
    /// Message kinds seen, in first-seen order (for the filter).
    pub kinds: Vec<&'static str>,
}

/// What falls in a window: indices into [`SpaceTime::arrows`], `marks` and `shades`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Visible {
    pub arrows: Vec<usize>,
    pub marks: Vec<usize>,
    pub shades: Vec<usize>,
}

impl SpaceTime {
    pub fn new(nodes: usize) -> Self {
        SpaceTime {
            nodes,
            open_down: vec![None; nodes],
            open_cut: vec![None; nodes],
            last_role: vec![String::new(); nodes],
            ..Default::default()
        }
    }

    /// Reads the trace events not seen yet. `partitioned_at` tells, after a network change,
    /// which nodes are on a smaller side (see [`minority`]).
    pub fn update(&mut self, trace: &Trace, partitioned_at: impl Fn(SimTime) -> Vec<NodeId>) {
        if trace.len() <= self.scanned {
            return;
        }
        let first = trace.events().front().map_or(0, |e| e.id);
        let skip = self.scanned.saturating_sub(first) as usize;
        for e in trace.events().iter().skip(skip) {
            let node = e.node.filter(|&n| n < self.nodes);
            match (&e.kind, node) {
                (
                    EventKind::Send {
                        to,
                        msg,
                        deliver_at,
                        ..
                    },
                    Some(from),
                ) => self.open_arrow(e.id, from, *to, msg, e.time, *deliver_at, false),
                (EventKind::Duplicate { send, deliver_at }, _) => {
                    if let Some(a) = self.open.get(send).and_then(|v| v.first()) {
                        let a = self.arrows[*a].clone();
                        self.open_arrow(*send, a.from, a.to, a.kind, e.time, *deliver_at, true);
                    }
                }
                (EventKind::Deliver { send, .. }, _) => {
                    self.close_arrow(*send, e.id, e.time, Fate::Delivered)
                }
                (EventKind::Drop { send, reason, .. }, _) => {
                    self.close_arrow(*send, e.id, e.time, Fate::Dropped(*reason))
                }
                (EventKind::Network { .. }, _) => self.repartition(e.time, partitioned_at(e.time)),
                (kind, Some(n)) => self.lane_event(e.id, n, e.time, kind),
                _ => {}
            }
        }
        self.scanned = trace.len();
    }

    #[allow(clippy::too_many_arguments)]
    fn open_arrow(
        &mut self,
        send: EventId,
        from: NodeId,
        to: NodeId,
        kind: &'static str,
        sent: SimTime,
        due: SimTime,
        duplicate: bool,
    ) {
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
        self.open.entry(send).or_default().push(self.arrows.len());
        self.arrows.push(Arrow {
            send,
            from,
            to,
            kind,
            sent,
            end: due.max(sent),
            end_event: None,
            fate: Fate::InFlight,
            duplicate,
        });
    }

    /// Ends the open copy of `send` that was due first.
    fn close_arrow(&mut self, send: EventId, event: EventId, at: SimTime, fate: Fate) {
        let Some(copies) = self.open.get_mut(&send) else {
            return;
        };
        let Some(k) = (0..copies.len()).min_by_key(|&k| self.arrows[copies[k]].end) else {
            return;
        };
        let a = copies.remove(k);
        if copies.is_empty() {
            self.open.remove(&send);
        }
        let arrow = &mut self.arrows[a];
        arrow.end = at;
        arrow.end_event = Some(event);
        arrow.fate = fate;
        self.longest = self.longest.max(at.0.saturating_sub(arrow.sent.0));
    }

    fn lane_event(&mut self, id: EventId, n: NodeId, t: SimTime, kind: &EventKind) {
        let mark = match kind {
            EventKind::Timer { .. } => MarkKind::Timer,
            EventKind::Crash => MarkKind::Crash,
            EventKind::Restart => MarkKind::Restart,
            EventKind::Pause => MarkKind::Pause,
            EventKind::Resume => MarkKind::Resume,
            EventKind::Note { text } => MarkKind::Note(text.clone()),
            EventKind::ClientRequest { client, seq, .. } => MarkKind::Request {
                client: *client,
                seq: *seq,
            },
            EventKind::ClientReply {
                client,
                seq,
                answer,
                ..
            } => MarkKind::Reply {
                client: *client,
                seq: *seq,
                answer,
            },
            EventKind::Violation { violation } => MarkKind::Violation(violation.invariant.clone()),
            EventKind::View { view } => {
                if view.role == self.last_role[n] {
                    return;
                }
                let first = self.last_role[n].is_empty();
                self.last_role[n] = view.role.clone();
                if first && t == SimTime::ZERO {
                    return;
                }
                MarkKind::Role(view.role.clone())
            }
            _ => return,
        };
        match mark {
            MarkKind::Crash => self.down(n, t, Some(ShadeKind::Crashed)),
            MarkKind::Pause => self.down(n, t, Some(ShadeKind::Paused)),
            MarkKind::Restart | MarkKind::Resume => self.down(n, t, None),
            _ => {}
        }
        self.marks.push(Mark {
            event: id,
            node: n,
            time: t,
            kind: mark,
        });
    }

    /// Closes `n`'s open down stretch at `t` and opens a new one of kind `why`, if any.
    fn down(&mut self, n: NodeId, t: SimTime, why: Option<ShadeKind>) {
        if let Some(i) = self.open_down[n].take() {
            self.shades[i].to = Some(t);
        }
        if let Some(why) = why {
            self.open_down[n] = Some(self.shades.len());
            self.shades.push(Shade {
                node: n,
                from: t,
                to: None,
                why,
            });
        }
    }

    fn repartition(&mut self, t: SimTime, cut: Vec<NodeId>) {
        for n in 0..self.nodes {
            let is_cut = cut.contains(&n);
            match (self.open_cut[n], is_cut) {
                (Some(i), false) => {
                    self.shades[i].to = Some(t);
                    self.open_cut[n] = None;
                }
                (None, true) => {
                    self.open_cut[n] = Some(self.shades.len());
                    self.shades.push(Shade {
                        node: n,
                        from: t,
                        to: None,
                        why: ShadeKind::Partitioned,
                    });
                }
                _ => {}
            }
        }
    }

    /// What to draw for the window `[t0, t1]`, leaving out the message kinds in `hidden`.
    /// Binary search, then a scan of the arrows sent within the longest flight time before
    /// `t0`: the cost follows what is visible, not the length of the trace.
    pub fn visible(&self, t0: SimTime, t1: SimTime, hidden: &BTreeSet<&str>) -> Visible {
        let from = SimTime(t0.0.saturating_sub(self.longest));
        let a0 = self.arrows.partition_point(|a| a.sent < from);
        let a1 = self.arrows.partition_point(|a| a.sent <= t1);
        let mut arrows: Vec<usize> = (a0..a1)
            .filter(|&i| self.arrows[i].end >= t0 || self.arrows[i].fate == Fate::InFlight)
            .collect();
        // Copies still on the wire that left before `from` (a held link).
        for copies in self.open.values() {
            arrows.extend(copies.iter().filter(|&&i| self.arrows[i].sent < from));
        }
        arrows.retain(|&i| !hidden.contains(self.arrows[i].kind));
        arrows.sort_unstable();
        let m0 = self.marks.partition_point(|m| m.time < t0);
        let m1 = self.marks.partition_point(|m| m.time <= t1);
        let shades = (0..self.shades.len())
            .filter(|&i| {
                let s = &self.shades[i];
                s.from <= t1 && s.to.is_none_or(|to| to >= t0)
            })
            .collect();
        Visible {
            arrows,
            marks: (m0..m1).collect(),
            shades,
        }
    }

    /// The times at which something visible happens in the window (for [`TimeMap`]).
    pub fn activity(&self, v: &Visible, t0: SimTime, t1: SimTime) -> Vec<SimTime> {
        let inside = |t: SimTime| t >= t0 && t <= t1;
        let mut out: Vec<SimTime> = v
            .arrows
            .iter()
            .flat_map(|&i| [self.arrows[i].sent, self.arrows[i].end])
            .chain(v.marks.iter().map(|&i| self.marks[i].time))
            .filter(|&t| inside(t))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The nodes on the smaller sides of the network's partition groups (all groups but the
/// largest; the first of equal ones is kept whole).
pub fn minority(groups: &[Vec<NodeId>]) -> Vec<NodeId> {
    let Some(biggest) = (0..groups.len()).max_by_key(|&g| (groups[g].len(), usize::MAX - g)) else {
        return Vec::new();
    };
    let mut out: Vec<NodeId> = groups
        .iter()
        .enumerate()
        .filter(|(g, _)| *g != biggest)
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    out.sort_unstable();
    out
}

/// Simulated time → horizontal position, with idle stretches squeezed: a gap between two
/// consecutive moments of activity longer than `max_gap` of the window is drawn `squeezed`
/// pixels wide, and the rest shares the width in proportion to time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeMap {
    /// (time, x) breakpoints, increasing in both; linear in between.
    points: Vec<(SimTime, f32)>,
    /// The squeezed gaps (start, end), to draw a break sign on.
    pub gaps: Vec<(SimTime, SimTime)>,
}

impl TimeMap {
    /// A plain linear map of `[t0, t1]` onto `[x0, x1]`.
    pub fn linear(t0: SimTime, t1: SimTime, x0: f32, x1: f32) -> TimeMap {
        TimeMap {
            points: vec![(t0, x0), (t1.max(SimTime(t0.0 + 1)), x1)],
            gaps: Vec::new(),
        }
    }

    /// `activity`: sorted times inside `[t0, t1]`. `max_gap` is a fraction of the window.
    pub fn collapsed(
        t0: SimTime,
        t1: SimTime,
        x0: f32,
        x1: f32,
        activity: &[SimTime],
        max_gap: f64,
        squeezed: f32,
    ) -> TimeMap {
        let span = t1.0.saturating_sub(t0.0).max(1);
        let limit = (span as f64 * max_gap) as u64;
        let mut stops = vec![t0];
        stops.extend(activity.iter().copied().filter(|t| *t > t0 && *t < t1));
        stops.push(t1.max(SimTime(t0.0 + 1)));
        let gaps: Vec<(SimTime, SimTime)> = stops
            .windows(2)
            .filter(|w| w[1].0 - w[0].0 > limit)
            .map(|w| (w[0], w[1]))
            .collect();
        let squeezed_total = squeezed * gaps.len() as f32;
        let width = x1 - x0;
        if gaps.is_empty() || squeezed_total >= width * 0.5 {
            return TimeMap::linear(t0, t1, x0, x1);
        }
        let gap_time: u64 = gaps.iter().map(|(a, b)| b.0 - a.0).sum();
        let per_us = (width - squeezed_total) / (span - gap_time).max(1) as f32;
        let mut points = vec![(t0, x0)];
        let mut x = x0;
        let mut at = t0;
        for &(a, b) in &gaps {
            x += (a.0 - at.0) as f32 * per_us;
            points.push((a, x));
            x += squeezed;
            points.push((b, x));
            at = b;
        }
        points.push((stops[stops.len() - 1], x1));
        TimeMap { points, gaps }
    }

    pub fn x_of(&self, t: SimTime) -> f32 {
        let i = self.points.partition_point(|(pt, _)| *pt <= t);
        if i == 0 {
            return self.points[0].1;
        }
        if i == self.points.len() {
            return self.points[i - 1].1;
        }
        let (ta, xa) = self.points[i - 1];
        let (tb, xb) = self.points[i];
        xa + (xb - xa) * ((t.0 - ta.0) as f64 / (tb.0 - ta.0).max(1) as f64) as f32
    }

    /// The time under `x` (the start of a squeezed gap maps to its start).
    pub fn time_at(&self, x: f32) -> SimTime {
        let i = self.points.partition_point(|(_, px)| *px <= x);
        if i == 0 {
            return self.points[0].0;
        }
        if i == self.points.len() {
            return self.points[i - 1].0;
        }
        let (ta, xa) = self.points[i - 1];
        let (tb, xb) = self.points[i];
        let f = ((x - xa) / (xb - xa).max(f32::EPSILON)) as f64;
        SimTime(ta.0 + ((tb.0 - ta.0) as f64 * f).round() as u64)
    }
}

/// The causal past and future of one event, within a window of the trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Causality {
    pub anchor: EventId,
    pub past: BTreeSet<EventId>,
    pub future: BTreeSet<EventId>,
}

impl Causality {
    pub fn contains(&self, e: EventId) -> bool {
        e == self.anchor || self.past.contains(&e) || self.future.contains(&e)
    }
}

/// Happened-before (Lamport) around `anchor`, over the trace's events in `[t0, t1]`: an
/// event's predecessors are its causal parent (a delivery's send, a timer's setter, a
/// handler's input) and the previous event on its node.
pub fn causality(trace: &Trace, anchor: EventId, t0: SimTime, t1: SimTime) -> Causality {
    let evs = trace.events();
    let lo = evs.partition_point(|e| e.time < t0);
    let hi = trace.partition_point(t1);
    let first = evs.get(lo).map_or(0, |e| e.id);
    let n = hi.saturating_sub(lo);
    // Predecessor lists, by position in the window.
    let mut preds: Vec<[Option<usize>; 2]> = vec![[None, None]; n];
    let mut last_on: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (k, e) in evs.range(lo..hi).enumerate() {
        let parent = e
            .parent
            .and_then(|p| p.checked_sub(first))
            .map(|p| p as usize)
            .filter(|&p| p < k);
        preds[k] = [parent, e.node.and_then(|node| last_on.insert(node, k))];
    }
    let mut out = Causality {
        anchor,
        ..Default::default()
    };
    let Some(a) = anchor
        .checked_sub(first)
        .map(|a| a as usize)
        .filter(|&a| a < n)
    else {
        return out;
    };
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, p) in preds.iter().enumerate() {
        for q in p.iter().flatten() {
            succs[*q].push(k);
        }
    }
    let walk = |next: &dyn Fn(usize) -> Vec<usize>| {
        let mut seen = BTreeSet::new();
        let mut stack = next(a);
        while let Some(k) = stack.pop() {
            if seen.insert(first + k as u64) {
                stack.extend(next(k));
            }
        }
        seen
    };
    out.past = walk(&|k| preds[k].iter().flatten().copied().collect());
    out.future = walk(&|k| succs[k].clone());
    out
}

#[cfg(test)]
mod tests;
