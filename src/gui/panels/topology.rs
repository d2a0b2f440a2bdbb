//! The central view: the picture at the cursor handed to the canvas, and what the user did on it.

#[allow(unused_imports)]
use super::*;
use crate::gui::canvas::QueuePic;
use crate::sim::series::SeriesKey;
use crate::visual::roles::{self, RoleShape};

pub(super) fn central(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    let n = s.info.names.len();
    let t = s.cursor;
    // Large clusters are laid out again once, when some traffic has been seen (after 2s or a
    // fifth of the run): a force layout over who talked to whom if that graph is sparse (a
    // ring, a tree), an even disc if everyone talks to everyone. Then the layout stays put.
    let key = (s.info.file.clone(), n);
    let settled = s.sim.now() >= SimTime::from_secs(2).min(SimTime(s.duration().0 / 5));
    let relayout = n > layout::CIRCLE_MAX && state.layout_rounds == 1 && settled;
    if state.layout_for != key || state.layout.len() != n || relayout {
        let edges: Vec<(usize, usize)> = s.index.edges.iter().copied().collect();
        let given = s.info.positions.iter().any(|p| p.is_some());
        state.layout = if !s.info.roles.is_implicit() && !given {
            // Systems of services: layers left to right in the protocol's role order.
            let ranks: Vec<usize> = (0..n).map(|i| s.info.roles.rank(i)).collect();
            roles::layered(&ranks)
        } else {
            layout::layout(n, &s.info.positions, &edges)
        };
        if state.layout_for != key {
            state.layout_rounds = 0;
        }
        state.layout_for = key;
        state.layout_rounds += 1;
    }
    let views = s.index.views_at(s.sim.trace(), t);
    let liveness: Vec<Liveness> = (0..n).map(|i| s.index.liveness_at(i, t)).collect();
    // Restart flashes last about a second of wall time whatever the speed.
    let flash_sim = SimTime((state.speed * 1.2e6) as u64);
    let restarted: Vec<Option<f32>> = (0..n)
        .map(|i| {
            s.index
                .last_restart(i, t)
                .filter(|r| t.0 - r.0 <= flash_sim.0)
                .map(|r| (t.0 - r.0) as f32 / flash_sim.0.max(1) as f32 * 1.2)
        })
        .collect();
    let messages = picture::messages_at(s.sim.trace(), t, IN_FLIGHT_WINDOW);
    let fade = SimTime(((state.speed * 0.8e6) as u64).max(1_000));
    let bursts = picture::bursts_at(s.sim.trace(), t, fade);
    let net = s.index.network_at(t, &s.info.names);
    let groups = net.groups();
    let blocked: Vec<(NodeId, NodeId)> = net.blocked_links().iter().copied().collect();
    let held: Vec<(NodeId, NodeId)> = net.held_links().iter().copied().collect();
    let violation = s.index.violation_at(t).map(|v| {
        (
            v.invariant.as_str(),
            v.explanation.as_str(),
            v.nodes.as_slice(),
        )
    });
    let used_kinds: Vec<&'static str> = s.sim.metrics().sent.0.iter().map(|(k, _)| *k).collect();
    let shapes: Vec<RoleShape> = (0..n)
        .map(|i| roles::shape_of(s.info.roles.role(i)))
        .collect();
    let queues = queues_at(s, t);
    let scene = Scene {
        names: &s.info.names,
        world: &state.layout,
        views: &views,
        liveness: &liveness,
        restarted: &restarted,
        messages: &messages,
        bursts: &bursts,
        kinds: s.sim.message_kinds(),
        entries_heading: s.sim.entries_heading(),
        used_kinds: &used_kinds,
        groups: &groups,
        blocked: &blocked,
        held: &held,
        now: t,
        caption: s.index.caption_at(t),
        violation,
        pulse: state.started.elapsed().as_secs_f32(),
        big_text: state.presentation,
        shapes: &shapes,
        queues: &queues,
    };
    let input = canvas::show(ui, &scene, &mut state.canvas);
    match input {
        CanvasInput::None => {}
        CanvasInput::NodeAction(i, cmd) => {
            let name = s.info.names[i].clone();
            let a = match cmd {
                NodeCommand::Crash => Action::Crash(name),
                NodeCommand::Restart => Action::Restart(name),
                NodeCommand::Pause => Action::Pause(name),
                NodeCommand::Resume => Action::Resume(name),
                NodeCommand::FireTimer => Action::FireTimer(name),
                NodeCommand::ClientRequest => Action::ClientRequest {
                    to: Some(name),
                    op: client_op(state),
                },
            };
            act(s, state, a);
        }
        CanvasInput::PartitionSelection => {
            let g = state
                .canvas
                .selected
                .iter()
                .map(|&i| s.info.names[i].clone())
                .collect();
            act(s, state, Action::Partition(vec![g]));
        }
    }
    // Frame statistics, bottom right of the canvas.
    let r = ui.max_rect();
    ui.painter().text(
        r.right_bottom() - Vec2::new(8.0, 6.0),
        egui::Align2::RIGHT_BOTTOM,
        format!(
            "{} events · {} in flight · sim+ui {:.1} ms/frame",
            s.sim.trace().len(),
            messages.len(),
            state.frame_ms
        ),
        egui::FontId::proportional(12.0),
        style::TEXT_DIM,
    );
}

/// Each station's queue and busy workers at `t`, from the sampled series (the sample at or
/// before `t`; the live value when the cursor is at the simulation's front).
fn queues_at(s: &Session, t: SimTime) -> Vec<Option<QueuePic>> {
    let series = &s.sim.metrics().series;
    s.info
        .services
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let m = m.as_ref()?;
            let (waiting, busy) = if t >= s.sim.now() {
                s.sim.station_load(i)?
            } else {
                let q = series
                    .value_at(&SeriesKey::of("queue", i), t)
                    .unwrap_or(0.0);
                let b = series.value_at(&SeriesKey::of("busy", i), t).unwrap_or(0.0);
                (q as usize, b as u32)
            };
            Some(QueuePic {
                waiting,
                busy,
                workers: m.workers,
                capacity: m.queue,
            })
        })
        .collect()
}
