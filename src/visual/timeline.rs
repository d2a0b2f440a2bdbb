//! Pure helpers for the timeline bar and the speed control (no window needed to test them).

use crate::sim::SimTime;

/// Maps simulated time onto a horizontal bar from `x0` to `x1` pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeAxis {
    pub x0: f32,
    pub x1: f32,
    pub duration: SimTime,
}

impl TimeAxis {
    pub fn x_of(&self, t: SimTime) -> f32 {
        let f = if self.duration.0 == 0 {
            0.0
        } else {
            (t.0.min(self.duration.0) as f64 / self.duration.0 as f64) as f32
        };
        self.x0 + f * (self.x1 - self.x0)
    }
    /// The time under pixel `x`, clamped to the bar.
    pub fn time_at(&self, x: f32) -> SimTime {
        let w = (self.x1 - self.x0).max(1.0);
        let f = ((x - self.x0) / w).clamp(0.0, 1.0) as f64;
        SimTime((f * self.duration.0 as f64).round() as u64)
    }
}

/// Speed is simulated seconds per wall second, on a log scale from 0.01x to 100x.
pub const SPEED_MIN: f64 = 0.01;
pub const SPEED_MAX: f64 = 100.0;

/// Multiplies or divides the speed by a step, clamped to the range.
pub fn speed_step(speed: f64, up: bool) -> f64 {
    let f = if up { 2.0 } else { 0.5 };
    (speed * f).clamp(SPEED_MIN, SPEED_MAX)
}

/// How far the simulation advances in one frame: speed x wall time, in whole microseconds.
pub fn advance(speed: f64, wall_seconds: f64) -> SimTime {
    let wall = wall_seconds.clamp(0.0, 0.25); // a stalled frame does not jump far ahead
    SimTime((speed.clamp(SPEED_MIN, SPEED_MAX) * wall * 1e6).round() as u64)
}

/// A message's position along its link at time `t`: 0 at the sender, 1 at the receiver.
pub fn progress(sent_at: SimTime, arrives_at: SimTime, t: SimTime) -> f32 {
    if arrives_at <= sent_at {
        return 1.0;
    }
    let f = (t.0.saturating_sub(sent_at.0)) as f64 / (arrives_at.0 - sent_at.0) as f64;
    f.clamp(0.0, 1.0) as f32
}

/// A human label for a speed ("0.25x", "4x").
pub fn speed_label(speed: f64) -> String {
    if speed >= 10.0 {
        format!("{speed:.0}x")
    } else if speed >= 1.0 {
        format!("{speed:.1}x")
    } else {
        format!("{speed:.2}x")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_round_trips_and_clamps() {
        let a = TimeAxis {
            x0: 100.0,
            x1: 1100.0,
            duration: SimTime::from_secs(10),
        };
        assert_eq!(a.x_of(SimTime::ZERO), 100.0);
        assert_eq!(a.x_of(SimTime::from_secs(5)), 600.0);
        assert_eq!(a.x_of(SimTime::from_secs(50)), 1100.0);
        assert_eq!(a.time_at(600.0), SimTime::from_secs(5));
        assert_eq!(a.time_at(0.0), SimTime::ZERO);
        assert_eq!(a.time_at(5000.0), SimTime::from_secs(10));
    }

    #[test]
    fn speed_steps_stay_in_range() {
        assert_eq!(speed_step(1.0, true), 2.0);
        assert_eq!(speed_step(80.0, true), 100.0);
        assert_eq!(speed_step(0.015, false), 0.01);
        assert_eq!(advance(0.5, 0.1), SimTime::from_millis(50));
        assert_eq!(
            advance(1.0, 10.0),
            SimTime::from_millis(250),
            "a stalled frame is capped"
        );
    }

    #[test]
    fn messages_interpolate_between_send_and_arrival() {
        let (s, a) = (SimTime::from_millis(10), SimTime::from_millis(30));
        assert_eq!(progress(s, a, SimTime::from_millis(10)), 0.0);
        assert_eq!(progress(s, a, SimTime::from_millis(20)), 0.5);
        assert_eq!(progress(s, a, SimTime::from_millis(40)), 1.0);
        assert_eq!(progress(s, s, s), 1.0);
    }
}
