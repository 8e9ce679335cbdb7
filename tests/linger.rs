//! Linger and transparent resume (issue #18) over real loopback connections through real
//! relays: a publisher whose connection is lost comes back within the linger and its
//! subscribers' tracks go on; an upstream relay restarts under a downstream subscription;
//! a group from before the gap is still fetched; a linger that runs out ends as before.
//!
//! Each test prints the gap its subscriber saw (ms between the last group before the loss and
//! the first after the resume, and the group sequences skipped).

mod support;

use std::time::{Duration, Instant};

use moql_model::{Path, Subscription, TrackConsumer};
use support::proxy::{Impairment, UdpProxy};
use support::relay::{TestRelay, produce, publish, read_group, wait_subscribed};
use support::{TestClient, announced, client, within};

/// Reads the next group, failing the test if the track ends instead.
async fn next(sub: &mut TrackConsumer) -> (u64, Vec<String>) {
    read_group(sub).await
}

/// The subscriber's gap: prints and returns (ms, groups skipped in the sequence).
fn gap(scenario: &str, last_before: (u64, Instant), first_after: (u64, Instant)) -> (u128, u64) {
    let ms = first_after.1.duration_since(last_before.1).as_millis();
    let skipped = first_after.0.saturating_sub(last_before.0 + 1);
    eprintln!(
        "GAP {scenario}: {ms} ms between group {} and group {}, {skipped} sequence(s) skipped",
        last_before.0, first_after.0
    );
    (ms, skipped)
}

/// A publisher client behind a UDP proxy, so its connection can be lost without a close.
async fn publisher_behind(relay: &TestRelay) -> (UdpProxy, TestClient) {
    let proxy = UdpProxy::start(relay.addr, Impairment::NONE).await;
    let publisher = client(
        &format!("moql://127.0.0.1:{}/", proxy.addr.port()),
        &relay.fingerprint,
    )
    .await
    .expect("publisher connects through the proxy");
    (proxy, publisher)
}

#[tokio::test]
async fn a_publisher_lost_and_back_within_the_linger_resumes_and_subscribers_see_no_end() {
    // 1 s idle timeout: the relay notices the lost connection after about a second.
    let relay = TestRelay::start(|c| c.limits.idle_timeout_seconds = 1.0).await;
    let (proxy, first) = publisher_behind(&relay).await;
    let (_old, old_track) = publish(&first, "linger/cam");
    let subscriber = relay.client("moql", "/").await;
    let remote = announced(&subscriber.received, "linger/cam").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&old_track).await;
    for seq in 0..3 {
        produce(&old_track, seq, 2);
        assert_eq!(next(&mut sub).await.0, seq);
    }
    let before = (2, Instant::now());

    // The publisher's network goes away: no close reaches the relay.
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let path = Path::new("linger/cam").unwrap();
    assert!(
        subscriber.received.broadcast(&path).is_some(),
        "still announced while lingering"
    );
    // A new publisher process would start its sequences again at 0.
    let second = relay.client("moql", "/").await;
    let (_new, new_track) = publish(&second, "linger/cam");
    wait_subscribed(&new_track).await;
    produce(&new_track, 0, 2);
    produce(&new_track, 1, 2);
    let (seq, frames) = next(&mut sub).await;
    let after = (seq, Instant::now());
    assert_eq!(
        (seq, frames),
        (3, vec!["0:0".into(), "0:1".into()]),
        "the new publisher's group 0 follows the last group before the gap"
    );
    assert_eq!(next(&mut sub).await.0, 4);
    let (_, skipped) = gap("publisher connection lost (in-process)", before, after);
    assert_eq!(skipped, 0);
    assert!(sub.closed().is_none(), "the subscriber saw no end");
    assert!(
        subscriber
            .received
            .broadcast(&path)
            .is_some_and(|b| b.same_broadcast(&remote)),
        "the subscriber's broadcast was never replaced"
    );

    // A FETCH of a group published before the gap, by a viewer that came after it, is
    // served from the relay's cache; one after the gap maps to the new publisher's group.
    let late = relay.client("moql", "/").await;
    let track = announced(&late.received, "linger/cam")
        .await
        .track("clock")
        .unwrap();
    let mut old = within("fetch of group 1", track.fetch(1, None).unwrap())
        .await
        .expect("group 1 from before the gap");
    let frames = within("group 1", old.read_all()).await.unwrap();
    assert_eq!(&frames[0].payload[..], b"1:0");
    let mut new = within("fetch of group 4", track.fetch(4, None).unwrap())
        .await
        .expect("group 4 from after the gap");
    let frames = within("group 4", new.read_all()).await.unwrap();
    assert_eq!(
        &frames[0].payload[..],
        b"1:0",
        "the new publisher's group 1"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn a_linger_that_runs_out_ends_the_track_and_withdraws_the_broadcast() {
    let relay = TestRelay::start(|c| {
        c.limits.idle_timeout_seconds = 1.0;
        c.limits.linger_seconds = 1.0;
    })
    .await;
    let (proxy, first) = publisher_behind(&relay).await;
    let (_b, track) = publish(&first, "linger/gone");
    let subscriber = relay.client("moql", "/").await;
    let remote = announced(&subscriber.received, "linger/gone").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    produce(&track, 0, 1);
    assert_eq!(next(&mut sub).await.0, 0);
    let cut = Instant::now();
    proxy.cut();
    let end = within("the track to end", sub.next_group()).await;
    assert!(end.is_err(), "the track ends with an error: {end:?}");
    let waited = cut.elapsed();
    eprintln!("track ended {} ms after the cut", waited.as_millis());
    assert!(
        waited >= Duration::from_millis(1500),
        "idle timeout (1 s) plus linger (1 s) first"
    );
    let path = Path::new("linger/gone").unwrap();
    within("the broadcast to be withdrawn", async {
        while subscriber.received.broadcast(&path).is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    relay.shutdown().await;
}

#[tokio::test]
async fn an_upstream_relay_restart_under_a_downstream_subscription_is_resumed() {
    let upstream = TestRelay::start(|c| c.http = false).await;
    let port = upstream.addr.port();
    let upstream_url = upstream.url("moql", "/");
    let downstream = TestRelay::start(move |c| {
        // No HTTP: its TCP listener takes the UDP port's number, which another socket may
        // hold (a flaky "relay binds: Http(AddrInUse)"), and nothing here uses it.
        c.http = false;
        c.cluster.peers = vec![upstream_url];
        // The restarted upstream generates a new certificate.
        c.cluster.insecure = true;
    })
    .await;
    let publisher = upstream.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "linger/up");
    let subscriber = downstream.client("moql", "/").await;
    let remote = announced(&subscriber.received, "linger/up").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    produce(&track, 0, 1);
    produce(&track, 1, 1);
    assert_eq!(next(&mut sub).await.0, 0);
    assert_eq!(next(&mut sub).await.0, 1);
    let before = (1, Instant::now());

    // The upstream restarts (GOAWAY, close, a new process on the same port); the publisher
    // reconnects to it and starts again at group 0.
    upstream.shutdown().await;
    let upstream = TestRelay::start(move |c| {
        c.http = false;
        c.bind = format!("127.0.0.1:{port}").parse().unwrap();
    })
    .await;
    let publisher = upstream.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "linger/up");
    wait_subscribed(&track).await;
    produce(&track, 0, 1);
    let (seq, frames) = next(&mut sub).await;
    let after = (seq, Instant::now());
    assert_eq!((seq, frames), (2, vec!["0:0".into()]));
    gap("upstream relay restart (in-process)", before, after);
    assert!(sub.closed().is_none());
    assert!(subscriber.session.close_reason().is_none());
    downstream.shutdown().await;
    upstream.shutdown().await;
}

#[tokio::test]
async fn a_restarted_publisher_takes_over_at_once_and_the_old_ones_groups_stop() {
    // The default idle timeout (30 s): the old connection is never noticed as lost here.
    let relay = TestRelay::start(|_| {}).await;
    let first = relay.client("moql", "/").await;
    let (_old, old_track) = publish(&first, "linger/takeover");
    let subscriber = relay.client("moql", "/").await;
    let remote = announced(&subscriber.received, "linger/takeover").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&old_track).await;
    for seq in 0..3 {
        produce(&old_track, seq, 1);
        assert_eq!(next(&mut sub).await.0, seq);
    }
    let before = (2, Instant::now());

    // A second publisher of the same path (a restarted process) while the first one's
    // connection is still up: it takes the broadcast over at once.
    let second = relay.client("moql", "/").await;
    let (_new, new_track) = publish(&second, "linger/takeover");
    wait_subscribed(&new_track).await;
    // The old publisher's late group must not reach the track.
    produce(&old_track, 3, 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    produce(&new_track, 0, 1);
    let (seq, frames) = next(&mut sub).await;
    let after = (seq, Instant::now());
    assert_eq!(
        (seq, frames),
        (3, vec!["0:0".into()]),
        "the new publisher's group 0 follows the last group before the takeover"
    );
    let (ms, skipped) = gap("publisher restarted, old connection alive", before, after);
    assert_eq!(skipped, 0);
    assert!(ms < 5_000, "taken over at once, not after the idle timeout");
    produce(&old_track, 4, 1);
    produce(&new_track, 1, 1);
    assert_eq!(next(&mut sub).await, (4, vec!["1:0".into()]));
    assert!(sub.closed().is_none(), "the subscriber saw no end");
    let path = Path::new("linger/takeover").unwrap();
    assert!(
        subscriber
            .received
            .broadcast(&path)
            .is_some_and(|b| b.same_broadcast(&remote)),
        "the subscriber's broadcast was never replaced"
    );
    // The old publisher leaving now ends nothing.
    first.session.close(moql_wire::ErrorCode::CANCEL, "done");
    tokio::time::sleep(Duration::from_millis(200)).await;
    produce(&new_track, 2, 1);
    assert_eq!(next(&mut sub).await.0, 5);
    assert!(sub.closed().is_none());
    relay.shutdown().await;
}
