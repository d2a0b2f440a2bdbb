//! Time series: one facility for every plotted quantity.
//!
//! Every series is sampled on one fixed grid of simulated time (`0, interval, 2·interval, …`,
//! default 100 ms, `metrics: (interval: "50ms")`), so plots are a pure function of the run.
//! A sample at `b` shows the state after every event at or before `b`: the engine takes it
//! lazily, just before the first event after `b` (state does not change between events), so
//! sampling adds no events and changes no digest.
//!
//! Series have a name and, for per-node quantities, a node: `queue` of `db1` (written
//! `db1.queue`), `client.latency.p99` (no node). Sources:
//! - the engine, for nodes with a service model: `queue` (waiting inputs), `busy` (workers),
//!   `completed` and `shed` (inputs per second over the last interval);
//! - the clients: `client.throughput` (successful operations per second), `client.latency.p50`
//!   and `client.latency.p99` (milliseconds) and `client.errors` (fraction of operations that
//!   failed or timed out), over a sliding window (default 1 s) of finished operations;
//! - protocols: `ctx.gauge("hit_ratio", x)` sets a node's current value, and
//!   `Protocol::gauges` computes values over all nodes (gossip's informed fraction).
//!
//! Memory is bounded: when the samples of all series would pass [`MAX_POINTS`], the grid
//! coarsens (every other sample is dropped and the interval doubles), deterministically.

use crate::sim::actor::NodeId;
use crate::sim::time::SimTime;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Samples kept over all series before the grid coarsens.
pub const MAX_POINTS: usize = 8_000_000;

/// Per-partition series kept per name (`keys` of ranges): a range that splits ends its
/// series and starts two, so a run splitting ranges many times would otherwise add series
/// without bound. Partitions first seen after this many are not recorded.
pub const MAX_PARTS: usize = 64;

/// `metrics: (interval: "100ms", window: "1s")`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    /// Sampling interval of every series.
    #[serde(default = "default_interval")]
    pub interval: SimTime,
    /// Sliding window of the client series.
    #[serde(default = "default_window")]
    pub window: SimTime,
}

fn default_interval() -> SimTime {
    SimTime::from_millis(100)
}
fn default_window() -> SimTime {
    SimTime::from_secs(1)
}

impl Default for MetricsSpec {
    fn default() -> Self {
        MetricsSpec {
            interval: default_interval(),
            window: default_window(),
        }
    }
}

impl MetricsSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.interval < SimTime::from_millis(1) {
            return Err(format!(
                "metrics `interval` must be at least 1ms, got {}",
                self.interval
            ));
        }
        if self.window < self.interval {
            return Err(format!(
                "metrics `window` ({}) must be at least the interval ({})",
                self.window, self.interval
            ));
        }
        Ok(())
    }
}

/// A series' identity: a name and, for per-node quantities, the node, or, for
/// per-partition quantities, the partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SeriesKey {
    pub name: String,
    pub node: Option<NodeId>,
    /// The partition (`range[0..250)`), for per-partition series.
    pub part: Option<String>,
}

impl SeriesKey {
    pub fn global(name: &str) -> Self {
        SeriesKey {
            name: name.to_string(),
            node: None,
            part: None,
        }
    }
    pub fn of(name: &str, node: NodeId) -> Self {
        SeriesKey {
            name: name.to_string(),
            node: Some(node),
            part: None,
        }
    }
    /// `name` of partition `part`: `range[0..250).keys`.
    pub fn of_part(name: &str, part: String) -> Self {
        SeriesKey {
            name: name.to_string(),
            node: None,
            part: Some(part),
        }
    }
    /// `db1.queue`, `range[0..250).keys` or `client.latency.p99`, given the node names.
    pub fn label(&self, names: &[String]) -> String {
        match (self.node, &self.part) {
            (Some(n), _) => format!("{}.{}", names.get(n).map_or("?", |s| s.as_str()), self.name),
            (None, Some(p)) => format!("{p}.{}", self.name),
            (None, None) => self.name.clone(),
        }
    }
    /// The family of a per-partition series, `range.keys` for `range[0..250).keys` (the
    /// partition's kind, before its `[`, and the name): the label that finds all its lines.
    pub fn family(&self) -> Option<String> {
        let p = self.part.as_ref()?;
        let kind = p.split('[').next().unwrap_or(p);
        Some(format!("{kind}.{}", self.name))
    }
}

/// Last, mean and max of a series (over its samples), for reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesSummary {
    pub last: f64,
    pub mean: f64,
    pub max: f64,
}

/// One finished client operation, as the sliding window keeps it.
#[derive(Clone, Copy, Debug)]
struct Finished {
    at: SimTime,
    latency: SimTime,
    ok: bool,
}

/// Every series of a run, on one sampling grid.
#[derive(Clone, Debug)]
pub struct SeriesSet {
    interval: SimTime,
    window: SimTime,
    /// Samples taken so far: sample `i` is at `i * interval`.
    samples: usize,
    /// Values aligned on the grid (`NaN` where the series had no value yet).
    series: BTreeMap<SeriesKey, Vec<f64>>,
    /// Current values of protocol gauges set by handlers.
    gauges: BTreeMap<SeriesKey, f64>,
    window_ops: VecDeque<Finished>,
    clients_seen: bool,
}

impl Default for SeriesSet {
    fn default() -> Self {
        Self::new(&MetricsSpec::default())
    }
}

impl SeriesSet {
    pub fn new(spec: &MetricsSpec) -> Self {
        SeriesSet {
            interval: spec.interval.max(SimTime::from_micros(1)),
            window: spec.window,
            samples: 0,
            series: BTreeMap::new(),
            gauges: BTreeMap::new(),
            window_ops: VecDeque::new(),
            clients_seen: false,
        }
    }

    /// The current sampling interval (it doubles when memory would run over).
    pub fn interval(&self) -> SimTime {
        self.interval
    }
    /// Time of the next sample to take.
    pub fn next_at(&self) -> SimTime {
        SimTime(self.interval.0.saturating_mul(self.samples as u64))
    }
    /// Number of samples per series.
    pub fn len(&self) -> usize {
        self.samples
    }
    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }
    /// Time of sample `i`.
    pub fn time_of(&self, i: usize) -> SimTime {
        SimTime(self.interval.0.saturating_mul(i as u64))
    }

    /// A handler set a gauge.
    pub fn set_gauge(&mut self, key: SeriesKey, value: f64) {
        self.gauges.insert(key, value);
    }

    /// A client operation finished.
    pub fn client_finished(&mut self, at: SimTime, latency: SimTime, ok: bool) {
        self.clients_seen = true;
        self.window_ops.push_back(Finished { at, latency, ok });
    }

    /// Records one sample at [`Self::next_at`]: `extra` are the engine's and the protocol's
    /// values at that instant; gauges and client series are added here.
    pub fn sample(&mut self, extra: impl IntoIterator<Item = (SeriesKey, f64)>) {
        let at = self.next_at();
        let clients = self.client_values(at);
        let values: Vec<(SeriesKey, f64)> = extra
            .into_iter()
            .chain(self.gauges.iter().map(|(k, v)| (k.clone(), *v)))
            .chain(clients)
            .collect();
        let i = self.samples;
        for (k, v) in values {
            if k.part.is_some() && !self.series.contains_key(&k) {
                let family = k.family();
                let known = self.series.keys().filter(|o| o.family() == family).count();
                if known >= MAX_PARTS {
                    continue;
                }
            }
            let s = self.series.entry(k).or_default();
            s.resize(i, f64::NAN);
            s.push(v);
        }
        self.samples += 1;
        for s in self.series.values_mut() {
            s.resize(self.samples, f64::NAN);
        }
        if self.samples * self.series.len().max(1) > MAX_POINTS {
            self.coarsen();
        }
    }

    fn client_values(&mut self, at: SimTime) -> Vec<(SeriesKey, f64)> {
        if !self.clients_seen {
            return Vec::new();
        }
        let from = at.saturating_sub(self.window);
        while self
            .window_ops
            .front()
            .is_some_and(|f| f.at <= from && at > SimTime::ZERO)
        {
            self.window_ops.pop_front();
        }
        let secs = self.window.as_secs_f64().min(at.as_secs_f64().max(1e-9));
        let mut lat: Vec<SimTime> = self
            .window_ops
            .iter()
            .filter(|f| f.ok)
            .map(|f| f.latency)
            .collect();
        lat.sort();
        let finished = self.window_ops.len();
        let errors = self.window_ops.iter().filter(|f| !f.ok).count();
        let pct = |p: usize| lat[((lat.len() - 1) * p) / 100].0 as f64 / 1000.0;
        let mut v = vec![
            (
                SeriesKey::global("client.throughput"),
                lat.len() as f64 / secs,
            ),
            (
                SeriesKey::global("client.errors"),
                if finished == 0 {
                    0.0
                } else {
                    errors as f64 / finished as f64
                },
            ),
        ];
        if !lat.is_empty() {
            v.push((SeriesKey::global("client.latency.p50"), pct(50)));
            v.push((SeriesKey::global("client.latency.p99"), pct(99)));
        }
        v
    }

    /// Halves the resolution: keeps samples 0, 2, 4… and doubles the interval.
    fn coarsen(&mut self) {
        for s in self.series.values_mut() {
            let kept: Vec<f64> = s.iter().step_by(2).copied().collect();
            *s = kept;
        }
        self.samples = self.samples.div_ceil(2);
        self.interval = SimTime(self.interval.0.saturating_mul(2));
    }

    /// Every series, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &[f64])> {
        self.series.iter().map(|(k, v)| (k, v.as_slice()))
    }
    pub fn get(&self, key: &SeriesKey) -> Option<&[f64]> {
        self.series.get(key).map(|v| v.as_slice())
    }
    /// Finds a series by its label (`db1.queue`, `client.latency.p99`, `hit_ratio`,
    /// `range[0..250).keys`): the keys it names (every node's, for a per-node name given
    /// without a node; every partition's, for a family such as `range.keys`).
    pub fn find(&self, label: &str, names: &[String]) -> Vec<&SeriesKey> {
        let exact: Vec<&SeriesKey> = self
            .series
            .keys()
            .filter(|k| k.label(names) == label)
            .collect();
        if !exact.is_empty() {
            return exact;
        }
        let family: Vec<&SeriesKey> = self
            .series
            .keys()
            .filter(|k| k.family().as_deref() == Some(label))
            .collect();
        if !family.is_empty() {
            return family;
        }
        self.series
            .keys()
            .filter(|k| k.name == label && k.part.is_none())
            .collect()
    }

    /// The value of a series at time `t` (the last sample at or before `t`).
    pub fn value_at(&self, key: &SeriesKey, t: SimTime) -> Option<f64> {
        let s = self.series.get(key)?;
        let i = (t.0 / self.interval.0.max(1)) as usize;
        s.get(i.min(s.len().checked_sub(1)?))
            .copied()
            .filter(|v| !v.is_nan())
    }

    /// Last, mean and max over the samples that have a value.
    pub fn summary(&self, key: &SeriesKey) -> Option<SeriesSummary> {
        summarize(self.series.get(key)?)
    }

    /// Statistics of a series over the samples in `[from, to]`.
    pub fn summary_between(
        &self,
        key: &SeriesKey,
        from: SimTime,
        to: SimTime,
    ) -> Option<SeriesSummary> {
        let s = self.series.get(key)?;
        let lo = from.0.div_ceil(self.interval.0.max(1)) as usize;
        let hi = ((to.0 / self.interval.0.max(1)) as usize).min(s.len().checked_sub(1)?);
        if lo > hi {
            return None;
        }
        summarize(&s[lo..=hi])
    }

    /// Tidy CSV: `time_s,series,node,value`, one row per sample that has a value.
    pub fn write_csv(
        &self,
        names: &[String],
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        writeln!(out, "time_s,series,node,value")?;
        for (k, s) in &self.series {
            let node = match (k.node, &k.part) {
                (Some(n), _) => names.get(n).map_or("?", |s| s.as_str()),
                (None, Some(p)) => p.as_str(),
                (None, None) => "",
            };
            for (i, v) in s.iter().enumerate() {
                if !v.is_nan() {
                    writeln!(
                        out,
                        "{},{},{},{}",
                        self.time_of(i).as_secs_f64(),
                        k.name,
                        node,
                        v
                    )?;
                }
            }
        }
        Ok(())
    }
}

fn summarize(values: &[f64]) -> Option<SeriesSummary> {
    let vals: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let last = *vals.last()?;
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let max = vals.iter().copied().fold(f64::MIN, f64::max);
    Some(SeriesSummary { last, mean, max })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_aligned_and_born_late_series_are_padded() {
        let mut s = SeriesSet::default();
        s.sample([(SeriesKey::of("queue", 0), 1.0)]);
        s.sample([
            (SeriesKey::of("queue", 0), 2.0),
            (SeriesKey::of("busy", 0), 4.0),
        ]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(&SeriesKey::of("queue", 0)).unwrap(), &[1.0, 2.0]);
        let busy = s.get(&SeriesKey::of("busy", 0)).unwrap();
        assert!(busy[0].is_nan() && busy[1] == 4.0);
        assert_eq!(
            s.value_at(&SeriesKey::of("queue", 0), SimTime::from_millis(150)),
            Some(2.0)
        );
        assert_eq!(s.next_at(), SimTime::from_millis(200));
        let names = vec!["db1".to_string()];
        assert_eq!(s.find("db1.queue", &names).len(), 1);
        assert_eq!(s.find("busy", &names).len(), 1);
        let sum = s.summary(&SeriesKey::of("queue", 0)).unwrap();
        assert_eq!((sum.last, sum.mean, sum.max), (2.0, 1.5, 2.0));
        let mut csv = Vec::new();
        s.write_csv(&names, &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert_eq!(
            csv,
            "time_s,series,node,value\n0.1,busy,db1,4\n0,queue,db1,1\n0.1,queue,db1,2\n"
        );
    }

    #[test]
    fn per_partition_series_are_found_by_family_and_bounded() {
        let mut s = SeriesSet::default();
        let names = vec!["store1".to_string()];
        s.sample([
            (SeriesKey::of("keys", 0), 5.0),
            (SeriesKey::of_part("keys", "range[0..250)".into()), 3.0),
            (SeriesKey::of_part("keys", "range[250..)".into()), 2.0),
        ]);
        assert_eq!(s.find("range[0..250).keys", &names).len(), 1);
        assert_eq!(s.find("range.keys", &names).len(), 2);
        // A node series' name does not pick up the partitions' lines.
        assert_eq!(s.find("keys", &names), vec![&SeriesKey::of("keys", 0)]);
        // Ranges splitting many times: only MAX_PARTS partitions are kept per family.
        for i in 0..(2 * MAX_PARTS) {
            s.sample([(SeriesKey::of_part("keys", format!("range[{i}..)")), 1.0)]);
        }
        assert_eq!(s.find("range.keys", &names).len(), MAX_PARTS);
        let mut csv = Vec::new();
        s.write_csv(&names, &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.contains("0,keys,range[0..250),3\n"), "{csv}");
    }

    #[test]
    fn client_series_cover_the_sliding_window() {
        let mut s = SeriesSet::new(&MetricsSpec {
            interval: SimTime::from_millis(500),
            window: SimTime::from_secs(1),
        });
        s.sample([]); // t = 0: no client has finished anything yet
        for i in 1..=10u64 {
            s.client_finished(
                SimTime::from_millis(40 * i),
                SimTime::from_millis(i),
                i != 10,
            );
        }
        s.sample([]); // t = 0.5 s: 9 ok in a 0.5 s run so far
        s.sample([]); // t = 1 s
        s.sample([]); // t = 1.5 s: every operation finished before 0.5 s is out of the window
        let get = |n: &str| s.get(&SeriesKey::global(n)).unwrap().to_vec();
        assert_eq!(get("client.throughput")[1], 18.0);
        assert_eq!(get("client.throughput")[2], 9.0);
        assert_eq!(get("client.throughput")[3], 0.0);
        assert_eq!(get("client.errors")[2], 0.1);
        assert_eq!(get("client.latency.p99")[2], 8.0);
        assert_eq!(get("client.latency.p50")[2], 5.0);
    }

    #[test]
    fn the_grid_coarsens_instead_of_growing_without_bound() {
        let mut s = SeriesSet::default();
        let keys: Vec<SeriesKey> = (0..1000).map(|n| SeriesKey::of("queue", n)).collect();
        for i in 0..(MAX_POINTS / 1000 + 10) {
            s.sample(keys.iter().map(|k| (k.clone(), i as f64)));
        }
        assert!(s.len() * 1000 <= MAX_POINTS);
        assert_eq!(s.interval(), SimTime::from_millis(200));
        // Sample j now holds what was sampled at 2j.
        assert_eq!(s.get(&keys[0]).unwrap()[3], 6.0);
    }
}
