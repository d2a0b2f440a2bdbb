//! What the app remembers between frames: play state, speed, selection, filters, layout.

#[allow(unused_imports)]
use super::*;

/// How far back the picture looks for messages still in flight (a message held at a link for
/// longer is not drawn); keeps each frame's scan short on long, busy traces.
pub(super) const IN_FLIGHT_WINDOW: SimTime = SimTime::from_secs(5);

/// Simulation work allowed per frame, in wall time.
pub(super) const FRAME_BUDGET_MS: f64 = 12.0;

/// (node, cursor, trace length): when any changes, the inspector's counts are recounted.
pub(super) type CountsKey = (NodeId, SimTime, u64);

/// The event log's kind filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LogKind {
    All,
    Faults,
    Messages,
    Clients,
    Protocol,
    Violations,
}

impl LogKind {
    pub(super) const ALL: [LogKind; 6] = [
        LogKind::All,
        LogKind::Faults,
        LogKind::Messages,
        LogKind::Clients,
        LogKind::Protocol,
        LogKind::Violations,
    ];
    pub(super) fn label(self) -> &'static str {
        match self {
            LogKind::All => "all kinds",
            LogKind::Faults => "faults",
            LogKind::Messages => "messages",
            LogKind::Clients => "clients",
            LogKind::Protocol => "notes and captions",
            LogKind::Violations => "violations",
        }
    }
    pub(super) fn admits(self, kind: &EventKind) -> bool {
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
    pub(super) measure: Option<(u32, Vec<f64>, Vec<f64>)>,
    /// Presentation mode goes full screen (not in screenshot mode, which keeps the window size).
    pub(super) fullscreen_allowed: bool,
    pub help: bool,
    pub pause_at_points: bool,
    /// Violations already shown (the app pauses once on each).
    pub(super) violations_seen: usize,
    pub(super) pause_points_seen: usize,
    pub(super) layout: Vec<[f32; 2]>,
    pub(super) layout_for: (String, usize),
    pub(super) layout_rounds: u32,
    /// Restart flashes: wall-clock seconds since the restart was first drawn.
    pub(super) log_filter: String,
    pub(super) log_node: Option<NodeId>,
    /// The inspector's per-node counts, keyed by (node, cursor, trace length).
    pub(super) counts_cache: Option<(CountsKey, (u64, u64, u64))>,
    /// Event-log filter by kind of event.
    pub(super) log_kind: LogKind,
    pub(super) open_path: String,
    pub(super) save_path: String,
    pub(crate) status: String,
    pub(super) error: Option<String>,
    pub(super) seed_edit: u64,
    pub(super) net_drop: f64,
    pub(super) net_latency_ms: f64,
    pub(super) link_latency_ms: f64,
    pub(super) link_drop: f64,
    pub(super) client_op: usize,
    pub(super) client_counter: u64,
    pub(super) frame_ms: f64,
    pub(super) started: Instant,
    pub(super) styled: bool,
    /// The Plots panel under the topology (G).
    pub(super) show_plots: bool,
    pub(super) panel_left: bool,
    /// The space-time diagram under the topology (T).
    pub(crate) spacetime: SpaceTimeState,
    /// A PNG of the window to save at the next frame (F12).
    pub(crate) png_request: Option<String>,
    /// An animated GIF being recorded (F9, or `--record`): it drives the cursor.
    pub(crate) recording: Option<crate::gui::record::Recording>,
    /// "Find a counterexample" running in the background.
    pub(super) hunt: Option<crate::visual::hunt::Hunt>,
}

/// Simulated seconds per second when the app opens.
pub const DEFAULT_SPEED: f64 = 0.5;

impl UiState {
    /// `interactive`: playing from the start and allowed to go full screen (not a screenshot).
    pub fn new(interactive: bool, presentation: bool, measure_frames: Option<u32>) -> Self {
        UiState {
            playing: interactive,
            measure: measure_frames.map(|n| (n, Vec::new(), Vec::new())),
            fullscreen_allowed: interactive,
            speed: DEFAULT_SPEED,
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
            show_plots: true,
            panel_left: true,
            spacetime: SpaceTimeState::new(false),
            png_request: None,
            recording: None,
            hunt: None,
        }
    }
}

impl UiState {
    /// Violations and pause points up to the cursor count as seen: moving the cursor by hand
    /// does not stop playback on them again.
    pub(super) fn mark_seen(&mut self, s: &Session) {
        (self.violations_seen, self.pause_points_seen) = seen_counts(s);
    }
}

/// How many violations and pause points lie at or before the cursor.
pub(super) fn seen_counts(s: &Session) -> (usize, usize) {
    let upto = |times: &mut dyn Iterator<Item = SimTime>| times.filter(|t| *t <= s.cursor).count();
    (
        upto(&mut s.index.violations.iter().map(|(t, _)| *t)),
        upto(&mut s.index.pause_points.iter().map(|(t, _)| *t)),
    )
}
