//! FETCH through a real relay on loopback without ceremony (issue #17): a track nobody
//! subscribed to is fetched with no subscription and no TRACK first, and a FETCH for a
//! broadcast announced a second later waits for it instead of failing.

mod support;

use std::time::{Duration, Instant};

use moql_native::{Client, ClientConfig, ClientTls};
use moql_session::testing::raw;
use moql_wire::{BidiStream, Fetch, Path, Version};
use support::relay::{TestRelay, produce, publish};
use support::within;
use web_transport_trait::{SendStream as _, Session as _};

#[tokio::test]
async fn a_track_nobody_subscribed_to_is_fetched_through_the_relay() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let fetcher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "vod");
    for seq in 0..3 {
        produce(&track, seq, 3);
    }
    let remote = support::announced(&fetcher.received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    for seq in [1, 0, 2] {
        let mut group = within("the fetch", consumer.fetch(seq, None).unwrap())
            .await
            .unwrap();
        let frames = within("its frames", group.read_all()).await.unwrap();
        let payloads: Vec<_> = frames.iter().map(|f| f.payload.to_vec()).collect();
        let expected: Vec<Vec<u8>> = (0..3).map(|i| format!("{seq}:{i}").into_bytes()).collect();
        assert_eq!(payloads, expected, "group {seq}");
        assert_eq!(frames[0].timestamp, seq * 1000);
    }
    assert!(
        track.subscription().is_none(),
        "no subscription reached the publisher"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn a_fetch_for_a_broadcast_announced_a_second_later_is_served() {
    let relay = TestRelay::start(|_| {}).await;
    let version = Version::Lite05;
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![relay.fingerprint.clone()]),
        versions: vec![version],
        ..ClientConfig::default()
    })
    .unwrap();
    let connected = within("connect", client.connect(&relay.url("moql", "/")))
        .await
        .unwrap();
    let fetcher = connected.session;
    raw::send_setup(&fetcher, version).await;
    let (mut send, mut recv) = fetcher.open_bi().await.unwrap();
    let mut bytes = raw::encode(&BidiStream::Fetch, version);
    bytes.extend(raw::encode(
        &Fetch {
            broadcast: Path::new("late").unwrap(),
            track: "clock".into(),
            priority: 0,
            group: 0,
            frame_start: 0,
            frame_end: None,
        },
        version,
    ));
    send.write_all(&bytes).await.unwrap();
    let asked = Instant::now();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "late");
    produce(&track, 0, 2);

    let reply = within("the FETCH reply", raw::read_to_end(&mut recv))
        .await
        .expect("served, not refused");
    assert!(reply.ends_with(b"0:1"), "the group's frames: {reply:?}");
    assert!(asked.elapsed() >= Duration::from_secs(1));
    relay.shutdown().await;
}
