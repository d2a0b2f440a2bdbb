//! Exports of the run's messages for other viewers: ShiViz's log with vector clocks
//! (`--export shiviz FILE`) and a Mermaid sequence diagram (`--export mermaid FILE`), the kind
//! of picture the seed guides draw, for slides and blog posts. Both cover the events from
//! `from` on (`run --from`), up to where the run stopped (`--until`).

use crate::sim::roles::RoleTable;
use crate::sim::time::SimTime;
use crate::sim::trace::{EventKind, Trace, TraceEvent};
use crate::visual::roles::{RoleShape, shape_of};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

/// Messages a Mermaid diagram lists at most; past that it says how many it left out.
pub const MERMAID_MAX_MESSAGES: usize = 300;

/// ShiViz's parser expression for the lines below: the event, then the host and its clock.
pub const SHIVIZ_REGEX: &str = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})";

/// ShiViz's input file: the parser expression, an empty execution delimiter, then two lines
/// per event of a node: `time what`, and `node {"node": n, ...}` with the event's vector clock
/// (every node's count of events that happened before it, its own included: 1, 2, 3... on
/// each node, as ShiViz requires). Events before `from` count in the clocks but are not
/// written.
pub fn shiviz(
    trace: &Trace,
    names: &[String],
    from: SimTime,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "{SHIVIZ_REGEX}")?;
    writeln!(out)?;
    let clocks = trace.vector_clocks(names.len());
    for (e, vc) in trace.events().iter().zip(&clocks) {
        let Some(n) = e.node.filter(|&n| n < names.len()) else {
            continue;
        };
        if e.time < from {
            continue;
        }
        let clock: Vec<String> = vc
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(k, c)| format!("\"{}\":{c}", json_escape(&names[k])))
            .collect();
        writeln!(out, "{} {}", e.time, describe(e, names))?;
        writeln!(out, "{} {{{}}}", names[n], clock.join(", "))?;
    }
    Ok(())
}

/// What an event was, in one line.
fn describe(e: &TraceEvent, names: &[String]) -> String {
    let name = |n: usize| names.get(n).map_or("?", |s| s.as_str());
    let one_line = |s: &str| s.replace('\n', " ");
    match &e.kind {
        EventKind::Send { to, msg, label, .. } => {
            format!("send {msg} to {}{}", name(*to), suffix(label.as_deref()))
        }
        EventKind::Deliver { from, msg, .. } => format!("receive {msg} from {}", name(*from)),
        EventKind::Drop {
            from, msg, reason, ..
        } => format!("lost {msg} from {} ({})", name(*from), reason.as_str()),
        EventKind::Duplicate { .. } => "network duplicated a message".into(),
        EventKind::Timer { label } => format!("timer{}", suffix(label.as_deref())),
        EventKind::ClientRequest {
            client,
            seq,
            attempt,
        } => format!("client {client} request {seq} (attempt {attempt})"),
        EventKind::Shed { client, seq, .. } => format!("shed client {client} request {seq}"),
        EventKind::ClientReply {
            client,
            seq,
            answer,
            ..
        } => format!("reply {answer} to client {client} request {seq}"),
        EventKind::View { view } => format!("state: {}", one_line(&view.role)),
        EventKind::Note { text } => one_line(text),
        EventKind::Violation { violation } => format!("{} violated", violation.invariant),
        other => other.name().to_string(),
    }
}

fn suffix(label: Option<&str>) -> String {
    label.map_or(String::new(), |l| format!(" {}", l.replace('\n', " ")))
}

fn json_escape(s: &str) -> String {
    serde_json::to_string(s)
        .map(|q| q[1..q.len() - 1].to_string())
        .unwrap_or_default()
}

/// A Mermaid `sequenceDiagram`: one participant per node; each message as an arrow when it
/// was delivered (`->>`) or lost (`-x`, with the reason), in the order of those events;
/// crashes, restarts, partitions, role changes and violations as notes. At most
/// [`MERMAID_MAX_MESSAGES`] messages, then a note says how many more there were.
pub fn mermaid(
    trace: &Trace,
    names: &[String],
    from: SimTime,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "sequenceDiagram")?;
    for (i, n) in names.iter().enumerate() {
        writeln!(out, "    participant P{i} as {}", mermaid_text(n))?;
    }
    let mut shown = 0usize;
    let mut left_out = 0usize;
    let mut last_role: Vec<String> = vec![String::new(); names.len()];
    for e in trace.events() {
        let role_change = role_change(e, &mut last_role);
        if e.time < from {
            continue;
        }
        let line = match (&e.kind, e.node) {
            (EventKind::Deliver { from: f, send, msg }, Some(to)) => {
                let label = trace.get(*send).and_then(label_of).unwrap_or(msg);
                Some(format!("    P{f}->>P{to}: {}", mermaid_text(label)))
            }
            (
                EventKind::Drop {
                    from: f,
                    msg,
                    reason,
                    ..
                },
                Some(to),
            ) => Some(format!("    P{f}-xP{to}: {msg} lost ({})", reason.as_str())),
            _ => None,
        };
        if let Some(l) = line {
            if shown >= MERMAID_MAX_MESSAGES {
                left_out += 1;
                continue;
            }
            shown += 1;
            writeln!(out, "{l}")?;
            continue;
        }
        if shown >= MERMAID_MAX_MESSAGES {
            continue;
        }
        if let Some(note) = note_of(e, names, role_change) {
            writeln!(out, "{note}")?;
        }
    }
    if left_out > 0 {
        writeln!(
            out,
            "    Note over P0: {left_out} more messages (narrow the window with --from and --until)"
        )?;
    }
    Ok(())
}

fn label_of(send: &TraceEvent) -> Option<&str> {
    match &send.kind {
        EventKind::Send { label, msg, .. } => Some(label.as_deref().unwrap_or(msg)),
        _ => None,
    }
}

/// The node's new role, when this event changed it (the first role is not a change).
fn role_change(e: &TraceEvent, last: &mut [String]) -> Option<String> {
    let (EventKind::View { view }, Some(n)) = (&e.kind, e.node) else {
        return None;
    };
    let slot = last.get_mut(n)?;
    if *slot == view.role {
        return None;
    }
    let first = slot.is_empty();
    *slot = view.role.clone();
    (!first).then(|| view.role.clone())
}

fn note_of(e: &TraceEvent, names: &[String], role: Option<String>) -> Option<String> {
    let over = |n: Option<usize>| match n {
        Some(n) => format!("    Note over P{n}: "),
        None => format!("    Note over P0,P{}: ", names.len().saturating_sub(1)),
    };
    let text = match &e.kind {
        EventKind::Crash => "crash".to_string(),
        EventKind::Restart => "restart".to_string(),
        EventKind::Pause => "pause".to_string(),
        EventKind::Resume => "resume".to_string(),
        EventKind::Network { action } => action.to_string(),
        EventKind::View { .. } => format!("becomes {}", role?),
        EventKind::Violation { violation } => format!("{} violated", violation.invariant),
        _ => return None,
    };
    Some(format!(
        "{}{} at {}",
        over(e.node),
        mermaid_text(&text),
        e.time
    ))
}

/// Message kinds an edge of the flowchart names at most (the busiest first).
const FLOWCHART_KINDS_PER_EDGE: usize = 3;

/// The topology as a Mermaid `flowchart LR`, as the seed guides draw systems: one subgraph per
/// role (in the protocol's order: clients on the left, stores on the right), each node in its
/// role's shape (a database as a cylinder, a client as a stadium, a broker as a subroutine
/// box), the workload's clients as one node, and an edge for every pair of nodes that
/// exchanged messages from `from` on, labelled with its busiest message kinds and counts.
pub fn flowchart(
    trace: &Trace,
    names: &[String],
    roles: &RoleTable,
    from: SimTime,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut edges: BTreeMap<(usize, usize), BTreeMap<&str, u64>> = BTreeMap::new();
    let mut clients: BTreeSet<usize> = BTreeSet::new();
    for e in trace.events().iter().filter(|e| e.time >= from) {
        match (&e.kind, e.node) {
            (EventKind::Send { to, msg, .. }, Some(f)) if f != *to => {
                let (a, b) = (f.min(*to), f.max(*to));
                *edges.entry((a, b)).or_default().entry(msg).or_default() += 1;
            }
            (EventKind::ClientRequest { .. }, Some(n)) => {
                clients.insert(n);
            }
            _ => {}
        }
    }
    writeln!(out, "flowchart LR")?;
    if !clients.is_empty() {
        writeln!(out, "    C([clients])")?;
    }
    if roles.is_implicit() {
        for (i, n) in names.iter().enumerate() {
            writeln!(out, "    P{i}(({}))", mermaid_label(n))?;
        }
    } else {
        for (r, role) in roles.names().iter().enumerate() {
            let members = roles.nodes_of(role);
            if members.is_empty() {
                continue;
            }
            writeln!(out, "    subgraph R{r} [{}]", mermaid_label(role))?;
            for &i in members {
                writeln!(out, "        {}", node_shape(i, &names[i], shape_of(role)))?;
            }
            writeln!(out, "    end")?;
        }
    }
    for n in &clients {
        writeln!(out, "    C --> P{n}")?;
    }
    for ((a, b), kinds) in &edges {
        let mut busiest: Vec<(&str, u64)> = kinds.iter().map(|(k, c)| (*k, *c)).collect();
        busiest.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
        let mut label: Vec<String> = busiest
            .iter()
            .take(FLOWCHART_KINDS_PER_EDGE)
            .map(|(k, c)| format!("{k} ×{c}"))
            .collect();
        if busiest.len() > FLOWCHART_KINDS_PER_EDGE {
            label.push(format!(
                "+{} kinds",
                busiest.len() - FLOWCHART_KINDS_PER_EDGE
            ));
        }
        writeln!(
            out,
            "    P{a} <-->|{}| P{b}",
            mermaid_label(&label.join(", "))
        )?;
    }
    Ok(())
}

/// A node in the flowchart shape of its role.
fn node_shape(i: usize, name: &str, shape: RoleShape) -> String {
    let n = mermaid_label(name);
    match shape {
        RoleShape::Circle => format!("P{i}(({n}))"),
        RoleShape::Client => format!("P{i}([{n}])"),
        RoleShape::Service => format!("P{i}[{n}]"),
        RoleShape::Cache => format!("P{i}({n})"),
        RoleShape::Cells => format!("P{i}[[{n}]]"),
        RoleShape::Database => format!("P{i}[({n})]"),
    }
}

/// A label inside a flowchart shape or edge: quoted text, so brackets and spaces are literal.
fn mermaid_label(s: &str) -> String {
    format!("\"{}\"", mermaid_text(s).replace('"', "'"))
}

/// Text Mermaid reads literally: no line breaks, no `;` or `#` (its statement separator and
/// entity marker), no `%%` comments.
fn mermaid_text(s: &str) -> String {
    s.replace('\n', " ")
        .replace(';', ",")
        .replace('#', "no. ")
        .replace("%%", "%")
}

#[cfg(test)]
mod tests;
