//! Origin: publishing, prefix-filtered announcements, coalescing and automatic withdrawal.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use futures::executor::block_on;
use moql_sync::Waiter;

use super::*;
use crate::{BroadcastProducer, TrackInfo};

fn path(s: &str) -> Path {
    Path::new(s).unwrap()
}

fn next(consumer: &mut OriginConsumer) -> Option<Announcement> {
    match consumer.poll_announced(&Waiter::noop()) {
        Poll::Ready(a) => a,
        Poll::Pending => None,
    }
}

fn paths_of(initial: &[Announced]) -> Vec<String> {
    initial.iter().map(|a| a.path.to_string()).collect()
}

#[test]
fn the_initial_set_comes_first_as_one_batch() {
    let origin = OriginProducer::new();
    let a = BroadcastProducer::new();
    let b = BroadcastProducer::new();
    origin.publish(&path("room/a"), a.consume()).unwrap();
    origin.publish(&path("room/b"), b.consume()).unwrap();
    let mut consumer = origin.consume();
    match next(&mut consumer) {
        Some(Announcement::Initial(set)) => assert_eq!(paths_of(&set), vec!["room/a", "room/b"]),
        other => panic!("expected the initial set, got {other:?}"),
    }
    assert!(next(&mut consumer).is_none(), "nothing else pending");

    let mut empty = OriginProducer::new().consume();
    assert!(matches!(next(&mut empty), Some(Announcement::Initial(set)) if set.is_empty()));
}

#[test]
fn announcements_are_filtered_by_whole_segment_prefix() {
    let origin = OriginProducer::new();
    let mut room = origin.consume_prefix(&path("room"));
    assert!(matches!(next(&mut room), Some(Announcement::Initial(_))));
    let keep = BroadcastProducer::new();
    origin.publish(&path("roomy/x"), keep.consume()).unwrap();
    origin.publish(&path("room/cam"), keep.consume()).unwrap();
    match next(&mut room) {
        Some(Announcement::Active(a)) => assert_eq!(a.path.as_str(), "room/cam"),
        other => panic!("expected room/cam, got {other:?}"),
    }
    assert!(next(&mut room).is_none(), "roomy/x is not under room");
    assert!(room.broadcast(&path("roomy/x")).is_none());
    assert!(room.broadcast(&path("room/cam")).is_some());
}

#[test]
fn live_start_replace_and_end_are_reported() {
    let origin = OriginProducer::new();
    let mut consumer = origin.consume();
    next(&mut consumer);
    let first = BroadcastProducer::new();
    origin
        .publish_with_hops(&path("live"), first.consume(), Arc::from([7u64]))
        .unwrap();
    assert!(matches!(next(&mut consumer), Some(Announcement::Active(_))));
    let second = BroadcastProducer::new();
    origin
        .publish_with_hops(&path("live"), second.consume(), Arc::from([7u64]))
        .unwrap();
    match next(&mut consumer) {
        Some(Announcement::Replaced(a)) => {
            assert!(a.broadcast.same_broadcast(&second.consume()));
            assert_eq!(&*a.hops, &[7]);
        }
        other => panic!("expected a replacement, got {other:?}"),
    }
    assert!(origin.unpublish(&path("live")));
    assert!(matches!(next(&mut consumer), Some(Announcement::Ended(p)) if p.as_str() == "live"));
    assert!(!origin.unpublish(&path("live")));
}

#[test]
fn an_ending_broadcast_is_withdrawn_without_a_task() {
    let origin = OriginProducer::new();
    let mut consumer = origin.consume();
    next(&mut consumer);
    let broadcast = BroadcastProducer::new();
    origin.publish(&path("gone"), broadcast.consume()).unwrap();
    assert!(matches!(next(&mut consumer), Some(Announcement::Active(_))));
    drop(broadcast);
    assert!(origin.broadcast(&path("gone")).is_none());
    assert!(matches!(next(&mut consumer), Some(Announcement::Ended(_))));

    let closed = BroadcastProducer::new();
    let handle = closed.consume();
    closed.close().unwrap();
    assert_eq!(
        origin.publish(&path("late"), handle).err(),
        Some(Error::Closed)
    );
}

#[test]
fn the_end_of_an_old_publication_does_not_withdraw_its_replacement() {
    let origin = OriginProducer::new();
    let old = BroadcastProducer::new();
    let new = BroadcastProducer::new();
    origin.publish(&path("p"), old.consume()).unwrap();
    origin.publish(&path("p"), new.consume()).unwrap();
    drop(old);
    let current = origin.broadcast(&path("p")).expect("still published");
    assert!(current.same_broadcast(&new.consume()));
}

#[test]
fn changes_before_a_read_are_coalesced_per_path() {
    let origin = OriginProducer::new();
    let mut consumer = origin.consume();
    next(&mut consumer);
    for _ in 0..1_000 {
        let flicker = BroadcastProducer::new();
        origin.publish(&path("flicker"), flicker.consume()).unwrap();
        drop(flicker);
    }
    assert!(
        next(&mut consumer).is_none(),
        "came and went before being read: nothing to say"
    );
    let stay = BroadcastProducer::new();
    for _ in 0..1_000 {
        origin.publish(&path("stay"), stay.consume()).unwrap();
    }
    assert!(matches!(next(&mut consumer), Some(Announcement::Active(_))));
    assert!(
        next(&mut consumer).is_none(),
        "one report for a thousand publications"
    );
}

#[test]
fn a_waiting_consumer_is_woken_and_sees_the_end_of_the_origin() {
    let origin = OriginProducer::new();
    let mut consumer = origin.consume_prefix(&path("x"));
    // The first poll registers the consumer (and takes the initial set): then it waits.
    assert!(matches!(next(&mut consumer), Some(Announcement::Initial(set)) if set.is_empty()));
    let watcher = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while let Some(a) = block_on(consumer.announced()) {
            seen.push(match a {
                Announcement::Initial(set) => format!("initial {}", set.len()),
                Announcement::Active(a) => format!("active {}", a.path),
                Announcement::Replaced(a) => format!("replaced {}", a.path),
                Announcement::Ended(p) => format!("ended {p}"),
            });
            if seen.len() == 1 {
                return seen;
            }
        }
        seen
    });
    let broadcast = BroadcastProducer::new();
    origin.publish(&path("x/1"), broadcast.consume()).unwrap();
    assert_eq!(watcher.join().unwrap(), vec!["active x/1"]);

    let mut last = origin.consume();
    next(&mut last);
    drop(origin);
    assert!(block_on(last.announced()).is_none());
}

#[test]
fn published_broadcasts_serve_their_tracks() {
    let origin = OriginProducer::new();
    let broadcast = BroadcastProducer::new();
    let track = broadcast.create_track("t", TrackInfo::DEFAULT).unwrap();
    origin.publish(&path("b"), broadcast.consume()).unwrap();
    let consumer = origin.broadcast(&path("b")).unwrap().track("t").unwrap();
    assert_eq!(consumer.info(), Some(TrackInfo::DEFAULT));
    assert_eq!(origin.paths(&Path::root()), vec![path("b")]);
    drop(track);
}

#[test]
fn a_scoped_consumer_sees_only_its_narrower_prefix() {
    let origin = OriginProducer::new();
    let keep = BroadcastProducer::new();
    origin.publish(&path("root/a/x"), keep.consume()).unwrap();
    origin.publish(&path("root/b/y"), keep.consume()).unwrap();
    let root = origin.consume_prefix(&path("root"));
    let mut scoped = root.scope(&path("a")).unwrap();
    assert_eq!(scoped.prefix().as_str(), "root/a");
    match next(&mut scoped) {
        Some(Announcement::Initial(set)) => assert_eq!(paths_of(&set), vec!["root/a/x"]),
        other => panic!("expected the initial set, got {other:?}"),
    }
}

#[test]
fn the_shortest_route_wins_and_the_next_takes_over_when_it_ends() {
    let origin = OriginProducer::new();
    let mut consumer = origin.consume();
    next(&mut consumer);
    let far = BroadcastProducer::new();
    let near = BroadcastProducer::new();
    origin
        .publish_with_hops(&path("x"), far.consume(), Arc::from([1u64, 2]))
        .unwrap();
    assert!(matches!(next(&mut consumer), Some(Announcement::Active(a)) if a.hops.len() == 2));
    origin
        .publish_with_hops(&path("x"), near.consume(), Arc::from([3u64]))
        .unwrap();
    match next(&mut consumer) {
        Some(Announcement::Replaced(a)) => assert_eq!(&*a.hops, &[3]),
        other => panic!("expected the shorter route, got {other:?}"),
    }
    let longer = BroadcastProducer::new();
    origin
        .publish_with_hops(&path("x"), longer.consume(), Arc::from([4u64, 5, 6]))
        .unwrap();
    assert!(
        next(&mut consumer).is_none(),
        "a longer route is a silent backup"
    );
    drop(near);
    match next(&mut consumer) {
        Some(Announcement::Replaced(a)) => assert_eq!(&*a.hops, &[1, 2], "fail-over"),
        other => panic!("expected fail-over, got {other:?}"),
    }
    drop(far);
    assert!(matches!(next(&mut consumer), Some(Announcement::Replaced(a)) if a.hops.len() == 3));
    drop(longer);
    assert!(matches!(next(&mut consumer), Some(Announcement::Ended(_))));
}

#[test]
fn the_same_route_published_again_replaces_the_old_one() {
    let origin = OriginProducer::new();
    let first = BroadcastProducer::new();
    let second = BroadcastProducer::new();
    origin.publish(&path("p"), first.consume()).unwrap();
    origin.publish(&path("p"), second.consume()).unwrap();
    drop(second);
    assert!(
        origin.broadcast(&path("p")).is_none(),
        "the first publication was replaced, not kept as a backup"
    );
}

#[test]
fn the_same_broadcast_announced_again_with_a_new_chain_replaces_its_route() {
    let origin = OriginProducer::new();
    let broadcast = BroadcastProducer::new();
    for i in 0..1_000u64 {
        origin
            .publish_with_hops(&path("p"), broadcast.consume(), Arc::from([7u64, i]))
            .unwrap();
    }
    assert_eq!(origin.stats().routes, 1, "one broadcast, one route");
    let mut consumer = origin.consume();
    match next(&mut consumer) {
        Some(Announcement::Initial(set)) => assert_eq!(&*set[0].hops, &[7, 999]),
        other => panic!("expected the initial set, got {other:?}"),
    }
}

#[test]
fn routes_to_one_path_are_bounded() {
    let origin = OriginProducer::new();
    let mut kept = Vec::new();
    let mut refused = 0;
    for i in 0..MAX_ROUTES_PER_PATH as u64 + 10 {
        let broadcast = BroadcastProducer::new();
        match origin.publish_with_hops(&path("p"), broadcast.consume(), Arc::from([i + 1])) {
            Ok(()) => kept.push(broadcast),
            Err(err) => {
                assert_eq!(err, Error::BoundsExceeded);
                refused += 1;
            }
        }
    }
    assert_eq!(origin.stats().routes, MAX_ROUTES_PER_PATH);
    assert_eq!(refused, 10);
    // A route already held is still replaced in place at the cap.
    origin
        .publish_with_hops(&path("p"), kept[0].consume(), Arc::from([1u64, 2]))
        .unwrap();
    assert_eq!(origin.stats().routes, MAX_ROUTES_PER_PATH);
}

#[test]
fn an_origin_refuses_new_paths_beyond_its_broadcast_cap() {
    let origin = OriginProducer::with_max_broadcasts(3);
    let keep = BroadcastProducer::new();
    for i in 0..3 {
        origin
            .publish(&path(&format!("p/{i}")), keep.consume())
            .unwrap();
    }
    assert_eq!(
        origin.publish(&path("p/3"), keep.consume()).err(),
        Some(Error::BoundsExceeded)
    );
    // An existing path still takes a replacement, and a freed slot is reusable.
    let other = BroadcastProducer::new();
    origin.publish(&path("p/0"), other.consume()).unwrap();
    assert!(origin.unpublish(&path("p/1")));
    origin.publish(&path("p/3"), keep.consume()).unwrap();
    assert_eq!(origin.stats().broadcasts, 3);
}

#[test]
fn a_stalled_watcher_keeps_nothing_for_paths_that_came_and_went() {
    let origin = OriginProducer::new();
    let mut consumer = origin.consume();
    next(&mut consumer);
    for i in 0..10_000 {
        let churn = BroadcastProducer::new();
        origin
            .publish(&path(&format!("churn/{i}")), churn.consume())
            .unwrap();
        drop(churn);
    }
    assert_eq!(origin.stats().pending, 0, "nothing to report, nothing kept");
    assert!(next(&mut consumer).is_none());
}

#[test]
fn a_stalled_watchers_backlog_is_what_it_knows_plus_what_is_active() {
    let origin = OriginProducer::new();
    let mut consumer = origin.consume();
    next(&mut consumer);
    let known: Vec<_> = (0..10).map(|_| BroadcastProducer::new()).collect();
    for (i, b) in known.iter().enumerate() {
        origin
            .publish(&path(&format!("known/{i}")), b.consume())
            .unwrap();
    }
    for _ in 0..10 {
        assert!(matches!(next(&mut consumer), Some(Announcement::Active(_))));
    }
    // The consumer stops reading: five it knows end, a thousand come and go, three start.
    let mut known = known;
    known.truncate(5);
    for i in 0..1_000 {
        let churn = BroadcastProducer::new();
        origin
            .publish(&path(&format!("churn/{i}")), churn.consume())
            .unwrap();
    }
    let fresh: Vec<_> = (0..3).map(|_| BroadcastProducer::new()).collect();
    for (i, b) in fresh.iter().enumerate() {
        origin
            .publish(&path(&format!("new/{i}")), b.consume())
            .unwrap();
    }
    assert_eq!(origin.stats().pending, 5 + 3);
    let (mut ended, mut active) = (0, 0);
    while let Some(a) = next(&mut consumer) {
        match a {
            Announcement::Ended(_) => ended += 1,
            Announcement::Active(_) => active += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ended, active), (5, 3));
}

#[test]
fn the_initial_set_and_paths_visit_exactly_the_prefix_range() {
    let origin = OriginProducer::new();
    let keep = BroadcastProducer::new();
    for p in [
        "room", "room-a", "room/x", "room/x/y", "room0", "roomy/z", "a", "zz",
    ] {
        origin.publish(&path(p), keep.consume()).unwrap();
    }
    let mut room = origin.consume_prefix(&path("room"));
    match next(&mut room) {
        Some(Announcement::Initial(set)) => {
            assert_eq!(paths_of(&set), vec!["room", "room/x", "room/x/y"])
        }
        other => panic!("expected the initial set, got {other:?}"),
    }
    assert_eq!(
        room.paths(),
        vec![path("room"), path("room/x"), path("room/x/y")]
    );
    assert_eq!(origin.paths(&Path::root()).len(), 8);
}

#[test]
fn a_consumer_that_is_never_polled_costs_the_origin_nothing() {
    let origin = OriginProducer::new();
    let idle = origin.consume();
    let keep: Vec<_> = (0..100).map(|_| BroadcastProducer::new()).collect();
    for (i, b) in keep.iter().enumerate() {
        origin
            .publish(&path(&format!("p/{i}")), b.consume())
            .unwrap();
    }
    let stats = origin.stats();
    assert_eq!((stats.watchers, stats.pending), (0, 0));
    let mut scoped = idle.scope(&path("p")).unwrap();
    assert!(matches!(next(&mut scoped), Some(Announcement::Initial(set)) if set.len() == 100));
    assert_eq!(origin.stats().watchers, 1);
}

#[test]
fn a_broadcast_is_never_resolved_through_the_hop_to_avoid() {
    let origin = OriginProducer::new();
    let near = BroadcastProducer::new();
    let far = BroadcastProducer::new();
    origin
        .publish_with_hops(&path("x"), near.consume(), Arc::from([5u64]))
        .unwrap();
    origin
        .publish_with_hops(&path("x"), far.consume(), Arc::from([6u64, 8]))
        .unwrap();
    let view = origin.consume();
    let got = |avoid| view.broadcast_avoiding(&path("x"), avoid);
    assert!(got(0).unwrap().same_broadcast(&near.consume()));
    assert!(
        got(5).unwrap().same_broadcast(&far.consume()),
        "the other route"
    );
    drop(far);
    assert!(got(5).is_none(), "every route goes through 5");
}

#[test]
fn waiting_for_a_broadcast_resolves_when_it_is_announced_and_not_before() {
    let origin = OriginProducer::new();
    let consumer = origin.consume();
    let early = BroadcastProducer::new();
    origin.publish(&path("now"), early.consume()).unwrap();
    // Already announced: at once.
    assert!(block_on(consumer.wait_broadcast(&path("now"), 0)).is_some());

    let live = origin.consume_prefix(&path("live"));
    let late_path = path("live/late");
    let mut waiting = Box::pin(live.wait_broadcast(&late_path, 0));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(waiting.as_mut().poll(&mut cx).is_pending());
    // A path below the awaited one, and a sibling, do not resolve it.
    let other = BroadcastProducer::new();
    origin
        .publish(&path("live/late/sub"), other.consume())
        .unwrap();
    origin
        .publish(&path("live/later"), other.consume())
        .unwrap();
    assert!(
        waiting.as_mut().poll(&mut cx).is_pending(),
        "resolved before its path was announced"
    );
    let late = BroadcastProducer::new();
    origin.publish(&late_path, late.consume()).unwrap();
    match waiting.as_mut().poll(&mut cx) {
        Poll::Ready(Some(found)) => assert!(found.same_broadcast(&late.consume())),
        other => panic!(
            "expected the announced broadcast, got {:?}",
            other.map(|b| b.is_some())
        ),
    }

    // Outside the prefix, and an origin whose producers are gone: None.
    let scoped = origin.consume_prefix(&path("live"));
    assert!(block_on(scoped.wait_broadcast(&path("elsewhere"), 0)).is_none());
    let gone = OriginProducer::new().consume();
    assert!(block_on(gone.wait_broadcast(&path("x"), 0)).is_none());
}
