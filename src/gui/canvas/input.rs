//! Pointer input on the canvas: select, lasso, pan, zoom, and the node's context menu.

#[allow(unused_imports)]
use super::*;

/// Handles this frame's pointer input; returns what the user asked for.
pub(super) fn handle(
    ui: &mut egui::Ui,
    response: &egui::Response,
    painter: &egui::Painter,
    scene: &Scene,
    st: &mut CanvasState,
    f: &Frame,
    hovered: Hovered,
) -> CanvasInput {
    let (pos, hovered_node, n) = (&f.pos, f.hovered_node, f.n);
    let Hovered {
        msg: hovered_msg,
        link: hovered_link,
    } = hovered;
    let mut input = CanvasInput::None;
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
    input
}
