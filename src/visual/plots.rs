//! Which time series the Plots panel shows, and as which lines: the scenario's `plots` list
//! when it has one, sensible defaults otherwise. Free of Bevy, so it is tested headless.

use crate::sim::series::{SeriesKey, SeriesSet};

/// At most this many plots side by side.
pub const MAX_PLOTS: usize = 4;

/// One plot: a title and the series drawn in it (one line each).
#[derive(Clone, Debug, PartialEq)]
pub struct PlotSpec {
    pub title: String,
    pub lines: Vec<SeriesKey>,
}

/// Series the engine records for nodes with a service model.
const STATION_SERIES: &[&str] = &["queue", "busy", "completed", "shed"];

/// The unit a series is measured in, for the plot's title.
pub fn unit_of(name: &str) -> &'static str {
    if name.starts_with("client.latency") {
        "ms"
    } else if name == "client.throughput" || name == "completed" || name == "shed" {
        "per s"
    } else if name == "client.errors" {
        "fraction"
    } else {
        ""
    }
}

fn title(label: &str, name: &str) -> String {
    match unit_of(name) {
        "" => label.to_string(),
        u => format!("{label} ({u})"),
    }
}

/// The plots for a run: `preferred` labels (`db1.queue`, `client.latency.p99`, `hit_ratio`)
/// that have data, in order; without any, the client latency and throughput, each station's
/// queue and the protocol's gauges.
pub fn choose(series: &SeriesSet, names: &[String], preferred: &[String]) -> Vec<PlotSpec> {
    let mut plots = Vec::new();
    for label in preferred {
        let keys: Vec<SeriesKey> = series.find(label, names).into_iter().cloned().collect();
        if let Some(k) = keys.first() {
            plots.push(PlotSpec {
                title: title(label, &k.name),
                lines: keys,
            });
        }
    }
    if plots.is_empty() {
        plots = defaults(series, names);
    }
    plots.truncate(MAX_PLOTS);
    plots
}

fn defaults(series: &SeriesSet, names: &[String]) -> Vec<PlotSpec> {
    let mut plots = Vec::new();
    let global = |n: &str| SeriesKey::global(n);
    let latency: Vec<SeriesKey> = ["client.latency.p50", "client.latency.p99"]
        .iter()
        .map(|n| global(n))
        .filter(|k| series.get(k).is_some())
        .collect();
    if !latency.is_empty() {
        plots.push(PlotSpec {
            title: "client latency p50, p99 (ms)".into(),
            lines: latency,
        });
    }
    if series.get(&global("client.throughput")).is_some() {
        plots.push(PlotSpec {
            title: title("client.throughput", "client.throughput"),
            lines: vec![global("client.throughput")],
        });
    }
    let by_name = |name: &str| -> Vec<SeriesKey> {
        series
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.name == name && k.part.is_none())
            .cloned()
            .collect()
    };
    let queues = by_name("queue");
    if !queues.is_empty() {
        plots.push(PlotSpec {
            title: "queue (waiting inputs)".into(),
            lines: queues,
        });
    }
    // Protocol gauges: every other name, one plot per name.
    let mut gauge_names: Vec<&str> = series
        .iter()
        .map(|(k, _)| k.name.as_str())
        .filter(|n| !n.starts_with("client.") && !STATION_SERIES.contains(n))
        .collect();
    let mut families: Vec<String> = series.iter().filter_map(|(k, _)| k.family()).collect();
    families.sort();
    families.dedup();
    gauge_names.dedup();
    for name in gauge_names {
        let lines = by_name(name);
        let label = match (lines.len(), lines.first().and_then(|k| k.node)) {
            (1, Some(n)) => format!("{}.{name}", names.get(n).map_or("?", |s| s.as_str())),
            _ => name.to_string(),
        };
        if lines.is_empty() {
            continue;
        }
        plots.push(PlotSpec {
            title: title(&label, name),
            lines,
        });
    }
    // Per-partition series: one plot per family (`range.keys`), a line per partition.
    for f in families {
        let lines: Vec<SeriesKey> = series.find(&f, names).into_iter().cloned().collect();
        plots.push(PlotSpec {
            title: f.clone(),
            lines,
        });
    }
    plots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::time::SimTime;

    fn names() -> Vec<String> {
        vec!["app1".into(), "db1".into()]
    }

    fn sample_set() -> SeriesSet {
        let mut s = SeriesSet::default();
        s.client_finished(SimTime::from_millis(50), SimTime::from_millis(5), true);
        s.set_gauge(SeriesKey::of("hit_ratio", 0), 0.5);
        s.sample([
            (SeriesKey::of("queue", 1), 3.0),
            (SeriesKey::of("busy", 1), 1.0),
        ]);
        s
    }

    #[test]
    fn preferred_series_come_first_and_unknown_ones_are_skipped() {
        let s = sample_set();
        let p = choose(
            &s,
            &names(),
            &[
                "db1.queue".into(),
                "nope".into(),
                "client.latency.p99".into(),
            ],
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].title, "db1.queue");
        assert_eq!(p[0].lines, vec![SeriesKey::of("queue", 1)]);
        assert_eq!(p[1].title, "client.latency.p99 (ms)");
    }

    #[test]
    fn defaults_show_latency_throughput_queues_and_gauges() {
        let s = sample_set();
        let titles: Vec<String> = choose(&s, &names(), &[])
            .into_iter()
            .map(|p| p.title)
            .collect();
        assert_eq!(
            titles,
            [
                "client latency p50, p99 (ms)",
                "client.throughput (per s)",
                "queue (waiting inputs)",
                "app1.hit_ratio"
            ]
        );
    }
}
