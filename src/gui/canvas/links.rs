//! Links between nodes: partition blobs behind their members, the full mesh of small
//! clusters, cut links dashed red (a one-way cut with an arrowhead), held links dotted amber.

#[allow(unused_imports)]
use super::*;

/// Draws groups and links; returns the link under the pointer.
pub(super) fn draw(
    painter: &egui::Painter,
    scene: &Scene,
    st: &CanvasState,
    f: &Frame,
) -> Option<(NodeId, NodeId)> {
    let (pos, g, pointer, hovered_node, n) = (&f.pos, &f.g, f.pointer, f.hovered_node, f.n);
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

    hovered_link
}
