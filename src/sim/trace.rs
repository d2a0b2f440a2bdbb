//! The trace: an append-only record of everything that happened in a run.
//!
//! Every event has a stable id (its position in the run, from 0), the node it happened on,
//! a causal parent (a delivery's parent is its send; a timer's is the event that set it; a
//! handler's outputs are children of the input), and a Lamport clock. Vector clocks are
//! computed on demand from parents and per-node order ([`Trace::vector_clocks`]).
//!
//! The trace is enough to redraw the picture at any past time without re-running: node views
//! are recorded whenever they change ([`EventKind::View`]), and the messages in flight at `t`
//! are the sends at or before `t` whose delivery or drop comes after `t` ([`Trace::in_flight_at`]).
//!
//! Levels: `Full` keeps payload labels (the app, `distsim run`, `--trace`); `Causal` keeps
//! every event with ids, parents, clocks and view snapshots but no labels (seed sweeps);
//! `Off` keeps only the digest and counters and skips view snapshots (the benchmark).
//! `bounded(n)` keeps the last `n` events of a long run. A `TraceEvent` is 112 bytes in memory,
//! plus heap for labels and view snapshots.
//!
//! The digest is a 64-bit XXH3 over every event's time, kind, node, peers, parent and the
//! message or timer contents (through their `Hash`), but not labels or view contents, which are
//! derived; so it is the same at `Full`, `Causal` and bounded, and changes if anything
//! observable changes. At `Off` no view events exist, so its digest differs (but is just as
//! deterministic).

use crate::sim::actor::{NodeId, NodeView};
use crate::sim::client::{ClientId, Op, Outcome};
use crate::sim::control::Action;
use crate::sim::invariant::Violation;
use crate::sim::time::SimTime;
use serde::Serialize;
use std::collections::VecDeque;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

pub type EventId = u64;

/// Events kept in memory at most, whatever the level and cap (about 1.5 GB): a runaway run
/// (zero latency, a storm of messages) forgets its oldest events instead of exhausting memory.
pub const MAX_RETAINED: usize = 10_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DropReason {
    /// Lost by the link's random drop probability.
    Loss,
    /// Sender and receiver were on different sides of a partition or a cut link.
    Partitioned,
    /// The receiver was crashed when the message arrived (or crashed while it waited).
    NodeDown,
    /// The receiver's service queue was full (load shedding).
    QueueFull,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::Partitioned => "partitioned",
            DropReason::NodeDown => "node down",
            DropReason::QueueFull => "queue full",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum EventKind {
    /// A node handed a message to the network.
    Send {
        to: NodeId,
        msg: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        deliver_at: SimTime,
    },
    /// The network made a second copy of a send (parent: the send).
    Duplicate {
        send: EventId,
        deliver_at: SimTime,
    },
    /// A message reached its receiver's handler (parent: the send).
    Deliver {
        from: NodeId,
        send: EventId,
        msg: &'static str,
    },
    /// A message was lost (parent: the send); `node` is the intended receiver.
    Drop {
        from: NodeId,
        send: EventId,
        msg: &'static str,
        reason: DropReason,
    },
    /// A timer fired (parent: the event that set it).
    Timer {
        #[serde(skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    Crash,
    Restart,
    Pause,
    Resume,
    /// A network or clock change (partition, heal, cut, hold, link settings, drift).
    Network {
        action: Box<Action>,
    },
    ClientInvoke {
        client: ClientId,
        seq: u64,
        op: Box<Op>,
    },
    /// A request attempt reached a node.
    ClientRequest {
        client: ClientId,
        seq: u64,
        attempt: u32,
    },
    /// A request attempt reached a node whose service queue was full, and was dropped.
    Shed {
        client: ClientId,
        seq: u64,
        attempt: u32,
    },
    /// A node answered a client's request attempt (parent: the handler input that produced
    /// the answer, for example the delivery that let a leader apply the operation). `answer`
    /// is `ok`, `fail`, `compare-failed` or `redirect`; a redirect names the node it points
    /// to, if it knows one.
    ClientReply {
        client: ClientId,
        seq: u64,
        attempt: u32,
        answer: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        redirect_to: Option<NodeId>,
    },
    /// The client finished an operation (parent: the [`EventKind::ClientReply`] it acted on,
    /// none for a timeout). `attempts` counts the requests sent; `node` is the node whose
    /// answer ended the operation (none when the last attempt timed out); `determinate` is
    /// true when the outcome says for sure whether the operation took effect (an `Ok` or a
    /// failed compare), false when the client gave up (timeouts, no leader found, refusals).
    ClientReturn {
        client: ClientId,
        seq: u64,
        attempts: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        node: Option<NodeId>,
        determinate: bool,
        outcome: Box<Outcome>,
    },
    /// A node's view changed; the snapshot is the new view (at `Full` level).
    View {
        view: Box<NodeView>,
    },
    /// A protocol's note ("became leader for term 3").
    Note {
        text: String,
    },
    /// A scenario caption for narration.
    Caption {
        text: String,
    },
    /// A presenter pause point: the app may stop here.
    PausePoint {
        text: String,
    },
    Violation {
        violation: Box<Violation>,
    },
}

impl EventKind {
    /// A stable small number per event type (for the digest).
    pub fn tag(&self) -> u64 {
        match self {
            EventKind::Send { .. } => 1,
            EventKind::Duplicate { .. } => 2,
            EventKind::Deliver { .. } => 3,
            EventKind::Drop { .. } => 4,
            EventKind::Timer { .. } => 5,
            EventKind::Crash => 6,
            EventKind::Restart => 7,
            EventKind::Pause => 8,
            EventKind::Resume => 9,
            EventKind::Network { .. } => 10,
            EventKind::ClientInvoke { .. } => 11,
            EventKind::ClientRequest { .. } => 12,
            EventKind::ClientReturn { .. } => 13,
            EventKind::View { .. } => 14,
            EventKind::Note { .. } => 15,
            EventKind::Caption { .. } => 16,
            EventKind::PausePoint { .. } => 17,
            EventKind::Violation { .. } => 18,
            EventKind::Shed { .. } => 19,
            EventKind::ClientReply { .. } => 20,
        }
    }

    /// Short name of the event type, for filters and the log.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Send { .. } => "send",
            EventKind::Duplicate { .. } => "duplicate",
            EventKind::Deliver { .. } => "deliver",
            EventKind::Drop { .. } => "drop",
            EventKind::Timer { .. } => "timer",
            EventKind::Crash => "crash",
            EventKind::Restart => "restart",
            EventKind::Pause => "pause",
            EventKind::Resume => "resume",
            EventKind::Network { .. } => "network",
            EventKind::ClientInvoke { .. } => "client-invoke",
            EventKind::ClientRequest { .. } => "client-request",
            EventKind::ClientReturn { .. } => "client-return",
            EventKind::View { .. } => "view",
            EventKind::Note { .. } => "note",
            EventKind::Caption { .. } => "caption",
            EventKind::PausePoint { .. } => "pause-point",
            EventKind::Violation { .. } => "violation",
            EventKind::Shed { .. } => "shed",
            EventKind::ClientReply { .. } => "client-reply",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceEvent {
    pub id: EventId,
    pub time: SimTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<EventId>,
    pub lamport: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl TraceEvent {
    /// Inline size plus an estimate of the heap this event owns.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        let heap = match &self.kind {
            EventKind::Send { label, .. } | EventKind::Timer { label } => opt(label),
            EventKind::Network { .. } => size_of::<Action>(),
            EventKind::ClientInvoke { op, .. } => size_of::<Op>() + op.to_string().len(),
            EventKind::ClientReturn { .. } => 0,
            EventKind::View { view } => {
                size_of::<NodeView>()
                    + view.role.capacity()
                    + view
                        .fields
                        .iter()
                        .map(|(a, b)| size_of::<(String, String)>() + a.capacity() + b.capacity())
                        .sum::<usize>()
                    + view
                        .entries
                        .iter()
                        .map(|e| size_of::<crate::sim::actor::EntryView>() + e.label.capacity())
                        .sum::<usize>()
                    + view.timer.as_ref().map_or(0, |t| t.label.capacity())
            }
            EventKind::Note { text }
            | EventKind::Caption { text }
            | EventKind::PausePoint { text } => text.capacity(),
            EventKind::Violation { violation } => {
                size_of::<Violation>() + violation.explanation.capacity()
            }
            _ => 0,
        };
        size_of::<TraceEvent>() + heap
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub enum TraceLevel {
    Off,
    Causal,
    #[default]
    Full,
}

/// Where a streamed trace goes: every event is written as one JSON line when it is recorded,
/// so the output is complete whatever a bounded trace keeps in memory (`distsim run --trace`).
#[derive(Default)]
struct Sink {
    out: Option<Box<dyn std::io::Write + Send>>,
    /// The first write error; writing stops there and [`Trace::end_stream`] returns it.
    error: Option<std::io::Error>,
}

impl Sink {
    #[cold]
    fn write(&mut self, e: &TraceEvent) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let res = serde_json::to_writer(&mut *out, e)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(err) = res {
            self.error = Some(err);
            self.out = None;
        }
    }
}

/// A copy of a trace is a snapshot: it does not stream to its original's output.
impl Clone for Sink {
    fn clone(&self) -> Self {
        Sink::default()
    }
}

/// The append-only event record, with its running digest.
#[derive(Clone)]
pub struct Trace {
    level: TraceLevel,
    events: VecDeque<TraceEvent>,
    /// Id of `events[0]` (non-zero once a bounded trace has forgotten its start).
    first_id: EventId,
    next_id: EventId,
    cap: Option<usize>,
    /// Running digest: each event's canonical words hashed with the previous digest as seed.
    digest: u64,
    /// Where events are streamed as they are recorded, if anywhere.
    sink: Sink,
    /// Events kept at most whatever the cap ([`MAX_RETAINED`]; lower in tests).
    retain_max: usize,
}

impl Trace {
    pub fn new(level: TraceLevel, cap: Option<usize>) -> Self {
        if let Some(c) = cap {
            assert!(c > 0, "a bounded trace needs room for at least one event");
        }
        Trace {
            level,
            events: VecDeque::new(),
            first_id: 0,
            next_id: 0,
            cap,
            digest: 0,
            sink: Sink::default(),
            retain_max: MAX_RETAINED,
        }
    }

    /// Lowers the memory bound ([`MAX_RETAINED`]), so tests can watch it work.
    pub fn limit_retained(&mut self, max: usize) {
        self.retain_max = max.clamp(1, MAX_RETAINED);
    }

    /// Streams the trace to `out` as JSON Lines: the retained events now, then every event as
    /// it is recorded. Call it before a bounded trace has forgotten anything (an error
    /// otherwise), and [`Trace::end_stream`] at the end.
    pub fn stream_to(&mut self, out: Box<dyn std::io::Write + Send>) -> std::io::Result<()> {
        if self.first_id > 0 {
            return Err(std::io::Error::other(format!(
                "the first {} events are already forgotten",
                self.first_id
            )));
        }
        self.sink = Sink {
            out: Some(out),
            error: None,
        };
        for e in &self.events {
            self.sink.write(e);
        }
        match self.sink.error.take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Stops streaming, flushes, and returns the first error met while writing.
    pub fn end_stream(&mut self) -> std::io::Result<()> {
        let sink = std::mem::take(&mut self.sink);
        if let Some(err) = sink.error {
            return Err(err);
        }
        match sink.out {
            Some(mut out) => out.flush(),
            None => Ok(()),
        }
    }

    /// Keeps only the last `cap` events from now on (`None`: keep all).
    pub fn set_cap(&mut self, cap: Option<usize>) {
        if let Some(c) = cap {
            assert!(c > 0, "a bounded trace needs room for at least one event");
            while self.events.len() > c {
                self.events.pop_front();
                self.first_id += 1;
            }
        }
        self.cap = cap;
    }

    pub fn level(&self) -> TraceLevel {
        self.level
    }
    /// True when payload labels and view snapshots are kept.
    pub fn full(&self) -> bool {
        self.level == TraceLevel::Full
    }
    /// Number of events recorded so far (including any a bounded trace forgot).
    pub fn len(&self) -> u64 {
        self.next_id
    }
    pub fn is_empty(&self) -> bool {
        self.next_id == 0
    }
    /// The retained events, oldest first.
    pub fn events(&self) -> &VecDeque<TraceEvent> {
        &self.events
    }
    pub fn get(&self, id: EventId) -> Option<&TraceEvent> {
        if id < self.first_id {
            return None;
        }
        self.events.get((id - self.first_id) as usize)
    }
    /// The stable 64-bit digest of everything recorded so far.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Appends an event. `content` is a hash of the message or timer contents (0 if none).
    pub fn record(
        &mut self,
        time: SimTime,
        node: Option<NodeId>,
        parent: Option<EventId>,
        lamport: u64,
        kind: EventKind,
        content: u64,
    ) -> EventId {
        let id = self.next_id;
        self.next_id += 1;
        self.hash_event(time, node, parent, &kind, content);
        if self.level == TraceLevel::Off {
            return id;
        }
        // Memory is bounded even without a cap: past `MAX_RETAINED` events only the newest are
        // kept (the digest, the counts and a streamed `--trace` still cover every event).
        let cap = self.cap.unwrap_or(self.retain_max).min(self.retain_max);
        if self.events.len() >= cap {
            self.events.pop_front();
            self.first_id += 1;
        }
        self.events.push_back(TraceEvent {
            id,
            time,
            node,
            parent,
            lamport,
            kind,
        });
        if self.sink.out.is_some() {
            let event = self.events.back().expect("just recorded");
            self.sink.write(event);
        }
        id
    }

    fn hash_event(
        &mut self,
        time: SimTime,
        node: Option<NodeId>,
        parent: Option<EventId>,
        kind: &EventKind,
        content: u64,
    ) {
        let opt = |v: Option<u64>| v.map_or(u64::MAX, |v| v);
        let mut words = [
            time.0,
            opt(node.map(|n| n as u64)),
            opt(parent),
            content,
            0,
            0,
        ];
        let name_of = |s: &str| xxh3_64(s.as_bytes());
        words[4] = kind.tag();
        words[5] = match kind {
            EventKind::Send {
                to,
                msg,
                deliver_at,
                ..
            } => name_of(msg) ^ (*to as u64).rotate_left(32) ^ deliver_at.0.rotate_left(7),
            EventKind::Duplicate { send, deliver_at } => send ^ deliver_at.0.rotate_left(17),
            EventKind::Deliver { from, send, .. } => send ^ (*from as u64).rotate_left(40),
            EventKind::Drop {
                from, send, reason, ..
            } => send ^ (*from as u64).rotate_left(40) ^ (*reason as u64).rotate_left(56),
            EventKind::Network { action } => name_of(&action.to_string()),
            EventKind::ClientInvoke { client, seq, op } => {
                name_of(&op.to_string()) ^ (*client as u64).rotate_left(32) ^ seq
            }
            EventKind::ClientRequest {
                client,
                seq,
                attempt,
            }
            | EventKind::Shed {
                client,
                seq,
                attempt,
            } => (*client as u64).rotate_left(32) ^ seq ^ (*attempt as u64).rotate_left(48),
            EventKind::ClientReply {
                client,
                seq,
                attempt,
                answer,
                redirect_to,
            } => {
                name_of(answer)
                    ^ (*client as u64).rotate_left(32)
                    ^ seq
                    ^ (*attempt as u64).rotate_left(48)
                    ^ redirect_to.map_or(u64::MAX, |n| n as u64).rotate_left(20)
            }
            EventKind::ClientReturn {
                client,
                seq,
                attempts,
                node,
                outcome,
                ..
            } => {
                name_of(&format!("{outcome:?}"))
                    ^ (*client as u64).rotate_left(32)
                    ^ seq
                    ^ (*attempts as u64).rotate_left(48)
                    ^ node.map_or(u64::MAX, |n| n as u64).rotate_left(20)
            }
            EventKind::Note { text }
            | EventKind::Caption { text }
            | EventKind::PausePoint { text } => name_of(text),
            EventKind::Violation { violation } => name_of(&violation.explanation),
            // Labels and views are derived from state already covered by the other events.
            EventKind::Timer { .. }
            | EventKind::View { .. }
            | EventKind::Crash
            | EventKind::Restart
            | EventKind::Pause
            | EventKind::Resume => 0,
        };
        let mut bytes = [0u8; 48];
        for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        self.digest = xxh3_64_with_seed(&bytes, self.digest);
    }

    /// An estimate of the memory the retained events hold: each event's inline size plus the
    /// heap it owns (labels, texts, boxed actions, view snapshots). For the benchmark's bytes
    /// per event; O(events).
    pub fn memory_bytes(&self) -> usize {
        self.events.iter().map(TraceEvent::memory_bytes).sum()
    }

    /// Writes the retained events as JSON Lines.
    pub fn write_jsonl(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        for e in &self.events {
            serde_json::to_writer(&mut out, e)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Index of the first retained event with time > t.
    pub fn partition_point(&self, t: SimTime) -> usize {
        self.events.partition_point(|e| e.time <= t)
    }

    /// Each node's view as of time `t` (the last view event at or before `t`).
    pub fn views_at(&self, t: SimTime, nodes: usize) -> Vec<Option<&NodeView>> {
        let mut out: Vec<Option<&NodeView>> = vec![None; nodes];
        let end = self.partition_point(t);
        let mut missing = nodes;
        for e in self.events.range(..end).rev() {
            if let (EventKind::View { view }, Some(n)) = (&e.kind, e.node)
                && n < nodes
                && out[n].is_none()
            {
                out[n] = Some(view);
                missing -= 1;
                if missing == 0 {
                    break;
                }
            }
        }
        out
    }

    /// Messages in flight at time `t`: (send event, delivery or drop time, dropped?).
    /// A message counts as in flight at `t` when it was sent at or before `t` and its
    /// delivery (or loss) happens after `t`.
    pub fn in_flight_at(&self, t: SimTime) -> Vec<InFlight<'_>> {
        self.in_flight_within(t, SimTime::MAX)
    }

    /// Like [`Trace::in_flight_at`], looking only at sends in the `window` before `t`: cheap
    /// enough for every frame of the app (a message in flight longer than `window`, say at a
    /// held link, is not shown).
    pub fn in_flight_within(&self, t: SimTime, window: SimTime) -> Vec<InFlight<'_>> {
        let end = self.partition_point(t);
        let start = self
            .events
            .partition_point(|e| e.time < t.saturating_sub(window));
        // How many copies of each send have been delivered or dropped by `t`.
        let mut arrived: std::collections::BTreeMap<EventId, u32> = Default::default();
        for e in self.events.range(start..end) {
            if let EventKind::Deliver { send, .. } | EventKind::Drop { send, .. } = &e.kind {
                *arrived.entry(*send).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        for e in self.events.range(start..end) {
            let (send_id, deliver_at) = match &e.kind {
                EventKind::Send { deliver_at, .. } => (e.id, *deliver_at),
                EventKind::Duplicate { send, deliver_at } => (*send, *deliver_at),
                _ => continue,
            };
            // A copy due by `t` but not yet handled is waiting (held link, paused node).
            let waiting = deliver_at > t
                || match arrived.get_mut(&send_id) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        false
                    }
                    _ => true,
                };
            if waiting && let Some(send) = self.get(send_id) {
                out.push(InFlight {
                    send,
                    sent_at: e.time,
                    arrives_at: deliver_at.max(t),
                });
            }
        }
        out
    }

    /// Vector clocks of the retained events (node count `nodes`); an event without a node
    /// inherits its parent's clock. O(events × nodes): meant for small traces and exports.
    pub fn vector_clocks(&self, nodes: usize) -> Vec<Vec<u32>> {
        let mut out: Vec<Vec<u32>> = Vec::with_capacity(self.events.len());
        let mut last_of_node: Vec<Option<usize>> = vec![None; nodes];
        for (i, e) in self.events.iter().enumerate() {
            let mut vc = vec![0u32; nodes];
            if let Some(p) = e.parent.and_then(|p| p.checked_sub(self.first_id))
                && let Some(pvc) = out.get(p as usize)
            {
                vc.clone_from(pvc);
            }
            if let Some(n) = e.node.filter(|&n| n < nodes) {
                if let Some(prev) = last_of_node[n] {
                    for (a, b) in vc.iter_mut().zip(&out[prev]) {
                        *a = (*a).max(*b);
                    }
                }
                vc[n] += 1;
                last_of_node[n] = Some(i);
            }
            out.push(vc);
        }
        out
    }
}

/// A message on the wire at some instant.
#[derive(Clone, Debug)]
pub struct InFlight<'a> {
    pub send: &'a TraceEvent,
    pub sent_at: SimTime,
    /// When it will be delivered or lost.
    pub arrives_at: SimTime,
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_uncapped_trace_still_keeps_at_most_its_memory_bound() {
        let record = |t: &mut Trace, n: u64| {
            for k in 0..n {
                t.record(SimTime(k), Some(0), None, k, EventKind::Crash, 0);
            }
        };
        let mut bounded = Trace::new(TraceLevel::Full, None);
        bounded.limit_retained(100);
        record(&mut bounded, 250);
        let mut whole = Trace::new(TraceLevel::Full, None);
        record(&mut whole, 250);
        assert_eq!(bounded.events().len(), 100);
        assert_eq!(bounded.events().front().map(|e| e.id), Some(150));
        assert_eq!(bounded.len(), 250);
        assert_eq!(whole.events().len(), 250);
        // The digest covers every event, kept or not.
        assert_eq!(bounded.digest(), whole.digest());
    }

    use super::*;

    #[test]
    fn an_event_is_small() {
        // Documented in the module header and the README (bytes per event).
        assert_eq!(std::mem::size_of::<TraceEvent>(), 112);
    }
}
