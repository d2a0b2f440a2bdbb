//! The right panel: the selected node, link or message, network settings.

#[allow(unused_imports)]
use super::*;

pub(super) fn inspector(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    egui::ScrollArea::vertical().id_salt("inspector").show(ui, |ui| {
        ui.heading("Inspector");
        let t = s.cursor;
        if let Some(&n) = state.canvas.selected.first() {
            let views = s.index.views_at(s.sim.trace(), t);
            let live = s.index.liveness_at(n, t);
            ui.label(RichText::new(format!("{} — {:?}", s.info.names[n], live)).strong().size(18.0));
            if let Some(v) = &views[n] {
                egui::Grid::new("fields").num_columns(2).striped(true).show(ui, |ui| {
                    ui.label("role");
                    ui.label(&v.role);
                    ui.end_row();
                    if let Some(term) = v.term {
                        ui.label("term");
                        ui.label(term.to_string());
                        ui.end_row();
                    }
                    for (k, val) in &v.fields {
                        ui.label(k);
                        ui.label(val);
                        ui.end_row();
                    }
                    if let Some(tv) = &v.timer {
                        ui.label(&tv.label);
                        ui.label(format!("fires at {}", tv.fires_at));
                        ui.end_row();
                    }
                });
                if !v.entries.is_empty() {
                    ui.label(RichText::new("entries").strong());
                    egui::Grid::new("entries").num_columns(3).striped(true).show(ui, |ui| {
                        for e in v.entries.iter().rev().take(40) {
                            ui.label(RichText::new(format!("{}", e.index)).color(style::term_color(e.term)));
                            ui.label(format!("t{}", e.term));
                            ui.label(if e.committed { format!("✔ {}", e.label) } else { e.label.clone() });
                            ui.end_row();
                        }
                    });
                }
            }
            // Per-node counters up to the cursor, from the trace; recounted only when the node,
            // the cursor or the trace changes.
            let key = (n, t, s.sim.trace().len());
            let (sent, recv, dropped) = match state.counts_cache {
                Some((k, c)) if k == key => c,
                _ => {
                    let mut c = (0u64, 0u64, 0u64);
                    let end = s.sim.trace().partition_point(t);
                    for e in s.sim.trace().events().range(..end) {
                        if e.node != Some(n) {
                            continue;
                        }
                        match e.kind {
                            EventKind::Send { .. } => c.0 += 1,
                            EventKind::Deliver { .. } => c.1 += 1,
                            EventKind::Drop { .. } => c.2 += 1,
                            _ => {}
                        }
                    }
                    state.counts_cache = Some((key, c));
                    c
                }
            };
            ui.label(format!("sent {sent} · received {recv} · lost on the way in {dropped}"));
            ui.horizontal_wrapped(|ui| {
                let name = s.info.names[n].clone();
                for (label, a, enabled) in [
                    ("Crash", Action::Crash(name.clone()), live != Liveness::Crashed),
                    ("Restart", Action::Restart(name.clone()), live == Liveness::Crashed),
                    ("Pause", Action::Pause(name.clone()), live == Liveness::Up),
                    ("Resume", Action::Resume(name.clone()), live == Liveness::Paused),
                    ("Fire timer", Action::FireTimer(name.clone()), live == Liveness::Up),
                ] {
                    if ui.add_enabled(enabled, egui::Button::new(label)).clicked() {
                        act(s, state, a);
                    }
                }
            });
            if state.canvas.selected.len() > 1 && state.canvas.selected.len() < s.info.names.len() && ui.button("Partition the selected nodes from the rest").clicked() {
                let g = state.canvas.selected.iter().map(|&i| s.info.names[i].clone()).collect();
                act(s, state, Action::Partition(vec![g]));
            }
        } else if let Some((a, b)) = state.canvas.selected_link {
            let (na, nb) = (s.info.names[a].clone(), s.info.names[b].clone());
            ui.label(RichText::new(format!("link {na} — {nb}")).strong().size(18.0));
            ui.horizontal(|ui| {
                if ui.button("Cut").clicked() {
                    act(s, state, Action::Cut(na.clone(), nb.clone()));
                }
                if ui.button("Heal").clicked() {
                    act(s, state, Action::HealLink(na.clone(), nb.clone()));
                }
                if ui.button("Hold").clicked() {
                    act(s, state, Action::Hold(na.clone(), nb.clone()));
                }
                if ui.button("Release").clicked() {
                    act(s, state, Action::Release(na.clone(), nb.clone()));
                }
            });
            ui.add(egui::Slider::new(&mut state.link_latency_ms, 1.0..=2000.0).logarithmic(true).text("latency ms"));
            ui.add(egui::Slider::new(&mut state.link_drop, 0.0..=1.0).text("drop rate"));
            if ui.button("Apply to this link").clicked() {
                let patch = LinkPatch {
                    latency: Some(Latency::Constant(SimTime::from_micros((state.link_latency_ms * 1000.0) as u64))),
                    drop: Some(state.link_drop),
                    ..Default::default()
                };
                act(s, state, Action::SetLink { a: na, b: nb, patch });
            }
        } else if let Some(id) = state.canvas.selected_message {
            if let Some(e) = s.sim.trace().get(id)
                && let EventKind::Send { to, msg, label, deliver_at } = &e.kind
            {
                ui.label(RichText::new(*msg).strong().size(18.0));
                ui.label(format!("{} → {}", s.info.names[e.node.unwrap_or(0)], s.info.names[*to]));
                ui.label(format!("sent {} · due {}", e.time, deliver_at));
                ui.label(label.clone().unwrap_or_default());
                ui.label(RichText::new(format!("event #{} · lamport {}", e.id, e.lamport)).small().color(style::TEXT_DIM));
            }
        } else {
            ui.label(RichText::new("Click a node, a link or a message. Right-click a node for faults; shift-drag to select several.").color(style::TEXT_DIM));
        }
        ui.separator();
        ui.heading("Network");
        ui.add(egui::Slider::new(&mut state.net_drop, 0.0..=0.9).text("drop rate (all links)"));
        ui.add(egui::Slider::new(&mut state.net_latency_ms, 1.0..=1000.0).logarithmic(true).text("latency ms (all links)"));
        ui.horizontal(|ui| {
            if ui.button("Apply").clicked() {
                let ms = state.net_latency_ms;
                let patch = LinkPatch {
                    latency: Some(Latency::Uniform {
                        min: SimTime::from_micros((ms * 500.0) as u64),
                        max: SimTime::from_micros((ms * 1500.0) as u64),
                    }),
                    drop: Some(state.net_drop),
                    ..Default::default()
                };
                act(s, state, Action::SetNetwork(patch));
            }
            if ui.button("Heal all (H)").clicked() {
                act(s, state, Action::Heal);
            }
        });
        ui.separator();
        event_log(ui, s, state);
    });
}
