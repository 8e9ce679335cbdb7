//! Track behaviour: live delivery, the cache and eviction, and every FETCH path.

use std::task::Poll;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use moql_sync::{Future as _, Waiter};

use crate::{Error, Fetch, Frame, GroupStatus, Subscription, TrackInfo, TrackProducer};

fn track(max_latency: Duration) -> TrackProducer {
    let track = TrackProducer::new(
        "t",
        TrackInfo {
            max_latency,
            ..TrackInfo::DEFAULT
        },
    )
    .unwrap();
    track.accept_fetches();
    track
}

/// Writes group `seq` with `frames` frames (timestamps `seq * 1000 + i`) and finishes it.
fn produce(track: &TrackProducer, seq: u64, frames: u64) {
    let group = track.create_group(seq).unwrap();
    for i in 0..frames {
        group.write(seq * 1000 + i, format!("{seq}:{i}")).unwrap();
    }
    group.finish().unwrap();
}

fn payloads(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| String::from_utf8(f.payload.to_vec()).unwrap())
        .collect()
}

fn no_request(track: &TrackProducer) -> bool {
    track.poll_requested_fetch(&Waiter::noop()).is_pending()
}

// ---- live delivery ----

#[test]
fn a_subscription_without_an_end_remembers_a_bounded_delivered_set() {
    // Group End 0 (no end) and a long cache window: every group stays cached, and the record
    // of what this subscriber was given must not grow with it.
    let track = track(Duration::from_secs(3600));
    let mut sub = track.subscribe(Subscription::default());
    for seq in 0..5_000 {
        produce(&track, seq, 0);
        assert_eq!(block_on(sub.next_group()).unwrap().unwrap().sequence(), seq);
    }
    assert_eq!(track.cached().len(), 5_000);
    assert!(
        sub.delivered_entries() <= 4,
        "{} entries for 5 000 consecutive groups",
        sub.delivered_entries()
    );
}

#[test]
fn a_late_subscriber_starts_at_the_latest_group() {
    let track = track(Duration::from_secs(60));
    for seq in 0..3 {
        produce(&track, seq, 1);
    }
    let mut sub = track.subscribe(Subscription::default());
    let first = block_on(sub.next_group()).unwrap().unwrap();
    assert_eq!(first.sequence(), 2);
    assert_eq!(sub.first_group(), Some(2));
    produce(&track, 3, 1);
    assert_eq!(block_on(sub.next_group()).unwrap().unwrap().sequence(), 3);
}

#[test]
fn an_explicit_start_delivers_cached_groups_from_there_in_order() {
    let track = track(Duration::from_secs(60));
    for seq in [0, 2, 1, 3] {
        produce(&track, seq, 1);
    }
    let mut sub = track.subscribe(Subscription {
        start: Some(1),
        ..Subscription::default()
    });
    let got: Vec<u64> = (0..3)
        .map(|_| block_on(sub.next_group()).unwrap().unwrap().sequence())
        .collect();
    assert_eq!(got, vec![1, 2, 3]);
}

#[test]
fn groups_arrive_in_arrival_order_and_stragglers_below_the_floor_are_skipped() {
    let track = track(Duration::from_secs(60));
    let mut sub = track.subscribe(Subscription::default());
    produce(&track, 8, 1);
    produce(&track, 10, 1);
    produce(&track, 9, 1);
    produce(&track, 7, 1);
    let got: Vec<u64> = (0..3)
        .map(|_| block_on(sub.next_group()).unwrap().unwrap().sequence())
        .collect();
    assert_eq!(
        got,
        vec![8, 10, 9],
        "7 fell below the floor pinned by the first group"
    );
    assert!(sub.poll_next_group(&Waiter::noop()).is_pending());
}

#[test]
fn the_end_bound_holds_groups_back_until_raised() {
    let track = track(Duration::from_secs(60));
    let mut sub = track.subscribe(Subscription {
        start: Some(0),
        end: Some(1),
        ..Subscription::default()
    });
    for seq in 0..4 {
        produce(&track, seq, 1);
    }
    assert_eq!(block_on(sub.next_group()).unwrap().unwrap().sequence(), 0);
    assert_eq!(block_on(sub.next_group()).unwrap().unwrap().sequence(), 1);
    assert!(
        sub.poll_next_group(&Waiter::noop()).is_pending(),
        "2 and 3 are held"
    );
    track.finish().unwrap();
    assert!(
        sub.poll_next_group(&Waiter::noop()).is_pending(),
        "held groups keep the subscription open after the end (spec 11.2)"
    );
    sub.update(Subscription {
        start: Some(0),
        end: None,
        ..Subscription::default()
    });
    assert_eq!(block_on(sub.next_group()).unwrap().unwrap().sequence(), 2);
    assert_eq!(block_on(sub.next_group()).unwrap().unwrap().sequence(), 3);
    assert!(block_on(sub.next_group()).unwrap().is_none());
}

#[test]
fn finish_ends_subscriptions_after_the_last_group() {
    let track = track(Duration::from_secs(60));
    let mut sub = track.subscribe(Subscription::default());
    produce(&track, 0, 2);
    track.finish().unwrap();
    assert_eq!(track.create_group(1).err(), Some(Error::BoundsExceeded));
    let mut group = block_on(sub.next_group()).unwrap().unwrap();
    assert_eq!(
        payloads(&block_on(group.read_all()).unwrap()),
        vec!["0:0", "0:1"]
    );
    assert!(block_on(sub.next_group()).unwrap().is_none());
    drop(track);
    assert!(
        block_on(sub.next_group()).unwrap().is_none(),
        "dropping a finished track is clean"
    );
    assert_eq!(sub.closed(), Some(Ok(())));
}

#[test]
fn abort_and_unfinished_drop_end_subscriptions_with_an_error() {
    let aborted = track(Duration::from_secs(60));
    let mut sub = aborted.subscribe(Subscription::default());
    aborted.abort(Error::NotFound).unwrap();
    assert_eq!(block_on(sub.next_group()).err(), Some(Error::NotFound));

    let dropped = track(Duration::from_secs(60));
    let mut sub = dropped.subscribe(Subscription::default());
    drop(dropped);
    assert_eq!(block_on(sub.next_group()).err(), Some(Error::Dropped));
}

#[test]
fn a_waiting_subscriber_is_woken_by_a_new_group() {
    let track = track(Duration::from_secs(60));
    let mut sub = track.subscribe(Subscription::default());
    let reader =
        std::thread::spawn(move || block_on(sub.next_group()).unwrap().unwrap().sequence());
    produce(&track, 5, 1);
    assert_eq!(reader.join().unwrap(), 5);
}

#[test]
fn a_subscriber_max_latency_skips_old_groups_but_never_the_latest() {
    let track = track(Duration::from_secs(60));
    let mut sub = track.subscribe(Subscription {
        start: Some(0),
        max_latency: Duration::from_millis(1500),
        ..Subscription::default()
    });
    // Group n's first frame is at n * 1000 ms: group 0 is 3 s behind group 3.
    for seq in 0..4 {
        produce(&track, seq, 1);
    }
    let got: Vec<u64> = (0..2)
        .map(|_| block_on(sub.next_group()).unwrap().unwrap().sequence())
        .collect();
    assert_eq!(
        got,
        vec![2, 3],
        "0 and 1 are older than 1.5 s relative to 3"
    );
    assert!(sub.is_live(3));
    assert!(!sub.is_live(0));
}

#[test]
fn the_producer_sees_the_combined_subscription_and_its_changes() {
    let track = track(Duration::from_secs(60));
    assert_eq!(track.subscription(), None);
    let mut a = track.subscribe(Subscription {
        priority: 1,
        ..Subscription::default()
    });
    let b = track.subscribe(Subscription {
        priority: 5,
        ..Subscription::default()
    });
    assert_eq!(track.subscription().unwrap().priority, 5);
    let current = track.subscription();
    assert!(
        track
            .poll_subscription_changed(&Waiter::noop(), current)
            .is_pending()
    );
    a.update(Subscription {
        priority: 9,
        ..Subscription::default()
    });
    let changed = block_on(track.subscription_changed(current)).unwrap();
    assert_eq!(changed.unwrap().priority, 9);
    drop(a);
    drop(b);
    assert_eq!(
        track.subscription(),
        None,
        "dropping subscribers withdraws them"
    );
    let fetch_only = track.consume();
    assert_eq!(
        track.subscription(),
        None,
        "a consumer without subscription is no subscriber"
    );
    drop(fetch_only);
    assert!(track.poll_unused(&Waiter::noop()).is_ready());
}

// ---- cache and eviction ----

#[test]
fn eviction_bounds_the_memory_a_track_holds() {
    // 2 s window; one group per second of media time, 10 frames of 1 KiB each.
    let track = track(Duration::from_secs(2));
    let payload = vec![0u8; 1024];
    let mut max_cached = 0;
    let mut max_bytes = 0;
    for seq in 0..1_000u64 {
        let group = track.create_group(seq).unwrap();
        for i in 0..10 {
            group.write(seq * 1000 + i * 100, payload.clone()).unwrap();
        }
        group.finish().unwrap();
        max_cached = max_cached.max(track.cached().len());
        max_bytes = max_bytes.max(track.cached_bytes());
    }
    // Groups 2 s (timestamp age) behind the newest stay; older ones go: at most 3 + the
    // newest while it is being written.
    assert!(max_cached <= 4, "cached {max_cached} groups");
    let group = 10 * (1024 + crate::FRAME_OVERHEAD) + crate::GROUP_OVERHEAD;
    assert!(max_bytes <= 4 * group, "cached {max_bytes} bytes");
    assert_eq!(track.latest(), Some(999));
    // Now that 999 has frames, 996 is 3 s behind it.
    assert_eq!(track.evict(), 1);
    assert_eq!(track.cached(), vec![997, 998, 999]);
}

#[test]
fn wall_clock_age_evicts_groups_with_no_timestamps_apart() {
    let track = track(Duration::ZERO);
    produce(&track, 0, 1);
    produce(&track, 1, 1);
    // 5 ms later, without sleeping: time is passed in.
    assert_eq!(track.evict_at(Instant::now() + Duration::from_millis(5)), 1);
    assert_eq!(track.cached(), vec![1], "the latest group is never evicted");
}

#[test]
fn a_served_fetch_stays_cached_for_the_window_from_when_it_was_served() {
    let track = track(Duration::from_secs(1));
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    // No frames, so no timestamp age: only wall-clock age counts.
    track.create_group_at(0, t0).unwrap().finish().unwrap();
    track.create_group_at(1, t0).unwrap().finish().unwrap();
    assert_eq!(
        track.evict_at(at(1000)),
        0,
        "an age of exactly the window stays"
    );
    assert_eq!(track.evict_at(at(1001)), 1);
    assert_eq!(track.cached(), vec![1]);

    let pending = track.consume().fetch(0, None).unwrap();
    let request = block_on(track.requested_fetch()).unwrap();
    request.serve_at(at(10_000)).unwrap().finish().unwrap();
    assert_eq!(block_on(pending).unwrap().sequence(), 0);
    assert_eq!(track.evict_at(at(11_000)), 0);
    assert_eq!(track.cached(), vec![0, 1]);
    assert_eq!(track.evict_at(at(11_001)), 1);
    assert_eq!(track.cached(), vec![1], "the latest group is never evicted");
}

#[test]
fn a_cache_hit_restarts_the_groups_wall_clock_age() {
    let track = track(Duration::from_secs(5));
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    // No frames, so no timestamp age: only the wall-clock age counts.
    for seq in 0..3 {
        track.create_group_at(seq, t0).unwrap().finish().unwrap();
    }
    let consumer = track.consume();
    let hit = consumer.fetch_at(0, Fetch::default(), at(4000)).unwrap();
    assert!(hit.is_cache_hit());
    // 7 s after it was superseded, but 3 s after it was last read: group 0 stays, group 1
    // (never read) goes.
    assert_eq!(track.evict_at(at(7000)), 1);
    assert_eq!(track.cached(), vec![0, 2]);
    assert_eq!(track.evict_at(at(9001)), 1);
    assert_eq!(track.cached(), vec![2]);
}

#[test]
fn groups_served_for_fetches_alone_are_evicted_too() {
    // A fetch-only track has no live group, so only serving runs eviction passes.
    let track = track(Duration::from_secs(1));
    let t0 = Instant::now();
    let consumer = track.consume();
    for seq in 0..2 {
        let pending = consumer.fetch(seq, None).unwrap();
        let request = block_on(track.requested_fetch()).unwrap();
        request.serve_at(t0).unwrap().finish().unwrap();
        drop(pending);
    }
    assert_eq!(track.cached(), vec![0, 1]);
    let pending = consumer.fetch(9, None).unwrap();
    let request = block_on(track.requested_fetch()).unwrap();
    request
        .serve_at(t0 + Duration::from_secs(2))
        .unwrap()
        .finish()
        .unwrap();
    drop(pending);
    assert_eq!(
        track.cached(),
        vec![9],
        "served at +2 s, the others had aged out"
    );
}

// ---- fetch ----

#[test]
fn a_miss_on_a_track_nobody_serves_is_not_found_at_once() {
    let track = TrackProducer::new("t", TrackInfo::DEFAULT).unwrap();
    produce(&track, 0, 1);
    let consumer = track.consume();
    assert!(consumer.fetch(0, None).unwrap().is_cache_hit());
    assert_eq!(consumer.fetch(5, None).err(), Some(Error::NotFound));
    track.accept_fetches();
    assert!(consumer.fetch(5, None).is_ok(), "now the producer answers");
}

#[test]
fn a_cache_hit_resolves_at_once_without_the_producer() {
    let track = track(Duration::from_secs(60));
    produce(&track, 0, 3);
    let consumer = track.consume();
    let pending = consumer.fetch(0, None).unwrap();
    assert!(pending.is_cache_hit());
    let mut group = pending.now().unwrap().unwrap();
    assert_eq!(
        payloads(&block_on(group.read_all()).unwrap()),
        vec!["0:0", "0:1", "0:2"]
    );
    assert!(no_request(&track));
}

#[test]
fn a_cache_hit_includes_a_group_still_being_written() {
    let track = track(Duration::from_secs(60));
    let group = track.create_group(0).unwrap();
    group.write(0, "a").unwrap();
    let mut fetched = block_on(track.consume().fetch(0, None).unwrap()).unwrap();
    assert_eq!(
        block_on(fetched.next_frame()).unwrap().unwrap().payload,
        "a"
    );
    group.write(1, "b").unwrap();
    group.finish().unwrap();
    assert_eq!(
        block_on(fetched.next_frame()).unwrap().unwrap().payload,
        "b"
    );
    assert_eq!(block_on(fetched.next_frame()), Ok(None));
}

#[test]
fn a_miss_signals_the_producer_and_resolves_when_served() {
    let track = track(Duration::from_secs(60));
    let consumer = track.consume();
    let pending = consumer.fetch(7, Fetch { priority: 3 }).unwrap();
    assert!(!pending.is_cache_hit());
    assert!(pending.poll(&Waiter::noop()).is_pending());
    let request = block_on(track.requested_fetch()).unwrap();
    assert_eq!(
        (
            request.sequence(),
            request.priority(),
            request.frame_start()
        ),
        (7, 3, 0)
    );
    let group = request.serve().unwrap();
    group.write(7000, "x").unwrap();
    group.finish().unwrap();
    let mut fetched = block_on(pending).unwrap();
    assert_eq!(fetched.sequence(), 7);
    assert_eq!(payloads(&block_on(fetched.read_all()).unwrap()), vec!["x"]);
    // Served groups are cached: the next fetch is a hit, and no live subscriber got it.
    assert!(consumer.fetch(7, None).unwrap().is_cache_hit());
    assert_eq!(track.latest(), None);
}

#[test]
fn past_the_final_group_is_not_found() {
    let track = track(Duration::from_secs(60));
    produce(&track, 0, 1);
    produce(&track, 1, 1);
    track.finish().unwrap();
    let consumer = track.consume();
    assert_eq!(consumer.fetch(2, None).err(), Some(Error::NotFound));
    assert_eq!(consumer.fetch(100, None).err(), Some(Error::NotFound));
    assert!(consumer.fetch(1, None).unwrap().is_cache_hit());
}

#[test]
fn a_rejected_fetch_fails_every_fetcher() {
    let track = track(Duration::from_secs(60));
    let consumer = track.consume();
    let a = consumer.fetch(3, None).unwrap();
    let b = consumer.fetch(3, None).unwrap();
    block_on(track.requested_fetch())
        .unwrap()
        .reject(Error::NotFound);
    assert_eq!(block_on(a).err(), Some(Error::NotFound));
    assert_eq!(block_on(b).err(), Some(Error::NotFound));
}

#[test]
fn an_ignored_request_fails_its_fetchers_instead_of_hanging() {
    let track = track(Duration::from_secs(60));
    let pending = track.consume().fetch(3, None).unwrap();
    drop(block_on(track.requested_fetch()).unwrap());
    assert_eq!(block_on(pending).err(), Some(Error::Dropped));
}

#[test]
fn an_aborted_cached_group_is_requested_again() {
    let track = track(Duration::from_secs(60));
    let group = track.create_group(0).unwrap();
    group.abort(Error::Cancel).unwrap();
    let pending = track.consume().fetch(0, None).unwrap();
    assert!(!pending.is_cache_hit(), "an aborted copy is not returned");
    let request = block_on(track.requested_fetch()).unwrap();
    assert_eq!(request.frame_start(), 0);
    let served = request.serve().unwrap();
    served.write(0, "fresh").unwrap();
    served.finish().unwrap();
    let mut got = block_on(pending).unwrap();
    assert_eq!(payloads(&block_on(got.read_all()).unwrap()), vec!["fresh"]);
}

#[test]
fn an_evicted_group_is_requested_again() {
    let track = track(Duration::from_secs(1));
    for seq in 0..5 {
        produce(&track, seq, 1);
    }
    assert!(
        !track.cached().contains(&0),
        "group 0 is 4 s behind: evicted"
    );
    let pending = track.consume().fetch(0, None).unwrap();
    assert!(!pending.is_cache_hit());
    let request = block_on(track.requested_fetch()).unwrap();
    assert_eq!(request.sequence(), 0);
    let served = request.serve().unwrap();
    served.write(0, "again").unwrap();
    served.finish().unwrap();
    assert_eq!(block_on(pending).unwrap().sequence(), 0);
}

#[test]
fn concurrent_fetches_share_one_request_and_one_group() {
    let track = track(Duration::from_secs(60));
    let consumer = track.consume();
    let fetchers: Vec<_> = (0..10)
        .map(|i| consumer.fetch(4, Fetch { priority: i }).unwrap())
        .collect();
    let request = block_on(track.requested_fetch()).unwrap();
    assert_eq!(
        request.priority(),
        9,
        "the highest priority of the fetchers"
    );
    assert!(no_request(&track), "one request for ten fetchers");
    let group = request.serve().unwrap();
    group.write(1, "shared").unwrap();
    group.finish().unwrap();
    for pending in fetchers {
        let mut got = block_on(pending).unwrap();
        assert_eq!(payloads(&block_on(got.read_all()).unwrap()), vec!["shared"]);
    }
}

#[test]
fn a_fetch_of_an_evicted_group_is_served_while_the_track_is_subscribed() {
    let track = track(Duration::from_secs(1));
    let mut live = track.subscribe(Subscription::default());
    for seq in 0..5 {
        produce(&track, seq, 1);
        assert_eq!(
            block_on(live.next_group()).unwrap().unwrap().sequence(),
            seq
        );
    }
    let pending = live.fetch(1, None).unwrap();
    let request = block_on(track.requested_fetch()).unwrap();
    let served = request.serve().unwrap();
    served.write(1000, "old").unwrap();
    served.finish().unwrap();
    let mut got = block_on(pending).unwrap();
    assert_eq!(payloads(&block_on(got.read_all()).unwrap()), vec!["old"]);
    // The served old group is not re-delivered live.
    produce(&track, 5, 1);
    assert_eq!(block_on(live.next_group()).unwrap().unwrap().sequence(), 5);
}

#[test]
fn resume_fetches_only_the_missing_tail_and_stitches_it() {
    let track = track(Duration::from_secs(60));
    let group = track.create_group(0).unwrap();
    group.write(0, "f0").unwrap();
    group.write(1, "f1").unwrap();
    drop(group); // cut short: the publisher went away mid-group
    let pending = track.consume().fetch(0, None).unwrap();
    let request = block_on(track.requested_fetch()).unwrap();
    assert_eq!(
        request.frame_start(),
        2,
        "only frames from 2 on are missing"
    );
    let served = request.serve().unwrap();
    assert_eq!(
        served.frame_count(),
        2,
        "the served group starts with the cached frames"
    );
    served.write(2, "f2").unwrap();
    served.finish().unwrap();
    let mut got = block_on(pending).unwrap();
    assert_eq!(
        payloads(&block_on(got.read_all()).unwrap()),
        vec!["f0", "f1", "f2"]
    );
    assert_eq!(got.status(), GroupStatus::Finished);
}

#[test]
fn dropping_the_last_pending_fetch_withdraws_the_demand() {
    let track = track(Duration::from_secs(60));
    let consumer = track.consume();
    let a = consumer.fetch(9, None).unwrap();
    let b = consumer.fetch(9, None).unwrap();
    let request = block_on(track.requested_fetch()).unwrap();
    assert!(request.poll_unused(&Waiter::noop()).is_pending());
    drop(a);
    assert!(
        request.poll_unused(&Waiter::noop()).is_pending(),
        "b still wants it"
    );
    drop(b);
    assert!(request.poll_unused(&Waiter::noop()).is_ready());
    block_on(request.unused());

    // Withdrawn before the producer looked: there is nothing to take.
    drop(consumer.fetch(10, None).unwrap());
    assert!(no_request(&track));
}

#[test]
fn a_live_group_answers_a_pending_fetch_of_the_same_sequence() {
    let track = track(Duration::from_secs(60));
    let pending = track.consume().fetch(0, None).unwrap();
    produce(&track, 0, 1);
    assert_eq!(block_on(pending).unwrap().sequence(), 0);
}

#[test]
fn a_pending_fetch_fails_when_the_track_goes_away() {
    let track = track(Duration::from_secs(60));
    let pending = track.consume().fetch(3, None).unwrap();
    drop(track);
    assert_eq!(block_on(pending).err(), Some(Error::Dropped));
}

#[test]
fn fetch_is_poll_based_and_woken_by_the_serve() {
    let track = track(Duration::from_secs(60));
    let pending = track.consume().fetch(1, None).unwrap();
    let reader = std::thread::spawn(move || block_on(pending).map(|g| g.sequence()));
    let request = block_on(track.requested_fetch()).unwrap();
    request.serve().unwrap().finish().unwrap();
    assert_eq!(reader.join().unwrap(), Ok(1));
    assert!(matches!(
        track
            .consume()
            .fetch(1, None)
            .unwrap()
            .poll(&Waiter::noop()),
        Poll::Ready(Ok(_))
    ));
}

#[test]
fn asking_for_requests_marks_a_track_as_served() {
    let track = TrackProducer::new("t", TrackInfo::DEFAULT).unwrap();
    assert_eq!(track.consume().fetch(3, None).err(), Some(Error::NotFound));
    assert!(track.poll_requested_fetch(&Waiter::noop()).is_pending());
    assert!(track.consume().fetch(3, None).is_ok());
}

#[test]
fn oldest_live_picks_the_first_group_a_max_latency_still_accepts() {
    // Group `seq` starts at media time seq * 1000 ms: with the newest at 4000, group 1 is
    // 3 s behind, group 3 one second.
    let track = track(Duration::from_secs(60));
    for seq in 0..5 {
        produce(&track, seq, 1);
    }
    let reader = track.consume();
    assert_eq!(reader.oldest_live(0, Duration::MAX), Some(0));
    assert_eq!(reader.oldest_live(0, Duration::from_millis(3000)), Some(1));
    assert_eq!(reader.oldest_live(0, Duration::from_millis(1500)), Some(3));
    // Max latency 0: only the latest.
    assert_eq!(reader.oldest_live(0, Duration::ZERO), Some(4));
    // The floor bounds it from below.
    assert_eq!(reader.oldest_live(2, Duration::MAX), Some(2));
    assert_eq!(reader.oldest_live(9, Duration::MAX), None);
}

/// A group first cached by a FETCH (a relay asked upstream for a live group before it
/// subscribed) then arriving live is refused as a duplicate stream, but subscribers still get
/// it: the fetched copy joins the live groups (found through HTTP latest after a fetch of the
/// same group, issue #17).
#[test]
fn a_group_fetched_before_it_arrives_live_still_reaches_subscribers() {
    let track = track(Duration::from_secs(30));
    track.accept_fetches();
    let consumer = track.consume();
    let pending = consumer.fetch(4, None).unwrap();
    let request = block_on(track.requested_fetch()).unwrap();
    let fetched = request.serve().unwrap();
    fetched.write_frame(Frame::new(0, &b"a"[..])).unwrap();
    let got = block_on(pending).unwrap();
    assert_eq!(got.sequence(), 4);

    let mut sub = track.subscribe(Subscription::default());
    assert_eq!(track.create_group(4).err(), Some(Error::Duplicate));
    // Polled, not awaited: before the fix no group ever came.
    let Poll::Ready(Ok(Some(live))) = sub.poll_next_group(&Waiter::noop()) else {
        panic!("the fetched group was not delivered to the subscriber");
    };
    assert_eq!(live.sequence(), 4, "the fetched copy is delivered live");
    // Still one copy, and a second live arrival is refused without a second delivery.
    assert_eq!(track.create_group(4).err(), Some(Error::Duplicate));
    let _five = track.create_group(5).unwrap();
    let Poll::Ready(Ok(Some(next))) = sub.poll_next_group(&Waiter::noop()) else {
        panic!("group 5 was not delivered");
    };
    assert_eq!(next.sequence(), 5);
}
