//! Nodes: a shape per role (circle for peers, cylinder for a database, box for a cache, a row
//! of cells for a broker, a rectangle for a service, a small glyph for a client), filled with
//! the role's tone; name inside, role and term below; the timer arc; crashed and paused
//! badges; the restart flash; and, on busy nodes with a service model, the queue bar.

#[allow(unused_imports)]
use super::*;
use crate::visual::roles::RoleShape;

pub(super) fn draw(painter: &egui::Painter, scene: &Scene, st: &CanvasState, f: &Frame) {
    let violation_nodes: &[NodeId] = scene.violation.map_or(&[], |v| v.2);
    for i in 0..f.pos.len() {
        draw_node(painter, scene, st, f, i, violation_nodes.contains(&i));
    }
}

fn draw_node(
    painter: &egui::Painter,
    scene: &Scene,
    st: &CanvasState,
    f: &Frame,
    i: NodeId,
    in_violation: bool,
) {
    let p = f.pos[i];
    let r = f.g.radius;
    let view = scene.views.get(i).and_then(|v| v.as_ref());
    let live = scene.liveness[i];
    let tone = view.map_or(Tone::Neutral, |v| v.tone);
    let fill = match live {
        Liveness::Crashed => style::CRASHED,
        Liveness::Paused => style::with_alpha(style::tone(tone), 0.45),
        Liveness::Up => style::tone(tone),
    };
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
    if in_violation {
        let pulse = 0.5 + 0.5 * (scene.pulse * 6.0).sin();
        painter.circle_filled(
            p,
            r + 10.0 + 4.0 * pulse,
            style::with_alpha(style::VIOLATION, 0.35 + 0.3 * pulse),
        );
    }
    let shape = scene.shapes.get(i).copied().unwrap_or(RoleShape::Circle);
    let border = if st.selected.contains(&i) {
        Stroke::new(3.5, style::SELECTED)
    } else {
        Stroke::new(1.5, Color32::from_gray(20))
    };
    draw_shape(painter, shape, p, r, fill, border);
    if f.hovered_node == Some(i) {
        painter.circle_stroke(
            p,
            r + 3.0,
            Stroke::new(1.5, style::with_alpha(style::SELECTED, 0.6)),
        );
    }
    if live == Liveness::Up {
        draw_timer_arc(painter, scene, view, p, r);
    }
    if r >= 8.0 {
        draw_labels(painter, scene, i, view, live, shape, p, r);
    }
    draw_status_badge(painter, live, p, r);
    if let Some(q) = scene.queues.get(i).copied().flatten()
        && live != Liveness::Crashed
        && (q.waiting > 0 || q.busy > 0)
    {
        draw_queue_bar(painter, q, p, r, scene.big_text);
    }
}

/// The node's outline for its role, `r` being the radius of a peer's circle.
fn draw_shape(
    painter: &egui::Painter,
    shape: RoleShape,
    p: Pos2,
    r: f32,
    fill: Color32,
    border: Stroke,
) {
    let kind = egui::StrokeKind::Middle;
    match shape {
        RoleShape::Circle => {
            painter.circle_filled(p, r, fill);
            painter.circle_stroke(p, r, border);
        }
        RoleShape::Client => {
            // A small monitor: screen and stand.
            let screen = Rect::from_center_size(p, Vec2::new(r * 1.5, r * 1.1));
            painter.rect(screen, CornerRadius::same(3), fill, border, kind);
            let stand =
                Rect::from_center_size(p + Vec2::new(0.0, r * 0.75), Vec2::new(r * 0.8, r * 0.18));
            painter.rect_filled(stand, CornerRadius::same(2), fill);
        }
        RoleShape::Service => {
            let body = Rect::from_center_size(p, Vec2::new(r * 2.3, r * 1.6));
            painter.rect(body, CornerRadius::same(4), fill, border, kind);
        }
        RoleShape::Cache => {
            let body = Rect::from_center_size(p, Vec2::splat(r * 1.8));
            painter.rect(
                body,
                CornerRadius::same((r * 0.35) as u8),
                fill,
                border,
                kind,
            );
            // A lightning-fast stripe: caches answer from memory.
            painter.line_segment(
                [
                    body.left_top() + Vec2::new(r * 0.3, r * 0.3),
                    body.right_top() + Vec2::new(-r * 0.3, r * 0.3),
                ],
                Stroke::new(2.0, Color32::from_black_alpha(90)),
            );
        }
        RoleShape::Cells => {
            let body = Rect::from_center_size(p, Vec2::new(r * 2.6, r * 1.2));
            painter.rect(body, CornerRadius::same(2), fill, border, kind);
            for k in 1..5 {
                let x = body.min.x + body.width() * k as f32 / 5.0;
                painter.line_segment(
                    [Pos2::new(x, body.min.y), Pos2::new(x, body.max.y)],
                    Stroke::new(1.5, Color32::from_black_alpha(110)),
                );
            }
        }
        RoleShape::Database => {
            // A cylinder: a body with an elliptic top and bottom.
            let (w, h) = (r * 1.9, r * 1.9);
            let cap = h * 0.18;
            let body = Rect::from_center_size(p, Vec2::new(w, h - cap));
            painter.rect_filled(body, CornerRadius::ZERO, fill);
            let ellipse = |c: Pos2| -> Vec<Pos2> {
                (0..32)
                    .map(|k| {
                        let a = std::f32::consts::TAU * k as f32 / 32.0;
                        c + Vec2::new(a.cos() * w / 2.0, a.sin() * cap)
                    })
                    .collect()
            };
            let bottom = ellipse(Pos2::new(p.x, body.max.y));
            painter.add(Shape::convex_polygon(bottom, fill, border));
            painter.rect_filled(body, CornerRadius::ZERO, fill);
            painter.line_segment([body.left_top(), body.left_bottom()], border);
            painter.line_segment([body.right_top(), body.right_bottom()], border);
            let top = ellipse(Pos2::new(p.x, body.min.y));
            let top_fill = style::with_alpha(fill, 0.85);
            painter.add(Shape::convex_polygon(top, top_fill, border));
        }
    }
}

/// The part of a running timer still to run (Raft's election timeout), as an arc.
fn draw_timer_arc(
    painter: &egui::Painter,
    scene: &Scene,
    view: Option<&NodeView>,
    p: Pos2,
    r: f32,
) {
    let Some(tv) = view.and_then(|v| v.timer.as_ref()) else {
        return;
    };
    if tv.fires_at <= tv.started_at || r < 8.0 {
        return;
    }
    let left = 1.0 - progress(tv.started_at, tv.fires_at, scene.now);
    if left <= 0.0 {
        return;
    }
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

/// The name inside the node; its role and term below (large clusters: on hover only).
#[allow(clippy::too_many_arguments)]
fn draw_labels(
    painter: &egui::Painter,
    scene: &Scene,
    i: NodeId,
    view: Option<&NodeView>,
    live: Liveness,
    shape: RoleShape,
    p: Pos2,
    r: f32,
) {
    let name_color = if live == Liveness::Crashed {
        style::TEXT_DIM
    } else {
        Color32::BLACK
    };
    // A client's glyph is too small for its name: it goes below, with the other labels.
    let name_inside = shape != RoleShape::Client;
    if name_inside {
        painter.text(
            p,
            Align2::CENTER_CENTER,
            &scene.names[i],
            FontId::proportional((r * 0.55).clamp(10.0, 26.0)),
            name_color,
        );
    }
    let role = match (live, view) {
        (Liveness::Crashed, _) => "crashed".to_string(),
        (Liveness::Paused, Some(v)) => format!("paused ({})", v.role),
        // A role-shaped node already says what it is; its first field says more.
        (_, Some(v)) if shape != RoleShape::Circle => v
            .fields
            .first()
            .map_or(String::new(), |(k, val)| format!("{k} {val}")),
        (_, Some(v)) => v.role.clone(),
        (_, None) => String::new(),
    };
    let term = view
        .and_then(|v| v.term)
        .map(|t| format!("  T{t}"))
        .unwrap_or_default();
    if r >= 18.0 || scene.names.len() <= 16 {
        let below = if shape == RoleShape::Circle {
            r
        } else {
            r * 1.05
        };
        let text = if name_inside {
            format!("{role}{term}")
        } else {
            format!("{}  {role}{term}", scene.names[i])
        };
        painter.text(
            p + Vec2::new(0.0, below + 6.0),
            Align2::CENTER_TOP,
            text,
            font(15.0, scene.big_text),
            style::TEXT,
        );
    }
}

/// A red cross on a crashed node, a pause badge on a paused one.
fn draw_status_badge(painter: &egui::Painter, live: Liveness, p: Pos2, r: f32) {
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
            for dx in [-3.0, 3.0] {
                painter.rect_filled(
                    Rect::from_center_size(c + Vec2::new(dx, 0.0), Vec2::new(3.0, 11.0)),
                    CornerRadius::ZERO,
                    Color32::BLACK,
                );
            }
        }
        Liveness::Up => {}
    }
}

/// Above a node with a service model: its busy workers as dots and its waiting line as a bar
/// that fills towards the queue's capacity (amber, red when nearly full).
fn draw_queue_bar(painter: &egui::Painter, q: QueuePic, p: Pos2, r: f32, big: bool) {
    let w = (r * 2.6).max(60.0);
    let top = p.y - r * 1.05 - 30.0;
    let bar = Rect::from_min_size(Pos2::new(p.x - w / 2.0, top + 14.0), Vec2::new(w, 9.0));
    painter.rect_filled(bar, CornerRadius::same(2), Color32::from_gray(45));
    let frac = if q.capacity == 0 {
        0.0
    } else {
        (q.waiting as f32 / q.capacity as f32).clamp(0.0, 1.0)
    };
    let color = if frac > 0.8 {
        style::CUT
    } else {
        Color32::from_rgb(0xfa, 0xb0, 0x05)
    };
    let filled = Rect::from_min_size(bar.min, Vec2::new(w * frac, bar.height()));
    painter.rect_filled(filled, CornerRadius::same(2), color);
    painter.text(
        Pos2::new(p.x, top + 12.0),
        Align2::CENTER_BOTTOM,
        // Two short lines: neighbouring layers stand close together.
        format!("{}/{} busy\n{} queued", q.busy, q.workers, q.waiting),
        font(12.0, big),
        style::TEXT,
    );
}
