//! Counters and time series of a run, for the CLI report and the app's plots.

use crate::sim::client::History;
use crate::sim::series::SeriesSet;
use crate::sim::time::SimTime;
use crate::sim::trace::DropReason;
use serde::Serialize;
use std::collections::BTreeMap;

/// Per-kind message counters (a short vector: protocols have a handful of kinds).
#[derive(Clone, Debug, Default, Serialize)]
pub struct KindCounts(pub Vec<(&'static str, u64)>);

impl KindCounts {
    pub fn add(&mut self, kind: &'static str) {
        for (k, n) in self.0.iter_mut() {
            if std::ptr::eq(*k, kind) || *k == kind {
                *n += 1;
                return;
            }
        }
        self.0.push((kind, 1));
    }
    pub fn get(&self, kind: &str) -> u64 {
        self.0
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
    /// Sorted by kind name, for stable reports.
    pub fn sorted(&self) -> BTreeMap<&'static str, u64> {
        self.0.iter().copied().collect()
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    pub sent: KindCounts,
    pub delivered: KindCounts,
    pub dropped: KindCounts,
    pub dropped_by_reason: BTreeMap<DropReason, u64>,
    pub duplicated: u64,
    pub timers_fired: u64,
    /// Protocol counters (`commits`, `elections`, ...).
    pub counters: BTreeMap<&'static str, u64>,
    /// Every time series of the run, on one sampling grid (see [`SeriesSet`]).
    #[serde(skip)]
    pub series: SeriesSet,
}

impl Metrics {
    pub fn count(&mut self, name: &'static str, by: u64) {
        *self.counters.entry(name).or_default() += by;
    }
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

/// Client-side figures computed from the history.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ClientStats {
    pub invoked: usize,
    pub ok: usize,
    /// Compare-and-sets that found another value: answered, so available.
    pub compare_failed: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub pending: usize,
    /// Fraction of finished operations that were answered (ok or compare failed).
    pub availability: f64,
    pub latency_p50: Option<SimTime>,
    pub latency_p90: Option<SimTime>,
    pub latency_p99: Option<SimTime>,
}

impl ClientStats {
    pub fn of(history: &History) -> Self {
        use crate::sim::client::Outcome;
        let mut s = ClientStats {
            invoked: history.entries.len(),
            ..Default::default()
        };
        for e in &history.entries {
            match &e.outcome {
                Some(Outcome::Ok { .. }) => s.ok += 1,
                Some(Outcome::CompareFailed { .. }) => s.compare_failed += 1,
                Some(Outcome::Fail { .. }) => s.failed += 1,
                Some(Outcome::Timeout) => s.timed_out += 1,
                None => s.pending += 1,
            }
        }
        let answered = s.ok + s.compare_failed;
        let finished = answered + s.failed + s.timed_out;
        s.availability = if finished == 0 {
            1.0
        } else {
            answered as f64 / finished as f64
        };
        let lat = history.answered_latencies();
        let pct = |p: usize| -> Option<SimTime> {
            if lat.is_empty() {
                None
            } else {
                Some(lat[((lat.len() - 1) * p) / 100])
            }
        };
        s.latency_p50 = pct(50);
        s.latency_p90 = pct(90);
        s.latency_p99 = pct(99);
        s
    }
}
