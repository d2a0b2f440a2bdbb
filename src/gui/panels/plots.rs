//! The Plots panel: the run's time series (client latency and throughput, queues, protocol
//! gauges such as Raft's commit index) under the topology, with the cursor as a vertical
//! line. Click a plot to go to that time; scrubbing, stepping and forks move the line, and a
//! fork redraws the series from the new run.

#[allow(unused_imports)]
use super::*;
use crate::visual::plots::{self, PlotSpec};
use egui_plot::{Corner, Legend, Line, Plot, PlotPoints, VLine};

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
    let height = if state.presentation { 200.0 } else { 180.0 };
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
    let size = if state.presentation { 16.0 } else { 14.0 };
    ui.label(RichText::new(&spec.title).size(size).strong());
    let duration = s.duration().as_secs_f64();
    let cursor = s.cursor.as_secs_f64();
    let names = &s.info.names;
    let many = spec.lines.len() > 1;
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
        .x_axis_formatter(|m, _| format!("{}s", m.value))
        .legend(Legend::default().position(Corner::LeftTop))
        .show(ui, |p| {
            for (li, key) in spec.lines.iter().enumerate().take(12) {
                let Some(values) = series.get(key) else {
                    continue;
                };
                let stride = values.len().div_ceil(MAX_POINTS).max(1);
                let points: Vec<[f64; 2]> = values
                    .iter()
                    .enumerate()
                    .step_by(stride)
                    .filter(|(_, v)| !v.is_nan())
                    .map(|(i, v)| [series.time_of(i).as_secs_f64(), *v])
                    .collect();
                let name = if many {
                    key.label(names)
                } else {
                    String::new()
                };
                p.line(
                    Line::new(name, PlotPoints::from(points))
                        .color(style::series_color(li))
                        .width(2.0),
                );
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
