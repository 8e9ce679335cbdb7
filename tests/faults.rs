//! Faults over real loopback connections through a real relay: a publisher that vanishes
//! mid-group, an upstream relay that restarts, a publisher that reconnects with the same
//! broadcast, and a lossy, reordering network path.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use moql_model::{Path, Subscription, TrackConsumer, TrackInfo};
use support::proxy::{Impairment, UdpProxy};
use support::relay::{TestRelay, produce, publish, read_group, wait_subscribed};
use support::{TestClient, announced, client, within};

/// Waits until `origin` no longer has a broadcast at `path`.
async fn withdrawn(client: &TestClient, path: &str) {
    let path = Path::new(path).unwrap();
    within(&format!("{path} to be withdrawn"), async {
        while client.received.broadcast(&path).is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// Reads groups until the track ends; returns the error it ended with.
async fn track_error(sub: &mut TrackConsumer) -> moql_model::Error {
    within("the track to end", async {
        loop {
            match sub.next_group().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the track finished cleanly; expected an error"),
                Err(err) => return err,
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_publisher_vanishing_mid_group_aborts_the_group_ends_the_track_and_keeps_the_cache() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let subscriber = relay.client("https", "/").await;
    let (_broadcast, track) = publish(&publisher, "fault/vanish");
    let remote = announced(&subscriber.received, "fault/vanish").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    for seq in 1..=3 {
        produce(&track, seq, 3);
        assert_eq!(read_group(&mut sub).await.0, seq);
    }
    // Group 4 is half written when the publisher's connection goes away.
    let open = track.create_group(4).unwrap();
    open.write(4000, "4:0").unwrap();
    let mut partial = within("group 4", sub.next_group())
        .await
        .unwrap()
        .expect("group 4");
    let first = within("its first frame", partial.next_frame())
        .await
        .unwrap();
    assert_eq!(&first.expect("a frame").payload[..], b"4:0");
    publisher
        .session
        .close(moql_wire::ErrorCode(1), "publisher crashed");

    let err = within("group 4 to end", partial.next_frame()).await;
    assert!(
        err.is_err(),
        "a cut group must end in an error, got {err:?}"
    );
    let err = track_error(&mut sub).await;
    eprintln!("the track ended with: {err}");
    withdrawn(&subscriber, "fault/vanish").await;

    // Completed groups are still served from the subscriber's cache within the track's window.
    let mut cached = within("fetch of group 2", sub.fetch(2, None).unwrap())
        .await
        .expect("group 2 is cached");
    let frames = within("group 2", cached.read_all()).await.unwrap();
    let payloads: Vec<&[u8]> = frames.iter().map(|f| &f.payload[..]).collect();
    assert_eq!(payloads, [&b"2:0"[..], b"2:1", b"2:2"]);
    // The aborted group is not served from the cache, and asking for it fails rather than hangs.
    match sub.fetch(4, None) {
        Err(_) => {}
        Ok(pending) => assert!(within("fetch of group 4", pending).await.is_err()),
    }
    // The subscriber's session itself is unaffected.
    assert!(subscriber.session.close_reason().is_none());
    relay.shutdown().await;
}

#[tokio::test]
async fn without_linger_an_upstream_relay_restart_ends_downstream_tracks_and_the_broadcast_returns()
{
    let upstream = TestRelay::start(|c| c.http = false).await;
    let port = upstream.addr.port();
    let upstream_url = upstream.url("moql", "/");
    let downstream = TestRelay::start(move |c| {
        c.cluster.peers = vec![upstream_url];
        // The restarted upstream generates a new certificate.
        c.cluster.insecure = true;
        // Linger off: the end is immediate (tests/linger.rs covers the resume).
        c.limits.linger_seconds = 0.0;
    })
    .await;
    let publisher = upstream.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "fault/upstream");
    let subscriber = downstream.client("moql", "/").await;
    let remote = announced(&subscriber.received, "fault/upstream").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    produce(&track, 1, 2);
    assert_eq!(
        read_group(&mut sub).await,
        (1, vec!["1:0".into(), "1:1".into()])
    );

    // The upstream goes away: the downstream subscriber's track ends with an error (it does
    // not hang), the broadcast is withdrawn, and its session to the downstream relay lives on.
    upstream.shutdown().await;
    let err = track_error(&mut sub).await;
    eprintln!("downstream track ended with: {err}");
    withdrawn(&subscriber, "fault/upstream").await;
    assert!(subscriber.session.close_reason().is_none());

    // The upstream comes back on the same port; the downstream relay re-peers by itself, the
    // publisher reconnects, and the broadcast is announced again: subscribers re-subscribe.
    let upstream = TestRelay::start(move |c| {
        c.http = false;
        c.bind = format!("127.0.0.1:{port}").parse().unwrap();
    })
    .await;
    let publisher = upstream.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "fault/upstream");
    let remote = announced(&subscriber.received, "fault/upstream").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    produce(&track, 7, 1);
    assert_eq!(read_group(&mut sub).await, (7, vec!["7:0".into()]));
    downstream.shutdown().await;
    upstream.shutdown().await;
}

#[tokio::test]
async fn a_publisher_reconnecting_with_the_same_broadcast_replaces_it() {
    let relay = TestRelay::start(|_| {}).await;
    let subscriber = relay.client("moql", "/").await;
    let first = relay.client("moql", "/").await;
    let (_old, old_track) = publish(&first, "fault/reconnect");
    let remote = announced(&subscriber.received, "fault/reconnect").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&old_track).await;
    produce(&old_track, 1, 1);
    assert_eq!(read_group(&mut sub).await.0, 1);

    // The publisher's connection drops; it reconnects and publishes the broadcast again.
    first
        .session
        .close(moql_wire::ErrorCode::CANCEL, "network change");
    let second = relay.client("moql", "/").await;
    let (_new, new_track) = publish(&second, "fault/reconnect");

    // The old broadcast ends for its subscribers (a different original publisher: spec 5.4
    // step 5, so cached track information is discarded) and the path comes back with the new
    // one, which serves a fresh subscription.
    let err = track_error(&mut sub).await;
    eprintln!("the old broadcast's track ended with: {err}");
    let path = Path::new("fault/reconnect").unwrap();
    let replacement = within("the replacement", async {
        loop {
            if let Some(b) = subscriber.received.broadcast(&path)
                && !b.same_broadcast(&remote)
            {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let mut sub = replacement
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&new_track).await;
    produce(&new_track, 2, 1);
    assert_eq!(read_group(&mut sub).await, (2, vec!["2:0".into()]));
    relay.shutdown().await;
}

/// 5 % loss and up to 20 ms of jitter (reordering) on the subscriber's path: every group that
/// is not expired arrives complete, with its frames in order.
#[tokio::test]
async fn groups_arrive_complete_and_in_order_over_a_lossy_reordering_path() {
    const GROUPS: u64 = 20;
    const FRAMES: u64 = 10;
    let relay = TestRelay::start(|_| {}).await;
    let seed = std::env::var("MOQL_PROXY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234);
    let lossy = Impairment {
        loss: 0.05,
        jitter: Duration::from_millis(20),
        seed,
        ..Impairment::NONE
    };
    let proxy = UdpProxy::start(relay.addr, lossy).await;
    let publisher_proxy = UdpProxy::start(
        relay.addr,
        Impairment {
            seed: seed ^ 1,
            ..lossy
        },
    )
    .await;
    let publisher = client(
        &format!("moql://127.0.0.1:{}/", publisher_proxy.addr.port()),
        &relay.fingerprint,
    )
    .await
    .expect("publisher connects through the proxy");
    let subscriber = client(
        &format!("moql://127.0.0.1:{}/", proxy.addr.port()),
        &relay.fingerprint,
    )
    .await
    .expect("subscriber connects through the proxy");

    let broadcast = moql_model::BroadcastProducer::new();
    let info = TrackInfo {
        max_latency: Duration::from_secs(30),
        ..TrackInfo::DEFAULT
    };
    let track = broadcast.create_track("clock", info).unwrap();
    publisher
        .publish
        .publish(&Path::new("fault/lossy").unwrap(), broadcast.consume())
        .unwrap();
    let remote = announced(&subscriber.received, "fault/lossy").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;

    let writer = tokio::spawn(async move {
        for seq in 0..GROUPS {
            let group = track.create_group(seq).unwrap();
            for i in 0..FRAMES {
                group.write(seq * 100 + i, format!("{seq}:{i}")).unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            group.finish().unwrap();
        }
        track
    });

    let mut received: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    within("every group over the lossy path", async {
        while received.len() < GROUPS as usize {
            let mut group = sub.next_group().await.unwrap().expect("the track is live");
            let frames = group.read_all().await.expect("a complete group");
            let payloads = frames
                .iter()
                .map(|f| String::from_utf8(f.payload.to_vec()).unwrap())
                .collect();
            assert!(received.insert(group.sequence(), payloads).is_none());
        }
    })
    .await;
    let _track = writer.await.unwrap();
    for seq in 0..GROUPS {
        let expected: Vec<String> = (0..FRAMES).map(|i| format!("{seq}:{i}")).collect();
        assert_eq!(received[&seq], expected, "group {seq}");
    }
    let dropped = proxy.counters.dropped.load(Ordering::Relaxed)
        + publisher_proxy.counters.dropped.load(Ordering::Relaxed);
    let forwarded = proxy.counters.forwarded.load(Ordering::Relaxed)
        + publisher_proxy.counters.forwarded.load(Ordering::Relaxed);
    eprintln!("lossy path: {dropped} datagrams dropped, {forwarded} forwarded");
    assert!(dropped > 0, "the proxy must actually have dropped packets");
    relay.shutdown().await;
}
