//! The control bar: play, step, speed, time, seed, client requests, presentation.

#[allow(unused_imports)]
use super::*;

pub(super) fn top_bar(root: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    egui::Panel::top("controls").show(root, |ui| {
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(&s.info.title).heading().strong());
            ui.separator();
            let play = if state.playing {
                "⏸ Pause"
            } else {
                "▶ Play"
            };
            if ui.button(play).on_hover_text("Space").clicked() {
                state.playing = !state.playing;
                if state.playing && s.cursor >= s.duration() {
                    s.seek(SimTime::ZERO);
                }
            }
            if ui
                .button("⏭ Step")
                .on_hover_text("One event (Right arrow)")
                .clicked()
            {
                state.playing = false;
                s.step_event();
            }
            if ui
                .button("⏩ Next")
                .on_hover_text("Run to the next role change, fault, note or violation (N)")
                .clicked()
            {
                state.playing = false;
                s.next_interesting(5_000_000);
            }
            ui.label("speed");
            ui.add(
                egui::Slider::new(&mut state.speed, timeline::SPEED_MIN..=timeline::SPEED_MAX)
                    .logarithmic(true)
                    .custom_formatter(|v, _| timeline::speed_label(v))
                    .show_value(true),
            )
            .on_hover_text("Simulated seconds per real second (+ / -)");
            ui.separator();
            ui.label(
                RichText::new(format!("t = {}", s.cursor))
                    .monospace()
                    .size(18.0)
                    .strong(),
            )
            .on_hover_text(format!(
                "simulated so far: {} of {}",
                s.sim.now(),
                s.duration()
            ));
            ui.separator();
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut state.seed_edit));
            if ui
                .button("🎲 Reseed")
                .on_hover_text("Run with this seed (recorded actions are kept)")
                .clicked()
            {
                if state.seed_edit == s.seed {
                    state.seed_edit = s
                        .seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407)
                        >> 16;
                }
                s.reseed(state.seed_edit);
                state.mark_seen(s);
            }
            if ui
                .button("⟲ Restart")
                .on_hover_text("Back to time zero (R)")
                .clicked()
            {
                s.restart();
                state.mark_seen(s);
            }
            ui.separator();
            if ui
                .button("✉ Client request")
                .on_hover_text("Send a client operation to the selected node, or a random one (C)")
                .clicked()
            {
                let to = state
                    .canvas
                    .selected
                    .first()
                    .map(|&n| s.info.names[n].clone());
                let op = client_op(state);
                act(s, state, Action::ClientRequest { to, op });
            }
            egui::ComboBox::from_id_salt("op")
                .width(70.0)
                .selected_text(["put", "get", "request"][state.client_op])
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut state.client_op, 0, "put");
                    ui.selectable_value(&mut state.client_op, 1, "get");
                    ui.selectable_value(&mut state.client_op, 2, "request");
                });
            ui.separator();
            if ui
                .button("❓ Help")
                .on_hover_text("Keys and mouse (?)")
                .clicked()
            {
                state.help = !state.help;
            }
            let pres = if state.presentation {
                "Exit presentation"
            } else {
                "Presentation"
            };
            if ui
                .button(pres)
                .on_hover_text("Large text, no side panels (P or F11)")
                .clicked()
            {
                state.presentation = !state.presentation;
            }
        });
        if let Some(e) = state.error.clone() {
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("⚠ {e}")).color(style::CUT).strong());
                if ui.small_button("dismiss").clicked() {
                    state.error = None;
                }
            });
        }
        ui.add_space(2.0);
    });
}
