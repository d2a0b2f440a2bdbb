//! The Plots panel: the run's time series (client latency and throughput, queues, protocol
//! gauges such as Raft's commit index) under the topology, with the cursor as a vertical
//! line. Click a plot to go to that time; scrubbing, stepping and forks move the line, and a
//! fork redraws the series from the new run.

#[allow(unused_imports)]
use super::*;
use crate::visual::plots::{self, PlotSpec};
use egui_plot::{Line, Plot, PlotPoints, VLine};

/// Points drawn per line at most (long runs are thinned evenly).
const MAX_POINTS: usize = 1_500;

pub(super) fn plots_panel(root: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    if !state.show_plots {
        return;
    }
    let specs = plots::choose(&s.sim.metrics().series, &s.info.names, &s.info.plots);
    if specs.is_empty() {
        return;
    }
    let height = if state.presentation { 165.0 } else { 180.0 };
    let mut jump = None;
    egui::Panel::bottom("plots")
        .exact_size(height)
        .show(root, |ui| {
            let gap = 10.0;
            let w = (ui.available_width() - gap * (specs.len() - 1) as f32) / specs.len() as f32;
            ui.horizontal(|ui| {
                ui.spacing_mut().item_spacing.x = gap;
                for (k, spec) in specs.iter().enumerate() {
                    ui.vertical(|ui| {
                        ui.set_width(w);
                        if let Some(t) = one_plot(ui, s, state, k, spec, w, height - 30.0) {
                            jump = Some(t);
                        }
                    });
                }
            });
        });
    if let Some(t) = jump {
        state.playing = false;
        s.seek(t);
        state.mark_seen(s);
    }
}

/// Draws one plot; returns the time clicked, if any.
fn one_plot(
    ui: &mut egui::Ui,
    s: &Session,
    state: &UiState,
    k: usize,
    spec: &PlotSpec,
    width: f32,
    height: f32,
) -> Option<SimTime> {
    let series = &s.sim.metrics().series;
    let names = &s.info.names;
    title_row(ui, state, spec, names);
    let duration = s.duration().as_secs_f64();
    let cursor = s.cursor.as_secs_f64();
    let fraction = spec
        .lines
        .first()
        .is_some_and(|l| plots::unit_of(&l.name) == "fraction");
    let response = Plot::new(("plot", k))
        .width(width)
        .height(height)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .include_x(0.0)
        .include_x(duration)
        .include_y(0.0)
        .include_y(if fraction { 1.0 } else { 0.0 })
        .x_axis_formatter(|m, _| format!("{}s", m.value))
        .show(ui, |p| {
            for (li, key) in spec.lines.iter().enumerate().take(12) {
                let Some(values) = series.get(key) else {
                    continue;
                };
                let color = style::series_color(li);
                // One line per stretch with values: a crashed node's series has a gap.
                for run in stretches(values, |i| series.time_of(i).as_secs_f64()) {
                    p.line(
                        Line::new(key.label(names), PlotPoints::from(run))
                            .color(color)
                            .width(2.0),
                    );
                }
            }
            p.vline(VLine::new("", cursor).color(Color32::WHITE).width(1.5));
            (p.response().clicked(), p.pointer_coordinate())
        });
    match response.inner {
        (true, Some(pt)) => Some(SimTime::from_micros(
            (pt.x.clamp(0.0, duration) * 1e6) as u64,
        )),
        _ => None,
    }
}

/// The plot's title, then each line's name in its colour (a legend that covers nothing).
fn title_row(ui: &mut egui::Ui, state: &UiState, spec: &PlotSpec, names: &[String]) {
    let size = if state.presentation { 16.0 } else { 14.0 };
    ui.horizontal(|ui| {
        ui.label(RichText::new(&spec.title).size(size).strong());
        if spec.lines.len() > 1 {
            for (li, key) in spec.lines.iter().enumerate().take(6) {
                let short = match (key.node, &key.part) {
                    (Some(n), _) => names.get(n).cloned().unwrap_or_default(),
                    (None, Some(part)) => part.clone(),
                    (None, None) => key.name.rsplit('.').next().unwrap_or("").to_string(),
                };
                ui.label(
                    RichText::new(short)
                        .size(size - 1.0)
                        .color(style::series_color(li)),
                );
            }
        }
    });
}

/// The stretches of a series without gaps, as plot points, thinned to at most
/// [`MAX_POINTS`] in all.
fn stretches(values: &[f64], time: impl Fn(usize) -> f64) -> Vec<Vec<[f64; 2]>> {
    let stride = values.len().div_ceil(MAX_POINTS).max(1);
    let mut runs: Vec<Vec<[f64; 2]>> = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate().step_by(stride) {
        if v.is_nan() {
            if !current.is_empty() {
                runs.push(std::mem::take(&mut current));
            }
        } else {
            current.push([time(i), *v]);
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}
