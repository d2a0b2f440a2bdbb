//! Load: open-loop arrival processes and key popularity.
//!
//! Closed-loop clients (`clients: 3, interval: "100ms"`) wait for each reply before the next
//! request, so they slow down with the system and never overload it. An open-loop
//! [`Arrival`] process sends requests at its own pace, whatever happens to the earlier ones:
//! that is how real traffic behaves and how overload becomes reachable.
//!
//! Keys are `k0..k{count-1}`; [`KeyPick`] says how often each is asked for: `Uniform`,
//! `Zipf(s)` (a few hot keys: rank `r` is picked with probability proportional to `1/r^s`),
//! `Hotspot` (a fraction of the keys takes most of the traffic) or `Sequential` (each request
//! takes the next key: the hot spot of range partitioning).

use crate::sim::time::SimTime;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Zipf};
use serde::{Deserialize, Serialize};

/// Highest arrival rate accepted, in requests per second.
pub const MAX_RATE: f64 = 1_000_000.0;

/// An open-loop arrival process; rates are requests per second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Arrival {
    /// Exponential gaps with mean `1/rate` (a Poisson process).
    Poisson { rate: f64 },
    /// Evenly spaced, `1/rate` apart.
    Constant { rate: f64 },
    /// A Poisson process whose rate rises (or falls) linearly from `from` to `to` over
    /// `over`, counted from the workload's start, then stays at `to`.
    Ramp { from: f64, to: f64, over: SimTime },
    /// A Poisson process at `base`, at `peak` from `at` for `length`.
    Burst {
        base: f64,
        peak: f64,
        at: SimTime,
        length: SimTime,
    },
}

impl Arrival {
    /// The rate at `t` after the workload's start.
    pub fn rate_at(&self, t: SimTime) -> f64 {
        match self {
            Arrival::Poisson { rate } | Arrival::Constant { rate } => *rate,
            Arrival::Ramp { from, to, over } => {
                if t >= *over || over.0 == 0 {
                    *to
                } else {
                    from + (to - from) * (t.0 as f64 / over.0 as f64)
                }
            }
            Arrival::Burst {
                base,
                peak,
                at,
                length,
            } => {
                if t >= *at && t.0 < at.0.saturating_add(length.0) {
                    *peak
                } else {
                    *base
                }
            }
        }
    }

    fn max_rate(&self) -> f64 {
        match self {
            Arrival::Poisson { rate } | Arrival::Constant { rate } => *rate,
            Arrival::Ramp { from, to, .. } => from.max(*to),
            Arrival::Burst { base, peak, .. } => base.max(*peak),
        }
    }

    /// The gap from an arrival at `t` (after the workload's start) to the next one, or `None`
    /// when no arrival comes before `horizon` (also after the start).
    pub fn next_gap(&self, t: SimTime, horizon: SimTime, rng: &mut ChaCha8Rng) -> Option<SimTime> {
        match self {
            Arrival::Constant { rate } => Some(SimTime(((1e6 / rate).round() as u64).max(1))),
            Arrival::Poisson { rate } => Some(exp_gap(*rate, rng)),
            _ => {
                // Thinning (Lewis and Shedler): candidates at the peak rate, each kept with
                // probability rate(t)/peak, is an exact non-homogeneous Poisson process.
                let peak = self.max_rate();
                let mut at = t;
                loop {
                    at += exp_gap(peak, rng);
                    if at > horizon {
                        return None;
                    }
                    if rng.random::<f64>() * peak < self.rate_at(at) {
                        return Some(at - t);
                    }
                }
            }
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let rates: &[(&str, f64)] = match self {
            Arrival::Poisson { rate } | Arrival::Constant { rate } => &[("rate", *rate)],
            Arrival::Ramp { from, to, .. } => &[("from", *from), ("to", *to)],
            Arrival::Burst { base, peak, .. } => &[("base", *base), ("peak", *peak)],
        };
        for (name, r) in rates {
            if !(r.is_finite() && *r >= 0.0 && *r <= MAX_RATE) {
                return Err(format!(
                    "arrival `{name}` is requests per second: expected a number in [0, {MAX_RATE}], got {r}"
                ));
            }
        }
        if self.max_rate() <= 0.0 {
            return Err("an arrival process needs a positive rate somewhere".into());
        }
        if let Arrival::Poisson { rate } | Arrival::Constant { rate } = self
            && *rate <= 0.0
        {
            return Err(format!("arrival `rate` must be positive, got {rate}"));
        }
        Ok(())
    }
}

fn exp_gap(rate: f64, rng: &mut ChaCha8Rng) -> SimTime {
    let d = Exp::new(rate / 1e6).expect("validated positive rate");
    SimTime((d.sample(rng).min(1e15) as u64).max(1))
}

/// How keys are picked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum KeyPick {
    #[default]
    Uniform,
    /// Key of rank `r` (1-based) with probability proportional to `1/r^s`.
    Zipf { s: f64 },
    /// `probability` of the requests go to the first `fraction` of the keys.
    Hotspot { fraction: f64, probability: f64 },
    /// `k0`, `k1`, `k2`, … in turn.
    Sequential,
}

/// `keys: 3` or `keys: (count: 10000, pick: Zipf(s: 0.99))`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Keys {
    pub count: u32,
    pub pick: KeyPick,
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            count: 3,
            pick: KeyPick::Uniform,
        }
    }
}

impl Keys {
    pub fn uniform(count: u32) -> Self {
        Keys {
            count,
            pick: KeyPick::Uniform,
        }
    }

    /// The index of the next key; `seq` counts the keys picked so far (for `Sequential`).
    pub fn pick(&self, seq: u64, rng: &mut ChaCha8Rng) -> u32 {
        let n = self.count.max(1);
        match &self.pick {
            KeyPick::Uniform => rng.random_range(0..n),
            KeyPick::Zipf { s } => {
                let z = Zipf::new(n as f64, *s).expect("validated");
                ((z.sample(rng) as u32).clamp(1, n)) - 1
            }
            KeyPick::Hotspot {
                fraction,
                probability,
            } => {
                let hot = ((n as f64 * fraction).ceil() as u32).clamp(1, n);
                if hot == n || rng.random_bool(*probability) {
                    rng.random_range(0..hot)
                } else {
                    rng.random_range(hot..n)
                }
            }
            KeyPick::Sequential => (seq % n as u64) as u32,
        }
    }

    pub fn validate(&self, max: u32) -> Result<(), String> {
        if self.count == 0 || self.count > max {
            return Err(format!(
                "expected between 1 and {max} keys, got {}",
                self.count
            ));
        }
        match &self.pick {
            KeyPick::Zipf { s } if !(s.is_finite() && *s >= 0.0 && *s <= 10.0) => {
                Err(format!("Zipf exponent `s` must be in [0, 10], got {s}"))
            }
            KeyPick::Hotspot {
                fraction,
                probability,
            } if !((0.0..=1.0).contains(fraction) && (0.0..=1.0).contains(probability)) => {
                Err(format!(
                    "Hotspot `fraction` and `probability` must be in [0, 1], got {fraction} and {probability}"
                ))
            }
            _ => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Spec {
            count: u32,
            #[serde(default)]
            pick: KeyPick,
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key count (`keys: 100`) or `(count: 100, pick: Zipf(s: 0.99))`")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Keys, E> {
                u32::try_from(v)
                    .map(Keys::uniform)
                    .map_err(|_| E::custom(format!("key count {v} is too large")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Keys, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("key count must be positive, got {v}")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Keys, A::Error> {
                let s = Spec::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Keys {
                    count: s.count,
                    pick: s.pick,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn keys_read_as_a_count_or_a_spec() {
        let k: Keys = ron::from_str("3").unwrap();
        assert_eq!(k, Keys::uniform(3));
        let k: Keys = ron::from_str("(count: 100, pick: Zipf(s: 0.99))").unwrap();
        assert_eq!(k.count, 100);
        assert_eq!(k.pick, KeyPick::Zipf { s: 0.99 });
        let k: Keys = ron::from_str("(count: 10)").unwrap();
        assert_eq!(k.pick, KeyPick::Uniform);
        assert!(ron::from_str::<Keys>("(count: 10, pik: Uniform)").is_err());
    }

    #[test]
    fn zipf_makes_the_first_key_the_most_popular_in_the_ratio_of_its_law() {
        let keys = Keys {
            count: 100,
            pick: KeyPick::Zipf { s: 1.0 },
        };
        let mut r = rng();
        let mut hits = [0u32; 100];
        let draws = 200_000;
        for i in 0..draws {
            hits[keys.pick(i, &mut r) as usize] += 1;
        }
        // P(rank 1) = 1 / H(100, 1), P(rank 2) = P(rank 1) / 2.
        let h: f64 = (1..=100).map(|r| 1.0 / r as f64).sum();
        let p1 = hits[0] as f64 / draws as f64;
        assert!((p1 - 1.0 / h).abs() < 0.01, "p1 {p1} vs {}", 1.0 / h);
        let ratio = hits[0] as f64 / hits[1] as f64;
        assert!((ratio - 2.0).abs() < 0.1, "ratio {ratio}");
    }

    #[test]
    fn hotspot_sends_its_probability_to_the_hot_fraction_and_sequential_cycles() {
        let keys = Keys {
            count: 1000,
            pick: KeyPick::Hotspot {
                fraction: 0.01,
                probability: 0.9,
            },
        };
        let mut r = rng();
        let draws = 100_000;
        let hot = (0..draws).filter(|&i| keys.pick(i, &mut r) < 10).count();
        let p = hot as f64 / draws as f64;
        assert!((p - 0.9).abs() < 0.01, "{p}");
        let seq = Keys {
            count: 3,
            pick: KeyPick::Sequential,
        };
        let v: Vec<u32> = (0..5).map(|i| seq.pick(i, &mut r)).collect();
        assert_eq!(v, [0, 1, 2, 0, 1]);
    }

    #[test]
    fn poisson_and_ramp_arrivals_have_the_expected_counts() {
        let mut r = rng();
        let horizon = SimTime::from_secs(100);
        let count = |a: &Arrival, r: &mut ChaCha8Rng| {
            let mut t = SimTime::ZERO;
            let mut n = 0u64;
            while let Some(g) = a.next_gap(t, horizon, r) {
                t += g;
                if t > horizon {
                    break;
                }
                n += 1;
            }
            n
        };
        let n = count(&Arrival::Poisson { rate: 200.0 }, &mut r) as f64;
        // Mean 20,000, standard deviation sqrt(20,000) ~ 141.
        assert!((n - 20_000.0).abs() < 5.0 * 141.0, "{n}");
        let ramp = Arrival::Ramp {
            from: 0.0,
            to: 200.0,
            over: horizon,
        };
        // The integral of the rate is 100 s * 100/s = 10,000.
        let n = count(&ramp, &mut r) as f64;
        assert!((n - 10_000.0).abs() < 5.0 * 100.0, "{n}");
        assert_eq!(
            Arrival::Constant { rate: 4.0 }.next_gap(SimTime::ZERO, horizon, &mut r),
            Some(SimTime::from_millis(250))
        );
    }

    #[test]
    fn absurd_rates_and_keys_are_refused() {
        assert!(Arrival::Poisson { rate: 0.0 }.validate().is_err());
        assert!(Arrival::Poisson { rate: f64::NAN }.validate().is_err());
        assert!(
            Arrival::Ramp {
                from: 0.0,
                to: 0.0,
                over: SimTime::from_secs(1)
            }
            .validate()
            .is_err()
        );
        assert!(Keys::uniform(0).validate(10).is_err());
        assert!(
            Keys {
                count: 5,
                pick: KeyPick::Hotspot {
                    fraction: 2.0,
                    probability: 0.5
                }
            }
            .validate(10)
            .is_err()
        );
    }
}
