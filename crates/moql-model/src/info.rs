//! Track properties ([`TrackInfo`]) and subscriber preferences ([`Subscription`], [`Fetch`]).

use std::time::Duration;

use crate::Error;

/// The immutable properties of a track, set by its publisher (the wire's TRACK_INFO).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrackInfo {
    /// Units per second of frame timestamps; never 0.
    pub timescale: u64,
    /// Tie-break priority between tracks, higher first.
    pub priority: u8,
    /// Tie-break ordering preference: `true` = oldest group first.
    pub ordered: bool,
    /// How long a group that is no longer the latest stays in the cache (spec 11.5).
    pub max_latency: Duration,
}

impl TrackInfo {
    /// The reference defaults: timescale 1000 (milliseconds), priority 0, newest first,
    /// 5 s cache window.
    pub const DEFAULT: Self = Self {
        timescale: 1000,
        priority: 0,
        ordered: false,
        max_latency: Duration::from_secs(5),
    };

    /// Checks the values a track cannot work with.
    ///
    /// # Errors
    ///
    /// [`Error::BoundsExceeded`] for a timescale of 0 (spec 5.9: "0 is a decode error").
    pub fn validate(&self) -> Result<(), Error> {
        if self.timescale == 0 {
            return Err(Error::BoundsExceeded);
        }
        Ok(())
    }
}

impl Default for TrackInfo {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a subscriber wants from a live track (the wire's SUBSCRIBE / SUBSCRIBE_UPDATE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// Higher is delivered first across a session.
    pub priority: u8,
    /// `true` = oldest group first; `false` = newest first.
    pub ordered: bool,
    /// A group that is no longer the latest is not delivered once its age passes this
    /// (spec 11.5). [`Duration::MAX`] = no limit of the subscriber's own.
    pub max_latency: Duration,
    /// First group wanted; `None` = start at the latest group (spec 11.1).
    pub start: Option<u64>,
    /// Last group wanted, inclusive; later groups are held back, not dropped (spec 11.2).
    pub end: Option<u64>,
}

impl Subscription {
    /// Latest group onwards, unbounded, priority 0, newest first, no latency limit.
    pub const DEFAULT: Self = Self {
        priority: 0,
        ordered: false,
        max_latency: Duration::MAX,
        start: None,
        end: None,
    };

    /// The combined demand of several subscribers, as a relay forwards it upstream
    /// (spec 11.4): the highest priority, ordered only if all want ordered, the largest max
    /// latency, the lowest start (`None` = latest wins only if every subscriber wants the
    /// latest) and the highest end (`None` = unbounded wins).
    pub fn aggregate<'a>(subs: impl IntoIterator<Item = &'a Self>) -> Option<Self> {
        let mut iter = subs.into_iter();
        let mut acc = *iter.next()?;
        for sub in iter {
            acc.priority = acc.priority.max(sub.priority);
            acc.ordered &= sub.ordered;
            acc.max_latency = acc.max_latency.max(sub.max_latency);
            acc.start = match (acc.start, sub.start) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            acc.end = match (acc.end, sub.end) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
        Some(acc)
    }
}

impl Default for Subscription {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Options of a [`TrackConsumer::fetch`](crate::TrackConsumer::fetch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fetch {
    /// Subscriber priority of the fetch, higher first (default 0).
    pub priority: u8,
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn aggregate_takes_the_widest_demand() {
        let a = Subscription {
            priority: 1,
            ordered: true,
            max_latency: Duration::from_millis(100),
            start: Some(5),
            end: Some(9),
        };
        let b = Subscription {
            priority: 7,
            ordered: false,
            max_latency: Duration::from_millis(300),
            start: Some(3),
            end: Some(4),
        };
        let agg = Subscription::aggregate([&a, &b]).unwrap();
        assert_eq!(agg.priority, 7);
        assert!(!agg.ordered);
        assert_eq!(agg.max_latency, Duration::from_millis(300));
        assert_eq!(agg.start, Some(3));
        assert_eq!(agg.end, Some(9));
        let unbounded = Subscription { end: None, ..a };
        assert_eq!(Subscription::aggregate([&unbounded, &b]).unwrap().end, None);
        assert_eq!(Subscription::aggregate([]), None);
    }

    #[test]
    fn zero_timescale_is_refused() {
        let info = TrackInfo {
            timescale: 0,
            ..TrackInfo::DEFAULT
        };
        assert_eq!(info.validate(), Err(Error::BoundsExceeded));
        assert_eq!(TrackInfo::DEFAULT.validate(), Ok(()));
    }
}
