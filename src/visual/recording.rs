//! Which simulated instants an animated GIF of a run shows (`distsim FILE --record out.gif
//! --from 1s --to 4s`, or F9 in the app). The frames are spaced in simulated time, not in
//! wall time, so the same scenario, seed and options always give the same frames however
//! slow the machine renders them.

use crate::sim::SimTime;

/// More frames than this would hold gigabytes of pixels while encoding and make a GIF no
/// slide deck wants; the plan is refused with the figures to change instead.
pub const MAX_FRAMES: usize = 600;

/// Frame rates a GIF can show: its delays are whole centiseconds, and viewers slow down
/// delays under 2 cs, so above 50 frames per second the animation would not speed up.
pub const FPS_RANGE: std::ops::RangeInclusive<u32> = 1..=50;

/// How long the last frame stays before the animation loops, so the end can be read.
pub const HOLD_LAST_MS: u32 = 1_500;

#[derive(Clone, Debug, PartialEq)]
pub struct FramePlan {
    /// The instant of each frame, in order: `from`, `from + step`, …, and `to` itself.
    pub times: Vec<SimTime>,
    /// Wall time each frame is shown, in milliseconds (a multiple of 10).
    pub delay_ms: u32,
}

/// Plans the frames of a recording from `from` to `to` (both shown) at `fps` frames per
/// wall second, playing `speed` simulated seconds per wall second.
pub fn plan(
    from: SimTime,
    to: SimTime,
    fps: u32,
    speed: f64,
    duration: SimTime,
) -> Result<FramePlan, String> {
    if !FPS_RANGE.contains(&fps) {
        return Err(format!(
            "--fps {fps}: expected {} to {} frames per second (a GIF's delays are whole centiseconds)",
            FPS_RANGE.start(),
            FPS_RANGE.end()
        ));
    }
    if !(speed.is_finite() && speed > 0.0) {
        return Err(format!(
            "--speed {speed}: expected a positive number of simulated seconds per second"
        ));
    }
    if to <= from {
        return Err(format!(
            "--to {to} is not after --from {from}: expected a window such as --from 1s --to 4s"
        ));
    }
    if to > duration {
        return Err(format!(
            "--to {to} is after the end of the scenario ({duration})"
        ));
    }
    let step = ((speed * 1e6 / fps as f64).round() as u64).max(1);
    let span = to.0 - from.0;
    let frames = span.div_ceil(step) as usize + 1;
    if frames > MAX_FRAMES {
        return Err(format!(
            "recording {from}..{to} at {fps} fps and speed {speed}x takes {frames} frames; \
             at most {MAX_FRAMES}: shorten the window, lower --fps or raise --speed"
        ));
    }
    let mut times: Vec<SimTime> = (0..frames as u64 - 1)
        .map(|i| SimTime(from.0 + i * step))
        .collect();
    times.push(to);
    // Centiseconds, as the GIF stores them.
    let delay_ms = ((1000.0 / fps as f64 / 10.0).round() as u32).max(2) * 10;
    Ok(FramePlan { times, delay_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> SimTime {
        SimTime::from_millis(v)
    }

    #[test]
    fn frames_are_spaced_by_speed_over_fps_and_end_at_to() {
        // 0.5 simulated seconds per second at 10 fps: 50 ms of simulated time per frame.
        let p = plan(ms(1000), ms(1200), 10, 0.5, ms(5000)).unwrap();
        assert_eq!(
            p.times,
            vec![ms(1000), ms(1050), ms(1100), ms(1150), ms(1200)]
        );
        assert_eq!(p.delay_ms, 100);
        // A window that is not a whole number of steps still ends on `to`.
        let p = plan(ms(0), ms(120), 10, 0.5, ms(5000)).unwrap();
        assert_eq!(p.times, vec![ms(0), ms(50), ms(100), ms(120)]);
    }

    #[test]
    fn delays_are_whole_centiseconds() {
        for fps in FPS_RANGE {
            let p = plan(ms(0), ms(100), fps, 1.0, ms(100)).unwrap();
            assert_eq!(p.delay_ms % 10, 0, "fps {fps}");
            assert!(p.delay_ms >= 20, "fps {fps}");
            let shown = 1000.0 / p.delay_ms as f64;
            assert!(
                (shown - fps as f64).abs() / (fps as f64) < 0.35,
                "fps {fps} shows {shown}"
            );
        }
    }

    #[test]
    fn bad_windows_and_rates_are_refused_with_what_to_change() {
        let e = plan(ms(2000), ms(1000), 10, 0.5, ms(5000)).unwrap_err();
        assert!(e.contains("not after --from"), "{e}");
        let e = plan(ms(0), ms(6000), 10, 0.5, ms(5000)).unwrap_err();
        assert!(e.contains("after the end of the scenario (5.000s)"), "{e}");
        let e = plan(ms(0), ms(1000), 0, 0.5, ms(5000)).unwrap_err();
        assert!(e.contains("expected 1 to 50"), "{e}");
        let e = plan(ms(0), ms(1000), 10, f64::NAN, ms(5000)).unwrap_err();
        assert!(e.contains("positive"), "{e}");
        // 100 s at 0.5x and 10 fps would be 2,001 frames.
        let e = plan(ms(0), ms(100_000), 10, 0.5, ms(200_000)).unwrap_err();
        assert!(
            e.contains("2001 frames") && e.contains("at most 600"),
            "{e}"
        );
    }
}
