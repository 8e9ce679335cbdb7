//! The relay, started for real on loopback: fan-out between clients, FETCH forwarded upstream
//! then served from the relay's cache, HTTP endpoints, auth, slow subscribers and a cluster.

mod support;

use std::time::Duration;

use moql_model::{BroadcastProducer, Path, Subscription, TrackInfo};
use support::relay::{
    TestRelay, produce, publish, read_group, shutdown_sends_goaway_to, token, wait_subscribed,
};
use support::{http_get, within};

#[tokio::test]
async fn two_clients_through_one_relay_on_both_transports() {
    let relay = TestRelay::start(|_| {}).await;
    let mut keep = Vec::new();
    for (pub_scheme, sub_scheme) in [("moql", "https"), ("https", "moql")] {
        let publisher = relay.client(pub_scheme, "/").await;
        let subscriber = relay.client(sub_scheme, "/").await;
        let name = format!("demo-{pub_scheme}");
        let (_broadcast, track) = publish(&publisher, &name);
        let remote = support::announced(&subscriber.received, &name).await;
        let mut sub = remote
            .subscribe_track("clock", Subscription::default())
            .unwrap();
        wait_subscribed(&track).await;
        produce(&track, 0, 3);
        assert_eq!(
            read_group(&mut sub).await,
            (0, vec!["0:0".into(), "0:1".into(), "0:2".into()])
        );
        produce(&track, 1, 1);
        assert_eq!(read_group(&mut sub).await.0, 1);
        keep.push((publisher, subscriber, _broadcast, track, sub));
    }
    // The metrics are refreshed once a second from the live sessions.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(relay.metric("moql_relay_sessions").await, 4);
    assert_eq!(relay.metric("moql_relay_subscriptions").await, 2);
    assert!(relay.metric("moql_relay_bytes_out_total").await > 0);
    // Not on the public port unless configured.
    let (status, _) = http_get(relay.addr, "/metrics").await;
    assert_eq!(status, 404);
    relay.shutdown().await;
}

#[tokio::test]
async fn fetch_is_forwarded_upstream_once_then_served_from_the_relay_cache() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let broadcast = BroadcastProducer::new();
    // A 500 ms window on the publisher: group 0 is evicted there, and served by the
    // application from its archive when a fetch asks.
    let info = TrackInfo {
        max_latency: Duration::from_millis(500),
        ..TrackInfo::DEFAULT
    };
    let track = broadcast.create_track("clock", info).unwrap();
    publisher
        .publish
        .publish(&Path::new("vod").unwrap(), broadcast.consume())
        .unwrap();
    for seq in 0..5 {
        produce(&track, seq, 2);
    }
    assert!(!track.cached().contains(&0));
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (archive, count) = (track.clone(), served.clone());
    tokio::spawn(async move {
        while let Some(request) = archive.requested_fetch().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let group = request.serve().unwrap();
            group.write(0, "archived").unwrap();
            group.finish().unwrap();
        }
    });

    let first = relay.client("moql", "/").await;
    let remote = support::announced(&first.received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    let mut group = within("the first fetch", consumer.fetch(0, None).unwrap())
        .await
        .unwrap();
    let frames = within("frames", group.read_all()).await.unwrap();
    assert_eq!(frames[0].payload, "archived");
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "forwarded upstream once"
    );

    // A second client (other transport): answered from the relay's cache.
    let second = relay.client("https", "/").await;
    let remote2 = support::announced(&second.received, "vod").await;
    let consumer2 = remote2.track("clock").unwrap();
    let mut again = within("the second fetch", consumer2.fetch(0, None).unwrap())
        .await
        .unwrap();
    let frames2 = within("frames", again.read_all()).await.unwrap();
    assert_eq!(frames, frames2, "byte-exact");
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "served from the relay's cache"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn http_fetch_returns_a_past_group_byte_exact() {
    let relay = TestRelay::start(|c| c.limits.http_fetch_timeout_seconds = 0.5).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "room/cam");
    for seq in 0..3 {
        produce(&track, seq, 3);
    }
    let subscriber = relay.client("moql", "/").await;
    support::announced(&subscriber.received, "room/cam").await;

    let (status, body) = http_get(relay.addr, "/fetch/room/cam/clock?group=1").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, b"1:01:11:2");
    let (status, _) = http_get(relay.addr, "/fetch/room/cam/clock?group=99").await;
    assert_eq!(status, 404);
    // A broadcast nobody announces is waited for until the deadline (tests/http_fetch.rs).
    let (status, body) = http_get(relay.addr, "/fetch/room/none/clock?group=0").await;
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&body));
    let (status, body) = http_get(relay.addr, "/announced/room").await;
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(body).unwrap().trim(), "room/cam");
    let (status, body) = http_get(relay.addr, "/certificate.sha256").await;
    assert_eq!(
        (status, String::from_utf8(body).unwrap().trim().to_string()),
        (200, relay.fingerprint.clone())
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn a_subscriber_that_never_reads_does_not_stall_a_fast_one() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "firehose");

    // The slow one subscribes over a raw transport and never reads a group stream.
    let slow = moql_native::Client::new(moql_native::ClientConfig::new(
        moql_native::ClientTls::Fingerprints(vec![relay.fingerprint.clone()]),
    ))
    .unwrap();
    let slow = within("slow connect", slow.connect(&relay.url("moql", "/")))
        .await
        .unwrap()
        .session;
    {
        use moql_wire::{Encode, Setup, Subscribe, Version};
        use web_transport_trait::{SendStream as _, Session as _};
        let mut setup = slow.open_uni().await.unwrap();
        setup.write_all(&[0x01]).await.unwrap();
        setup
            .write_all(&Setup::default().encode_to_vec(Version::Lite05).unwrap())
            .await
            .unwrap();
        setup.finish().unwrap();
        let (mut send, _recv) = slow.open_bi().await.unwrap();
        let request = Subscribe {
            id: 0,
            broadcast: Path::new("firehose").unwrap(),
            track: "clock".into(),
            priority: 0,
            ordered: false,
            max_latency: 60_000,
            start: None,
            end: None,
            frame_start: 0,
            frame_end: None,
        };
        send.write_all(&[0x02]).await.unwrap();
        send.write_all(&request.encode_to_vec(Version::Lite05).unwrap())
            .await
            .unwrap();
        std::mem::forget(send);
    }

    let fast = relay.client("moql", "/").await;
    let remote = support::announced(&fast.received, "firehose").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    // 64 groups of 64 KiB: far more than the slow client's flow-control window.
    let payload = bytes::Bytes::from(vec![7u8; 64 * 1024]);
    for seq in 0..64u64 {
        let group = track.create_group(seq).unwrap();
        group.write(seq, payload.clone()).unwrap();
        group.finish().unwrap();
        let mut received = within("the fast subscriber's group", sub.next_group())
            .await
            .unwrap()
            .unwrap();
        let frames = within("its frame", received.read_all()).await.unwrap();
        assert_eq!(frames[0].payload.len(), 64 * 1024);
    }
    drop(slow);
    relay.shutdown().await;
}

#[tokio::test]
async fn three_relays_in_a_cluster_carry_a_broadcast_across_nodes() {
    let a = TestRelay::start(|_| {}).await;
    let b = TestRelay::start(|_| {}).await;
    let (fa, fb) = (a.fingerprint.clone(), b.fingerprint.clone());
    let (ua, ub) = (a.url("moql", "/"), b.url("moql", "/"));
    let c = TestRelay::start(move |c| {
        c.cluster.peers = vec![ua, ub];
        c.cluster.peer_fingerprints = vec![fa, fb];
    })
    .await;
    // Publisher on A, subscriber on B; only C dials out (to A and B), so the broadcast reaches
    // B through C: A → C → B.
    let publisher = a.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "cluster/demo");
    let subscriber = b.client("https", "/").await;
    let remote = support::announced(&subscriber.received, "cluster/demo").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    produce(&track, 0, 2);
    assert_eq!(
        read_group(&mut sub).await,
        (0, vec!["0:0".into(), "0:1".into()])
    );
    c.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn shutdown_sends_goaway_to_every_session() {
    let relay = TestRelay::start(|_| {}).await;
    let client = relay.client("moql", "/").await;
    shutdown_sends_goaway_to(relay, &client).await;
}

#[tokio::test]
async fn auth_accepts_granted_sessions_and_refuses_the_rest() {
    let secret = moql_relay::auth::generate_hs256_secret();
    let relay = TestRelay::with_hs256_key(&secret).await;

    // No token: closed with 6 (Unauthorized) right after SETUP.
    let anonymous = relay.client("moql", "/room").await;
    let err = within("the refusal", anonymous.session.closed()).await;
    assert_eq!(err.code(), moql_wire::ErrorCode::UNAUTHORIZED, "{err}");

    // A token signed with another secret: refused the same way.
    let forged = token(
        &moql_relay::auth::generate_hs256_secret(),
        "room",
        &[""],
        &[""],
        60,
    );
    let client = relay.client("https", &format!("/room?jwt={forged}")).await;
    assert_eq!(
        within("the refusal", client.session.closed()).await.code(),
        moql_wire::ErrorCode::UNAUTHORIZED
    );

    // An expired token.
    let expired = token(&secret, "room", &[""], &[""], -60);
    let client = relay.client("moql", &format!("/room?jwt={expired}")).await;
    assert_eq!(
        within("the refusal", client.session.closed()).await.code(),
        moql_wire::ErrorCode::UNAUTHORIZED
    );

    // Alice may publish under alice/ and subscribe to everything in the room.
    let alice = relay
        .client(
            "moql",
            &format!(
                "/room?jwt={}",
                token(&secret, "room", &["alice"], &[""], 60)
            ),
        )
        .await;
    let (_cam, cam_track) = publish(&alice, "alice/cam");
    let (_bob, _bob_track) = publish(&alice, "bob/cam"); // outside her grant: ignored
    // Bob may only subscribe to alice/.
    let bob = relay
        .client(
            "https",
            &format!("/room?jwt={}", token(&secret, "room", &[], &["alice"], 60)),
        )
        .await;
    let remote = support::announced(&bob.received, "alice/cam").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&cam_track).await;
    produce(&cam_track, 0, 1);
    assert_eq!(read_group(&mut sub).await.1, vec!["0:0".to_string()]);
    assert!(
        bob.received
            .broadcast(&Path::new("bob/cam").unwrap())
            .is_none(),
        "never published"
    );
    // A session of another root sees nothing of this room.
    let eve = relay
        .client(
            "moql",
            &format!("/other?jwt={}", token(&secret, "other", &[""], &[""], 60)),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        eve.received
            .broadcast(&Path::new("alice/cam").unwrap())
            .is_none()
    );
    assert!(
        eve.received
            .broadcast(&Path::new("room/alice/cam").unwrap())
            .is_none()
    );
    relay.shutdown().await;
}

/// A publisher that ends its track and closes its session at once (the released CLI does so
/// at the end of its input) still ends the track cleanly for subscribers behind the relay:
/// its FIN came after every group stream, so the close must not turn the end into an error.
#[tokio::test]
async fn a_track_ended_just_before_its_publisher_leaves_ends_cleanly_downstream() {
    let relay = TestRelay::start(|_| {}).await;
    for round in 0..5 {
        let publisher = relay.client("moql", "/").await;
        let name = format!("leaving-{round}");
        let (_broadcast, track) = publish(&publisher, &name);
        let viewer = relay.client("https", "/").await;
        let remote = support::announced(&viewer.received, &name).await;
        let mut sub = remote
            .subscribe_track("clock", Subscription::default())
            .unwrap();
        wait_subscribed(&track).await;
        produce(&track, 0, 3);
        assert_eq!(read_group(&mut sub).await.0, 0);
        track.finish().unwrap();
        // The released CLI closes 1–4 ms after its FIN; the relay's own settling takes longer.
        tokio::time::sleep(Duration::from_millis(5)).await;
        publisher
            .session
            .close(moql_wire::ErrorCode::CANCEL, "end of input");
        assert_eq!(
            within("the end of the track", sub.next_group())
                .await
                .map(|g| g.map(|g| g.sequence())),
            Ok(None),
            "round {round}: the track's end did not cross the relay"
        );
    }
    relay.shutdown().await;
}

/// A lite-03 peer names no hop IDs, so only the relay's own stamp for that session tells its
/// broadcasts apart: they are never announced back to it (the previous reference relay, which
/// dials over lite-03 too, reads such an echo as a rival publisher and drops the link).
#[tokio::test]
async fn a_lite03_peer_never_hears_its_own_broadcast_announced_back() {
    let relay = TestRelay::start(|_| {}).await;
    let old = support::client_at(
        &relay.url("moql", "/"),
        &relay.fingerprint,
        None,
        &[moql_wire::Version::Lite03],
    )
    .await
    .unwrap();
    assert_eq!(old.session.version(), moql_wire::Version::Lite03);
    let (_mine, _track) = publish(&old, "mine");
    // Another client's broadcast, announced after ours reached the relay, bounds the wait.
    let other = relay.client("moql", "/").await;
    support::announced(&other.received, "mine").await;
    let (_theirs, _other_track) = publish(&other, "theirs");
    support::announced(&old.received, "theirs").await;
    assert!(
        old.received
            .broadcast(&Path::new("mine").unwrap())
            .is_none(),
        "the relay announced the lite-03 client's own broadcast back to it"
    );
    relay.shutdown().await;
}
