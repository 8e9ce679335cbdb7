//! Limits against resource exhaustion, each hit for real on a relay on loopback: the peer that
//! hits a limit sees the documented code, and another session on the same relay carries on.

mod support;

use std::time::Duration;

use moql_model::{BroadcastProducer, Path, Subscription, TrackConsumer, TrackInfo, TrackProducer};
use moql_native::{Client, ClientConfig, ClientTls};
use moql_wire::{CodeScope, ErrorCode, Version};
use support::proxy::{Impairment, UdpProxy};
use support::relay::TestRelay;
use support::{TestClient, within};
use web_transport_trait::{Error as _, Session as _};

/// Publishes broadcast `name` with tracks `tracks` from `client`.
fn publish(
    client: &TestClient,
    name: &str,
    tracks: &[&str],
) -> (BroadcastProducer, Vec<TrackProducer>) {
    let broadcast = BroadcastProducer::new();
    let producers = tracks
        .iter()
        .map(|t| broadcast.create_track(t, TrackInfo::DEFAULT).unwrap())
        .collect();
    client
        .publish
        .publish(&Path::new(name).unwrap(), broadcast.consume())
        .unwrap();
    (broadcast, producers)
}

/// Writes one finished group of `bytes` bytes at the next sequence.
fn produce(track: &TrackProducer, bytes: usize) -> u64 {
    let seq = track.latest().map_or(0, |l| l + 1);
    let group = track.create_group(seq).unwrap();
    group.write(seq, vec![1u8; bytes]).unwrap();
    group.finish().unwrap();
    seq
}

/// Subscribes `client` to `broadcast`/`track` through the relay.
async fn subscribe(client: &TestClient, broadcast: &str, track: &str) -> TrackConsumer {
    let remote = support::announced(&client.received, broadcast).await;
    remote
        .subscribe_track(track, Subscription::default())
        .unwrap()
}

/// Waits for the subscription to reach `track`, writes a group, and checks `sub` gets it.
async fn flows(track: &TrackProducer, sub: &mut TrackConsumer) {
    within("the subscription upstream", async {
        while track.subscription().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let seq = produce(track, 100);
    let mut group = within("a group", sub.next_group())
        .await
        .expect("the subscription works")
        .expect("a group");
    assert!(group.sequence() <= seq);
    within("its frames", group.read_all()).await.unwrap();
}

/// A raw QUIC connection to the relay that sends nothing.
async fn silent_connection(relay: &TestRelay, url: &str) -> moql_native::Connection {
    let client = Client::new(ClientConfig::new(ClientTls::Fingerprints(vec![
        relay.fingerprint.clone(),
    ])))
    .unwrap();
    within("the connection", client.connect(url))
        .await
        .expect("handshake")
        .session
}

#[tokio::test]
async fn sessions_over_the_limit_are_refused_with_503_while_the_others_carry_on() {
    let relay = TestRelay::start(|c| c.limits.max_sessions = 2).await;
    let publisher = relay.client("moql", "/").await;
    let subscriber = relay.client("https", "/").await;

    // Raw QUIC: closed with App(503) = 567 right after the handshake.
    let third = silent_connection(&relay, &relay.url("moql", "/")).await;
    let err = within("the refusal", third.closed()).await;
    assert_eq!(
        err.session_error().map(|(code, _)| code),
        Some(ErrorCode::SERVICE_UNAVAILABLE.0),
        "{err}"
    );
    // WebTransport: the CONNECT is answered 503.
    let client = Client::new(ClientConfig::new(ClientTls::Fingerprints(vec![
        relay.fingerprint.clone(),
    ])))
    .unwrap();
    let refused = within("the refusal", client.connect(&relay.url("https", "/"))).await;
    let Err(err) = refused else {
        panic!("a third session must be refused");
    };
    let err = err.to_string();
    assert!(err.contains("503"), "{err}");

    // The two admitted sessions are untouched.
    let (_broadcast, tracks) = publish(&publisher, "cam", &["video"]);
    let mut sub = subscribe(&subscriber, "cam", "video").await;
    flows(&tracks[0], &mut sub).await;

    // A slot frees when a session leaves.
    drop(sub);
    subscriber
        .session
        .close(moql_wire::ErrorCode::CANCEL, "bye");
    within("a slot to free", async {
        loop {
            let next = silent_connection(&relay, &relay.url("moql", "/")).await;
            let refused = tokio::time::timeout(Duration::from_millis(200), next.closed()).await;
            if refused.is_err() {
                return; // still open after 200 ms: admitted
            }
        }
    })
    .await;
    relay.shutdown().await;
}

#[tokio::test]
async fn subscriptions_over_the_limit_are_reset_with_493_while_the_others_flow() {
    let relay = TestRelay::start(|c| c.limits.max_subscriptions = 2).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, tracks) = publish(&publisher, "cam", &["a", "b", "c"]);

    let greedy = relay.client("moql", "/").await;
    let mut a = subscribe(&greedy, "cam", "a").await;
    let mut b = subscribe(&greedy, "cam", "b").await;
    flows(&tracks[0], &mut a).await;
    flows(&tracks[1], &mut b).await;
    let mut c = subscribe(&greedy, "cam", "c").await;
    let err = within("the refusal", c.next_group())
        .await
        .expect_err("a third subscription is refused");
    assert_eq!(err.code(), ErrorCode::TOO_MANY_REQUESTS, "{err}");

    // The greedy session's first two still flow, and another session gets track c.
    flows(&tracks[0], &mut a).await;
    let other = relay.client("https", "/").await;
    let mut c = subscribe(&other, "cam", "c").await;
    flows(&tracks[2], &mut c).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn a_session_announcing_too_many_broadcasts_is_closed_with_493() {
    let relay = TestRelay::start(|c| c.limits.max_announcements = 2).await;
    let honest = relay.client("moql", "/").await;
    let (_cam, tracks) = publish(&honest, "honest", &["video"]);

    let flood = relay.client("moql", "/").await;
    let _keep: Vec<_> = (0..3)
        .map(|i| publish(&flood, &format!("flood/{i}"), &["video"]))
        .collect();
    let err = within("the close", flood.session.closed()).await;
    assert_eq!(err.code(), ErrorCode::TOO_MANY_REQUESTS, "{err}");

    let viewer = relay.client("https", "/").await;
    let mut sub = subscribe(&viewer, "honest", "video").await;
    flows(&tracks[0], &mut sub).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn a_subscription_over_its_buffer_limit_has_its_oldest_groups_reset_as_lagged() {
    const GROUP: usize = 16 * 1024;
    let relay = TestRelay::start(|c| c.limits.max_buffered_bytes = 3 * GROUP).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, tracks) = publish(&publisher, "cam", &["open", "steady"]);
    let subscriber = relay.client("moql", "/").await;
    let mut sub = subscribe(&subscriber, "cam", "open").await;
    within("the subscription upstream", async {
        while tracks[0].subscription().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    // Six groups held open upstream, one at a time, each reaching the subscriber before the
    // next: the relay holds every one in flight for this subscription.
    let mut open = Vec::new();
    let mut received = Vec::new();
    for seq in 0..6u64 {
        let group = tracks[0].create_group(seq).unwrap();
        group.write(seq, vec![2u8; GROUP]).unwrap();
        open.push(group);
        let mut group = within("a group", sub.next_group()).await.unwrap().unwrap();
        assert_eq!(group.sequence(), seq);
        within("its frame", group.next_frame()).await.unwrap();
        received.push(group);
    }
    // The relay checks what a subscription holds as each group arrives: the oldest are reset
    // with 26 (Lagged) so that at most three groups' worth (plus the newest's own bytes) stay.
    let mut lagged = Vec::new();
    let mut alive = Vec::new();
    for mut group in received {
        let seq = group.sequence();
        match tokio::time::timeout(Duration::from_millis(150), group.read_all()).await {
            Ok(Err(err)) => {
                assert_eq!(err.code(), ErrorCode::LAGGED, "group {seq}: {err}");
                lagged.push(seq);
            }
            Ok(Ok(_)) => panic!("group {seq} is still open upstream, it cannot complete"),
            Err(_) => alive.push(seq),
        }
    }
    assert!(
        lagged.starts_with(&[0, 1]),
        "the oldest are dropped: {lagged:?}"
    );
    assert!(alive.contains(&5), "the newest is kept: {alive:?}");
    assert!(alive.len() <= 4, "alive {alive:?}");
    drop(open);

    // Another subscription on another session is unaffected.
    let other = relay.client("https", "/").await;
    let mut steady = subscribe(&other, "cam", "steady").await;
    flows(&tracks[1], &mut steady).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn the_relay_cache_is_bounded_in_bytes_and_reported_in_metrics() {
    const GROUP: usize = 10_000;
    let relay = TestRelay::start(|c| {
        c.limits.cache_track_bytes = 5 * GROUP;
        c.limits.cache_total_bytes = 8 * GROUP;
    })
    .await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, tracks) = publish(&publisher, "cam", &["a", "b"]);
    let subscriber = relay.client("moql", "/").await;
    for (i, name) in ["a", "b"].into_iter().enumerate() {
        let mut sub = subscribe(&subscriber, "cam", name).await;
        flows(&tracks[i], &mut sub).await;
        for _ in 0..20 {
            let seq = produce(&tracks[i], GROUP);
            within("the group", async {
                loop {
                    let group = sub.next_group().await.unwrap().unwrap();
                    if group.sequence() == seq {
                        return;
                    }
                }
            })
            .await;
        }
    }
    // Gauges are refreshed once a second.
    let cached = within("the cache gauge", async {
        loop {
            let bytes = relay.metric("moql_relay_cache_bytes").await;
            if bytes > 0 {
                return bytes;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    // 40 groups of 10 kB went through; each track holds at most 5, both together about 8
    // plus the group each was writing when it last evicted.
    assert!(cached <= 10 * GROUP as u64, "cache holds {cached} bytes");
    relay.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_sends_setup_is_closed_with_timeout_while_the_others_work() {
    let relay = TestRelay::start(|c| c.limits.setup_timeout_seconds = 0.3).await;
    let silent = silent_connection(&relay, &relay.url("moql", "/")).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, tracks) = publish(&publisher, "cam", &["video"]);
    let err = within("the timeout", silent.closed()).await;
    // The silent client offered every version; lite-06 won, so the code is lite-06's.
    assert_eq!(silent.protocol(), Some(Version::Lite06.alpn()));
    assert_eq!(
        err.session_error().map(|(code, _)| code),
        Some(ErrorCode::TIMEOUT.to_wire(Version::Lite06, CodeScope::Session)),
        "{err}"
    );
    let subscriber = relay.client("https", "/").await;
    let mut sub = subscribe(&subscriber, "cam", "video").await;
    flows(&tracks[0], &mut sub).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_goes_silent_is_dropped_after_the_idle_timeout_while_the_others_work() {
    let relay = TestRelay::start(|c| c.limits.idle_timeout_seconds = 0.6).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, tracks) = publish(&publisher, "cam", &["video"]);
    let proxy = UdpProxy::start(relay.addr, Impairment::NONE).await;
    let url = format!("moql://127.0.0.1:{}/", proxy.addr.port());
    let vanishing = support::client(&url, &relay.fingerprint).await.unwrap();
    let sessions = || relay.metric("moql_relay_sessions");
    within("both sessions", async {
        while sessions().await != 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    proxy.cut();
    within("the silent session to be dropped", async {
        while sessions().await != 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // Quiet but alive sessions are kept by the relay's keep-alives, and still work.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let subscriber = relay.client("https", "/").await;
    let mut sub = subscribe(&subscriber, "cam", "video").await;
    flows(&tracks[0], &mut sub).await;
    drop(vanishing);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_peer_opening_more_streams_than_allowed_is_flow_controlled_not_served_unbounded() {
    use web_transport_trait::SendStream as _;
    let relay = TestRelay::start(|c| c.limits.max_streams = 8).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, tracks) = publish(&publisher, "cam", &["video"]);
    for scheme in ["moql", "https"] {
        let greedy = silent_connection(&relay, &relay.url(scheme, "/")).await;
        let mut setup = greedy.open_uni().await.unwrap();
        setup.write_all(&[0x01]).await.unwrap();
        let body = moql_wire::Setup::default();
        setup
            .write_all(
                &moql_wire::Encode::encode_to_vec(&body, moql_wire::Version::Lite05).unwrap(),
            )
            .await
            .unwrap();
        setup.finish().unwrap();
        // Open streams until one has to wait for credit: 8 on raw QUIC, 7 on WebTransport
        // (whose CONNECT request holds one bidirectional stream).
        let mut streams = Vec::new();
        while let Ok(opened) =
            tokio::time::timeout(Duration::from_millis(200), greedy.open_bi()).await
        {
            let (mut send, recv) = opened.unwrap();
            // A Subscribe stream type and no request: the relay waits on each.
            send.write_all(&[0x02]).await.unwrap();
            streams.push((send, recv));
            assert!(streams.len() <= 8, "{scheme}: more streams than the limit");
        }
        assert!(
            streams.len() >= 7,
            "{scheme}: only {} streams",
            streams.len()
        );

        // Everyone else is served meanwhile.
        let subscriber = relay.client("https", "/").await;
        let mut sub = subscribe(&subscriber, "cam", "video").await;
        flows(&tracks[0], &mut sub).await;

        // Closing streams gives credit back (quinn batches MAX_STREAMS: an eighth of the
        // limit at a time, so two of eight here).
        for (mut send, recv) in streams.drain(..2) {
            send.reset(0);
            drop((send, recv));
        }
        within("credit for another stream", greedy.open_bi())
            .await
            .unwrap();
        greedy.close(0, "done");
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_never_finishes_the_handshake_is_dropped_while_the_others_work() {
    let relay = TestRelay::start(|c| c.limits.handshake_timeout_seconds = 0.3).await;
    // Only the client's first datagram (its Initial) reaches the relay.
    let proxy = UdpProxy::start(
        relay.addr,
        Impairment {
            client_datagrams: 1,
            ..Impairment::NONE
        },
    )
    .await;
    let client = Client::new(ClientConfig::new(ClientTls::Fingerprints(vec![
        relay.fingerprint.clone(),
    ])))
    .unwrap();
    let url = format!("moql://127.0.0.1:{}/", proxy.addr.port());
    // The client thinks it is connected once it has sent its Finished (which never arrives),
    // so it sees the relay's close rather than a connect failure.
    let stalled = tokio::spawn(async move {
        match client.connect(&url).await {
            Ok(connected) => connected.session.closed().await.to_string(),
            Err(err) => err.to_string(),
        }
    });

    let publisher = relay.client("moql", "/").await;
    let (_broadcast, tracks) = publish(&publisher, "cam", &["video"]);
    let subscriber = relay.client("https", "/").await;
    let mut sub = subscribe(&subscriber, "cam", "video").await;
    flows(&tracks[0], &mut sub).await;

    // The relay gives up on it and closes it (the client's own timeouts are 10 s to connect
    // and 30 s idle, beyond this wait).
    let err = within("the relay to drop the handshake", stalled)
        .await
        .unwrap();
    assert!(
        err.contains("by peer") && !err.contains("timed out"),
        "the relay must close it, not the client time out: {err}"
    );
    drop(proxy);
    relay.shutdown().await;
}
