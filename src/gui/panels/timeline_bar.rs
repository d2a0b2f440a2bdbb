//! The timeline: scrub to any time, markers for faults, roles, notes and violations.

#[allow(unused_imports)]
use super::*;

pub(super) fn timeline_bar(root: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
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
