//! QMux over WebSocket (spec 1.5) through a real relay on loopback: WebSocket clients are full
//! peers of QUIC and WebTransport ones (groups byte for byte both ways, fetch, auth, GOAWAY),
//! an `http://` dial whose UDP gets no answer falls back to WebSocket, datagrams degrade to
//! streams, and the endpoint can be switched off. Plus plain QMux over TCP (`tcp://`).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use moql_model::{Subscription, TrackConsumer, TrackProducer};
use moql_native::{Client, ClientConfig, ClientTls, TransportError, TransportKind};
use moql_relay::{Relay, RelayConfig};
use support::relay::{TestRelay, publish, shutdown_sends_goaway_to, token, wait_subscribed};
use support::{client, client_with, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Group `seq` of `frames` binary frames (every byte value, so nothing is text-only).
fn produce(track: &TrackProducer, seq: u64, frames: u64) -> Vec<Vec<u8>> {
    let group = track.create_group(seq).unwrap();
    let mut written = Vec::new();
    for i in 0..frames {
        let payload: Vec<u8> = (0..=255u8)
            .cycle()
            .skip((seq + i) as usize)
            .take(3000 + i as usize)
            .collect();
        group.write(seq * 1000 + i, payload.clone()).unwrap();
        written.push(payload);
    }
    group.finish().unwrap();
    written
}

async fn read_group(sub: &mut TrackConsumer) -> (u64, Vec<Vec<u8>>) {
    let mut group = within("a group", sub.next_group())
        .await
        .unwrap()
        .expect("a group");
    let frames = within("its frames", group.read_all()).await.unwrap();
    (
        group.sequence(),
        frames.iter().map(|f| f.payload.to_vec()).collect(),
    )
}

#[tokio::test]
async fn quic_and_websocket_clients_exchange_groups_byte_for_byte() {
    let relay = TestRelay::start(|_| {}).await;
    let mut keep = Vec::new();
    for (pub_scheme, sub_scheme) in [
        ("moql", "ws"),
        ("ws", "moql"),
        ("ws", "https"),
        ("wss", "moql"),
    ] {
        let publisher = relay.client(pub_scheme, "/").await;
        let subscriber = relay.client(sub_scheme, "/").await;
        let name = format!("demo-{pub_scheme}-{sub_scheme}");
        let (_broadcast, track) = publish(&publisher, &name);
        let remote = support::announced(&subscriber.received, &name).await;
        let mut sub = remote
            .subscribe_track("clock", Subscription::default())
            .unwrap();
        wait_subscribed(&track).await;
        for seq in 0..3 {
            let written = produce(&track, seq, 4);
            assert_eq!(read_group(&mut sub).await, (seq, written), "{name}");
        }
        keep.push((publisher, subscriber, _broadcast, track, sub));
    }
    assert_eq!(keep[0].1.kind, TransportKind::WebSocket);
    assert_eq!(keep[1].0.kind, TransportKind::WebSocket);
    assert_eq!(keep[2].1.kind, TransportKind::WebTransport);
    // wss://: TLS on the relay's TCP port, trusted by the same pinned fingerprint as QUIC.
    assert_eq!(keep[3].0.kind, TransportKind::WebSocket);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_past_group_is_fetched_over_websocket() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "vod");
    let mut written = Vec::new();
    for seq in 0..4 {
        written.push(produce(&track, seq, 2));
    }
    let viewer = relay.client("ws", "/").await;
    assert_eq!(viewer.kind, TransportKind::WebSocket);
    let remote = support::announced(&viewer.received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    let mut group = within("the fetch", consumer.fetch(1, None).unwrap())
        .await
        .unwrap();
    let frames = within("frames", group.read_all()).await.unwrap();
    let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.payload.to_vec()).collect();
    assert_eq!(frames, written[1], "byte-exact");
    relay.shutdown().await;
}

#[tokio::test]
async fn auth_refuses_bad_tokens_over_websocket_and_admits_good_ones() {
    let secret = moql_relay::auth::generate_hs256_secret();
    let relay = TestRelay::with_hs256_key(&secret).await;

    // No token, a forged one, an expired one: closed with 6 (Unauthorized) after SETUP.
    let forged = token(
        &moql_relay::auth::generate_hs256_secret(),
        "room",
        &[""],
        &[""],
        60,
    );
    let expired = token(&secret, "room", &[""], &[""], -60);
    for path in [
        "/room".to_owned(),
        format!("/room?jwt={forged}"),
        format!("/room?jwt={expired}"),
    ] {
        let client = relay.client("ws", &path).await;
        let err = within("the refusal", client.session.closed()).await;
        assert_eq!(
            err.code(),
            moql_wire::ErrorCode::UNAUTHORIZED,
            "{path}: {err}"
        );
    }

    // A good token: a working session (the relay's SETUP arrives, nothing closes it).
    let good = relay
        .client(
            "ws",
            &format!("/room?jwt={}", token(&secret, "room", &[""], &[""], 60)),
        )
        .await;
    within("the relay's SETUP", async {
        while good.session.peer_setup().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(good.session.close_reason().is_none());
    relay.shutdown().await;
}

/// Forwards every TCP connection on a fresh port to `target`; the same port on UDP is held by
/// a socket that swallows everything, as a network blocking UDP would.
async fn tcp_only_proxy(target: SocketAddr) -> (SocketAddr, tokio::net::UdpSocket) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let blackhole = tokio::net::UdpSocket::bind(addr).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, blackhole)
}

#[tokio::test]
async fn a_dial_whose_udp_gets_no_answer_falls_back_to_websocket() {
    let relay = TestRelay::start(|_| {}).await;
    let (proxy, _blackhole) = tcp_only_proxy(relay.addr).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "live");

    // https:// (TLS through the proxy, same certificate) and http:// (development: the
    // certificate hash comes over TCP): QUIC goes nowhere, and after the fallback delay the
    // WebSocket on the same port answers.
    let mut keep = Vec::new();
    for scheme in ["https", "http"] {
        let url = format!("{scheme}://127.0.0.1:{}/", proxy.port());
        let viewer = client(&url, &relay.fingerprint).await.expect("falls back");
        assert_eq!(viewer.kind, TransportKind::WebSocket, "{scheme}");
        let remote = support::announced(&viewer.received, "live").await;
        let sub = remote
            .subscribe_track("clock", Subscription::default())
            .unwrap();
        keep.push((viewer, sub));
    }
    wait_subscribed(&track).await;
    let written = produce(&track, 0, 2);
    for (_, sub) in &mut keep {
        assert_eq!(read_group(sub).await, (0, written.clone()));
    }

    // With the fallback off, the same dial fails (bounded by the connect timeout).
    let client = Client::new(ClientConfig {
        websocket_delay: None,
        connect_timeout: Duration::from_secs(1),
        ..ClientConfig::new(ClientTls::DisableVerify)
    })
    .unwrap();
    let url = format!("http://127.0.0.1:{}/", proxy.port());
    assert!(client.connect(&url).await.is_err());
    relay.shutdown().await;
}

#[tokio::test]
async fn a_datagram_track_degrades_to_streams_over_websocket() {
    let relay = TestRelay::start(|_| {}).await;
    // The publisher asks for datagrams, but its transport has none: groups go on streams.
    let publisher = client_with(&relay.url("ws", "/"), &relay.fingerprint, Some(1200))
        .await
        .unwrap();
    let (_broadcast, track) = publish(&publisher, "tiny");
    let subscriber = relay.client("moql", "/").await;
    let remote = support::announced(&subscriber.received, "tiny").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    for seq in 0..3 {
        let group = track.create_group(seq).unwrap();
        group.write(seq, vec![seq as u8; 10]).unwrap();
        group.finish().unwrap();
        assert_eq!(read_group(&mut sub).await, (seq, vec![vec![seq as u8; 10]]));
    }
    assert_eq!(publisher.session.stats().datagrams_sent, 0);
    relay.shutdown().await;
}

#[tokio::test]
async fn shutdown_sends_goaway_over_websocket() {
    let relay = TestRelay::start(|_| {}).await;
    let client = relay.client("ws", "/").await;
    shutdown_sends_goaway_to(relay, &client).await;
}

/// Sends a WebSocket upgrade offering `protocols` and returns the status line's code.
async fn raw_upgrade(addr: SocketAddr, protocols: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /room HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 12];
    within("the status line", stream.read_exact(&mut head))
        .await
        .unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

#[tokio::test]
async fn the_upgrade_needs_a_moq_lite_token_and_can_be_switched_off() {
    let relay = TestRelay::start(|_| {}).await;
    // Bare qmux tokens carry no moq-lite version: 406, as WebTransport without a token.
    assert_eq!(
        raw_upgrade(relay.addr, "qmux-02, qmux-01, webtransport").await,
        406
    );
    assert_eq!(raw_upgrade(relay.addr, "qmux-02.moq-lite-05").await, 101);
    relay.shutdown().await;

    let relay = TestRelay::start(|c| c.websocket = false).await;
    assert_eq!(raw_upgrade(relay.addr, "qmux-02.moq-lite-05").await, 404);
    let err = client(&relay.url("ws", "/"), &relay.fingerprint)
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, TransportError::Rejected(404)), "{err}");
    // QUIC still works.
    let client = relay.client("moql", "/").await;
    assert_eq!(client.kind, TransportKind::Quic);
    relay.shutdown().await;
}

#[tokio::test]
async fn plain_qmux_over_tcp_carries_the_path_in_setup() {
    support::init_tracing();
    let config = RelayConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        drain_seconds: 0.2,
        // Anonymous access under open/ only: the root must come from the SETUP Path.
        auth: moql_relay::AuthConfig {
            public: Some("open".into()),
            ..moql_relay::AuthConfig::default()
        },
        ..RelayConfig::default()
    };
    let relay = Relay::bind(config).await.expect("relay binds");
    let (quic, tcp) = (relay.local_addr().unwrap(), relay.tcp_addr().unwrap());
    let fingerprint = relay.fingerprint();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async move {
        let _ = stopped.await;
    }));

    let publisher = client(
        &format!("moql://127.0.0.1:{}/open", quic.port()),
        &fingerprint,
    )
    .await
    .unwrap();
    let (_broadcast, track) = publish(&publisher, "live");
    let viewer = client(
        &format!("tcp://127.0.0.1:{}/open", tcp.port()),
        &fingerprint,
    )
    .await
    .unwrap();
    assert_eq!(viewer.kind, TransportKind::Tcp);
    let remote = support::announced(&viewer.received, "live").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    let written = produce(&track, 0, 3);
    assert_eq!(read_group(&mut sub).await, (0, written));

    // Outside the public prefix: refused with 6 after SETUP.
    let refused = client(
        &format!("tcp://127.0.0.1:{}/closed", tcp.port()),
        &fingerprint,
    )
    .await
    .unwrap();
    let err = within("the refusal", refused.session.closed()).await;
    assert_eq!(err.code(), moql_wire::ErrorCode::UNAUTHORIZED, "{err}");

    let _ = stop.send(());
    within("the relay to stop", running)
        .await
        .unwrap()
        .expect("relay runs");
}

#[tokio::test]
async fn websocket_sessions_count_toward_max_sessions() {
    let relay = TestRelay::start(|c| c.limits.max_sessions = 1).await;
    let first = relay.client("moql", "/").await;
    within("the relay's SETUP", async {
        while first.session.peer_setup().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // Over the limit: the upgraded session is closed with 567 (App(503)), as raw QUIC is.
    let second = relay.client("ws", "/").await;
    let err = within("the refusal", second.session.closed()).await;
    assert_eq!(err.code(), moql_wire::ErrorCode(567), "{err}");
    assert!(first.session.close_reason().is_none());
    relay.shutdown().await;
}
