//! Animated GIFs of a run, for slides and blog posts: `--record out.gif --from 1s --to 4s`
//! on the command line (render, save, exit), or F9 in the app (from the cursor until F9
//! again or the end of the run).
//!
//! The recorder drives the cursor itself, one frame of [`crate::visual::recording`]'s plan
//! at a time: seek, let egui lay the frame out, capture the window, then the next instant.
//! Frames go to an encoder thread as they are captured, so memory holds only the frames not
//! yet encoded.

use super::SessionRes;
use super::panels::UiState;
use crate::sim::SimTime;
use crate::visual::recording::{self, FramePlan, HOLD_LAST_MS};
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::PrimaryWindow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

/// Frames a capture waits after the seek: the first lays the new instant out, the second
/// draws it (egui may discard a first pass whose layout changed).
const SETTLE_FRAMES: u32 = 2;

/// The encoder's effort, 1 (best palette, slowest) to 30: 10 keeps text crisp.
const GIF_SPEED: i32 = 10;

/// One captured frame: its size and RGBA pixels.
struct Rgba {
    width: u16,
    height: u16,
    pixels: Vec<u8>,
}

enum Phase {
    Seek,
    Settle(u32),
    /// Waiting for the capture of the current frame.
    Capturing,
}

/// A recording in progress.
pub struct Recording {
    path: String,
    plan: FramePlan,
    next: usize,
    phase: Phase,
    captured: Arc<AtomicBool>,
    frames: Option<Sender<Rgba>>,
    encoder: Option<JoinHandle<Result<usize, String>>>,
    /// The command-line recording exits when done; F9's goes back to the app.
    exit_when_done: bool,
    /// F9 pressed again: stop after the frame being captured.
    stop: bool,
    /// The window's title before the recording (restored after it).
    title: Option<String>,
}

impl Recording {
    pub fn start(path: String, plan: FramePlan, exit_when_done: bool) -> Recording {
        let (tx, rx) = channel::<Rgba>();
        let (file, delay) = (path.clone(), plan.delay_ms);
        let encoder = std::thread::spawn(move || encode(&file, rx.into_iter(), delay));
        Recording {
            path,
            plan,
            next: 0,
            phase: Phase::Seek,
            captured: Arc::new(AtomicBool::new(false)),
            frames: Some(tx),
            encoder: Some(encoder),
            exit_when_done,
            stop: false,
            title: None,
        }
    }

    /// F9 while recording: finish after the current frame.
    pub fn request_stop(&mut self) {
        self.stop = true;
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

/// F9 in the app: a recording from the cursor at the current speed, until F9 again or the
/// end of the run (at most [`recording::MAX_FRAMES`] frames).
pub fn start_in_app(
    name: &str,
    from: SimTime,
    duration: SimTime,
    speed: f64,
) -> Result<Recording, String> {
    const FPS: u32 = 10;
    let step = (speed * 1e6 / FPS as f64).round().max(1.0) as u64;
    let longest = SimTime(
        from.0
            .saturating_add(step * (recording::MAX_FRAMES as u64 - 1)),
    );
    let to = longest.min(duration);
    if to <= from {
        return Err("the cursor is at the end of the run: nothing left to record".into());
    }
    let plan = recording::plan(from, to, FPS, speed, duration)?;
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(Recording::start(format!("{safe}-{from}.gif"), plan, false))
}

/// Writes frames to a looping GIF as they arrive; the last one is held so the end can be
/// read before the loop starts again. Returns the number of frames written.
fn encode(path: &str, frames: impl Iterator<Item = Rgba>, delay_ms: u32) -> Result<usize, String> {
    let err = |e: &dyn std::fmt::Display| format!("cannot write {path}: {e}");
    let mut gif: Option<gif::Encoder<std::io::BufWriter<std::fs::File>>> = None;
    let mut put = |mut img: Rgba, ms: u32| -> Result<(), String> {
        if gif.is_none() {
            let file = std::fs::File::create(path).map_err(|e| err(&e))?;
            let w = std::io::BufWriter::new(file);
            let mut e = gif::Encoder::new(w, img.width, img.height, &[]).map_err(|e| err(&e))?;
            e.set_repeat(gif::Repeat::Infinite).map_err(|e| err(&e))?;
            gif = Some(e);
        }
        let mut frame =
            gif::Frame::from_rgba_speed(img.width, img.height, &mut img.pixels, GIF_SPEED);
        frame.delay = (ms / 10) as u16; // centiseconds
        gif.as_mut()
            .expect("created")
            .write_frame(&frame)
            .map_err(|e| err(&e))
    };
    let mut held: Option<Rgba> = None;
    let mut n = 0;
    for img in frames {
        if let Some(prev) = held.replace(img) {
            put(prev, delay_ms)?;
            n += 1;
        }
    }
    if let Some(last) = held {
        put(last, HOLD_LAST_MS.max(delay_ms))?;
        n += 1;
    }
    if n == 0 {
        return Err(format!("no frame was captured for {path}"));
    }
    Ok(n)
}

/// Each frame: drives the recording one step (seek, settle, capture, next).
pub(super) fn record_frames(
    mut commands: Commands,
    mut session: ResMut<SessionRes>,
    mut state: ResMut<UiState>,
    mut window: Single<&mut Window, With<PrimaryWindow>>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(rec) = state.recording.as_mut() else {
        return;
    };
    // Told in the title bar, which the captured frames leave out.
    if rec.title.is_none() {
        rec.title = Some(window.title.clone());
        window.title = format!("● recording {} (F9 stops) — {}", rec.path, window.title);
    }
    match rec.phase {
        Phase::Seek => {
            session.0.get().seek(rec.plan.times[rec.next]);
            rec.phase = Phase::Settle(SETTLE_FRAMES);
        }
        Phase::Settle(0) => {
            rec.captured.store(false, Ordering::SeqCst);
            let (tx, done) = (rec.frames.clone().expect("open"), rec.captured.clone());
            commands.spawn(Screenshot::primary_window()).observe(
                move |captured: On<ScreenshotCaptured>| {
                    if let Ok(img) = captured.image.clone().try_into_dynamic() {
                        let rgba = img.to_rgba8();
                        let (w, h) = (rgba.width(), rgba.height());
                        if let (Ok(width), Ok(height)) = (u16::try_from(w), u16::try_from(h)) {
                            let mut pixels = rgba.into_raw();
                            // Opaque: the alpha of a window capture is not coverage (with HDR
                            // it holds brightness), and a GIF would make low alpha see-through.
                            pixels.chunks_exact_mut(4).for_each(|p| p[3] = 255);
                            let _ = tx.send(Rgba {
                                width,
                                height,
                                pixels,
                            });
                        }
                    }
                    done.store(true, Ordering::SeqCst);
                },
            );
            rec.phase = Phase::Capturing;
        }
        Phase::Settle(k) => rec.phase = Phase::Settle(k - 1),
        Phase::Capturing => {
            if !rec.captured.load(Ordering::SeqCst) {
                return;
            }
            rec.next += 1;
            rec.phase = Phase::Seek;
            if rec.next >= rec.plan.times.len() || rec.stop {
                if let Some(t) = rec.title.take() {
                    window.title = t;
                }
                finish(&mut state, &mut exit);
            }
        }
    }
}

/// Closes the GIF and reports it (on stderr and in the status line).
fn finish(state: &mut UiState, exit: &mut MessageWriter<AppExit>) {
    let mut rec = state.recording.take().expect("recording");
    drop(rec.frames.take()); // the encoder ends when the channel closes
    let result = rec
        .encoder
        .take()
        .expect("encoder")
        .join()
        .unwrap_or_else(|_| Err("the GIF encoder panicked".into()));
    let (first, last) = (rec.plan.times[0], rec.plan.times[rec.next.max(1) - 1]);
    let ok = match &result {
        Ok(n) => {
            state.status = format!("saved {} ({n} frames, {first} to {last})", rec.path);
            eprintln!("{}", state.status);
            true
        }
        Err(e) => {
            state.status = e.clone();
            eprintln!("error: {e}");
            false
        }
    };
    if rec.exit_when_done {
        exit.write(if ok {
            AppExit::Success
        } else {
            AppExit::error()
        });
    }
}
