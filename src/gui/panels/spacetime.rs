//! The space-time diagram (T): one lane per node, time flowing right and ending at the cursor,
//! every message an arrow from its send to its delivery (a cross where it was lost), timers,
//! faults, client requests and role changes as marks, crashes and partitions shaded. Clicking
//! an arrow or a mark selects it (the topology selects the same message) and colours its
//! causal past blue and its future orange; dragging scrubs; the wheel zooms time.

#[allow(unused_imports)]
use super::*;
use crate::sim::trace::EventId;
use crate::visual::spacetime::{
    self, Arrow, Causality, Fate, Mark, MarkKind, ShadeKind, SpaceTime, TimeMap, Visible,
};
use egui::{Align2, FontId, Pos2, Rect, Response};
use std::collections::BTreeSet;

/// What the diagram remembers between frames.
pub(crate) struct SpaceTimeState {
    pub(crate) show: bool,
    /// Width of the window, in simulated time (the wheel zooms it).
    pub(super) span: SimTime,
    pub(super) hidden: BTreeSet<&'static str>,
    pub(super) collapse: bool,
    /// The user chose the span (the wheel); until then it narrows itself on busy runs.
    zoomed: bool,
    /// The event whose causal past and future are shown.
    pub(super) anchor: Option<EventId>,
    /// The causality of `anchor` for the window it was computed for.
    cache: Option<((EventId, SimTime, SimTime), Causality)>,
}

impl SpaceTimeState {
    pub(super) fn new(show: bool) -> Self {
        SpaceTimeState {
            show,
            span: SimTime::ZERO,
            hidden: BTreeSet::new(),
            collapse: true,
            zoomed: false,
            anchor: None,
            cache: None,
        }
    }
}

const PAST: Color32 = Color32::from_rgb(0x4d, 0xab, 0xf7);
const FUTURE: Color32 = Color32::from_rgb(0xff, 0xa9, 0x4d);
const GUTTER: f32 = 84.0;
/// More arrows than this in the default window: it narrows itself.
const BUSY_ARROWS: usize = 2_500;
/// Arrows drawn at most; past that the user is asked to zoom in.
const MAX_ARROWS: usize = 20_000;

pub(super) fn spacetime_panel(root: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    if !state.spacetime.show {
        return;
    }
    let height = (root.available_height() * 0.42).clamp(160.0, 420.0);
    egui::Panel::bottom("spacetime")
        .default_size(height)
        .resizable(true)
        .show(root, |ui| {
            if state.spacetime.span == SimTime::ZERO {
                state.spacetime.span = default_span(s.duration());
            }
            s.refresh_spacetime();
            header(ui, s, state);
            diagram(ui, s, state);
        });
}

/// Shows or hides the diagram; showing it puts the plots away (G brings them back), so the
/// topology keeps room at 1280×800.
pub(crate) fn toggle_spacetime(state: &mut UiState) {
    state.spacetime.show = !state.spacetime.show;
    if state.spacetime.show {
        state.show_plots = false;
    }
}

/// A fifth of the run, between 200 ms and 5 s.
fn default_span(duration: SimTime) -> SimTime {
    SimTime(
        (duration.0 / 5)
            .clamp(200_000, 5_000_000)
            .min(duration.0.max(1)),
    )
}

fn header(ui: &mut egui::Ui, s: &Session, state: &mut UiState) {
    let kinds: Vec<&'static str> = s.spacetime().kinds.clone();
    let all_kinds = s.sim.message_kinds();
    let st = &mut state.spacetime;
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Space-time").strong());
        ui.label(RichText::new(format!("last {}", st.span)).color(style::TEXT_DIM))
            .on_hover_text("The window ends at the cursor; the mouse wheel zooms it");
        ui.checkbox(&mut st.collapse, "collapse idle")
            .on_hover_text("Squeeze stretches where nothing happens");
        for k in kinds {
            let shown = !st.hidden.contains(k);
            let text = RichText::new(k).color(if shown {
                style::kind_color(all_kinds, k)
            } else {
                style::TEXT_DIM
            });
            if ui
                .selectable_label(shown, text)
                .on_hover_text("Show or hide this kind of message")
                .clicked()
                && !st.hidden.remove(k)
            {
                st.hidden.insert(k);
            }
        }
        if st.anchor.is_some() {
            ui.label(RichText::new("causal past (blue)").color(PAST));
            ui.label(RichText::new("causal future (orange)").color(FUTURE));
        } else {
            ui.label(
                RichText::new("click an arrow or a mark to see its causes and effects")
                    .color(style::TEXT_DIM),
            );
        }
    });
}

/// Everything needed to place and colour one frame's shapes.
struct Frame<'a> {
    map: TimeMap,
    lanes: Rect,
    lane_h: f32,
    t0: SimTime,
    t1: SimTime,
    kinds: &'a [&'static str],
    causal: Option<&'a Causality>,
    selected_message: Option<u64>,
    selected_nodes: &'a [NodeId],
    witnesses: &'a BTreeSet<EventId>,
}

impl Frame<'_> {
    fn y(&self, n: NodeId) -> f32 {
        self.lanes.min.y + (n as f32 + 0.5) * self.lane_h
    }
    fn pos(&self, t: SimTime, n: NodeId) -> Pos2 {
        Pos2::new(self.map.x_of(t.min(self.t1)), self.y(n))
    }
    /// The colour of a shape for event `e`, by causality when an anchor is chosen.
    fn tint(&self, e: Option<EventId>, base: Color32) -> Color32 {
        let Some(c) = self.causal else { return base };
        match e {
            Some(e) if e == c.anchor => style::SELECTED,
            Some(e) if c.past.contains(&e) => PAST,
            Some(e) if c.future.contains(&e) => FUTURE,
            _ => style::with_alpha(base, 0.18),
        }
    }
}

fn diagram(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    let size = ui.available_size();
    let (resp, painter) = ui.allocate_painter(size, Sense::click_and_drag());
    painter.rect_filled(resp.rect, CornerRadius::ZERO, style::CANVAS);
    let n = s.info.names.len().max(1);
    let st = &mut state.spacetime;
    let t1 = s.cursor.max(st.span.min(s.duration()));
    let t0 = SimTime(t1.0.saturating_sub(st.span.0));
    let lanes = Rect::from_min_max(
        resp.rect.min + Vec2::new(GUTTER, 6.0),
        resp.rect.max - Vec2::new(14.0, 18.0),
    );
    let index = s.spacetime();
    let visible = index.visible(t0, t1, &st.hidden);
    // A busy run: narrow the window (next frame) until about a screenful of arrows is left.
    if !st.zoomed && visible.arrows.len() > BUSY_ARROWS && st.span.0 > 10_000 {
        st.span = SimTime(st.span.0 / 2);
    }
    let map = if st.collapse {
        let activity = index.activity(&visible, t0, t1);
        TimeMap::collapsed(t0, t1, lanes.min.x, lanes.max.x, &activity, 0.12, 26.0)
    } else {
        TimeMap::linear(t0, t1, lanes.min.x, lanes.max.x)
    };
    let key = st.anchor.map(|a| (a, t0, t1));
    if key.is_some() && st.cache.as_ref().map(|c| c.0) != key {
        let a = st.anchor.unwrap_or_default();
        st.cache = Some(((a, t0, t1), spacetime::causality(s.sim.trace(), a, t0, t1)));
    }
    let witnesses = witness_events(s);
    let f = Frame {
        map,
        lanes,
        lane_h: lanes.height() / n as f32,
        t0,
        t1,
        kinds: s.sim.message_kinds(),
        causal: st.anchor.and(st.cache.as_ref().map(|c| &c.1)),
        selected_message: state.canvas.selected_message,
        selected_nodes: &state.canvas.selected,
        witnesses: &witnesses,
    };
    draw_lanes(&painter, &f, index, &visible, &s.info.names);
    draw_axis(&painter, &f, t0, resp.rect);
    let too_many = visible.arrows.len() > MAX_ARROWS;
    if too_many {
        painter.text(
            lanes.center(),
            Align2::CENTER_CENTER,
            format!(
                "{} messages in this window: zoom in (mouse wheel) or hide kinds",
                visible.arrows.len()
            ),
            FontId::proportional(16.0),
            style::TEXT,
        );
    } else {
        for &i in &visible.arrows {
            draw_arrow(&painter, &f, &index.arrows[i]);
        }
    }
    for &i in &visible.marks {
        draw_mark(&painter, &f, &index.marks[i]);
    }
    let hit = (!too_many)
        .then(|| hovered(&resp, &f, index, &visible))
        .flatten();
    let lanes = (f.lanes, f.lane_h);
    interact(ui, &resp, lanes, s, state, hit, n);
}

/// The client requests of a linearizability witness (events named by the violation). The
/// check runs at the end of the run, so once it has failed its witness is marked at every
/// cursor: scrub back to see the operations that cannot be ordered.
fn witness_events(s: &Session) -> BTreeSet<EventId> {
    s.index
        .violations
        .iter()
        .flat_map(|(_, v)| v.events.iter().copied())
        .collect()
}

fn draw_lanes(p: &egui::Painter, f: &Frame, index: &SpaceTime, v: &Visible, names: &[String]) {
    let show_names = f.lane_h >= 11.0;
    for (i, name) in names.iter().enumerate() {
        let y = f.y(i);
        let selected = f.selected_nodes.contains(&i);
        let c = if selected {
            style::SELECTED
        } else {
            style::LINK
        };
        p.line_segment(
            [Pos2::new(f.lanes.min.x, y), Pos2::new(f.lanes.max.x, y)],
            Stroke::new(if selected { 2.0 } else { 1.0 }, c),
        );
        if show_names || i % (11.0 / f.lane_h).ceil().max(1.0) as usize == 0 {
            p.text(
                Pos2::new(f.lanes.min.x - 8.0, y),
                Align2::RIGHT_CENTER,
                name,
                FontId::proportional(f.lane_h.clamp(9.0, 15.0)),
                if selected {
                    style::SELECTED
                } else {
                    style::TEXT
                },
            );
        }
    }
    for &k in &v.shades {
        let sh = &index.shades[k];
        let x0 = f.map.x_of(sh.from.max(f.t0));
        let x1 = f.map.x_of(sh.to.unwrap_or(f.t1).min(f.t1));
        let y = f.y(sh.node);
        let h = (f.lane_h * 0.7).max(3.0);
        let r = Rect::from_min_max(
            Pos2::new(x0, y - h / 2.0),
            Pos2::new(x1.max(x0 + 1.0), y + h / 2.0),
        );
        let c = match sh.why {
            ShadeKind::Crashed => Color32::from_rgba_unmultiplied(0x8a, 0x8d, 0x95, 70),
            ShadeKind::Paused => Color32::from_rgba_unmultiplied(0xee, 0xdc, 0x5b, 40),
            ShadeKind::Partitioned => Color32::from_rgba_unmultiplied(0xff, 0x4d, 0x4d, 45),
        };
        p.rect_filled(r, CornerRadius::same(2), c);
    }
    for &(a, b) in &f.map.gaps {
        let x = (f.map.x_of(a) + f.map.x_of(b)) / 2.0;
        let top = f.lanes.min.y;
        for k in 0..2 {
            let dx = k as f32 * 5.0 - 2.5;
            p.line_segment(
                [
                    Pos2::new(x + dx + 3.0, top),
                    Pos2::new(x + dx - 3.0, f.lanes.max.y),
                ],
                Stroke::new(1.0, style::TEXT_DIM),
            );
        }
        // Leave the corners to the window's start and end times.
        if x < f.lanes.min.x + 90.0 || x > f.lanes.max.x - 150.0 {
            continue;
        }
        p.text(
            Pos2::new(x, f.lanes.max.y + 2.0),
            Align2::CENTER_TOP,
            format!("{} idle", SimTime(b.0 - a.0)),
            FontId::proportional(11.0),
            style::TEXT_DIM,
        );
    }
}

fn draw_axis(p: &egui::Painter, f: &Frame, t0: SimTime, rect: Rect) {
    p.text(
        Pos2::new(f.lanes.min.x, rect.max.y - 2.0),
        Align2::LEFT_BOTTOM,
        t0.to_string(),
        FontId::proportional(12.0),
        style::TEXT_DIM,
    );
    p.text(
        Pos2::new(f.lanes.max.x, rect.max.y - 2.0),
        Align2::RIGHT_BOTTOM,
        format!("{} (cursor)", f.t1),
        FontId::proportional(12.0),
        style::TEXT_DIM,
    );
    p.line_segment(
        [
            Pos2::new(f.lanes.max.x, f.lanes.min.y),
            Pos2::new(f.lanes.max.x, f.lanes.max.y),
        ],
        Stroke::new(1.5, Color32::from_rgb(0xff, 0xd4, 0x3b)),
    );
}

fn draw_arrow(p: &egui::Painter, f: &Frame, a: &Arrow) {
    let from = f.pos(a.sent, a.from);
    let arrived = a.end <= f.t1 && a.fate != Fate::InFlight;
    let to = if arrived {
        f.pos(a.end, a.to)
    } else {
        // Still on the wire at the cursor: cut where it is now.
        let frac = timeline::progress(a.sent, a.end, f.t1);
        let end = f.pos(a.end.min(f.t1), a.to);
        Pos2::new(end.x, from.y + (f.y(a.to) - from.y) * frac)
    };
    let base = style::kind_color(f.kinds, a.kind);
    let event = if arrived { a.end_event } else { Some(a.send) };
    let mut c = f.tint(event, base);
    if f.causal.is_some_and(|k| k.anchor == a.send) {
        c = style::SELECTED;
    }
    let selected = f.selected_message == Some(a.send);
    let width = if selected { 3.0 } else { 1.4 };
    p.line_segment([from, to], Stroke::new(width, c));
    if selected {
        p.line_segment([from, to], Stroke::new(1.0, style::SELECTED));
    }
    p.circle_filled(from, 2.0, c);
    match (arrived, a.fate) {
        (true, Fate::Delivered) => arrow_head(p, from, to, c),
        (true, Fate::Dropped(_)) => cross(
            p,
            to,
            4.0,
            style::with_alpha(style::CUT, c.a() as f32 / 255.0),
        ),
        _ => {}
    }
    if a.duplicate {
        p.circle_stroke(from, 4.5, Stroke::new(1.0, c));
    }
}

fn arrow_head(p: &egui::Painter, from: Pos2, to: Pos2, c: Color32) {
    let d = (to - from).normalized();
    if !d.x.is_finite() {
        return;
    }
    let n = Vec2::new(-d.y, d.x);
    let back = to - d * 7.0;
    p.add(egui::Shape::convex_polygon(
        vec![to, back + n * 3.0, back - n * 3.0],
        c,
        Stroke::NONE,
    ));
}

fn cross(p: &egui::Painter, at: Pos2, r: f32, c: Color32) {
    p.line_segment(
        [at - Vec2::splat(r), at + Vec2::splat(r)],
        Stroke::new(2.0, c),
    );
    p.line_segment(
        [at + Vec2::new(-r, r), at + Vec2::new(r, -r)],
        Stroke::new(2.0, c),
    );
}

fn draw_mark(p: &egui::Painter, f: &Frame, m: &Mark) {
    let at = f.pos(m.time, m.node);
    // Labels near the right edge (the cursor) grow leftwards, so they are not cut.
    let near_end = at.x > f.lanes.max.x - 80.0;
    let above = if near_end {
        Align2::RIGHT_BOTTOM
    } else {
        Align2::CENTER_BOTTOM
    };
    let small = FontId::proportional(12.0);
    let c = |base| f.tint(Some(m.event), base);
    match &m.kind {
        MarkKind::Timer => {
            p.line_segment(
                [at - Vec2::new(0.0, 4.0), at + Vec2::new(0.0, 4.0)],
                Stroke::new(1.5, c(style::TEXT_DIM)),
            );
        }
        MarkKind::Crash => cross(p, at, 6.0, c(style::CUT)),
        MarkKind::Restart | MarkKind::Resume => {
            p.circle_stroke(
                at,
                5.0,
                Stroke::new(2.0, c(style::tone(crate::sim::Tone::Good))),
            );
        }
        MarkKind::Pause => {
            p.circle_stroke(
                at,
                5.0,
                Stroke::new(2.0, c(style::tone(crate::sim::Tone::Warning))),
            );
        }
        MarkKind::Role(role) => {
            p.circle_filled(at, 4.0, c(style::tone(crate::sim::Tone::Leader)));
            p.text(at - Vec2::new(0.0, 5.0), above, role, small, c(style::TEXT));
        }
        MarkKind::Note(_) => {
            p.circle_filled(at, 2.5, c(style::TEXT));
        }
        MarkKind::Request { client, seq } => {
            let col = c(style::tone(crate::sim::Tone::Warning));
            let d = 4.5;
            p.add(egui::Shape::convex_polygon(
                vec![
                    at - Vec2::new(0.0, d),
                    at + Vec2::new(d, 0.0),
                    at + Vec2::new(0.0, d),
                    at - Vec2::new(d, 0.0),
                ],
                col,
                Stroke::NONE,
            ));
            if f.witnesses.contains(&m.event) {
                p.circle_stroke(at, 8.0, Stroke::new(2.5, style::VIOLATION));
                p.text(
                    at + Vec2::new(0.0, 9.0),
                    Align2::CENTER_TOP,
                    format!("c{client}#{seq}"),
                    small,
                    style::VIOLATION,
                );
            }
        }
        MarkKind::Reply { .. } => {
            let col = c(style::tone(crate::sim::Tone::Warning));
            let d = 4.5;
            p.add(egui::Shape::closed_line(
                vec![
                    at - Vec2::new(0.0, d),
                    at + Vec2::new(d, 0.0),
                    at + Vec2::new(0.0, d),
                    at - Vec2::new(d, 0.0),
                ],
                Stroke::new(1.5, col),
            ));
        }
        MarkKind::Violation(name) => {
            p.circle_filled(at, 6.0, style::VIOLATION);
            p.text(
                at - Vec2::new(0.0, 7.0),
                above,
                format!("{name} violated"),
                small,
                style::VIOLATION,
            );
        }
    }
}

/// What the pointer is over: an arrow (by index) or a mark.
#[derive(Clone, Copy)]
enum Hit {
    Arrow(usize),
    Mark(usize),
}

fn hovered(resp: &Response, f: &Frame, index: &SpaceTime, v: &Visible) -> Option<Hit> {
    let p = resp.hover_pos()?;
    let mark = v
        .marks
        .iter()
        .map(|&i| {
            (
                f.pos(index.marks[i].time, index.marks[i].node).distance(p),
                i,
            )
        })
        .filter(|(d, _)| *d <= 7.0)
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, i)) = mark {
        return Some(Hit::Mark(i));
    }
    v.arrows
        .iter()
        .map(|&i| {
            let a = &index.arrows[i];
            let (x, y) = (f.pos(a.sent, a.from), f.pos(a.end, a.to));
            (segment_distance(p, x, y), i)
        })
        .filter(|(d, _)| *d <= 5.0)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, i)| Hit::Arrow(i))
}

fn segment_distance(p: Pos2, a: Pos2, b: Pos2) -> f32 {
    let ab = b - a;
    let t = ((p - a).dot(ab) / ab.length_sq().max(f32::EPSILON)).clamp(0.0, 1.0);
    p.distance(a + ab * t)
}

/// Hover text, click to select (shared with the topology), drag to scrub, wheel to zoom.
fn interact(
    ui: &egui::Ui,
    resp: &Response,
    (lanes, lane_h): (Rect, f32),
    s: &mut Session,
    state: &mut UiState,
    hit: Option<Hit>,
    n: usize,
) {
    let names = &s.info.names;
    if let Some(h) = hit {
        let index = s.spacetime();
        let text = match h {
            Hit::Arrow(i) => describe_arrow(&index.arrows[i], names),
            Hit::Mark(i) => describe_mark(&index.marks[i], names),
        };
        resp.clone().on_hover_text_at_pointer(text);
    }
    if resp.clicked() {
        let index = s.spacetime();
        match hit {
            Some(Hit::Arrow(i)) => {
                let send = index.arrows[i].send;
                state.canvas.selected_message = Some(send);
                state.spacetime.anchor = Some(send);
            }
            Some(Hit::Mark(i)) => {
                state.spacetime.anchor = Some(index.marks[i].event);
                state.canvas.selected = vec![index.marks[i].node];
            }
            None => {
                state.spacetime.anchor = None;
                state.canvas.selected_message = None;
                if let Some(p) = resp.interact_pointer_pos()
                    && p.x < lanes.min.x
                {
                    let lane = ((p.y - lanes.min.y) / lane_h).floor();
                    if lane >= 0.0 && (lane as usize) < n {
                        state.canvas.selected = vec![lane as usize];
                    }
                }
            }
        }
    }
    if resp.dragged() {
        let dx = resp.drag_delta().x;
        let per_px = state.spacetime.span.0 as f64 / lanes.width().max(1.0) as f64;
        let dt = (dx.abs() as f64 * per_px) as u64;
        let t = if dx > 0.0 {
            SimTime(s.cursor.0.saturating_sub(dt))
        } else {
            SimTime(s.cursor.0 + dt)
        };
        state.playing = false;
        s.seek(t);
        state.mark_seen(s);
    }
    if resp.hovered() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll != 0.0 {
            let factor = if scroll > 0.0 { 0.85 } else { 1.0 / 0.85 };
            let span = (state.spacetime.span.0 as f64 * factor) as u64;
            state.spacetime.span = SimTime(span.clamp(1_000, s.duration().0.max(1_000)));
            state.spacetime.zoomed = true;
        }
    }
}

fn describe_arrow(a: &Arrow, names: &[String]) -> String {
    let end = match a.fate {
        Fate::InFlight => format!("due at {}", a.end),
        Fate::Delivered => format!("delivered at {}", a.end),
        Fate::Dropped(r) => format!("lost at {} ({})", a.end, r.as_str()),
    };
    format!(
        "{} {} → {}{}\nsent at {}, {end}",
        a.kind,
        names[a.from],
        names[a.to],
        if a.duplicate { " (duplicate)" } else { "" },
        a.sent
    )
}

fn describe_mark(m: &Mark, names: &[String]) -> String {
    let what = match &m.kind {
        MarkKind::Timer => "timer fired".to_string(),
        MarkKind::Crash => "crashed".to_string(),
        MarkKind::Restart => "restarted".to_string(),
        MarkKind::Pause => "paused".to_string(),
        MarkKind::Resume => "resumed".to_string(),
        MarkKind::Role(r) => format!("became {r}"),
        MarkKind::Note(t) => t.clone(),
        MarkKind::Request { client, seq } => format!("request {seq} of client {client} arrived"),
        MarkKind::Reply {
            client,
            seq,
            answer,
        } => format!("answered request {seq} of client {client}: {answer}"),
        MarkKind::Violation(v) => format!("{v} violated"),
    };
    format!("{} at {}: {what}", names[m.node], m.time)
}
