//! The expiration rules as pure functions of ages and latencies (spec 11.5), so they can be
//! tested alone and every caller applies the same rule.
//!
//! The age of a group that is no longer the latest is the larger of
//! - its **timestamp age**: how far its first frame lies behind the newest group's first
//!   frame, in the track's timescale; and
//! - its **wall-clock age**: how long ago it stopped being active (a newer group arrived, or
//!   it was last written or fetched, whichever is later).
//!
//! Such a group leaves live delivery once its age passes the *subscriber's* max latency, and
//! leaves the cache once it passes the *publisher's* max latency. The latest group is never
//! expired by either rule.

use std::time::Duration;

/// The timestamp age of a group whose first frame is at `group_ts`, when the newest group's
/// first frame is at `newest_ts`; zero if either is unknown or the group is not behind.
pub fn timestamp_age(newest_ts: Option<u64>, group_ts: Option<u64>, timescale: u64) -> Duration {
    let (Some(newest), Some(group)) = (newest_ts, group_ts) else {
        return Duration::ZERO;
    };
    if timescale == 0 || newest <= group {
        return Duration::ZERO;
    }
    let units = newest - group;
    let secs = units / timescale;
    let rem = units % timescale;
    // rem < timescale, so rem * 1e9 / timescale < 1e9 fits a u32 after the division; use
    // u128 for the product so large timescales cannot overflow.
    let nanos = (u128::from(rem) * 1_000_000_000 / u128::from(timescale)) as u32;
    Duration::new(secs, nanos)
}

/// The age the expiration rules compare: the larger of the timestamp and wall-clock ages.
pub fn age(timestamp_age: Duration, wall_age: Duration) -> Duration {
    timestamp_age.max(wall_age)
}

/// True while a non-latest group of this age may still be delivered to a subscriber whose
/// max latency is `subscriber_max_latency`.
pub fn is_live(age: Duration, subscriber_max_latency: Duration) -> bool {
    age <= subscriber_max_latency
}

/// True while a non-latest group of this age stays in the cache of a track whose publisher
/// max latency is `publisher_max_latency`.
pub fn is_cached(age: Duration, publisher_max_latency: Duration) -> bool {
    age <= publisher_max_latency
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn timestamp_age_is_measured_in_the_track_timescale() {
        assert_eq!(
            timestamp_age(Some(3000), Some(1000), 1000),
            Duration::from_secs(2)
        );
        assert_eq!(
            timestamp_age(Some(90_000), Some(45_000), 90_000),
            Duration::from_millis(500)
        );
        assert_eq!(
            timestamp_age(Some(1000), Some(3000), 1000),
            Duration::ZERO,
            "not behind"
        );
        assert_eq!(timestamp_age(None, Some(3000), 1000), Duration::ZERO);
        assert_eq!(
            timestamp_age(Some(u64::MAX), Some(0), u64::MAX - 1).as_secs(),
            1
        );
    }

    #[test]
    fn the_larger_age_decides() {
        let ts = Duration::from_millis(200);
        let wall = Duration::from_millis(700);
        assert_eq!(age(ts, wall), wall);
        assert!(!is_live(age(ts, wall), Duration::from_millis(500)));
        assert!(is_cached(age(ts, wall), Duration::from_secs(5)));
        assert!(
            is_live(Duration::ZERO, Duration::ZERO),
            "age 0 passes a 0 limit"
        );
    }
}
