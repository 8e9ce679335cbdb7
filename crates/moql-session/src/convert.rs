//! Every model ↔ wire mapping: a subscriber's preferences (SUBSCRIBE, SUBSCRIBE_UPDATE,
//! FETCH) and a track's properties (TRACK_INFO). Durations travel as whole milliseconds
//! (spec 2.6) and are clamped by [`latency_to_wire`] alone.

use std::time::Duration;

use moql_model::{Fetch as FetchOptions, Subscription, TrackInfo};
use moql_wire::{Fetch, Path, Subscribe, SubscribeUpdate};

/// The largest latency sent, in ms: 2^53 − 1, the largest integer a JavaScript peer reads
/// exactly (spec 2.1).
pub(crate) const MAX_WIRE_LATENCY_MS: u64 = (1 << 53) - 1;

/// A latency in wire milliseconds: whole ms, rounded down, at most [`MAX_WIRE_LATENCY_MS`]
/// (so [`Duration::MAX`], "no limit", is sent as that).
pub(crate) fn latency_to_wire(latency: Duration) -> u64 {
    u64::try_from(latency.as_millis())
        .unwrap_or(MAX_WIRE_LATENCY_MS)
        .min(MAX_WIRE_LATENCY_MS)
}

/// A wire latency (ms) as a [`Duration`]. Not the inverse of [`latency_to_wire`] for
/// [`Duration::MAX`]: the largest values come back as long finite durations, which the model
/// never reaches in practice.
pub(crate) fn latency_from_wire(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The preferences a SUBSCRIBE carries (its lite-06 frame bounds are not model state).
pub(crate) fn subscription_from_subscribe(request: &Subscribe) -> Subscription {
    Subscription {
        priority: request.priority,
        ordered: request.ordered,
        max_latency: latency_from_wire(request.max_latency),
        start: request.start,
        end: request.end,
    }
}

/// The preferences a SUBSCRIBE_UPDATE replaces them with (spec 5.7).
pub(crate) fn subscription_from_update(update: &SubscribeUpdate) -> Subscription {
    Subscription {
        priority: update.priority,
        ordered: update.ordered,
        max_latency: latency_from_wire(update.max_latency),
        start: update.start,
        end: update.end,
    }
}

/// The SUBSCRIBE for subscription `id` to `broadcast`/`track` with `sub`'s preferences; whole
/// groups (no frame bounds).
pub(crate) fn subscribe(id: u64, broadcast: &Path, track: &str, sub: &Subscription) -> Subscribe {
    Subscribe {
        id,
        broadcast: broadcast.clone(),
        track: track.to_string(),
        priority: sub.priority,
        ordered: sub.ordered,
        max_latency: latency_to_wire(sub.max_latency),
        start: sub.start,
        end: sub.end,
        frame_start: 0,
        frame_end: None,
    }
}

/// The SUBSCRIBE_UPDATE that replaces an open subscription's preferences with `sub`'s.
pub(crate) fn subscribe_update(sub: &Subscription) -> SubscribeUpdate {
    SubscribeUpdate {
        priority: sub.priority,
        ordered: sub.ordered,
        max_latency: latency_to_wire(sub.max_latency),
        start: sub.start,
        end: sub.end,
        frame_start: 0,
        frame_end: None,
    }
}

/// The TRACK_INFO describing `info`.
pub(crate) fn track_info_to_wire(info: &TrackInfo) -> moql_wire::TrackInfo {
    moql_wire::TrackInfo {
        priority: info.priority,
        ordered: info.ordered,
        max_latency: latency_to_wire(info.max_latency),
        timescale: info.timescale,
    }
}

/// The track properties a TRACK_INFO declares, unvalidated (see [`TrackInfo::validate`]).
pub(crate) fn track_info_from_wire(info: &moql_wire::TrackInfo) -> TrackInfo {
    TrackInfo {
        timescale: info.timescale,
        priority: info.priority,
        ordered: info.ordered,
        max_latency: latency_from_wire(info.max_latency),
    }
}

/// The FETCH of group `group` of `broadcast`/`track` at `priority`; the whole group.
pub(crate) fn fetch(broadcast: &Path, track: &str, priority: u8, group: u64) -> Fetch {
    Fetch {
        broadcast: broadcast.clone(),
        track: track.to_string(),
        priority,
        group,
        frame_start: 0,
        frame_end: None,
    }
}

/// The model's fetch options for a FETCH (its frame bounds are applied when serving).
pub(crate) fn fetch_options(request: &Fetch) -> FetchOptions {
    FetchOptions {
        priority: request.priority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: Subscription = Subscription {
        priority: 7,
        ordered: true,
        max_latency: Duration::from_millis(1500),
        start: Some(3),
        end: Some(9),
    };

    #[test]
    fn latency_is_whole_milliseconds_rounded_down() {
        assert_eq!(latency_to_wire(Duration::ZERO), 0);
        assert_eq!(latency_to_wire(Duration::from_micros(999)), 0);
        assert_eq!(latency_to_wire(Duration::from_micros(1_999)), 1);
        assert_eq!(latency_to_wire(Duration::from_millis(500)), 500);
        assert_eq!(latency_from_wire(0), Duration::ZERO);
        assert_eq!(latency_from_wire(500), Duration::from_millis(500));
    }

    #[test]
    fn latency_is_clamped_to_what_javascript_reads_exactly() {
        let max = Duration::from_millis(MAX_WIRE_LATENCY_MS);
        assert_eq!(latency_to_wire(max), MAX_WIRE_LATENCY_MS);
        assert_eq!(
            latency_to_wire(max + Duration::from_millis(1)),
            MAX_WIRE_LATENCY_MS
        );
        // More milliseconds than a u64 holds.
        assert!(Duration::MAX.as_millis() > u128::from(u64::MAX));
        assert_eq!(latency_to_wire(Duration::MAX), MAX_WIRE_LATENCY_MS);
        assert_eq!(
            latency_to_wire(Duration::from_millis(u64::MAX)),
            MAX_WIRE_LATENCY_MS
        );
        assert_eq!(latency_from_wire(u64::MAX), Duration::from_millis(u64::MAX));
    }

    #[test]
    fn a_subscription_round_trips_through_subscribe_and_update() {
        let broadcast = Path::new("room/a").unwrap();
        let request = subscribe(4, &broadcast, "video", &SUB);
        assert_eq!((request.id, request.track.as_str()), (4, "video"));
        assert_eq!(request.broadcast, broadcast);
        assert_eq!(request.max_latency, 1500);
        assert_eq!((request.frame_start, request.frame_end), (0, None));
        assert_eq!(subscription_from_subscribe(&request), SUB);

        let update = subscribe_update(&SUB);
        assert_eq!((update.frame_start, update.frame_end), (0, None));
        assert_eq!(subscription_from_update(&update), SUB);
    }

    #[test]
    fn no_latency_limit_is_sent_as_the_clamp() {
        let sub = Subscription::DEFAULT;
        assert_eq!(subscribe_update(&sub).max_latency, MAX_WIRE_LATENCY_MS);
        let back = subscription_from_update(&subscribe_update(&sub));
        assert_eq!(back.max_latency, Duration::from_millis(MAX_WIRE_LATENCY_MS));
    }

    #[test]
    fn track_info_round_trips() {
        let info = TrackInfo {
            timescale: 90_000,
            priority: 2,
            ordered: true,
            max_latency: Duration::from_secs(5),
        };
        let wire = track_info_to_wire(&info);
        assert_eq!((wire.max_latency, wire.timescale), (5000, 90_000));
        assert_eq!(track_info_from_wire(&wire), info);
        let forever = TrackInfo {
            max_latency: Duration::MAX,
            ..info
        };
        assert_eq!(
            track_info_to_wire(&forever).max_latency,
            MAX_WIRE_LATENCY_MS
        );
    }

    #[test]
    fn fetch_carries_the_priority_both_ways() {
        let broadcast = Path::new("room/a").unwrap();
        let request = fetch(&broadcast, "video", 9, 42);
        assert_eq!((request.group, request.priority), (42, 9));
        assert_eq!((request.frame_start, request.frame_end), (0, None));
        assert_eq!(fetch_options(&request), FetchOptions { priority: 9 });
    }
}
