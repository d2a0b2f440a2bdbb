//! How each node is drawn: the server's list is the event history (most recent events of
//! the most recent workflows), a worker's is the history it last replayed, a service's is its
//! store's journal of effects.

use super::message::{Activity, End, Event};
use super::server::Server;
use super::service::Store;
use super::worker::Worker;
use super::{Part, Workflow};
use crate::sim::{EntryView, NodeView, Tone};

/// Entries drawn per node (the most recent ones).
const MAX_ENTRIES: usize = 40;

pub fn node_view(w: &Workflow) -> NodeView {
    match &w.part {
        Part::Client(c) => {
            let count = |e| c.ended.values().filter(|&&x| x == e).count();
            NodeView::new("client", Tone::Neutral)
                .field("orders", c.next)
                .field("waiting", c.waiting.len())
                .field("completed", count(End::Completed))
                .field("compensated", count(End::Compensated))
                .field("cancelled", count(End::Cancelled))
        }
        Part::Server(s) => server_view(s),
        Part::Worker(wk) => worker_view(wk),
        Part::Service(st) => store_view(st),
    }
}

/// The colour class of an event: 1 workflow, 2 workflow task, 3 activity, 4 timer,
/// 5 signal, 6 failure or timeout.
fn class(e: &Event) -> u64 {
    match e {
        Event::WorkflowTaskTimedOut
        | Event::WorkflowTaskFailed
        | Event::ActivityTaskFailed { .. }
        | Event::ActivityTaskTimedOut { .. } => 6,
        Event::WorkflowExecutionSignaled { .. } => 5,
        Event::TimerStarted { .. } | Event::TimerFired { .. } | Event::TimerCanceled { .. } => 4,
        Event::ActivityTaskScheduled { .. }
        | Event::ActivityTaskStarted { .. }
        | Event::ActivityTaskCompleted { .. } => 3,
        Event::WorkflowTaskScheduled
        | Event::WorkflowTaskStarted { .. }
        | Event::WorkflowTaskCompleted => 2,
        _ => 1,
    }
}

/// An event's label, with the activity's name where the event has an activity id.
pub fn event_label(history: &[Event], e: &Event) -> String {
    let id = match *e {
        Event::ActivityTaskScheduled { activity, .. } => {
            return format!("{} {}", e.name(), activity.name());
        }
        Event::ActivityTaskStarted {
            activity_id,
            attempt,
            ..
        } => {
            let name = activity_name(history, activity_id);
            return format!("{} {name} #{attempt}", e.name());
        }
        Event::ActivityTaskCompleted { activity_id }
        | Event::ActivityTaskFailed { activity_id }
        | Event::ActivityTaskTimedOut { activity_id } => activity_id,
        Event::WorkflowExecutionCompleted { result } => {
            return format!("{} {}", e.name(), result.word());
        }
        Event::WorkflowTaskStarted { worker } => return format!("{} n{worker}", e.name()),
        _ => return e.name().to_string(),
    };
    format!("{} {}", e.name(), activity_name(history, id))
}

fn activity_name(history: &[Event], id: u32) -> &'static str {
    history
        .iter()
        .find_map(|e| match *e {
            Event::ActivityTaskScheduled {
                activity_id,
                activity,
                ..
            } if activity_id == id => Some(activity.name()),
            _ => None,
        })
        .unwrap_or("?")
}

fn server_view(s: &Server) -> NodeView {
    let ex = &s.db.executions;
    let count = |e: Option<End>| ex.values().filter(|x| x.end == e).count();
    let mut v = NodeView::new("temporal service", Tone::Leader)
        .field("running", count(None))
        .field("completed", count(Some(End::Completed)))
        .field("compensated", count(Some(End::Compensated)))
        .field("cancelled", count(Some(End::Cancelled)))
        .field("queued tasks", s.backlog());
    // The most recent events: walk the workflows from the newest back.
    let mut entries: Vec<EntryView> = Vec::new();
    for (&wf, e) in ex.iter().rev() {
        let room = MAX_ENTRIES - entries.len();
        let skip = e.history.len().saturating_sub(room);
        let mut part: Vec<EntryView> = e.history[skip..]
            .iter()
            .enumerate()
            .map(|(i, ev)| EntryView {
                index: (skip + i) as u64 + 1,
                term: class(ev),
                label: format!("o{wf} {}", event_label(&e.history, ev)),
                committed: e.end.is_some(),
            })
            .collect();
        part.append(&mut entries);
        entries = part;
        if entries.len() >= MAX_ENTRIES {
            break;
        }
    }
    v.entries = entries;
    v
}

fn worker_view(w: &Worker) -> NodeView {
    let mut v = NodeView::new("worker", Tone::Follower)
        .field("workflow tasks", w.workflow_tasks)
        .field("activity tasks", w.activity_tasks)
        .field("running", w.running.len())
        .field("replayed activities", w.skipped);
    let h = &w.last.history;
    let skip = h.len().saturating_sub(MAX_ENTRIES);
    v.entries = h[skip..]
        .iter()
        .enumerate()
        .map(|(i, ev)| EntryView {
            index: (skip + i) as u64 + 1,
            term: class(ev),
            label: format!("o{} {}", w.last.workflow, event_label(h, ev)),
            committed: skip + i + 1 < h.len(),
        })
        .collect();
    v
}

fn store_view(s: &Store) -> NodeView {
    let mut v = NodeView::new(s.role.clone(), Tone::Good);
    let count = |a: Activity| s.journal.iter().filter(|e| e.activity == a).count();
    v = if s.role == "payment" {
        v.field("balance", format!("${}", s.balance))
            .field("charged", s.charged())
            .field("refunds", count(Activity::RefundCard))
    } else {
        v.field("tickets", count(Activity::TakeOrder))
            .field("brewed", count(Activity::Brew))
            .field("called", count(Activity::Notify))
            .field("broken", s.broken.values().filter(|&&b| b).count())
    };
    let skip = s.journal.len().saturating_sub(MAX_ENTRIES);
    v.entries = s.journal[skip..]
        .iter()
        .enumerate()
        .map(|(i, e)| EntryView {
            index: (skip + i) as u64 + 1,
            term: match e.activity {
                Activity::RefundCard => 6,
                Activity::ChargeCard => 3,
                _ => 1,
            },
            label: format!("o{} {}", e.workflow, e.activity.name()),
            committed: true,
        })
        .collect();
    v
}
