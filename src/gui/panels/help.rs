//! The keys-and-mouse help window.

#[allow(unused_imports)]
use super::*;

pub(super) fn help_window(ctx: &egui::Context, state: &mut UiState) {
    egui::Window::new("Keys and mouse").collapsible(false).resizable(false).anchor(egui::Align2::CENTER_CENTER, Vec2::ZERO).show(ctx, |ui| {
        egui::Grid::new("help").num_columns(2).striped(true).show(ui, |ui| {
            for (k, v) in [
                ("Space", "play / pause"),
                ("Right arrow", "one event forward"),
                ("N", "run to the next interesting event (role change, fault, note, violation)"),
                ("+ / -", "faster / slower (0.01x to 100x simulated time)"),
                ("C", "send a client request (to the selected node, or a random one)"),
                ("H", "heal every partition and cut link"),
                ("R", "restart from time zero (same seed, same actions)"),
                ("P or F11", "presentation mode: large text, no side panels"),
                ("B", "show / hide the scenario browser"),
                ("G", "show / hide the plots (time series; click a plot to go to that time)"),
                ("T", "show / hide the space-time diagram (one lane per node, messages as arrows)"),
                ("space-time: click", "an arrow or a mark: its causal past turns blue, its future orange"),
                ("space-time: drag / wheel", "scrub the cursor / zoom the time window"),
                ("F12", "save the window as a PNG (named after the scenario and the time)"),
                ("F9", "record an animated GIF from the cursor; F9 again stops and saves it"),
                ("Ctrl+S", "save the session as a scenario (path in the left panel)"),
                ("?", "this help"),
                ("Esc", "close help, leave presentation, clear selection"),
                ("click", "select a node, a link or a message"),
                ("shift-click, shift-drag", "select several nodes (then right-click: partition them)"),
                ("right-click a node", "crash, restart, pause, resume, fire its timer, client request"),
                ("drag / wheel", "pan / zoom the view"),
                ("timeline", "click or drag to go to any time; click a marker to jump to it"),
            ] {
                ui.label(RichText::new(k).strong());
                ui.label(v);
                ui.end_row();
            }
        });
        ui.label("Every action is recorded at the current simulated time: Save writes a scenario that replays your session exactly. Acting at a past time starts a new future from there.");
        if ui.button("Close").clicked() {
            state.help = false;
        }
    });
}
