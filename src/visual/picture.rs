//! What to draw at a simulated instant, computed from the trace alone (so scrubbing back is
//! free: no re-run). The index is built incrementally as the trace grows.

use crate::sim::network::{LinkParams, Network};
use crate::sim::trace::{DropReason, EventId, EventKind, Trace};
use crate::sim::{Action, NodeId, NodeView, SimTime, Violation};
use crate::visual::timeline::progress;

/// A node's liveness as drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Up,
    Crashed,
    Paused,
}

/// What a timeline marker stands for (its colour and filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    Fault,
    Role,
    Note,
    Caption,
    PausePoint,
    Violation,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub time: SimTime,
    pub kind: MarkerKind,
    pub text: String,
    pub event: EventId,
}

/// Facts about the trace, indexed by time, extended as new events arrive.
#[derive(Clone, Debug, Default)]
pub struct TraceIndex {
    nodes: usize,
    scanned: u64,
    /// Per node: (time, liveness after it).
    liveness: Vec<Vec<(SimTime, Liveness)>>,
    /// Per node: times of restarts (they flash).
    pub restarts: Vec<Vec<SimTime>>,
    /// Network actions in order (to rebuild partitions at any time).
    pub network: Vec<(SimTime, Action)>,
    pub captions: Vec<(SimTime, String)>,
    pub pause_points: Vec<(SimTime, String)>,
    pub markers: Vec<Marker>,
    pub violations: Vec<(SimTime, Violation)>,
    /// The last role seen per node, for role-change markers.
    last_role: Vec<String>,
    /// Per node: (time, event id) of each view change, to find views at any time quickly.
    views: Vec<Vec<(SimTime, EventId)>>,
    /// Pairs of nodes that exchanged messages (for the force layout).
    pub edges: std::collections::BTreeSet<(NodeId, NodeId)>,
}

impl TraceIndex {
    pub fn new(nodes: usize) -> Self {
        TraceIndex {
            nodes,
            liveness: vec![Vec::new(); nodes],
            restarts: vec![Vec::new(); nodes],
            views: vec![Vec::new(); nodes],
            last_role: vec![String::new(); nodes],
            ..Default::default()
        }
    }

    /// Reads the trace events not seen yet.
    pub fn update(&mut self, trace: &Trace, names: &[String]) {
        if trace.len() <= self.scanned {
            return;
        }
        let first = trace.events().front().map_or(0, |e| e.id);
        let skip = self.scanned.saturating_sub(first) as usize;
        for e in trace.events().iter().skip(skip) {
            let node = e.node.filter(|&n| n < self.nodes);
            let name = |n: Option<NodeId>| n.map_or("?".to_string(), |n| names[n].clone());
            let mut mark = |kind, text: String| {
                self.markers.push(Marker {
                    time: e.time,
                    kind,
                    text,
                    event: e.id,
                })
            };
            match &e.kind {
                EventKind::Crash | EventKind::Restart | EventKind::Pause | EventKind::Resume => {
                    let (l, verb) = match e.kind {
                        EventKind::Crash => (Liveness::Crashed, "crash"),
                        EventKind::Restart => (Liveness::Up, "restart"),
                        EventKind::Pause => (Liveness::Paused, "pause"),
                        _ => (Liveness::Up, "resume"),
                    };
                    mark(MarkerKind::Fault, format!("{verb} {}", name(node)));
                    if let Some(n) = node {
                        self.liveness[n].push((e.time, l));
                        if matches!(e.kind, EventKind::Restart) {
                            self.restarts[n].push(e.time);
                        }
                    }
                }
                EventKind::Network { action } => {
                    mark(MarkerKind::Fault, action.to_string());
                    self.network.push((e.time, (**action).clone()));
                }
                EventKind::Caption { text } => {
                    mark(MarkerKind::Caption, text.clone());
                    self.captions.push((e.time, text.clone()));
                }
                EventKind::PausePoint { text } => {
                    mark(MarkerKind::PausePoint, text.clone());
                    self.pause_points.push((e.time, text.clone()));
                }
                EventKind::Note { text } => {
                    mark(MarkerKind::Note, format!("{}: {text}", name(node)))
                }
                EventKind::View { view } => {
                    if let Some(n) = node {
                        self.views[n].push((e.time, e.id));
                    }
                    if let Some(n) = node
                        && view.role != self.last_role[n]
                    {
                        if !self.last_role[n].is_empty() || e.time > SimTime::ZERO {
                            mark(MarkerKind::Role, format!("{} is {}", name(node), view.role));
                        }
                        self.last_role[n] = view.role.clone();
                    }
                }
                EventKind::Violation { violation } => {
                    mark(
                        MarkerKind::Violation,
                        format!("{} violated", violation.invariant),
                    );
                    self.violations.push((e.time, (**violation).clone()));
                }
                EventKind::Send { to, .. } => {
                    if let Some(n) = node
                        && self.edges.len() < 100_000
                    {
                        self.edges.insert((n.min(*to), n.max(*to)));
                    }
                }
                _ => {}
            }
        }
        self.scanned = trace.len();
    }

    /// Every node's view at `t` (its latest view change at or before `t`), by binary search.
    pub fn views_at(&self, trace: &Trace, t: SimTime) -> Vec<Option<NodeView>> {
        self.views
            .iter()
            .map(|v| {
                let i = v.partition_point(|(at, _)| *at <= t);
                let id = v.get(i.checked_sub(1)?)?.1;
                match &trace.get(id)?.kind {
                    EventKind::View { view } => Some((**view).clone()),
                    _ => None,
                }
            })
            .collect()
    }

    pub fn liveness_at(&self, node: NodeId, t: SimTime) -> Liveness {
        let v = &self.liveness[node];
        let i = v.partition_point(|(at, _)| *at <= t);
        if i == 0 { Liveness::Up } else { v[i - 1].1 }
    }

    /// The last restart of `node` at or before `t`.
    pub fn last_restart(&self, node: NodeId, t: SimTime) -> Option<SimTime> {
        let v = &self.restarts[node];
        let i = v.partition_point(|at| *at <= t);
        (i > 0).then(|| v[i - 1])
    }

    /// The caption shown at `t`: the latest at or before it.
    pub fn caption_at(&self, t: SimTime) -> Option<&str> {
        let i = self.captions.partition_point(|(at, _)| *at <= t);
        (i > 0).then(|| self.captions[i - 1].1.as_str())
    }

    /// The first violation at or before `t`.
    pub fn violation_at(&self, t: SimTime) -> Option<&Violation> {
        self.violations
            .first()
            .filter(|(at, _)| *at <= t)
            .map(|(_, v)| v)
    }

    /// The network (partitions, cuts, holds) as it was at `t`.
    pub fn network_at(&self, t: SimTime, names: &[String]) -> Network {
        let mut net = Network::new(self.nodes, LinkParams::default());
        for (at, a) in &self.network {
            if *at > t {
                break;
            }
            net.apply(a, |n| names.iter().position(|x| x == n));
        }
        net
    }

    /// The next marker strictly after `t` (for "run to the next interesting event").
    pub fn next_marker_after(&self, t: SimTime) -> Option<&Marker> {
        let i = self.markers.partition_point(|m| m.time <= t);
        self.markers.get(i)
    }
}

/// A message on the wire, placed.
#[derive(Clone, Debug, PartialEq)]
pub struct MessagePic {
    pub send: EventId,
    pub from: NodeId,
    pub to: NodeId,
    pub kind: &'static str,
    pub label: String,
    /// 0 at the sender, 1 at the receiver.
    pub progress: f32,
    pub duplicate: bool,
}

/// A lost message, drawn as a fading burst where it was lost.
#[derive(Clone, Debug, PartialEq)]
pub struct BurstPic {
    pub from: NodeId,
    pub to: NodeId,
    pub kind: &'static str,
    /// Where along the link it was lost.
    pub progress: f32,
    /// 0 when it just happened, 1 when the burst has faded.
    pub age: f32,
    pub reason: DropReason,
}

/// Messages on the wire at `t`, from the trace (looking back at most `window`).
pub fn messages_at(trace: &Trace, t: SimTime, window: SimTime) -> Vec<MessagePic> {
    let mut seen = std::collections::BTreeSet::new();
    trace
        .in_flight_within(t, window)
        .into_iter()
        .filter_map(|f| {
            let EventKind::Send { to, msg, label, .. } = &f.send.kind else {
                return None;
            };
            let duplicate = !seen.insert(f.send.id);
            Some(MessagePic {
                send: f.send.id,
                from: f.send.node?,
                to: *to,
                kind: msg,
                label: label.clone().unwrap_or_default(),
                progress: progress(f.sent_at, f.arrives_at, t),
                duplicate,
            })
        })
        .collect()
}

/// Messages lost during the `fade` before `t`.
pub fn bursts_at(trace: &Trace, t: SimTime, fade: SimTime) -> Vec<BurstPic> {
    let end = trace.partition_point(t);
    let mut out = Vec::new();
    let fade_us = fade.0.max(1);
    for e in trace.events().range(..end).rev() {
        if e.time.0 + fade_us < t.0 {
            break;
        }
        if let EventKind::Drop {
            from,
            send,
            msg,
            reason,
        } = &e.kind
        {
            let sent_at = trace.get(*send).map_or(e.time, |s| s.time);
            let at_send = sent_at == e.time;
            out.push(BurstPic {
                from: *from,
                to: e.node.unwrap_or(*from),
                kind: msg,
                progress: if at_send { 0.2 } else { 0.85 },
                age: (t.0 - e.time.0) as f32 / fade_us as f32,
                reason: *reason,
            });
        }
    }
    out
}

/// Every node's view at `t` (the latest view event at or before `t`).
pub fn views_at(trace: &Trace, t: SimTime, nodes: usize) -> Vec<Option<NodeView>> {
    trace
        .views_at(t, nodes)
        .into_iter()
        .map(|v| v.cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{self, RunOptions};

    fn relay_run() -> registry::Loaded {
        let path = "scenarios/relay/random-walk.ron";
        let mut l = registry::load(
            crate::bundled::get(path).unwrap(),
            path,
            &RunOptions::default(),
        )
        .unwrap();
        l.sim.run_until(l.info.duration);
        l
    }

    #[test]
    fn the_index_knows_partitions_captions_and_markers_at_any_time() {
        let l = relay_run();
        let mut idx = TraceIndex::new(5);
        idx.update(l.sim.trace(), &l.info.names);
        let before = idx.network_at(SimTime::from_secs(4), &l.info.names);
        assert!(before.groups().is_empty());
        let during = idx.network_at(SimTime::from_secs(6), &l.info.names);
        assert_eq!(during.groups().len(), 2);
        assert!(!during.reachable(0, 3));
        let after = idx.network_at(SimTime::from_secs(9), &l.info.names);
        assert!(after.reachable(0, 3));
        assert!(
            idx.caption_at(SimTime::from_secs(1))
                .unwrap()
                .starts_with("Each token")
        );
        assert!(
            idx.caption_at(SimTime::from_secs(6))
                .unwrap()
                .starts_with("Partition")
        );
        assert!(
            idx.markers
                .iter()
                .any(|m| m.kind == MarkerKind::Fault && m.text.starts_with("partition"))
        );
        let next = idx.next_marker_after(SimTime::from_secs(5)).unwrap();
        assert!(next.time > SimTime::from_secs(5));
    }

    #[test]
    fn updating_in_pieces_equals_updating_at_once() {
        let path = "scenarios/relay/chaos.ron";
        let mut l = registry::load(
            crate::bundled::get(path).unwrap(),
            path,
            &RunOptions::default(),
        )
        .unwrap();
        let mut pieces = TraceIndex::new(7);
        for ms in (0..5_000).step_by(250) {
            l.sim.run_until(SimTime::from_millis(ms));
            pieces.update(l.sim.trace(), &l.info.names);
        }
        l.sim.run_until(l.info.duration);
        pieces.update(l.sim.trace(), &l.info.names);
        let mut once = TraceIndex::new(7);
        once.update(l.sim.trace(), &l.info.names);
        assert_eq!(pieces.markers, once.markers);
        assert_eq!(pieces.network, once.network);
        for n in 0..7 {
            for ms in (0..5_000).step_by(100) {
                let t = SimTime::from_millis(ms);
                assert_eq!(pieces.liveness_at(n, t), once.liveness_at(n, t));
            }
        }
        assert!(
            once.liveness.iter().any(|v| !v.is_empty()),
            "chaos crashed someone"
        );
        for ms in (0..5_000).step_by(250) {
            let t = SimTime::from_millis(ms);
            assert_eq!(
                once.views_at(l.sim.trace(), t),
                views_at(l.sim.trace(), t, 7),
                "views at {t}"
            );
        }
    }

    #[test]
    fn messages_are_placed_along_their_links_and_losses_burst() {
        let l = relay_run();
        let t = SimTime::from_millis(2_345);
        let msgs = messages_at(l.sim.trace(), t, SimTime::from_secs(30));
        assert!(
            msgs.iter()
                .all(|m| (0.0..=1.0).contains(&m.progress) && m.from != m.to)
        );
        // The partition at 5s loses tokens in flight: a burst shortly after.
        let drops: Vec<SimTime> = l
            .sim
            .trace()
            .events()
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Drop { .. }))
            .map(|e| e.time)
            .collect();
        let first = drops[0];
        let b = bursts_at(l.sim.trace(), first, SimTime::from_millis(300));
        assert!(!b.is_empty());
        assert_eq!(b[0].age, 0.0);
        assert!(
            bursts_at(
                l.sim.trace(),
                first + SimTime::from_secs(1),
                SimTime::from_millis(300)
            )
            .len()
                < drops.len()
        );
    }
}
