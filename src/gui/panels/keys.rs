//! Keyboard shortcuts.

#[allow(unused_imports)]
use super::*;

pub(super) fn keyboard(
    ctx: &egui::Context,
    s: &mut Session,
    state: &mut UiState,
    exit: &mut MessageWriter<AppExit>,
) {
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    use egui::Key;
    let pressed = |k: Key| ctx.input(|i| i.key_pressed(k));
    if pressed(Key::Space) {
        state.playing = !state.playing;
        if state.playing && s.cursor >= s.duration() {
            s.seek(SimTime::ZERO);
        }
    }
    if pressed(Key::ArrowRight) {
        state.playing = false;
        s.step_event();
    }
    if pressed(Key::N) {
        state.playing = false;
        s.next_interesting(5_000_000);
    }
    if pressed(Key::Plus) || pressed(Key::Equals) {
        state.speed = timeline::speed_step(state.speed, true);
    }
    if pressed(Key::Minus) {
        state.speed = timeline::speed_step(state.speed, false);
    }
    if pressed(Key::C) {
        send_client_request(s, state);
    }
    if pressed(Key::H) {
        act(s, state, Action::Heal);
    }
    if pressed(Key::R) {
        s.restart();
        state.mark_seen(s);
    }
    if ctx.input(|i| {
        i.key_pressed(Key::Questionmark) || (i.modifiers.shift && i.key_pressed(Key::Slash))
    }) {
        state.help = !state.help;
    }
    if pressed(Key::P) || pressed(Key::F11) {
        state.presentation = !state.presentation;
    }
    if pressed(Key::B) {
        state.panel_left = !state.panel_left;
    }
    if pressed(Key::G) {
        state.show_plots = !state.show_plots;
    }
    if pressed(Key::F12) {
        request_png(s, state);
    }
    if pressed(Key::F9) {
        toggle_recording(s, state);
    }
    if pressed(Key::T) {
        toggle_spacetime(state);
    }
    if pressed(Key::Escape) {
        if state.help {
            state.help = false;
        } else if state.presentation {
            state.presentation = false;
        } else {
            state.canvas.selected.clear();
            state.canvas.selected_link = None;
        }
    }
    if ctx.input(|i| i.modifiers.command && i.key_pressed(Key::S)) {
        save_session(s, state);
    }
    if ctx.input(|i| i.modifiers.command && i.key_pressed(Key::Q)) {
        exit.write(AppExit::Success);
    }
}

/// F9: starts an animated GIF from the cursor at the current speed, or stops the one being
/// recorded (it is saved next to where the app was started).
pub(super) fn toggle_recording(s: &Session, state: &mut UiState) {
    if let Some(rec) = state.recording.as_mut() {
        rec.request_stop();
        return;
    }
    match crate::gui::record::start_in_app(&s.info.name, s.cursor, s.duration(), state.speed) {
        Ok(rec) => {
            state.status = format!("recording {} (F9 stops)", rec.path());
            state.playing = false;
            state.recording = Some(rec);
        }
        Err(e) => state.status = e,
    }
}

/// Asks for a PNG of the window, named after the scenario and the cursor
/// (`raft-leader-crash-2.350s.png` in the current directory).
pub(super) fn request_png(s: &Session, state: &mut UiState) {
    let name: String = s
        .info
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = format!("{name}-{}.png", s.cursor);
    state.status = format!("saved {path}");
    state.png_request = Some(path);
}
