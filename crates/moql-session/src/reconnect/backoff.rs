//! [`Backoff`]: how long a reconnecting client waits before its next dial.
//!
//! Exponential with full jitter (the delay is drawn uniformly from zero to the exponential
//! ceiling), so clients that lost the same relay at the same instant do not all come back at
//! the same instant. The decision is a pure function of the attempt number and a random draw
//! ([`Backoff::delay`]) so it can be tested without clocks or randomness; the draw itself
//! comes from `fastrand`.
//!
//! A hand-written type rather than the `backoff`/`backon` crates: those own the retry loop
//! (and `backoff` is unmaintained), while here the loop also watches GOAWAY and the healthy
//! period, so only the delay arithmetic was wanted (a dozen lines).

use std::time::Duration;

/// Exponential backoff with full jitter, a cap, and a reset after a healthy period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's delay; each further attempt doubles it.
    pub initial: Duration,
    /// The largest ceiling: delays never exceed it.
    pub max: Duration,
    /// A connection that stayed up this long was healthy: the next loss starts again from
    /// attempt 0.
    pub healthy: Duration,
}

impl Default for Backoff {
    /// 250 ms doubling to a 30 s cap; reset after 10 s connected.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            healthy: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The ceiling for retry number `attempt` (0 = the first retry): `initial × 2^attempt`,
    /// at most `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The delay before retry number `attempt`, given a uniform `draw` in `[0, 1)` (values
    /// outside are clamped): `draw × ceiling(attempt)` (full jitter).
    pub fn delay(&self, attempt: u32, draw: f64) -> Duration {
        let draw = if draw.is_finite() {
            draw.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.ceiling(attempt).mul_f64(draw)
    }

    /// The delay before retry number `attempt`, with a fresh random draw.
    pub fn next_delay(&self, attempt: u32) -> Duration {
        self.delay(attempt, fastrand::f64())
    }

    /// The attempt number to continue from after a connection that lasted `up`: 0 if it was
    /// healthy, else `attempt + 1`.
    pub fn after_connection(&self, attempt: u32, up: Duration) -> u32 {
        if up >= self.healthy {
            0
        } else {
            attempt.saturating_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let backoff = Backoff {
            initial: ms(100),
            max: ms(1000),
            healthy: ms(5000),
        };
        let ceilings: Vec<Duration> = (0..6).map(|a| backoff.ceiling(a)).collect();
        assert_eq!(
            ceilings,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        // Far attempts neither overflow nor pass the cap.
        assert_eq!(backoff.ceiling(u32::MAX), ms(1000));
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(2, 0.0), Duration::ZERO);
        assert_eq!(backoff.delay(2, 0.5), ms(500));
        assert_eq!(backoff.delay(2, 1.0), ms(1000));
        // A draw out of range or not a number never yields more than the ceiling.
        assert_eq!(backoff.delay(2, 7.0), ms(1000));
        assert_eq!(backoff.delay(2, f64::NAN), Duration::ZERO);
        for attempt in 0..40 {
            assert!(backoff.next_delay(attempt) <= backoff.max);
        }
    }

    #[test]
    fn a_healthy_connection_resets_the_attempts() {
        let backoff = Backoff::default();
        assert_eq!(backoff.after_connection(5, Duration::from_secs(10)), 0);
        assert_eq!(backoff.after_connection(5, Duration::from_secs(9)), 6);
        assert_eq!(backoff.after_connection(u32::MAX, Duration::ZERO), u32::MAX);
    }
}
