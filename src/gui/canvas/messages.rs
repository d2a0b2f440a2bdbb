//! Messages in flight, coloured by kind, and the bursts where messages were lost.

#[allow(unused_imports)]
use super::*;

/// Draws the messages and losses; returns the message under the pointer.
pub(super) fn draw<'s>(
    painter: &egui::Painter,
    scene: &'s Scene,
    st: &CanvasState,
    f: &Frame,
) -> Option<&'s MessagePic> {
    let (pos, g, pointer) = (&f.pos, &f.g, f.pointer);
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

    hovered_msg
}
