//! The desktop app (Bevy + egui): watch, poke and rewind a running protocol.
//!
//! Bevy runs the window and the frame loop; all drawing is egui (the topology is painted on a
//! canvas). The simulation stays behind the core's boundary: wall time only decides how far
//! the cursor advances (speed × elapsed), and each frame's simulation work has a budget so
//! the window never freezes. The model (session, picture, layout, timeline) lives in
//! `crate::visual` and is tested without a window.

mod canvas;
mod panels;
mod record;
mod style;

use crate::visual::session::Session;
use bevy::platform::cell::SyncCell;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::window::{PresentMode, WindowResolution};
use bevy_egui::{EguiPlugin, EguiPrimaryContextPass};

/// How the app was asked to start.
pub struct AppOptions {
    pub file: Option<String>,
    pub screenshot: Option<String>,
    /// Open paused at this time (the screenshot's time, 2s if not given).
    pub at: Option<crate::sim::SimTime>,
    /// Open on this seed instead of the scenario's.
    pub seed: Option<u64>,
    /// Show the space-time diagram from the start.
    pub spacetime: bool,
    /// Record an animated GIF of this window and exit (`--record`).
    pub record: Option<RecordOptions>,
    /// Playback speed, simulated seconds per second (default 0.5).
    pub speed: Option<f64>,
    pub msaa: u32,
    pub width: u32,
    pub height: u32,
    pub presentation: bool,
    /// Play this many frames at 1x, print the per-frame time of the simulation and UI
    /// systems, and exit (for the README's figures).
    pub frames: Option<u32>,
}

/// `--record out.gif --from 1s --to 4s --fps 10`.
pub struct RecordOptions {
    pub path: String,
    /// Default: `--at`, or the start of the run.
    pub from: Option<crate::sim::SimTime>,
    /// Default: three seconds after `from`, or the end of the run.
    pub to: Option<crate::sim::SimTime>,
    pub fps: u32,
}

/// The open scenario (the session is `Send` but not `Sync`; `SyncCell` gives exclusive access).
#[derive(Resource)]
pub struct SessionRes(pub SyncCell<Session>);

/// Screenshot mode: render at a simulated time, save, exit.
#[derive(Resource)]
struct ScreenshotPlan {
    path: String,
    frames: u32,
    taken: bool,
}

/// Reports why the app cannot start when there is no display or GPU, instead of Bevy's panic.
fn install_friendly_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.to_string();
        if msg.contains("Failed to build event loop")
            || msg.contains("Unable to find a GPU")
            || msg.contains("adapter") && msg.contains("find")
        {
            eprintln!(
                "error: the desktop app cannot start here ({}).\n\
                 It needs a display and a GPU (or Mesa's software Vulkan driver, lavapipe).\n\
                 Run a scenario headless instead:  distsim run FILE.ron   (see `distsim list`)",
                msg.lines().last().unwrap_or("")
            );
            std::process::exit(2);
        }
        default(info);
    }));
}

/// Opens the app; returns the process exit code.
pub fn run(opts: AppOptions) -> i32 {
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !has_display {
        eprintln!(
            "error: no display (neither DISPLAY nor WAYLAND_DISPLAY is set), so the desktop app cannot open.\n\
             Run a scenario headless instead:  distsim run FILE.ron   (see `distsim list`),\n\
             or start the app under a virtual display:  xvfb-run -a distsim"
        );
        return 2;
    }
    let (file, text) = match &opts.file {
        Some(f) => match crate::cli::read(f) {
            Ok(t) => (f.clone(), t),
            Err(e) => return crate::cli::bad_input(&e),
        },
        None => {
            let (p, t) = crate::bundled::default_scenario();
            (p.to_string(), t.to_string())
        }
    };
    let mut session = match Session::open(&text, &file, opts.seed) {
        Ok(s) => s,
        Err(e) => return crate::cli::bad_input(&e),
    };
    let screenshot = opts.screenshot.is_some();
    let at = opts
        .at
        .or(screenshot.then_some(crate::sim::SimTime::from_secs(2)));
    if let Some(t) = at {
        session.seek(t);
    }
    let speed = opts.speed.unwrap_or(panels::DEFAULT_SPEED);
    use crate::visual::timeline::{SPEED_MAX, SPEED_MIN};
    if !(SPEED_MIN..=SPEED_MAX).contains(&speed) {
        eprintln!(
            "error: --speed {speed}: expected {SPEED_MIN} to {SPEED_MAX} simulated seconds per second"
        );
        return crate::cli::EXIT_BAD_INPUT;
    }
    let recording = match &opts.record {
        Some(r) => match plan_recording(r, at, speed, session.duration()) {
            Ok(plan) => Some(record::Recording::start(r.path.clone(), plan, true)),
            Err(e) => {
                eprintln!("error: {e}");
                return crate::cli::EXIT_BAD_INPUT;
            }
        },
        None => None,
    };
    let unattended = screenshot || recording.is_some();
    install_friendly_panic_hook();
    let title = format!("distsim — {}", session.info.title);
    let mut app = App::new();
    app.insert_resource(ClearColor(Color::srgb_u8(0x1b, 0x1e, 0x26)))
        .add_plugins(
            DefaultPlugins
                .set(WindowPlugin {
                    primary_window: Some(Window {
                        title,
                        resolution: WindowResolution::new(opts.width, opts.height),
                        present_mode: PresentMode::AutoVsync,
                        ..default()
                    }),
                    ..default()
                })
                .set(bevy::log::LogPlugin {
                    level: bevy::log::Level::WARN,
                    ..default()
                }),
        )
        .add_plugins(EguiPlugin::default())
        .insert_resource(SessionRes(SyncCell::new(session)))
        .insert_resource({
            let mut ui = panels::UiState::new(!unattended, opts.presentation, opts.frames);
            ui.playing &= at.is_none() || opts.frames.is_some();
            ui.speed = speed;
            ui.recording = recording;
            if opts.spacetime {
                panels::toggle_spacetime(&mut ui);
            }
            ui
        })
        .add_systems(Startup, move |mut commands: Commands| {
            commands.spawn((Camera2d, msaa(opts.msaa), Name::new("Camera")));
        })
        .add_systems(
            Update,
            (
                panels::open_dropped_files,
                save_png_on_request,
                record::record_frames,
            ),
        )
        .add_systems(EguiPrimaryContextPass, panels::ui);
    if let Some(path) = opts.screenshot {
        app.insert_resource(ScreenshotPlan {
            path,
            frames: 0,
            taken: false,
        })
        .add_systems(Update, take_screenshot);
    }
    match app.run() {
        AppExit::Success => 0,
        AppExit::Error(c) => c.get() as i32,
    }
}

/// The frames of `--record`: from `--from` (or `--at`, or 0) to `--to` (or 3 s later).
fn plan_recording(
    r: &RecordOptions,
    at: Option<crate::sim::SimTime>,
    speed: f64,
    duration: crate::sim::SimTime,
) -> Result<crate::visual::recording::FramePlan, String> {
    let from = r.from.or(at).unwrap_or(crate::sim::SimTime::ZERO);
    let to =
        r.to.unwrap_or_else(|| (from + crate::sim::SimTime::from_secs(3)).min(duration));
    crate::visual::recording::plan(from, to, r.fps, speed, duration)
}

fn msaa(samples: u32) -> Msaa {
    match samples {
        2 => Msaa::Sample2,
        4 => Msaa::Sample4,
        8 => Msaa::Sample8,
        _ => Msaa::Off,
    }
}

/// F12 (or the Save PNG button): the window as it is now, saved to a PNG named after the
/// scenario and the cursor, for slides and blog posts.
fn save_png_on_request(mut commands: Commands, mut state: ResMut<panels::UiState>) {
    if let Some(path) = state.png_request.take() {
        commands
            .spawn(Screenshot::primary_window())
            .observe(save_to_disk(path));
    }
}

/// Waits a few frames (fonts and layout settle), then captures the window and exits.
fn take_screenshot(mut commands: Commands, mut plan: ResMut<ScreenshotPlan>) {
    plan.frames += 1;
    if plan.frames < 8 || plan.taken {
        return;
    }
    plan.taken = true;
    let path = plan.path.clone();
    let mut save = save_to_disk(path);
    commands.spawn(Screenshot::primary_window()).observe(
        move |captured: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
            save(captured);
            exit.write(AppExit::Success);
        },
    );
}
