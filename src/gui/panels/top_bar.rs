//! The control bar: play, step, speed, time, seed, client requests, plots, presentation.
//! In presentation mode it keeps to one line at 1280×800: icons instead of words, and the
//! seed and client controls (keys R and C still work) are left out.

#[allow(unused_imports)]
use super::*;

pub(super) fn top_bar(root: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    egui::Panel::top("controls").show(root, |ui| {
        ui.add_space(4.0);
        let compact = state.presentation;
        ui.horizontal_wrapped(|ui| {
            title(ui, s, compact);
            ui.separator();
            playback(ui, s, state, compact);
            ui.separator();
            time_label(ui, s);
            if !compact {
                ui.separator();
                seed_controls(ui, s, state);
                ui.separator();
                client_controls(ui, s, state);
            }
            ui.separator();
            view_controls(ui, state, compact);
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

fn no_wrap(text: RichText) -> egui::Label {
    egui::Label::new(text).wrap_mode(egui::TextWrapMode::Extend)
}

fn title(ui: &mut egui::Ui, s: &Session, compact: bool) {
    let full = &s.info.title;
    let shown = if compact && full.chars().count() > 34 {
        format!("{}…", full.chars().take(33).collect::<String>())
    } else {
        full.clone()
    };
    ui.add(no_wrap(RichText::new(shown).heading().strong()))
        .on_hover_text(full);
}

fn playback(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState, compact: bool) {
    let label = |icon: &str, word: &str| {
        if compact {
            icon.to_string()
        } else {
            format!("{icon} {word}")
        }
    };
    let play = if state.playing {
        label("⏸", "Pause")
    } else {
        label("▶", "Play")
    };
    if ui
        .button(play)
        .on_hover_text("Play / pause (Space)")
        .clicked()
    {
        state.playing = !state.playing;
        if state.playing && s.cursor >= s.duration() {
            s.seek(SimTime::ZERO);
        }
    }
    if ui
        .button(label("⏭", "Step"))
        .on_hover_text("One event (Right arrow)")
        .clicked()
    {
        state.playing = false;
        s.step_event();
    }
    if ui
        .button(label("⏩", "Next"))
        .on_hover_text("Run to the next role change, fault, note or violation (N)")
        .clicked()
    {
        state.playing = false;
        s.next_interesting(5_000_000);
    }
    if !compact {
        ui.label("speed");
    }
    ui.add(
        egui::Slider::new(&mut state.speed, timeline::SPEED_MIN..=timeline::SPEED_MAX)
            .logarithmic(true)
            .custom_formatter(|v, _| timeline::speed_label(v))
            .show_value(true),
    )
    .on_hover_text("Simulated seconds per real second (+ / -)");
}

fn time_label(ui: &mut egui::Ui, s: &Session) {
    ui.add(no_wrap(
        RichText::new(format!("t = {}", s.cursor))
            .monospace()
            .size(18.0)
            .strong(),
    ))
    .on_hover_text(format!(
        "simulated so far: {} of {}",
        s.sim.now(),
        s.duration()
    ));
}

fn seed_controls(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
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
    hunt_button(ui, s, state);
}

fn client_controls(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    if ui
        .button("✉ Client request")
        .on_hover_text("Send a client operation to the selected node, or a random one (C)")
        .clicked()
    {
        send_client_request(s, state);
    }
    egui::ComboBox::from_id_salt("op")
        .width(70.0)
        .selected_text(["put", "get", "request"][state.client_op])
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut state.client_op, 0, "put");
            ui.selectable_value(&mut state.client_op, 1, "get");
            ui.selectable_value(&mut state.client_op, 2, "request");
        });
}

fn view_controls(ui: &mut egui::Ui, state: &mut UiState, compact: bool) {
    let plots = if compact { "📈" } else { "📈 Plots" };
    if ui
        .selectable_label(state.show_plots, plots)
        .on_hover_text("Time series under the topology (G)")
        .clicked()
    {
        state.show_plots = !state.show_plots;
    }
    let diagram = if compact { "⇶" } else { "⇶ Space-time" };
    if ui
        .selectable_label(state.spacetime.show, diagram)
        .on_hover_text("Space-time diagram: one lane per node, messages as arrows (T)")
        .clicked()
    {
        toggle_spacetime(state);
    }
    let help = if compact { "❓" } else { "❓ Help" };
    if ui
        .button(help)
        .on_hover_text("Keys and mouse (?)")
        .clicked()
    {
        state.help = !state.help;
    }
    let pres = if state.presentation {
        "✖ Exit presentation"
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
}
