//! The topology view: nodes, links, partitions, messages in flight, losses, captions, the
//! violation banner and the legend, painted with egui from the picture at the cursor.

use crate::gui::style;
use crate::sim::{NodeId, NodeView, SimTime, Tone};
use crate::visual::picture::{BurstPic, Liveness, MessagePic};
use crate::visual::timeline::progress;
use bevy_egui::egui::{
    self, Align2, Color32, CornerRadius, FontId, Pos2, Rect, Sense, Shape, Stroke, Vec2,
};

/// Everything the canvas needs for one frame.
pub struct Scene<'a> {
    pub names: &'a [String],
    pub world: &'a [[f32; 2]],
    pub views: &'a [Option<NodeView>],
    pub liveness: &'a [Liveness],
    /// Per node: seconds of wall time since it restarted (for the flash), if recent.
    pub restarted: &'a [Option<f32>],
    pub messages: &'a [MessagePic],
    pub bursts: &'a [BurstPic],
    pub kinds: &'a [&'static str],
    /// The kinds sent so far: the legend lists only these (colours still follow `kinds`).
    pub used_kinds: &'a [&'static str],
    pub groups: &'a [Vec<NodeId>],
    pub blocked: &'a [(NodeId, NodeId)],
    pub held: &'a [(NodeId, NodeId)],
    pub now: SimTime,
    pub caption: Option<&'a str>,
    pub violation: Option<(&'a str, &'a str, &'a [NodeId])>,
    /// Seconds of wall time, for pulsing highlights.
    pub pulse: f32,
    pub big_text: bool,
}

/// View state kept between frames.
#[derive(Default)]
pub struct CanvasState {
    pub zoom: f32,
    pub pan: Vec2,
    pub selected: Vec<NodeId>,
    pub selected_link: Option<(NodeId, NodeId)>,
    pub selected_message: Option<u64>,
    /// The node a context menu is open for.
    pub menu_node: Option<NodeId>,
    pub lasso: Option<(Pos2, Pos2)>,
}

/// What the user did on the canvas this frame.
#[derive(Clone, Debug, PartialEq)]
pub enum CanvasInput {
    None,
    /// Context menu chose an action for a node.
    NodeAction(NodeId, NodeCommand),
    PartitionSelection,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeCommand {
    Crash,
    Restart,
    Pause,
    Resume,
    FireTimer,
    ClientRequest,
}

struct Geometry {
    rect: Rect,
    scale: f32,
    center: Pos2,
    radius: f32,
}

impl Geometry {
    fn to_screen(&self, p: [f32; 2]) -> Pos2 {
        self.center + Vec2::new(p[0], p[1]) * self.scale
    }
}

/// `reserve_right`: width kept free on the right for the log table.
fn geometry(
    rect: Rect,
    n: usize,
    world: &[[f32; 2]],
    st: &CanvasState,
    reserve_right: f32,
) -> Geometry {
    let zoom = if st.zoom == 0.0 { 1.0 } else { st.zoom };
    let top_space = 60.0;
    let bottom_space = 130.0; // the caption
    let usable = Rect::from_min_max(
        rect.min + Vec2::new(0.0, top_space),
        rect.max - Vec2::new(reserve_right, bottom_space),
    );
    let scale = usable.width().min(usable.height()).max(100.0) * 0.40 * zoom;
    let center = usable.center() + st.pan;
    // Node radius: about a third of the distance to the nearest neighbour, capped.
    let mut nearest = f32::MAX;
    if n <= 400 {
        for i in 0..n {
            for j in (i + 1)..n {
                let d = ((world[i][0] - world[j][0]).powi(2) + (world[i][1] - world[j][1]).powi(2))
                    .sqrt();
                nearest = nearest.min(d);
            }
        }
    } else {
        nearest = 2.0 / (n as f32).sqrt();
    }
    if nearest == f32::MAX {
        nearest = 1.0;
    }
    let radius = (nearest * scale * 0.32).clamp(3.0, 46.0 * zoom.sqrt());
    Geometry {
        rect,
        scale,
        center,
        radius,
    }
}

fn node_at(g: &Geometry, world: &[[f32; 2]], p: Pos2) -> Option<NodeId> {
    let mut best = None;
    let mut best_d = g.radius.max(8.0) + 4.0;
    for (i, w) in world.iter().enumerate() {
        let d = g.to_screen(*w).distance(p);
        if d < best_d {
            best_d = d;
            best = Some(i);
        }
    }
    best
}

fn segment_distance(p: Pos2, a: Pos2, b: Pos2) -> f32 {
    let ab = b - a;
    let t = ((p - a).dot(ab) / ab.length_sq().max(1e-6)).clamp(0.0, 1.0);
    p.distance(a + ab * t)
}

fn font(size: f32, big: bool) -> FontId {
    FontId::proportional(if big { size * 1.15 } else { size })
}

/// Draws the scene and handles pointer input; returns what the user asked for.
pub fn show(ui: &mut egui::Ui, scene: &Scene, st: &mut CanvasState) -> CanvasInput {
    let (response, painter) = ui.allocate_painter(ui.available_size(), Sense::click_and_drag());
    let rect = response.rect;
    painter.rect_filled(rect, CornerRadius::ZERO, style::CANVAS);
    let n = scene.names.len();
    let g = geometry(rect, n, scene.world, st, right_column_width(rect, scene));
    let pos: Vec<Pos2> = scene.world.iter().map(|w| g.to_screen(*w)).collect();
    let pointer = response.hover_pos();
    let hovered_node = pointer.and_then(|p| node_at(&g, scene.world, p));
    let mut input = CanvasInput::None;
    let big = scene.big_text;

    // Partition groups: translucent blobs behind their members.
    if scene.groups.len() > 1 {
        for (gi, group) in scene.groups.iter().enumerate() {
            let c = style::group_color(gi);
            for &m in group {
                painter.circle_filled(pos[m], g.radius * 2.1, c);
            }
            for w in group.windows(2) {
                painter.line_segment([pos[w[0]], pos[w[1]]], Stroke::new(g.radius * 2.0, c));
            }
        }
    }

    // Links (full mesh for small clusters); cut links dashed red, holds dotted amber.
    let blocked = |a: NodeId, b: NodeId| -> bool {
        scene.blocked.contains(&(a, b))
            || scene.groups.len() > 1
                && scene
                    .groups
                    .iter()
                    .any(|grp| grp.contains(&a) != grp.contains(&b))
    };
    let mut hovered_link = None;
    if n <= 16 {
        for a in 0..n {
            for b in (a + 1)..n {
                let (ab, ba) = (blocked(a, b), blocked(b, a));
                let held = scene.held.contains(&(a, b));
                if ab || ba {
                    let shapes = Shape::dashed_line(
                        &[pos[a], pos[b]],
                        Stroke::new(2.0, style::with_alpha(style::CUT, 0.8)),
                        8.0,
                        6.0,
                    );
                    painter.extend(shapes);
                    if ab != ba {
                        // One-way cut: an arrowhead on the blocked direction's receiving end.
                        let (from, to) = if ab { (a, b) } else { (b, a) };
                        let dir = (pos[to] - pos[from]).normalized();
                        let tip = pos[to] - dir * (g.radius + 6.0);
                        let side = Vec2::new(-dir.y, dir.x) * 7.0;
                        painter.add(Shape::convex_polygon(
                            vec![tip, tip - dir * 14.0 + side, tip - dir * 14.0 - side],
                            style::CUT,
                            Stroke::NONE,
                        ));
                    }
                } else if held {
                    painter.extend(Shape::dotted_line(
                        &[pos[a], pos[b]],
                        Color32::from_rgb(0xfa, 0xb0, 0x05),
                        7.0,
                        2.0,
                    ));
                } else {
                    let selected = st.selected_link == Some((a, b));
                    let color = if selected {
                        style::SELECTED
                    } else {
                        style::LINK
                    };
                    painter.line_segment(
                        [pos[a], pos[b]],
                        Stroke::new(if selected { 3.0 } else { 1.5 }, color),
                    );
                }
                if hovered_node.is_none()
                    && let Some(p) = pointer
                    && segment_distance(p, pos[a], pos[b]) < 6.0
                {
                    hovered_link = Some((a, b));
                }
            }
        }
        if let Some((a, b)) = hovered_link {
            painter.line_segment(
                [pos[a], pos[b]],
                Stroke::new(4.0, style::with_alpha(style::SELECTED, 0.35)),
            );
        }
    }

    // Nodes.
    let violation_nodes: &[NodeId] = scene.violation.map_or(&[], |v| v.2);
    for (i, &p) in pos.iter().enumerate() {
        let view = scene.views.get(i).and_then(|v| v.as_ref());
        let live = scene.liveness[i];
        let tone = view.map_or(Tone::Neutral, |v| v.tone);
        let fill = match live {
            Liveness::Crashed => style::CRASHED,
            Liveness::Paused => style::with_alpha(style::tone(tone), 0.45),
            Liveness::Up => style::tone(tone),
        };
        let r = g.radius;
        if let Some(age) = scene.restarted[i] {
            let k = (age / 1.2).clamp(0.0, 1.0);
            painter.circle_stroke(
                p,
                r + 4.0 + 18.0 * k,
                Stroke::new(
                    4.0,
                    style::with_alpha(Color32::from_rgb(0x8c, 0xe9, 0x9a), 1.0 - k),
                ),
            );
        }
        if violation_nodes.contains(&i) {
            let pulse = 0.5 + 0.5 * (scene.pulse * 6.0).sin();
            painter.circle_filled(
                p,
                r + 10.0 + 4.0 * pulse,
                style::with_alpha(style::VIOLATION, 0.35 + 0.3 * pulse),
            );
        }
        painter.circle_filled(p, r, fill);
        let selected = st.selected.contains(&i);
        let border = if selected {
            Stroke::new(3.5, style::SELECTED)
        } else {
            Stroke::new(1.5, Color32::from_gray(20))
        };
        painter.circle_stroke(p, r, border);
        if hovered_node == Some(i) {
            painter.circle_stroke(
                p,
                r + 3.0,
                Stroke::new(1.5, style::with_alpha(style::SELECTED, 0.6)),
            );
        }
        // Timer arc (e.g. Raft's election timeout): the part still to run.
        if live == Liveness::Up
            && let Some(tv) = view.and_then(|v| v.timer.as_ref())
            && tv.fires_at > tv.started_at
            && r >= 8.0
        {
            let left = 1.0 - progress(tv.started_at, tv.fires_at, scene.now);
            if left > 0.0 {
                let steps = 48;
                let pts: Vec<Pos2> = (0..=steps)
                    .map(|k| {
                        let a = -std::f32::consts::FRAC_PI_2
                            + std::f32::consts::TAU * left * k as f32 / steps as f32;
                        p + Vec2::new(a.cos(), a.sin()) * (r + 5.0)
                    })
                    .collect();
                painter.add(Shape::line(
                    pts,
                    Stroke::new(3.0, style::with_alpha(style::TEXT, 0.85)),
                ));
            }
        }
        if r >= 8.0 {
            let name_color = if live == Liveness::Crashed {
                style::TEXT_DIM
            } else {
                Color32::BLACK
            };
            painter.text(
                p,
                Align2::CENTER_CENTER,
                &scene.names[i],
                FontId::proportional((r * 0.55).clamp(10.0, 26.0)),
                name_color,
            );
            let role = match (live, view) {
                (Liveness::Crashed, _) => "crashed".to_string(),
                (Liveness::Paused, Some(v)) => format!("paused ({})", v.role),
                (_, Some(v)) => v.role.clone(),
                (_, None) => String::new(),
            };
            let term = view
                .and_then(|v| v.term)
                .map(|t| format!("  T{t}"))
                .unwrap_or_default();
            // Below each node: its role and term (large clusters show them on hover only).
            if r >= 18.0 || n <= 16 {
                painter.text(
                    p + Vec2::new(0.0, r + 6.0),
                    Align2::CENTER_TOP,
                    format!("{role}{term}"),
                    font(15.0, big),
                    style::TEXT,
                );
            }
        }
        match live {
            Liveness::Crashed => {
                let d = r * 0.62;
                let s = Stroke::new(4.0, style::CUT);
                painter.line_segment([p + Vec2::new(-d, -d), p + Vec2::new(d, d)], s);
                painter.line_segment([p + Vec2::new(-d, d), p + Vec2::new(d, -d)], s);
            }
            Liveness::Paused => {
                let c = p + Vec2::new(r * 0.75, -r * 0.75);
                painter.circle_filled(c, 11.0, Color32::from_rgb(0xfa, 0xb0, 0x05));
                painter.rect_filled(
                    Rect::from_center_size(c - Vec2::new(3.0, 0.0), Vec2::new(3.0, 11.0)),
                    CornerRadius::ZERO,
                    Color32::BLACK,
                );
                painter.rect_filled(
                    Rect::from_center_size(c + Vec2::new(3.0, 0.0), Vec2::new(3.0, 11.0)),
                    CornerRadius::ZERO,
                    Color32::BLACK,
                );
            }
            Liveness::Up => {}
        }
    }

    // Messages in flight.
    let msg_r = (g.radius * 0.28).clamp(3.0, 9.0);
    let mut hovered_msg: Option<&MessagePic> = None;
    for m in scene.messages {
        let p = along(pos[m.from], pos[m.to], g.radius, m.progress);
        let c = style::kind_color(scene.kinds, m.kind);
        painter.circle_filled(p, msg_r, c);
        painter.circle_stroke(p, msg_r, Stroke::new(1.0, Color32::BLACK));
        if m.duplicate {
            painter.circle_stroke(p, msg_r + 3.0, Stroke::new(1.5, c));
        }
        if st.selected_message == Some(m.send) {
            painter.circle_stroke(p, msg_r + 5.0, Stroke::new(2.0, style::SELECTED));
        }
        if let Some(pp) = pointer
            && pp.distance(p) <= msg_r + 3.0
        {
            hovered_msg = Some(m);
        }
    }
    // Losses: a burst that grows and fades where the message was lost.
    for b in scene.bursts {
        let p = along(pos[b.from], pos[b.to], g.radius, b.progress);
        let a = 1.0 - b.age;
        let c = style::with_alpha(style::kind_color(scene.kinds, b.kind), a);
        let r = msg_r * (1.0 + 2.5 * b.age);
        for k in 0..8 {
            let ang = k as f32 * std::f32::consts::TAU / 8.0;
            let d = Vec2::new(ang.cos(), ang.sin());
            painter.line_segment([p + d * r * 0.5, p + d * r * 1.3], Stroke::new(2.0, c));
        }
        painter.circle_stroke(
            p,
            r * 0.4,
            Stroke::new(1.5, style::with_alpha(style::CUT, a)),
        );
    }

    // Leave room for the violation banner at the top.
    let top = if scene.violation.is_some() {
        rect.min.y + 64.0
    } else {
        rect.min.y
    };
    let below_banner = Rect::from_min_max(Pos2::new(rect.min.x, top), rect.max);
    draw_log_table(&painter, below_banner, scene, big);
    let legend_x = below_banner.max.x - right_column_width(rect, scene) + 4.0;
    let legend_y = below_banner.min.y + log_table_height(rect, scene) + 8.0;
    draw_legend(&painter, Pos2::new(legend_x, legend_y), scene, big);

    if let Some(text) = scene.caption {
        let galley = painter.layout(
            text.to_string(),
            font(20.0, big),
            style::TEXT,
            rect.width() * 0.8,
        );
        let size = galley.size() + Vec2::new(28.0, 16.0);
        let r = Rect::from_center_size(
            Pos2::new(rect.center().x, rect.max.y - size.y / 2.0 - 10.0),
            size,
        );
        painter.rect_filled(r, CornerRadius::same(8), style::CAPTION_BG);
        painter.galley(r.min + Vec2::new(14.0, 8.0), galley, style::TEXT);
    }
    if let Some((name, explanation, _)) = scene.violation {
        let text = format!("⚠ {name} violated — {explanation}");
        let galley = painter.layout(text, font(18.0, big), Color32::WHITE, rect.width() * 0.9);
        let size = galley.size() + Vec2::new(24.0, 14.0);
        let r = Rect::from_min_size(
            Pos2::new(rect.center().x - size.x / 2.0, rect.min.y + 8.0),
            size,
        );
        painter.rect_filled(r, CornerRadius::same(6), style::VIOLATION);
        painter.galley(r.min + Vec2::new(12.0, 7.0), galley, Color32::WHITE);
    }

    // Hover details.
    if let Some(m) = hovered_msg {
        let text = format!(
            "{}  {} → {}\n{}",
            m.kind, scene.names[m.from], scene.names[m.to], m.label
        );
        tooltip(&painter, pointer.unwrap_or_default(), &text, big);
    } else if let Some(i) = hovered_node {
        let mut text = scene.names[i].clone();
        if let Some(v) = scene.views.get(i).and_then(|v| v.as_ref()) {
            text.push_str(&format!(" — {}", v.role));
            for (k, val) in v.fields.iter().take(6) {
                text.push_str(&format!("\n{k}: {val}"));
            }
        }
        text.push_str("\nright-click for faults, shift-click to select");
        tooltip(&painter, pointer.unwrap_or_default(), &text, big);
    } else if let Some((a, b)) = hovered_link {
        tooltip(
            &painter,
            pointer.unwrap_or_default(),
            &format!(
                "link {} — {}\nclick to inspect",
                scene.names[a], scene.names[b]
            ),
            big,
        );
    }

    // Pointer input: select, lasso, pan, zoom, context menu.
    let shift = ui.input(|i| i.modifiers.shift);
    if response.clicked() {
        if let Some(i) = hovered_node {
            if shift {
                if let Some(k) = st.selected.iter().position(|&s| s == i) {
                    st.selected.remove(k);
                } else {
                    st.selected.push(i);
                }
            } else {
                st.selected = vec![i];
            }
            st.selected_link = None;
            st.selected_message = None;
        } else if let Some(m) = hovered_msg {
            st.selected_message = Some(m.send);
        } else if let Some(l) = hovered_link {
            st.selected_link = Some(l);
            st.selected.clear();
        } else if !shift {
            st.selected.clear();
            st.selected_link = None;
            st.selected_message = None;
        }
    }
    if response.drag_started()
        && shift
        && let Some(p) = response.interact_pointer_pos()
    {
        st.lasso = Some((p, p));
    }
    if response.dragged() {
        if let Some((a, _)) = st.lasso {
            if let Some(p) = response.interact_pointer_pos() {
                st.lasso = Some((a, p));
            }
        } else {
            st.pan += response.drag_delta();
        }
    }
    if let Some((a, b)) = st.lasso {
        let r = Rect::from_two_pos(a, b);
        painter.rect_stroke(
            r,
            CornerRadius::ZERO,
            Stroke::new(1.5, style::SELECTED),
            egui::StrokeKind::Middle,
        );
        if response.drag_stopped() {
            st.selected = (0..n).filter(|&i| r.contains(pos[i])).collect();
            st.lasso = None;
        }
    }
    if response.hovered() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll != 0.0 {
            let z = if st.zoom == 0.0 { 1.0 } else { st.zoom };
            st.zoom = (z * (1.0 + scroll * 0.002)).clamp(0.3, 8.0);
        }
    }
    if response.secondary_clicked() {
        st.menu_node = hovered_node;
        if let Some(i) = hovered_node
            && !st.selected.contains(&i)
        {
            st.selected = vec![i];
        }
    }
    response.context_menu(|ui| {
        if let Some(i) = st.menu_node {
            ui.label(egui::RichText::new(&scene.names[i]).strong());
            let live = scene.liveness[i];
            let mut item = |ui: &mut egui::Ui, label: &str, enabled: bool, cmd: NodeCommand| {
                if ui.add_enabled(enabled, egui::Button::new(label)).clicked() {
                    input = CanvasInput::NodeAction(i, cmd);
                    ui.close();
                }
            };
            item(ui, "Crash", live != Liveness::Crashed, NodeCommand::Crash);
            item(
                ui,
                "Restart",
                live == Liveness::Crashed,
                NodeCommand::Restart,
            );
            item(ui, "Pause", live == Liveness::Up, NodeCommand::Pause);
            item(ui, "Resume", live == Liveness::Paused, NodeCommand::Resume);
            item(
                ui,
                "Fire its timer now",
                live == Liveness::Up,
                NodeCommand::FireTimer,
            );
            item(
                ui,
                "Send a client request here",
                live != Liveness::Crashed,
                NodeCommand::ClientRequest,
            );
        }
        if !st.selected.is_empty() && st.selected.len() < n {
            ui.separator();
            if ui
                .button(format!(
                    "Partition the {} selected from the rest",
                    st.selected.len()
                ))
                .clicked()
            {
                input = CanvasInput::PartitionSelection;
                ui.close();
            }
        }
    });
    let _ = g.rect;
    input
}

/// A point `progress` of the way along a link, between the two nodes' rims (so a message never
/// hides under a node).
fn along(from: Pos2, to: Pos2, radius: f32, progress: f32) -> Pos2 {
    let d = to - from;
    let len = d.length();
    if len <= 2.0 * radius + 1.0 {
        return from + d * progress;
    }
    let dir = d / len;
    let a = from + dir * radius;
    let b = to - dir * radius;
    a + (b - a) * progress
}

fn tooltip(painter: &egui::Painter, at: Pos2, text: &str, big: bool) {
    let galley = painter.layout(text.to_string(), font(14.0, big), style::TEXT, 420.0);
    let size = galley.size() + Vec2::new(16.0, 10.0);
    let clip = painter.clip_rect();
    let mut min = at + Vec2::new(16.0, 12.0);
    if min.x + size.x > clip.max.x {
        min.x = at.x - size.x - 8.0;
    }
    if min.y + size.y > clip.max.y {
        min.y = at.y - size.y - 8.0;
    }
    let r = Rect::from_min_size(min, size);
    painter.rect_filled(
        r,
        CornerRadius::same(5),
        Color32::from_rgb(0x2a, 0x2e, 0x38),
    );
    painter.rect_stroke(
        r,
        CornerRadius::same(5),
        Stroke::new(1.0, style::TEXT_DIM),
        egui::StrokeKind::Inside,
    );
    painter.galley(r.min + Vec2::new(8.0, 5.0), galley, style::TEXT);
}

/// The right-hand column holds the log table (if any) and the legend; the topology keeps clear.
fn right_column_width(rect: Rect, scene: &Scene) -> f32 {
    let legend = if scene.big_text { 250.0 } else { 200.0 };
    log_table_width(rect, scene).max(legend)
}

/// Height of the log table, with its header (0 when there is none).
fn log_table_height(rect: Rect, scene: &Scene) -> f32 {
    if log_table_width(rect, scene) == 0.0 {
        return 0.0;
    }
    let bw = if scene.big_text { 26.0 } else { 22.0 };
    scene.names.len() as f32 * (bw + 4.0) + 40.0
}

/// Width of the log table (0 when there is none).
fn log_table_width(rect: Rect, scene: &Scene) -> f32 {
    let n = scene.names.len();
    let max_entries = scene
        .views
        .iter()
        .flatten()
        .map(|v| v.entries.len())
        .max()
        .unwrap_or(0);
    if max_entries == 0 || n > 12 {
        return 0.0;
    }
    let bw = if scene.big_text { 26.0 } else { 22.0 };
    let shown = max_entries.min(((rect.width() * 0.3 - 60.0) / (bw + 2.0)).max(4.0) as usize);
    (56.0 + shown as f32 * (bw + 2.0)).max(if scene.big_text { 300.0 } else { 230.0 }) + 20.0
}

/// The logs (RaftScope style): one row per node, boxes coloured by term, committed ones solid.
fn draw_log_table(painter: &egui::Painter, rect: Rect, scene: &Scene, big: bool) {
    let n = scene.names.len();
    let any = scene.views.iter().flatten().any(|v| !v.entries.is_empty());
    if !any || n > 12 {
        return;
    }
    let bw = if big { 26.0 } else { 22.0 };
    let row_h = bw + 4.0;
    let max_entries = scene
        .views
        .iter()
        .flatten()
        .map(|v| v.entries.len())
        .max()
        .unwrap_or(0);
    let width = log_table_width(rect, scene) - 20.0;
    let shown = (((width - 56.0) / (bw + 2.0)) as usize).min(max_entries);
    let x0 = rect.max.x - width - 12.0;
    let y0 = rect.min.y + 34.0;
    let panel = Rect::from_min_size(
        Pos2::new(x0 - 8.0, y0 - 22.0),
        Vec2::new(width + 16.0, n as f32 * row_h + 30.0),
    );
    painter.rect_filled(
        panel,
        CornerRadius::same(6),
        style::with_alpha(style::BACKGROUND, 0.85),
    );
    painter.text(
        Pos2::new(x0, y0 - 18.0),
        Align2::LEFT_TOP,
        "log (colour: term; filled: committed)",
        font(12.0, big),
        style::TEXT_DIM,
    );
    for (i, v) in scene.views.iter().enumerate() {
        let y = y0 + i as f32 * row_h;
        painter.text(
            Pos2::new(x0, y + bw / 2.0),
            Align2::LEFT_CENTER,
            &scene.names[i],
            font(14.0, big),
            style::TEXT,
        );
        let Some(v) = v else { continue };
        let skip = v.entries.len().saturating_sub(shown);
        for (k, e) in v.entries.iter().skip(skip).enumerate() {
            let r = Rect::from_min_size(
                Pos2::new(x0 + 52.0 + k as f32 * (bw + 2.0), y),
                Vec2::splat(bw),
            );
            let c = style::term_color(e.term);
            if e.committed {
                painter.rect_filled(r, CornerRadius::same(3), c);
            } else {
                painter.rect_stroke(
                    r,
                    CornerRadius::same(3),
                    Stroke::new(2.0, c),
                    egui::StrokeKind::Inside,
                );
            }
            let tc = if e.committed { Color32::BLACK } else { c };
            painter.text(
                r.center(),
                Align2::CENTER_CENTER,
                e.term.to_string(),
                font(11.0, big),
                tc,
            );
        }
    }
}

fn draw_legend(painter: &egui::Painter, at: Pos2, scene: &Scene, big: bool) {
    let mut y = at.y + 14.0;
    let x = at.x + 14.0;
    painter.text(
        Pos2::new(x, y),
        Align2::LEFT_TOP,
        "messages",
        font(12.0, big),
        style::TEXT_DIM,
    );
    y += 18.0;
    for k in scene.kinds.iter().filter(|k| scene.used_kinds.contains(k)) {
        painter.circle_filled(
            Pos2::new(x + 6.0, y + 8.0),
            6.0,
            style::kind_color(scene.kinds, k),
        );
        painter.text(
            Pos2::new(x + 18.0, y),
            Align2::LEFT_TOP,
            *k,
            font(14.0, big),
            style::TEXT,
        );
        y += if big { 24.0 } else { 20.0 };
    }
    // Roles present now.
    let mut roles: Vec<(String, Tone)> = Vec::new();
    for v in scene.views.iter().flatten() {
        if !roles.iter().any(|(r, _)| *r == v.role) {
            roles.push((v.role.clone(), v.tone));
        }
    }
    if scene.liveness.contains(&Liveness::Crashed) {
        roles.push(("crashed".into(), Tone::Neutral));
    }
    y += 8.0;
    painter.text(
        Pos2::new(x, y),
        Align2::LEFT_TOP,
        "nodes",
        font(12.0, big),
        style::TEXT_DIM,
    );
    y += 18.0;
    for (role, tone) in roles {
        let c = if role == "crashed" {
            style::CRASHED
        } else {
            style::tone(tone)
        };
        painter.circle_filled(Pos2::new(x + 6.0, y + 8.0), 7.0, c);
        painter.text(
            Pos2::new(x + 18.0, y),
            Align2::LEFT_TOP,
            role,
            font(14.0, big),
            style::TEXT,
        );
        y += if big { 24.0 } else { 20.0 };
    }
}
