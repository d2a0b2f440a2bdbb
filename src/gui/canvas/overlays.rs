//! What is drawn over the topology: the log table and legend column, the caption, the
//! violation banner and the hover details.

#[allow(unused_imports)]
use super::*;

/// The log table, the legend, the caption and the violation banner.
pub(super) fn draw(painter: &egui::Painter, rect: Rect, scene: &Scene) {
    let big = scene.big_text;
    // Leave room for the violation banner at the top.
    let top = if scene.violation.is_some() {
        rect.min.y + 64.0
    } else {
        rect.min.y
    };
    let below_banner = Rect::from_min_max(Pos2::new(rect.min.x, top), rect.max);
    draw_log_table(painter, below_banner, scene, big);
    let legend_x = below_banner.max.x - right_column_width(rect, scene) + 4.0;
    let legend_y = below_banner.min.y + log_table_height(rect, scene) + 8.0;
    draw_legend(painter, Pos2::new(legend_x, legend_y), scene, big);

    if let Some((r, galley)) = caption_box(painter, rect, scene) {
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
}

/// Where the caption goes: at the bottom, left of the log table and legend column (which it
/// would cover when the plots or the space-time diagram make the canvas short), or across
/// the whole canvas when that column leaves less than half of it.
fn caption_box(
    painter: &egui::Painter,
    rect: Rect,
    scene: &Scene,
) -> Option<(Rect, std::sync::Arc<egui::Galley>)> {
    let text = scene.caption?;
    let left = rect.width() - right_column_width(rect, scene);
    let width = if left > rect.width() * 0.5 {
        left
    } else {
        rect.width()
    };
    let galley = painter.layout(
        text.to_string(),
        font(20.0, scene.big_text),
        style::TEXT,
        width * 0.9 - 28.0,
    );
    let size = galley.size() + Vec2::new(28.0, 16.0);
    let center = Pos2::new(rect.min.x + width / 2.0, rect.max.y - size.y / 2.0 - 10.0);
    Some((Rect::from_center_size(center, size), galley))
}

/// The height the caption takes at the bottom of the canvas (the nodes stay above it).
pub(super) fn caption_space(painter: &egui::Painter, rect: Rect, scene: &Scene) -> f32 {
    caption_box(painter, rect, scene).map_or(0.0, |(r, _)| rect.max.y - r.min.y)
}

/// Details of what the pointer is over.
pub(super) fn hover(
    painter: &egui::Painter,
    scene: &Scene,
    f: &Frame,
    hovered_msg: Option<&MessagePic>,
    hovered_link: Option<(NodeId, NodeId)>,
) {
    let (pointer, hovered_node, big) = (f.pointer, f.hovered_node, scene.big_text);
    // Hover details.
    if let Some(m) = hovered_msg {
        let text = format!(
            "{}  {} → {}\n{}",
            m.kind, scene.names[m.from], scene.names[m.to], m.label
        );
        tooltip(painter, pointer.unwrap_or_default(), &text, big);
    } else if let Some(i) = hovered_node {
        let mut text = scene.names[i].clone();
        if let Some(v) = scene.views.get(i).and_then(|v| v.as_ref()) {
            text.push_str(&format!(" — {}", v.role));
            for (k, val) in v.fields.iter().take(6) {
                text.push_str(&format!("\n{k}: {val}"));
            }
        }
        text.push_str("\nright-click for faults, shift-click to select");
        tooltip(painter, pointer.unwrap_or_default(), &text, big);
    } else if let Some((a, b)) = hovered_link {
        tooltip(
            painter,
            pointer.unwrap_or_default(),
            &format!(
                "link {} — {}\nclick to inspect",
                scene.names[a], scene.names[b]
            ),
            big,
        );
    }
}

pub(super) fn tooltip(painter: &egui::Painter, at: Pos2, text: &str, big: bool) {
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
pub(super) fn right_column_width(rect: Rect, scene: &Scene) -> f32 {
    let legend = if scene.big_text { 250.0 } else { 200.0 };
    log_table_width(rect, scene).max(legend)
}

/// Height of the log table, with its header (0 when there is none).
pub(super) fn log_table_height(rect: Rect, scene: &Scene) -> f32 {
    if log_table_width(rect, scene) == 0.0 {
        return 0.0;
    }
    let bw = if scene.big_text { 26.0 } else { 22.0 };
    let footer = if any_compacted(scene) { 18.0 } else { 0.0 };
    scene.names.len() as f32 * (bw + 4.0) + 40.0 + footer
}

/// Whether some node's log starts with a snapshot (the table then explains the grey box).
fn any_compacted(scene: &Scene) -> bool {
    scene.views.iter().flatten().any(|v| v.compacted.is_some())
}

/// Entries in the longest drawn list of any node.
fn longest_log(scene: &Scene) -> usize {
    scene
        .views
        .iter()
        .flatten()
        .map(|v| {
            v.entries.len()
                + if v.compacted.is_some() {
                    SNAPSHOT_SLOTS
                } else {
                    0
                }
        })
        .max()
        .unwrap_or(0)
}

/// Boxes the snapshot box is wide (it stands for the whole compacted prefix).
const SNAPSHOT_SLOTS: usize = 2;

/// Width of the log table (0 when there is none).
pub(super) fn log_table_width(rect: Rect, scene: &Scene) -> f32 {
    let n = scene.names.len();
    let max_entries = longest_log(scene);
    if max_entries == 0 || n > 12 {
        return 0.0;
    }
    let bw = if scene.big_text { 26.0 } else { 22.0 };
    let shown = max_entries.min(((rect.width() * 0.3 - 60.0) / (bw + 2.0)).max(4.0) as usize);
    (56.0 + shown as f32 * (bw + 2.0)).max(if scene.big_text { 300.0 } else { 230.0 }) + 20.0
}

/// The logs (RaftScope style): one row per node, boxes coloured by term, committed ones solid.
pub(super) fn draw_log_table(painter: &egui::Painter, rect: Rect, scene: &Scene, big: bool) {
    let n = scene.names.len();
    let any = scene
        .views
        .iter()
        .flatten()
        .any(|v| !v.entries.is_empty() || v.compacted.is_some());
    if !any || n > 12 {
        return;
    }
    let bw = if big { 26.0 } else { 22.0 };
    let row_h = bw + 4.0;
    let max_entries = longest_log(scene);
    let width = log_table_width(rect, scene) - 20.0;
    let shown = (((width - 56.0) / (bw + 2.0)) as usize).min(max_entries);
    let x0 = rect.max.x - width - 12.0;
    let y0 = rect.min.y + 34.0;
    let footer = if any_compacted(scene) { 18.0 } else { 0.0 };
    let panel = Rect::from_min_size(
        Pos2::new(x0 - 8.0, y0 - 22.0),
        Vec2::new(width + 16.0, n as f32 * row_h + 30.0 + footer),
    );
    painter.rect_filled(
        panel,
        CornerRadius::same(6),
        style::with_alpha(style::BACKGROUND, 0.85),
    );
    painter.text(
        Pos2::new(x0, y0 - 18.0),
        Align2::LEFT_TOP,
        scene.entries_heading,
        font(12.0, big),
        style::TEXT_DIM,
    );
    if any_compacted(scene) {
        painter.text(
            Pos2::new(x0, y0 + n as f32 * row_h),
            Align2::LEFT_TOP,
            "grey ≤i: snapshot up to index i",
            font(12.0, big),
            style::TEXT_DIM,
        );
    }
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
        let mut first = 0;
        if let Some(c) = &v.compacted {
            draw_snapshot_box(painter, Pos2::new(x0 + 52.0, y), bw, c, big);
            first = SNAPSHOT_SLOTS;
        }
        let room = shown.saturating_sub(first);
        let skip = v.entries.len().saturating_sub(room);
        for (k, e) in v.entries.iter().skip(skip).enumerate() {
            let r = Rect::from_min_size(
                Pos2::new(x0 + 52.0 + (first + k) as f32 * (bw + 2.0), y),
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
            // A term, epoch or key number fits a box; a clock-based version (a leaderless
            // write's timestamp) does not, and is told apart by its colour alone.
            if e.term < 1000 {
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
}

/// The compacted prefix of a log: one grey box, as wide as two entries, marked with the
/// snapshot's last included index.
fn draw_snapshot_box(
    painter: &egui::Painter,
    at: Pos2,
    bw: f32,
    c: &crate::sim::CompactedView,
    big: bool,
) {
    let w = SNAPSHOT_SLOTS as f32 * (bw + 2.0) - 2.0;
    let r = Rect::from_min_size(at, Vec2::new(w, bw));
    painter.rect_filled(r, CornerRadius::same(3), Color32::from_gray(110));
    painter.text(
        r.center(),
        Align2::CENTER_CENTER,
        format!("≤{}", c.index),
        font(11.0, big),
        Color32::BLACK,
    );
}

pub(super) fn draw_legend(painter: &egui::Painter, at: Pos2, scene: &Scene, big: bool) {
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
