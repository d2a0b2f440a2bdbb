//! "Find a counterexample": sweeps seeds of the open scenario in the background (the runs
//! and judgement of `distsim check`), shows a progress bar, and opens the first failing seed
//! paused at its violation with the space-time diagram.

#[allow(unused_imports)]
use super::*;
use crate::visual::hunt::{DEFAULT_SEEDS, Found, Hunt};

/// The button in the seed controls.
pub(super) fn hunt_button(ui: &mut egui::Ui, s: &Session, state: &mut UiState) {
    let busy = state.hunt.is_some();
    if ui
        .add_enabled(!busy, egui::Button::new("🔍 Find a counterexample"))
        .on_hover_text(format!(
            "Run seeds 0..{DEFAULT_SEEDS} of this scenario (with your recorded actions) in the \
             background and open the first one that violates an invariant or misses an \
             expectation, paused at it"
        ))
        .clicked()
    {
        start(s, state);
    }
}

fn start(s: &Session, state: &mut UiState) {
    // The recorded actions are part of what is swept, so the seed found replays with them.
    let text = if s.actions.is_empty() {
        s.info.text.clone()
    } else {
        match s.save() {
            Ok(t) => t,
            Err(e) => {
                state.error = Some(e.to_string());
                return;
            }
        }
    };
    state.hunt = Some(Hunt::start(
        &text,
        &s.info.file,
        0..DEFAULT_SEEDS,
        s.duration(),
    ));
}

/// Each frame while a hunt runs: the progress window, and the outcome when it ends.
pub(super) fn hunt_window(ctx: &egui::Context, s: &mut Session, state: &mut UiState) {
    let Some(hunt) = &mut state.hunt else {
        return;
    };
    let (done, total) = hunt.progress();
    let mut cancel = false;
    egui::Window::new("Finding a counterexample")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_TOP, [0.0, 90.0])
        .show(ctx, |ui| {
            ui.label(format!("seeds passed: {done} of {total}"));
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .desired_width(360.0)
                    .show_percentage(),
            );
            cancel = ui.button("Cancel").clicked();
        });
    if cancel {
        hunt.cancel();
    }
    let Some(found) = hunt.poll() else {
        ctx.request_repaint();
        return;
    };
    state.hunt = None;
    match found {
        Found::Failure { seed, at, what } => {
            s.reseed(seed);
            s.seek(at);
            state.seed_edit = seed;
            state.mark_seen(s);
            state.playing = false;
            if !state.spacetime.show {
                toggle_spacetime(state);
            }
            state.error = Some(format!(
                "seed {seed}: {what} at {at} (the first failing seed of 0..{total}); \
                 `distsim check --minimize` shrinks it"
            ));
        }
        Found::Nothing { seeds } => {
            state.status = format!("no counterexample in {seeds} seeds");
            state.error = Some(format!("no counterexample: all {seeds} seeds passed"));
        }
        Found::Cancelled { seeds } => {
            state.status = format!("search cancelled after {seeds} seeds passed");
        }
        Found::Error(e) => state.error = Some(e),
    }
}
