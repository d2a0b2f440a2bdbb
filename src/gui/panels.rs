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

/// How far back the picture looks for messages still in flight (a message held at a link for
/// longer is not drawn); keeps each frame's scan short on long, busy traces.
const IN_FLIGHT_WINDOW: SimTime = SimTime::from_secs(5);

/// Simulation work allowed per frame, in wall time.
const FRAME_BUDGET_MS: f64 = 12.0;

/// (node, cursor, trace length): when any changes, the inspector's counts are recounted.
type CountsKey = (NodeId, SimTime, u64);

/// The event log's kind filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogKind {
    All,
    Faults,
    Messages,
    Clients,
    Protocol,
    Violations,
}

impl LogKind {
    const ALL: [LogKind; 6] = [
        LogKind::All,
        LogKind::Faults,
        LogKind::Messages,
        LogKind::Clients,
        LogKind::Protocol,
        LogKind::Violations,
    ];
    fn label(self) -> &'static str {
        match self {
            LogKind::All => "all kinds",
            LogKind::Faults => "faults",
            LogKind::Messages => "messages",
            LogKind::Clients => "clients",
            LogKind::Protocol => "notes and captions",
            LogKind::Violations => "violations",
        }
    }
    fn admits(self, kind: &EventKind) -> bool {
        match self {
            LogKind::All => true,
            LogKind::Faults => matches!(
                kind,
                EventKind::Crash
                    | EventKind::Restart
                    | EventKind::Pause
                    | EventKind::Resume
                    | EventKind::Network { .. }
            ),
            LogKind::Messages => matches!(
                kind,
                EventKind::Send { .. } | EventKind::Deliver { .. } | EventKind::Drop { .. }
            ),
            LogKind::Clients => matches!(
                kind,
                EventKind::ClientInvoke { .. } | EventKind::ClientReturn { .. }
            ),
            LogKind::Protocol => matches!(kind, EventKind::Note { .. } | EventKind::Caption { .. }),
            LogKind::Violations => matches!(kind, EventKind::Violation { .. }),
        }
    }
}

#[derive(Resource)]
pub struct UiState {
    pub playing: bool,
    pub speed: f64,
    pub canvas: CanvasState,
    pub presentation: bool,
    /// `--frames N`: frames left to measure, and the measured system times (ms).
    measure: Option<(u32, Vec<f64>, Vec<f64>)>,
    /// Presentation mode goes full screen (not in screenshot mode, which keeps the window size).
    fullscreen_allowed: bool,
    pub help: bool,
    pub pause_at_points: bool,
    /// Violations already shown (the app pauses once on each).
    violations_seen: usize,
    pause_points_seen: usize,
    layout: Vec<[f32; 2]>,
    layout_for: (String, usize),
    layout_rounds: u32,
    /// Restart flashes: wall-clock seconds since the restart was first drawn.
    log_filter: String,
    log_node: Option<NodeId>,
    /// The inspector's per-node counts, keyed by (node, cursor, trace length).
    counts_cache: Option<(CountsKey, (u64, u64, u64))>,
    /// Event-log filter by kind of event.
    log_kind: LogKind,
    open_path: String,
    save_path: String,
    status: String,
    error: Option<String>,
    seed_edit: u64,
    net_drop: f64,
    net_latency_ms: f64,
    link_latency_ms: f64,
    link_drop: f64,
    client_op: usize,
    client_counter: u64,
    frame_ms: f64,
    started: Instant,
    styled: bool,
    panel_left: bool,
}

impl UiState {
    /// `interactive`: playing from the start and allowed to go full screen (not a screenshot).
    pub fn new(interactive: bool, presentation: bool, measure_frames: Option<u32>) -> Self {
        UiState {
            playing: interactive,
            measure: measure_frames.map(|n| (n, Vec::new(), Vec::new())),
            fullscreen_allowed: interactive,
            speed: 0.5,
            canvas: CanvasState::default(),
            presentation,
            help: false,
            pause_at_points: true,
            violations_seen: 0,
            pause_points_seen: 0,
            layout: Vec::new(),
            layout_for: (String::new(), 0),
            layout_rounds: 0,
            log_filter: String::new(),
            log_node: None,
            log_kind: LogKind::All,
            counts_cache: None,
            open_path: String::new(),
            save_path: "session.ron".into(),
            status: String::new(),
            error: None,
            seed_edit: 0,
            net_drop: 0.0,
            net_latency_ms: 10.0,
            link_latency_ms: 10.0,
            link_drop: 0.0,
            client_op: 0,
            client_counter: 0,
            frame_ms: 0.0,
            started: Instant::now(),
            styled: false,
            panel_left: true,
        }
    }
}

impl UiState {
    /// Violations and pause points up to the cursor count as seen: moving the cursor by hand
    /// does not stop playback on them again.
    fn mark_seen(&mut self, s: &Session) {
        (self.violations_seen, self.pause_points_seen) = seen_counts(s);
    }
}

/// How many violations and pause points lie at or before the cursor.
fn seen_counts(s: &Session) -> (usize, usize) {
    let upto = |times: &mut dyn Iterator<Item = SimTime>| times.filter(|t| *t <= s.cursor).count();
    (
        upto(&mut s.index.violations.iter().map(|(t, _)| *t)),
        upto(&mut s.index.pause_points.iter().map(|(t, _)| *t)),
    )
}

fn open_into(session: &mut Session, state: &mut UiState, text: &str, file: &str) {
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

fn apply_style(ctx: &egui::Context) {
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
fn advance(s: &mut Session, state: &mut UiState, dt: f64) {
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

fn act(s: &mut Session, state: &mut UiState, a: Action) {
    let label = a.to_string();
    match s.act(a) {
        Ok(()) => state.status = format!("{label} at {}", s.cursor),
        Err(e) => state.error = Some(e),
    }
}

/// The client operation the request button sends by default: a write for the replicated
/// stores, a protocol request (enter the critical section, run a transaction, start a token)
/// for the others.
fn default_client_op(protocol: &str) -> usize {
    match protocol {
        "raft" | "paxos" | "multi_paxos" | "zab" | "gossip" => 0,
        _ => 2,
    }
}

fn client_op(state: &mut UiState) -> Op {
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

fn keyboard(
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
        let to = state
            .canvas
            .selected
            .first()
            .map(|&n| s.info.names[n].clone());
        let op = client_op(state);
        act(s, state, Action::ClientRequest { to, op });
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

fn top_bar(root: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
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

fn timeline_bar(root: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    egui::Panel::bottom("timeline")
        .exact_size(if state.presentation { 64.0 } else { 72.0 })
        .show(root, |ui| {
            let (resp, painter) = ui.allocate_painter(
                Vec2::new(ui.available_width(), 56.0),
                Sense::click_and_drag(),
            );
            let r = resp.rect.shrink2(Vec2::new(60.0, 8.0));
            let axis = TimeAxis {
                x0: r.min.x,
                x1: r.max.x,
                duration: s.duration(),
            };
            let bar = egui::Rect::from_min_max(
                egui::pos2(r.min.x, r.center().y - 5.0),
                egui::pos2(r.max.x, r.center().y + 5.0),
            );
            painter.rect_filled(bar, CornerRadius::same(4), Color32::from_gray(50));
            let done =
                egui::Rect::from_min_max(bar.min, egui::pos2(axis.x_of(s.sim.now()), bar.max.y));
            painter.rect_filled(
                done,
                CornerRadius::same(4),
                Color32::from_rgb(0x3b, 0x5b, 0x7a),
            );
            painter.text(
                egui::pos2(resp.rect.min.x + 6.0, r.center().y),
                egui::Align2::LEFT_CENTER,
                "0s",
                egui::FontId::proportional(13.0),
                style::TEXT_DIM,
            );
            painter.text(
                egui::pos2(resp.rect.max.x - 6.0, r.center().y),
                egui::Align2::RIGHT_CENTER,
                s.duration().to_string(),
                egui::FontId::proportional(13.0),
                style::TEXT_DIM,
            );
            let pointer = resp.hover_pos();
            let mut hovered = None;
            // A kind of marker that fires hundreds of times (a token ring's roles change every
            // few milliseconds) would paint the bar solid: such kinds are left out.
            let count = |k: MarkerKind| s.index.markers.iter().filter(|m| m.kind == k).count();
            let crowded: Vec<MarkerKind> = [MarkerKind::Role, MarkerKind::Note]
                .into_iter()
                .filter(|&k| count(k) > 150)
                .collect();
            for m in s
                .index
                .markers
                .iter()
                .filter(|m| !crowded.contains(&m.kind))
            {
                let x = axis.x_of(m.time);
                let (c, h) = match m.kind {
                    MarkerKind::Fault => (style::CUT, 12.0),
                    MarkerKind::Role => (Color32::from_rgb(0xf5, 0x9f, 0x00), 8.0),
                    MarkerKind::Note => (Color32::from_rgb(0x74, 0xc0, 0xfc), 6.0),
                    MarkerKind::Caption => (Color32::WHITE, 14.0),
                    MarkerKind::PausePoint => (Color32::from_rgb(0x8c, 0xe9, 0x9a), 14.0),
                    MarkerKind::Violation => (style::VIOLATION, 18.0),
                };
                painter.line_segment(
                    [
                        egui::pos2(x, bar.min.y - h / 2.0),
                        egui::pos2(x, bar.min.y + 2.0),
                    ],
                    Stroke::new(2.0, c),
                );
                if let Some(p) = pointer
                    && (p.x - x).abs() < 3.0
                    && p.y < bar.max.y
                {
                    hovered = Some(m.clone());
                }
            }
            let cx = axis.x_of(s.cursor);
            painter.line_segment(
                [egui::pos2(cx, r.min.y - 4.0), egui::pos2(cx, r.max.y + 4.0)],
                Stroke::new(3.0, Color32::WHITE),
            );
            painter.circle_filled(egui::pos2(cx, bar.center().y), 7.0, Color32::WHITE);
            if let Some(m) = &hovered {
                painter.text(
                    egui::pos2(axis.x_of(m.time), r.max.y + 2.0),
                    egui::Align2::CENTER_TOP,
                    format!("{} {}", m.time, m.text),
                    egui::FontId::proportional(13.0),
                    style::TEXT,
                );
            } else if let Some(p) = pointer {
                painter.text(
                    egui::pos2(p.x, r.max.y + 2.0),
                    egui::Align2::CENTER_TOP,
                    axis.time_at(p.x).to_string(),
                    egui::FontId::proportional(13.0),
                    style::TEXT_DIM,
                );
            }
            if resp.clicked() {
                let t =
                    hovered.map_or_else(|| axis.time_at(pointer.map_or(cx, |p| p.x)), |m| m.time);
                s.seek(t);
                state.mark_seen(s);
            } else if resp.dragged()
                && let Some(p) = resp.interact_pointer_pos()
            {
                state.playing = false;
                let t = axis.time_at(p.x);
                // Forwards is budgeted so a long drag never freezes the window.
                s.advance_to(t, 50_000);
                state.mark_seen(s);
            }
        });
}

fn browser(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    // One scroll area for the whole panel, so Open and Save stay reachable under a long
    // description.
    egui::ScrollArea::vertical()
        .id_salt("browser-panel")
        .show(ui, |ui| browser_contents(ui, s, state));
}

fn save_session(s: &Session, state: &mut UiState) {
    let result = s
        .save()
        .map_err(|e| e.to_string())
        .and_then(|text| std::fs::write(&state.save_path, text).map_err(|e| e.to_string()));
    match result {
        Ok(()) => state.status = format!("saved {} ({} actions)", state.save_path, s.actions.len()),
        Err(e) => state.error = Some(format!("cannot save: {e}")),
    }
}

fn browser_contents(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    ui.heading("Scenario");
    ui.label(RichText::new(&s.info.description).size(15.0));
    ui.label(
        RichText::new(format!(
            "{} · {} nodes · seed {} · {}",
            s.info.protocol,
            s.info.names.len(),
            s.seed,
            s.info.file
        ))
        .small()
        .color(style::TEXT_DIM),
    );
    ui.separator();
    ui.heading("Bundled scenarios");
    let mut open: Option<(&str, &str)> = None;
    egui::ScrollArea::vertical()
        .id_salt("browser")
        .max_height(320.0)
        .show(ui, |ui| {
            let mut protocols: Vec<&str> = Vec::new();
            for (p, _) in crate::bundled::BUNDLED {
                let proto = p.split('/').nth(1).unwrap_or("");
                if !protocols.contains(&proto) {
                    protocols.push(proto);
                }
            }
            for proto in protocols {
                egui::CollapsingHeader::new(RichText::new(proto).strong())
                    .default_open(proto == s.info.protocol)
                    .show(ui, |ui| {
                        for (path, text) in crate::bundled::BUNDLED
                            .iter()
                            .filter(|(p, _)| p.split('/').nth(1) == Some(proto))
                        {
                            let head = crate::scenario::peek_protocol(text, path);
                            let (title, desc) = head
                                .map(|h| (h.title, h.description))
                                .unwrap_or_else(|e| (path.to_string(), e.to_string()));
                            let current = s.info.file == *path;
                            if ui
                                .selectable_label(current, title)
                                .on_hover_text(desc)
                                .clicked()
                            {
                                open = Some((path, text));
                            }
                        }
                    });
            }
        });
    if let Some((path, text)) = open {
        open_into(s, state, text, path);
    }
    ui.separator();
    ui.label("Open a file (or drop a .ron on the window)");
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut state.open_path)
                .desired_width(180.0)
                .hint_text("path/to/file.ron"),
        );
        if ui.button("Open").clicked() {
            match crate::registry::read_scenario(&state.open_path) {
                Ok(text) => {
                    let p = state.open_path.clone();
                    open_into(s, state, &text, &p);
                }
                Err(e) => state.error = Some(e.to_string()),
            }
        }
    });
    ui.label("Save this session as a scenario");
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut state.save_path).desired_width(180.0));
        if ui
            .button("Save")
            .on_hover_text("Writes the scenario with your actions; it replays exactly (Ctrl+S)")
            .clicked()
        {
            save_session(s, state);
        }
    });
    if !state.status.is_empty() {
        ui.label(RichText::new(&state.status).small().color(style::TEXT_DIM));
    }
    ui.checkbox(
        &mut state.pause_at_points,
        "pause at presenter pause points",
    );
}

fn inspector(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
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

fn event_log(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
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
                client, outcome, ..
            } => format!("client {client} ← {outcome:?}"),
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

fn central(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    let n = s.info.names.len();
    let t = s.cursor;
    // Large clusters are laid out again once, when some traffic has been seen (after 2s or a
    // fifth of the run): a force layout over who talked to whom if that graph is sparse (a
    // ring, a tree), an even disc if everyone talks to everyone. Then the layout stays put.
    let key = (s.info.file.clone(), n);
    let settled = s.sim.now() >= SimTime::from_secs(2).min(SimTime(s.duration().0 / 5));
    let relayout = n > layout::CIRCLE_MAX && state.layout_rounds == 1 && settled;
    if state.layout_for != key || state.layout.len() != n || relayout {
        let edges: Vec<(usize, usize)> = s.index.edges.iter().copied().collect();
        state.layout = layout::layout(n, &s.info.positions, &edges);
        if state.layout_for != key {
            state.layout_rounds = 0;
        }
        state.layout_for = key;
        state.layout_rounds += 1;
    }
    let views = s.index.views_at(s.sim.trace(), t);
    let liveness: Vec<Liveness> = (0..n).map(|i| s.index.liveness_at(i, t)).collect();
    // Restart flashes last about a second of wall time whatever the speed.
    let flash_sim = SimTime((state.speed * 1.2e6) as u64);
    let restarted: Vec<Option<f32>> = (0..n)
        .map(|i| {
            s.index
                .last_restart(i, t)
                .filter(|r| t.0 - r.0 <= flash_sim.0)
                .map(|r| (t.0 - r.0) as f32 / flash_sim.0.max(1) as f32 * 1.2)
        })
        .collect();
    let messages = picture::messages_at(s.sim.trace(), t, IN_FLIGHT_WINDOW);
    let fade = SimTime(((state.speed * 0.8e6) as u64).max(1_000));
    let bursts = picture::bursts_at(s.sim.trace(), t, fade);
    let net = s.index.network_at(t, &s.info.names);
    let groups = net.groups();
    let blocked: Vec<(NodeId, NodeId)> = net.blocked_links().iter().copied().collect();
    let held: Vec<(NodeId, NodeId)> = net.held_links().iter().copied().collect();
    let violation = s.index.violation_at(t).map(|v| {
        (
            v.invariant.as_str(),
            v.explanation.as_str(),
            v.nodes.as_slice(),
        )
    });
    let used_kinds: Vec<&'static str> = s.sim.metrics().sent.0.iter().map(|(k, _)| *k).collect();
    let scene = Scene {
        names: &s.info.names,
        world: &state.layout,
        views: &views,
        liveness: &liveness,
        restarted: &restarted,
        messages: &messages,
        bursts: &bursts,
        kinds: s.sim.message_kinds(),
        used_kinds: &used_kinds,
        groups: &groups,
        blocked: &blocked,
        held: &held,
        now: t,
        caption: s.index.caption_at(t),
        violation,
        pulse: state.started.elapsed().as_secs_f32(),
        big_text: state.presentation,
    };
    let input = canvas::show(ui, &scene, &mut state.canvas);
    match input {
        CanvasInput::None => {}
        CanvasInput::NodeAction(i, cmd) => {
            let name = s.info.names[i].clone();
            let a = match cmd {
                NodeCommand::Crash => Action::Crash(name),
                NodeCommand::Restart => Action::Restart(name),
                NodeCommand::Pause => Action::Pause(name),
                NodeCommand::Resume => Action::Resume(name),
                NodeCommand::FireTimer => Action::FireTimer(name),
                NodeCommand::ClientRequest => Action::ClientRequest {
                    to: Some(name),
                    op: client_op(state),
                },
            };
            act(s, state, a);
        }
        CanvasInput::PartitionSelection => {
            let g = state
                .canvas
                .selected
                .iter()
                .map(|&i| s.info.names[i].clone())
                .collect();
            act(s, state, Action::Partition(vec![g]));
        }
    }
    // Frame statistics, bottom right of the canvas.
    let r = ui.max_rect();
    ui.painter().text(
        r.right_bottom() - Vec2::new(8.0, 6.0),
        egui::Align2::RIGHT_BOTTOM,
        format!(
            "{} events · {} in flight · sim+ui {:.1} ms/frame",
            s.sim.trace().len(),
            messages.len(),
            state.frame_ms
        ),
        egui::FontId::proportional(12.0),
        style::TEXT_DIM,
    );
}

fn help_window(ctx: &egui::Context, state: &mut UiState) {
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
