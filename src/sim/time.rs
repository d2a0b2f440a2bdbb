//! Simulated time.
//!
//! `SimTime` is an integer count of **microseconds** since the start of the run. Integer time
//! keeps every comparison exact and every run reproducible; a microsecond is fine enough for
//! network latencies (tens of µs in a datacentre) and coarse enough that `u64` covers
//! half a million years.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in (or span of) simulated time, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);
    /// The largest time a scenario may write: 365 days. Far beyond any scenario's end (24 h at
    /// most), and small enough that sums and small multiples of input times cannot come near
    /// `u64::MAX` (it leaves a factor of 500,000).
    pub const MAX_INPUT: SimTime = SimTime(365 * 24 * 3600 * 1_000_000);

    pub const fn from_micros(us: u64) -> Self {
        SimTime(us)
    }
    pub const fn from_millis(ms: u64) -> Self {
        SimTime(ms * 1_000)
    }
    pub const fn from_secs(s: u64) -> Self {
        SimTime(s * 1_000_000)
    }
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// Seconds as a float, for display and plotting only (never for simulation decisions).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    pub fn saturating_add(self, other: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(other.0))
    }
    pub fn saturating_sub(self, other: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(other.0))
    }
    /// `self + other`, or `None` on overflow (`+` itself saturates at `SimTime::MAX`).
    pub fn checked_add(self, other: SimTime) -> Option<SimTime> {
        self.0.checked_add(other.0).map(SimTime)
    }
    /// `self * k`, or `None` on overflow: for configured multiples (retries x timeout).
    pub fn checked_mul(self, k: u64) -> Option<SimTime> {
        self.0.checked_mul(k).map(SimTime)
    }
    /// `self * k`, saturating at `SimTime::MAX`.
    pub fn saturating_mul(self, k: u64) -> SimTime {
        SimTime(self.0.saturating_mul(k))
    }
    /// Refuses times beyond [`SimTime::MAX_INPUT`], with what the limit is.
    pub fn check_input(self, text: &str) -> Result<SimTime, String> {
        if self > SimTime::MAX_INPUT {
            Err(format!(
                "`{text}` is too large: times are limited to {} (365 days)",
                SimTime::MAX_INPUT
            ))
        } else {
            Ok(self)
        }
    }
    /// Scales a duration by `num / den` with integer arithmetic (used for clock drift).
    pub fn scale(self, num: u64, den: u64) -> SimTime {
        assert!(den > 0, "scale by a zero denominator");
        SimTime(((self.0 as u128 * num as u128) / den as u128).min(u64::MAX as u128) as u64)
    }

    /// Parses `"150ms"`, `"2s"`, `"1.5s"`, `"500us"`, `"3m"`, `"1.5h"`, or a bare number of microseconds.
    pub fn parse(text: &str) -> Result<SimTime, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let unit = unit.trim();
        let scale: u64 = match unit {
            "" | "us" | "µs" => 1,
            "ms" => 1_000,
            "s" => 1_000_000,
            "m" | "min" => 60_000_000,
            "h" => 3_600_000_000,
            _ => {
                return Err(format!(
                    "unknown time unit `{unit}` in `{text}`: expected one of us, ms, s, min, h (e.g. \"150ms\")"
                ));
            }
        };
        if num.is_empty() {
            return Err(format!(
                "expected a number before the unit in `{text}` (e.g. \"150ms\")"
            ));
        }
        let (int, frac) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num, ""),
        };
        if frac.contains('.') {
            return Err(format!("`{text}` is not a number with a unit"));
        }
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| format!("`{text}` is too large"))?
        };
        let mut frac_us: u64 = 0;
        let mut place = scale;
        for d in frac.chars() {
            place /= 10;
            if place == 0 {
                if d != '0' {
                    return Err(format!(
                        "`{text}` is finer than the 1us resolution of simulated time"
                    ));
                }
                continue;
            }
            frac_us += (d as u64 - '0' as u64) * place;
        }
        int.checked_mul(scale)
            .and_then(|v| v.checked_add(frac_us))
            .map(SimTime)
            .ok_or_else(|| format!("`{text}` is too large"))?
            .check_input(text)
    }
}

impl fmt::Display for SimTime {
    /// Human units that parse back exactly: `0s`, `500us`, `15ms`, `1.250s`, `125.000s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us == 0 {
            write!(f, "0s")
        } else if us < 1_000 {
            write!(f, "{us}us")
        } else if us < 1_000_000 {
            if us.is_multiple_of(1_000) {
                write!(f, "{}ms", us / 1_000)
            } else {
                write!(f, "{}.{:03}ms", us / 1_000, us % 1_000)
            }
        } else if us.is_multiple_of(1_000) {
            let ms = us / 1_000;
            write!(f, "{}.{:03}s", ms / 1_000, ms % 1_000)
        } else {
            write!(f, "{}.{:06}s", us / 1_000_000, us % 1_000_000)
        }
    }
}

impl Add for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}
impl AddAssign for SimTime {
    fn add_assign(&mut self, rhs: SimTime) {
        *self = *self + rhs;
    }
}
impl Sub for SimTime {
    type Output = SimTime;
    fn sub(self, rhs: SimTime) -> SimTime {
        debug_assert!(self >= rhs, "time went backwards: {self} - {rhs}");
        SimTime(self.0.saturating_sub(rhs.0))
    }
}

/// In scenario files a time is a string with a unit (`"150ms"`) or a bare integer of microseconds.
impl<'de> Deserialize<'de> for SimTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SimTime;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a time such as \"150ms\", \"2s\" or \"500us\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SimTime, E> {
                SimTime::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SimTime, E> {
                SimTime(v).check_input(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SimTime, E> {
                let v = u64::try_from(v).map_err(|_| E::custom("a time cannot be negative"))?;
                self.visit_u64(v)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for SimTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            s.serialize_u64(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(SimTime::parse("150ms"), Ok(SimTime(150_000)));
        assert_eq!(SimTime::parse("2s"), Ok(SimTime(2_000_000)));
        assert_eq!(SimTime::parse("1.5s"), Ok(SimTime(1_500_000)));
        assert_eq!(SimTime::parse("500us"), Ok(SimTime(500)));
        assert_eq!(SimTime::parse("0.25ms"), Ok(SimTime(250)));
        assert_eq!(SimTime::parse("1min"), Ok(SimTime(60_000_000)));
        assert_eq!(SimTime::parse("42"), Ok(SimTime(42)));
        assert_eq!(SimTime::parse("1.5h"), Ok(SimTime(5_400_000_000)));
        assert!(SimTime::parse("1d").is_err());
        assert!(SimTime::parse("ms").is_err());
        assert!(SimTime::parse("1.0001ms").is_err());
        assert!(SimTime::parse("99999999999999999999s").is_err());
        assert!(SimTime::parse("1.2.3s").is_err());
    }

    #[test]
    fn times_beyond_a_year_are_refused() {
        assert_eq!(SimTime::parse("525600min"), Ok(SimTime::MAX_INPUT));
        let e = SimTime::parse("525601min").unwrap_err();
        assert!(e.contains("too large") && e.contains("365 days"), "{e}");
        assert!(SimTime::parse("31536000000001").is_err());
    }

    #[test]
    fn checked_arithmetic_reports_overflow() {
        assert_eq!(SimTime(2).checked_add(SimTime(3)), Some(SimTime(5)));
        assert_eq!(SimTime::MAX.checked_add(SimTime(1)), None);
        assert_eq!(SimTime(7).checked_mul(3), Some(SimTime(21)));
        assert_eq!(SimTime::MAX_INPUT.checked_mul(u64::from(u32::MAX)), None);
        assert_eq!(SimTime::MAX.saturating_mul(2), SimTime::MAX);
    }

    #[test]
    fn displays_in_human_units() {
        assert_eq!(SimTime(0).to_string(), "0s");
        assert_eq!(SimTime(500).to_string(), "500us");
        assert_eq!(SimTime(15_000).to_string(), "15ms");
        assert_eq!(SimTime(15_250).to_string(), "15.250ms");
        assert_eq!(SimTime(1_250_000).to_string(), "1.250s");
        assert_eq!(SimTime(125_000_000).to_string(), "125.000s");
        assert_eq!(SimTime(1_000_001).to_string(), "1.000001s");
    }

    #[test]
    fn display_round_trips_through_parse() {
        for us in [
            1,
            999,
            1_000,
            15_250,
            1_250_000,
            59_999_000,
            1_000_001,
            7_200_000_000,
        ] {
            let t = SimTime(us);
            assert_eq!(SimTime::parse(&t.to_string()), Ok(t), "{t}");
        }
    }
}
