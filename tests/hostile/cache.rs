//! What a publisher can make the relay's cache hold.

use std::time::Duration;

use moql_model::{BroadcastProducer, Error, Path, Subscription, TrackInfo, TrackProducer};

use crate::support::relay::{TestRelay, wait_subscribed};
use crate::support::{TestClient, announced, within};

/// The relay's per-track cache limit in these tests: small, so an attack hits it quickly.
const TRACK_LIMIT: usize = 64 * 1024;

async fn relay() -> TestRelay {
    TestRelay::start(|c| c.limits.cache_track_bytes = TRACK_LIMIT).await
}

/// Publishes `name`/`clock` with a one-hour max latency (the publisher asks the relay to keep
/// everything) from `client`.
fn publish(client: &TestClient, name: &str) -> (BroadcastProducer, TrackProducer) {
    let broadcast = BroadcastProducer::new();
    let info = TrackInfo {
        max_latency: Duration::from_secs(3600),
        ..TrackInfo::DEFAULT
    };
    let track = broadcast.create_track("clock", info).unwrap();
    client
        .publish
        .publish(&Path::new(name).unwrap(), broadcast.consume())
        .unwrap();
    (broadcast, track)
}

#[tokio::test]
async fn empty_frames_streamed_into_one_group_are_cut_at_the_track_limit() {
    let relay = relay().await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "flood");
    let subscriber = relay.client("moql", "/").await;
    let remote = announced(&subscriber.received, "flood").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;

    // 20 000 empty frames: ~40 KB on the wire, ~1.3 MB of frames in a cache that counted 0.
    let group = track.create_group(0).unwrap();
    for i in 0..20_000 {
        group.write(i, bytes::Bytes::new()).unwrap();
    }
    group.finish().unwrap();
    // The track goes on: the next group flows.
    let next = track.create_group(1).unwrap();
    next.write(0, "ok").unwrap();
    next.finish().unwrap();
    // Group 0 is either never relayed (cut short before it was) or relayed cut short.
    loop {
        let mut received = within("a group", sub.next_group()).await.unwrap().unwrap();
        if received.sequence() == 1 {
            assert_eq!(
                within("its frames", received.read_all())
                    .await
                    .unwrap()
                    .len(),
                1
            );
            break;
        }
        let mut frames = 0;
        let end = within("group 0's end", async {
            loop {
                match received.next_frame().await {
                    Ok(Some(_)) => frames += 1,
                    other => return other,
                }
            }
        })
        .await;
        assert!(
            end.is_err() && frames < 20_000,
            "the relay relayed {frames} empty frames in one group and ended it with {end:?}"
        );
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn empty_groups_are_charged_and_bounded_by_the_track_limit() {
    let relay = relay().await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "empty");
    let subscriber = relay.client("moql", "/").await;
    let remote = announced(&subscriber.received, "empty").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    const GROUPS: u64 = 2000;
    for seq in 0..GROUPS {
        track.create_group(seq).unwrap().finish().unwrap();
    }
    within("the last group", async {
        while sub.next_group().await.unwrap().unwrap().sequence() < GROUPS - 1 {}
    })
    .await;
    // 2000 empty groups were cached: the budget must see them, and the track limit (plus
    // the eighth a pass may lag behind) must bound them.
    let charged = relay
        .metric_until("moql_relay_cache_bytes", |v| v > 0)
        .await;
    assert!(
        charged as usize <= TRACK_LIMIT + TRACK_LIMIT / 8 + moql_model::GROUP_OVERHEAD,
        "charged {charged}"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn an_aborted_track_gives_back_its_cache_budget() {
    let relay = relay().await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "gone");
    let subscriber = relay.client("moql", "/").await;
    let remote = announced(&subscriber.received, "gone").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    for seq in 0..8 {
        let group = track.create_group(seq).unwrap();
        group.write(seq, vec![7u8; 4096]).unwrap();
        group.finish().unwrap();
    }
    within("the last group", async {
        while sub.next_group().await.unwrap().unwrap().sequence() < 7 {}
    })
    .await;
    relay
        .metric_until("moql_relay_cache_bytes", |v| v >= 4 * 4096)
        .await;
    // The publisher ends the track with an error; the broadcast stays announced, so the
    // relay's table still holds the track's state. Its cache must not keep the budget.
    track.abort(Error::Cancel).unwrap();
    within("the subscription to end", async {
        while let Ok(Some(_)) = sub.next_group().await {}
    })
    .await;
    relay
        .metric_until("moql_relay_cache_bytes", |v| v == 0)
        .await;
    relay.shutdown().await;
}

#[tokio::test]
async fn a_publishers_huge_max_latency_is_capped_by_default() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, _track) = publish(&publisher, "forever");
    let subscriber = relay.client("moql", "/").await;
    let remote = announced(&subscriber.received, "forever").await;
    let info = within("the track info", remote.track("clock").unwrap().wait_info())
        .await
        .unwrap();
    // The publisher asked for an hour; the relay keeps (and re-advertises) at most 30 s.
    assert_eq!(info.max_latency, Duration::from_secs(30));
    relay.shutdown().await;
}

// ---- measurements: `cargo test -p moql-tests --test hostile -- --ignored --nocapture measure`
// Publisher, relay and subscriber share this process, so VmRSS counts all three; the
// publisher's own copy of what it sends is the same before and after a fix.

#[tokio::test]
#[ignore = "a measurement: prints memory and CPU under the attack"]
async fn measure_empty_frames_into_one_group() {
    use crate::support::usage;
    const FRAMES: u64 = 50_000;
    let relay = relay().await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "flood");
    let subscriber = relay.client("moql", "/").await;
    let remote = announced(&subscriber.received, "flood").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    let before = usage::now();
    let group = track.create_group(0).unwrap();
    for i in 0..FRAMES {
        group.write(i, bytes::Bytes::new()).unwrap();
    }
    group.finish().unwrap();
    track.create_group(1).unwrap().finish().unwrap();
    let mut relayed = 0;
    within("group 1", async {
        loop {
            let mut g = sub.next_group().await.unwrap().unwrap();
            if g.sequence() == 1 {
                return;
            }
            while let Ok(Some(_)) = g.next_frame().await {
                relayed += 1;
            }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let charged = relay.metric("moql_relay_cache_bytes").await;
    usage::report(
        "empty frames into one group",
        before,
        &format!(
            "{FRAMES} empty frames sent, {relayed} relayed in group 0, relay cache_bytes {charged}"
        ),
    );
    relay.shutdown().await;
}

#[tokio::test]
#[ignore = "a measurement: prints memory and CPU under the attack"]
async fn measure_empty_groups_under_a_huge_max_latency() {
    use crate::support::usage;
    const GROUPS: u64 = 3_000;
    let relay = relay().await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "empty");
    let subscriber = relay.client("moql", "/").await;
    let remote = announced(&subscriber.received, "empty").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    let before = usage::now();
    for seq in 0..GROUPS {
        track.create_group(seq).unwrap().finish().unwrap();
    }
    within("the last group", async {
        while sub.next_group().await.unwrap().unwrap().sequence() < GROUPS - 1 {}
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let charged = relay.metric("moql_relay_cache_bytes").await;
    usage::report(
        "empty groups, 1 h max latency",
        before,
        &format!("{GROUPS} empty groups, relay cache_bytes {charged}"),
    );
    relay.shutdown().await;
}

#[tokio::test]
#[ignore = "a measurement: prints memory and CPU under the attack"]
async fn measure_aborted_tracks_holding_the_budget() {
    use crate::support::usage;
    const TRACKS: usize = 16;
    const GROUPS: u64 = 64;
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let broadcast = BroadcastProducer::new();
    let info = TrackInfo {
        max_latency: Duration::from_secs(3600),
        ..TrackInfo::DEFAULT
    };
    let tracks: Vec<TrackProducer> = (0..TRACKS)
        .map(|i| broadcast.create_track(&format!("t{i}"), info).unwrap())
        .collect();
    publisher
        .publish
        .publish(&Path::new("idle").unwrap(), broadcast.consume())
        .unwrap();
    let subscriber = relay.client("moql", "/").await;
    let remote = announced(&subscriber.received, "idle").await;
    let before = usage::now();
    let mut subs = Vec::new();
    for (i, track) in tracks.iter().enumerate() {
        let mut sub = remote
            .subscribe_track(&format!("t{i}"), Subscription::default())
            .unwrap();
        wait_subscribed(track).await;
        for seq in 0..GROUPS {
            let group = track.create_group(seq).unwrap();
            group.write(seq, vec![7u8; 16 * 1024]).unwrap();
            group.finish().unwrap();
        }
        within("the last group", async {
            while sub.next_group().await.unwrap().unwrap().sequence() < GROUPS - 1 {}
        })
        .await;
        subs.push(sub);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let full = relay.metric("moql_relay_cache_bytes").await;
    for track in &tracks {
        track.abort(Error::Cancel).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let after = relay.metric("moql_relay_cache_bytes").await;
    usage::report(
        "aborted tracks",
        before,
        &format!(
            "{TRACKS} tracks x {GROUPS} x 16 KiB, relay cache_bytes {full} before the aborts, {after} 2 s after"
        ),
    );
    relay.shutdown().await;
}
