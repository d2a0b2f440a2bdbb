//! The egui panels around the canvas: controls, scenario browser, inspector, event log,
//! timeline, captions, help; and the keyboard shortcuts.

use super::SessionRes;
use crate::gui::canvas::{self, CanvasInput, CanvasState, NodeCommand, Scene};
use crate::gui::style;
use crate::sim::client::Op;
use crate::sim::control::LinkPatch;
use crate::sim::network::Latency;
use crate::sim::trace::EventKind;
use crate::sim::{Action, NodeId, SimTime};
use crate::visual::layout;
use crate::visual::picture::{self, Liveness, MarkerKind};
use crate::visual::session::Session;
use crate::visual::timeline::{self, TimeAxis};
use bevy::prelude::*;
use bevy::window::{FileDragAndDrop, MonitorSelection, PrimaryWindow, WindowMode};
use bevy_egui::EguiContexts;
use bevy_egui::egui::{self, Color32, CornerRadius, RichText, Sense, Stroke, Vec2};
use std::time::Instant;

mod browser;
mod event_log;
mod help;
mod hunt;
mod inspector;
mod keys;
mod plots;
mod spacetime;
pub(crate) use spacetime::toggle_spacetime;
mod state;
mod timeline_bar;
mod top_bar;
mod topology;

#[allow(unused_imports)]
use browser::*;
#[allow(unused_imports)]
use event_log::*;
#[allow(unused_imports)]
use help::*;
#[allow(unused_imports)]
use hunt::*;
#[allow(unused_imports)]
use inspector::*;
#[allow(unused_imports)]
use keys::*;
#[allow(unused_imports)]
use plots::*;
#[allow(unused_imports)]
use spacetime::*;
#[allow(unused_imports)]
use state::*;
pub use state::{DEFAULT_SPEED, UiState};
#[allow(unused_imports)]
use timeline_bar::*;
#[allow(unused_imports)]
use top_bar::*;
#[allow(unused_imports)]
use topology::*;

pub(super) fn open_into(session: &mut Session, state: &mut UiState, text: &str, file: &str) {
    match Session::open(text, file, None) {
        Ok(s) => {
            *session = s;
            state.error = None;
            state.playing = true;
            state.mark_seen(session);
            state.canvas = CanvasState::default();
            state.seed_edit = session.seed;
            state.client_op = default_client_op(session.info.protocol);
            state.status = format!("opened {file}");
        }
        Err(e) => state.error = Some(e.to_string()),
    }
}

/// Drag and drop a `.ron` onto the window to open it.
pub fn open_dropped_files(
    mut drops: MessageReader<FileDragAndDrop>,
    mut session: ResMut<SessionRes>,
    mut state: ResMut<UiState>,
) {
    for d in drops.read() {
        if let FileDragAndDrop::DroppedFile { path_buf, .. } = d {
            let path = path_buf.to_string_lossy().to_string();
            match crate::registry::read_scenario(&path) {
                Ok(text) => open_into(session.0.get(), &mut state, &text, &path),
                Err(e) => state.error = Some(e.to_string()),
            }
        }
    }
}

pub(super) fn apply_style(ctx: &egui::Context) {
    let mut s = (*ctx.global_style()).clone();
    use egui::{FontId, TextStyle};
    s.text_styles = [
        (TextStyle::Heading, FontId::proportional(22.0)),
        (TextStyle::Body, FontId::proportional(16.0)),
        (TextStyle::Button, FontId::proportional(16.0)),
        (TextStyle::Small, FontId::proportional(13.0)),
        (TextStyle::Monospace, FontId::monospace(14.0)),
    ]
    .into();
    s.visuals = egui::Visuals::dark();
    s.visuals.panel_fill = style::BACKGROUND;
    s.visuals.override_text_color = Some(style::TEXT);
    s.spacing.item_spacing = Vec2::new(8.0, 6.0);
    ctx.set_global_style(s);
}

#[allow(clippy::too_many_arguments)]
pub fn ui(
    mut contexts: EguiContexts,
    mut session: ResMut<SessionRes>,
    mut state: ResMut<UiState>,
    time: Res<Time>,
    mut window: Single<&mut Window, With<PrimaryWindow>>,
    mut exit: MessageWriter<AppExit>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let work_start = Instant::now();
    let state = &mut *state;
    let s = session.0.get();
    if !state.styled {
        apply_style(&ctx);
        state.styled = true;
        state.seed_edit = s.seed;
        state.client_op = default_client_op(s.info.protocol);
    }
    ctx.set_zoom_factor(if state.presentation { 1.25 } else { 1.0 });
    let want = if state.presentation && state.fullscreen_allowed {
        WindowMode::BorderlessFullscreen(MonitorSelection::Current)
    } else {
        WindowMode::Windowed
    };
    if window.mode != want {
        window.mode = want;
    }

    keyboard(&ctx, s, state, &mut exit);
    advance(s, state, time.delta_secs_f64());

    let mut root = egui::Ui::new(
        ctx.clone(),
        "root".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    top_bar(&mut root, s, state);
    timeline_bar(&mut root, s, state);
    plots_panel(&mut root, s, state);
    spacetime_panel(&mut root, s, state);
    if !state.presentation {
        if state.panel_left {
            egui::Panel::left("browser")
                .default_size(250.0)
                .resizable(true)
                .show(&mut root, |ui| browser(ui, s, state));
        }
        egui::Panel::right("inspector")
            .default_size(300.0)
            .resizable(true)
            .show(&mut root, |ui| inspector(ui, s, state));
    }
    egui::CentralPanel::no_frame().show(&mut root, |ui| central(ui, s, state));
    if state.help {
        help_window(&ctx, state);
    }
    hunt_window(&ctx, s, state);
    let ms = work_start.elapsed().as_secs_f64() * 1e3;
    state.frame_ms = 0.9 * state.frame_ms + 0.1 * ms;
    if let Some((left, times, walls)) = &mut state.measure {
        walls.push(time.delta_secs_f64() * 1e3);
        state.speed = 1.0;
        state.playing = true;
        times.push(ms);
        *left = left.saturating_sub(1);
        if *left == 0 {
            let mut sorted = times.clone();
            sorted.sort_by(f64::total_cmp);
            let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
            let p95 = sorted[(sorted.len() - 1) * 95 / 100];
            println!(
                "frames={} sim_ui_ms_mean={mean:.2} sim_ui_ms_p95={p95:.2} frame_wall_ms_mean={:.1} events={} in_flight_last={}",
                sorted.len(),
                walls.iter().skip(10).sum::<f64>() / walls.len().saturating_sub(10).max(1) as f64,
                s.sim.trace().len(),
                picture::messages_at(s.sim.trace(), s.cursor, IN_FLIGHT_WINDOW).len()
            );
            exit.write(AppExit::Success);
        }
    }
    Ok(())
}

/// Moves the cursor by speed × wall time, running the simulation within the frame budget;
/// pauses on a new violation and at presenter pause points.
pub(super) fn advance(s: &mut Session, state: &mut UiState, dt: f64) {
    if state.recording.is_some() {
        return; // the recorder moves the cursor, one frame's instant at a time
    }
    if state.playing {
        let target = s.cursor + timeline::advance(state.speed, dt);
        let start = Instant::now();
        loop {
            let reached = s.advance_to(target, 2_000);
            if reached || start.elapsed().as_secs_f64() * 1e3 > FRAME_BUDGET_MS {
                break;
            }
        }
        if s.cursor >= s.duration() {
            state.playing = false;
        }
    }
    let (shown_violations, points) = seen_counts(s);
    if shown_violations > state.violations_seen {
        state.violations_seen = shown_violations;
        state.playing = false;
    }
    if points > state.pause_points_seen {
        state.pause_points_seen = points;
        if state.pause_at_points {
            state.playing = false;
        }
    }
}

pub(super) fn act(s: &mut Session, state: &mut UiState, a: Action) {
    let label = a.to_string();
    match s.act(a) {
        Ok(()) => state.status = format!("{label} at {}", s.cursor),
        Err(e) => state.error = Some(e),
    }
}

/// The client operation the request button sends by default: a write for the replicated
/// stores, a protocol request (enter the critical section, run a transaction, start a token)
/// for the others.
pub(super) fn default_client_op(protocol: &str) -> usize {
    match protocol {
        "raft" | "paxos" | "multi_paxos" | "zab" | "gossip" => 0,
        _ => 2,
    }
}

/// A client operation of the chosen kind to the selected node (or a random one).
pub(super) fn send_client_request(s: &mut Session, state: &mut UiState) {
    let to = state
        .canvas
        .selected
        .first()
        .map(|&n| s.info.names[n].clone());
    let op = client_op(state);
    act(s, state, Action::ClientRequest { to, op });
}

pub(super) fn client_op(state: &mut UiState) -> Op {
    state.client_counter += 1;
    match state.client_op {
        0 => Op::Put {
            key: format!("k{}", state.client_counter % 3),
            value: state.client_counter.to_string(),
        },
        1 => Op::Get {
            key: format!("k{}", state.client_counter % 3),
        },
        _ => Op::Request(state.client_counter.to_string()),
    }
}
