//! The event log under the inspector, filtered by text, node and kind.

#[allow(unused_imports)]
use super::*;

pub(super) fn event_log(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    ui.heading("Event log");
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut state.log_filter)
                .desired_width(120.0)
                .hint_text("filter text"),
        );
        let names = s.info.names.clone();
        egui::ComboBox::from_id_salt("lognode")
            .selected_text(
                state
                    .log_node
                    .map_or("all nodes".to_string(), |n| names[n].clone()),
            )
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut state.log_node, None, "all nodes");
                for (i, n) in names.iter().enumerate().take(200) {
                    ui.selectable_value(&mut state.log_node, Some(i), n);
                }
            });
        egui::ComboBox::from_id_salt("logkind")
            .selected_text(state.log_kind.label())
            .show_ui(ui, |ui| {
                for k in LogKind::ALL {
                    ui.selectable_value(&mut state.log_kind, k, k.label());
                }
            });
    });
    let t = s.cursor;
    let trace = s.sim.trace();
    let end = trace.partition_point(t);
    let names = &s.info.names;
    let name = |n: Option<usize>| {
        n.map_or("-".to_string(), |n| {
            names.get(n).cloned().unwrap_or_default()
        })
    };
    let mut rows: Vec<(u64, SimTime, Option<usize>, String)> = Vec::new();
    for e in trace.events().range(..end).rev() {
        if rows.len() >= 150 {
            break;
        }
        if (state.log_node.is_some() && e.node != state.log_node) || !state.log_kind.admits(&e.kind)
        {
            continue;
        }
        let text = match &e.kind {
            EventKind::Send { to, msg, label, .. } if state.log_kind == LogKind::Messages => {
                format!(
                    "{} → {}: {msg} {}",
                    name(e.node),
                    names[*to],
                    label.as_deref().unwrap_or("")
                )
            }
            EventKind::Deliver { from, msg, .. } if state.log_kind == LogKind::Messages => {
                format!("{} ← {}: {msg}", name(e.node), names[*from])
            }
            EventKind::Drop {
                from, msg, reason, ..
            } => format!(
                "lost {msg} {} → {} ({})",
                names[*from],
                name(e.node),
                reason.as_str()
            ),
            EventKind::Crash => format!("{} crashed", name(e.node)),
            EventKind::Restart => format!("{} restarted", name(e.node)),
            EventKind::Pause => format!("{} paused", name(e.node)),
            EventKind::Resume => format!("{} resumed", name(e.node)),
            EventKind::Network { action } => action.to_string(),
            EventKind::Note { text } => format!("{}: {text}", name(e.node)),
            EventKind::Caption { text } => format!("“{text}”"),
            EventKind::ClientInvoke { client, op, .. } => format!("client {client} invokes {op}"),
            EventKind::ClientReturn {
                client,
                outcome,
                node,
                attempts,
                ..
            } => {
                let by = node
                    .map(|n| format!(" from {}", name(Some(n))))
                    .unwrap_or_default();
                let tries = if *attempts == 1 {
                    "attempt"
                } else {
                    "attempts"
                };
                format!("client {client} ← {outcome:?}{by} ({attempts} {tries})")
            }
            EventKind::Violation { violation } => format!(
                "VIOLATION {}: {}",
                violation.invariant, violation.explanation
            ),
            _ => continue,
        };
        if !state.log_filter.is_empty()
            && !text
                .to_lowercase()
                .contains(&state.log_filter.to_lowercase())
        {
            continue;
        }
        rows.push((e.id, e.time, e.node, text));
    }
    let mut jump = None;
    egui::ScrollArea::vertical()
        .id_salt("log")
        .max_height(360.0)
        .show(ui, |ui| {
            for (id, time, node, text) in &rows {
                let color = if text.starts_with("VIOLATION") {
                    style::VIOLATION
                } else {
                    style::TEXT
                };
                let r = ui.add(
                    egui::Label::new(
                        RichText::new(format!("{time:>10}  {text}"))
                            .monospace()
                            .color(color),
                    )
                    .sense(Sense::click()),
                );
                if r.clicked() {
                    jump = Some((*id, *time, *node));
                }
            }
        });
    if let Some((_, time, node)) = jump {
        s.seek(time);
        if let Some(n) = node {
            state.canvas.selected = vec![n];
        }
    }
}
