//! The relay's disk tier (issue #17): a group older than the memory window (here 1 s, the
//! issue's "5 s … an hour earlier" scaled to seconds) is fetched byte-exact from disk over
//! raw QUIC, WebTransport, WebSocket and HTTP, while its publisher is live and after it left;
//! a group that aged out of the disk window is told apart from one that never existed; a disk
//! directory that cannot be used degrades to memory only.

mod support;

use std::time::Duration;

use bytes::Bytes;
use moql_model::{BroadcastProducer, Path, Subscription, TrackConsumer, TrackInfo, TrackProducer};
use moql_native::{Client, ClientConfig, ClientTls};
use moql_relay::RelayConfig;
use moql_relay::config::DiskRuleConfig;
use moql_session::testing::raw as wire;
use moql_wire::{BidiStream, Fetch, FrameDecoder, Version};
use support::relay::{TestRelay, wait_subscribed};
use support::{TestClient, http_get, within};
use web_transport_trait::{SendStream as _, Session as _};

/// The memory window: the relay caches a group at most this long after a newer one.
const MEMORY_WINDOW: Duration = Duration::from_secs(1);
const FRAMES: u64 = 3;

fn rule(prefix: &str, max_age: &str) -> DiskRuleConfig {
    DiskRuleConfig {
        prefix: prefix.into(),
        max_age: max_age.into(),
        max_bytes: "64MiB".into(),
    }
}

async fn start(dir: std::path::PathBuf) -> TestRelay {
    TestRelay::start(move |c: &mut RelayConfig| {
        c.cache.max_latency_seconds = Some(MEMORY_WINDOW.as_secs_f64());
        c.cache.disk_dir = Some(dir);
        c.cache.disk = vec![rule("live", "10m"), rule("short", "1s")];
    })
    .await
}

/// The payloads of group `seq`: binary, distinct per group and frame.
fn payloads(seq: u64) -> Vec<Bytes> {
    (0..FRAMES)
        .map(|i| Bytes::from(vec![seq as u8, i as u8, 0xFF, 0x00, 0x80]))
        .collect()
}

/// Publishes `name` with a short own window (so only the relay's disk can answer later),
/// has a viewer subscribe through the relay, and sends groups `0..groups`.
async fn publish_groups(relay: &TestRelay, name: &str, groups: u64) -> Published {
    let publisher = relay.client("moql", "/").await;
    let broadcast = BroadcastProducer::new();
    let info = TrackInfo {
        max_latency: Duration::from_millis(200),
        ..TrackInfo::DEFAULT
    };
    let track = broadcast.create_track("clock", info).unwrap();
    publisher
        .publish
        .publish(&Path::new(name).unwrap(), broadcast.consume())
        .unwrap();
    let viewer = relay.client("moql", "/").await;
    let remote = support::announced(&viewer.received, name).await;
    let mut live = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    for seq in 0..groups {
        send_group(&track, &mut live, seq).await;
    }
    Published {
        publisher,
        _broadcast: broadcast,
        track,
        live,
        _viewer: viewer,
    }
}

/// A broadcast with one track, published through the relay, and a live viewer of it.
struct Published {
    publisher: TestClient,
    _broadcast: BroadcastProducer,
    track: TrackProducer,
    live: TrackConsumer,
    _viewer: TestClient,
}

/// Publishes group `seq` and waits until the live viewer has it: it passed the relay (and
/// was archived there). A new group is also what makes the caches on the way evict.
async fn send_group(track: &TrackProducer, live: &mut TrackConsumer, seq: u64) {
    let group = track.create_group(seq).unwrap();
    for (i, payload) in payloads(seq).into_iter().enumerate() {
        group.write(seq * 100 + i as u64, payload).unwrap();
    }
    group.finish().unwrap();
    within("the live group", async {
        loop {
            let group = live.next_group().await.unwrap().unwrap();
            if group.sequence() == seq {
                return;
            }
        }
    })
    .await;
}

/// A FETCH over a raw QUIC stream (no model in between): the frames, or the reset code.
async fn raw_fetch(relay: &TestRelay, broadcast: &str, group: u64) -> Result<Vec<Bytes>, u32> {
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![relay.fingerprint.clone()]),
        versions: vec![Version::Lite05],
        ..ClientConfig::default()
    })
    .unwrap();
    let connected = within("connect", client.connect(&relay.url("moql", "/")))
        .await
        .unwrap();
    let session = connected.session;
    wire::send_setup(&session, Version::Lite05).await;
    let (mut send, mut recv) = session.open_bi().await.unwrap();
    let mut request = wire::encode(&BidiStream::Fetch, Version::Lite05);
    request.extend(wire::encode(
        &Fetch {
            broadcast: Path::new(broadcast).unwrap(),
            track: "clock".into(),
            priority: 0,
            group,
            frame_start: 0,
            frame_end: None,
        },
        Version::Lite05,
    ));
    send.write(&request).await.unwrap();
    let bytes = within("the fetch reply", wire::read_to_end(&mut recv))
        .await
        .map_err(|code| code.expect("a reset code"))?;
    let mut buf = Bytes::from(bytes);
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    while !buf.is_empty() {
        frames.push(decoder.decode(&mut buf, Version::Lite05).unwrap().payload);
    }
    Ok(frames)
}

/// Closes `publisher` and waits until the relay no longer lists a broadcast under `prefix`.
async fn leave(relay: &TestRelay, publisher: TestClient, prefix: &str) {
    publisher
        .session
        .close(moql_wire::ErrorCode::CANCEL, "done");
    drop(publisher);
    within("the broadcast to go", async {
        let target = format!("/announced/{prefix}");
        while http_get(relay.addr, &target)
            .await
            .1
            .windows(3)
            .any(|w| w == b"cam")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// The group's payloads as `/fetch`'s `format=payloads` body has them: back to back.
fn concatenated(seq: u64) -> Vec<u8> {
    payloads(seq).concat()
}

/// Fetches `seq` through a model client on `scheme` (a `Session` FETCH).
async fn session_fetch(relay: &TestRelay, scheme: &str, name: &str, seq: u64) -> Vec<Bytes> {
    let viewer = relay.client(scheme, "/").await;
    let remote = support::announced(&viewer.received, name).await;
    let track = remote.track("clock").unwrap();
    let mut group = within("the fetch", track.fetch(seq, None).unwrap())
        .await
        .unwrap_or_else(|err| panic!("{scheme}: fetch of {seq} failed: {err}"));
    let frames = within("its frames", group.read_all()).await.unwrap();
    frames.into_iter().map(|f| f.payload).collect()
}

#[tokio::test]
async fn a_group_past_the_memory_window_is_fetched_byte_exact_from_disk_on_every_transport() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(dir.path().join("tier")).await;
    let mut published = publish_groups(&relay, "live/cam", 6).await;
    relay
        .metric_until("moql_relay_disk_groups", |n| n >= 6)
        .await;
    // Past the memory window of every cache on the way (relay and publisher): the next
    // group evicts the earlier ones.
    tokio::time::sleep(MEMORY_WINDOW + Duration::from_millis(500)).await;
    send_group(&published.track, &mut published.live, 6).await;

    for (scheme, seq) in [("moql", 0), ("https", 1), ("ws", 2)] {
        assert_eq!(
            session_fetch(&relay, scheme, "live/cam", seq).await,
            payloads(seq),
            "{scheme}"
        );
    }
    assert_eq!(raw_fetch(&relay, "live/cam", 3).await.unwrap(), payloads(3));
    let (status, body) = http_get(relay.addr, "/fetch/live/cam/clock?group=4").await;
    assert_eq!((status, body), (200, concatenated(4)));
    assert!(relay.metric("moql_relay_disk_hits_total").await >= 4);

    // The publisher leaves: the broadcast is gone, its groups are still served.
    leave(&relay, published.publisher, "live").await;
    assert_eq!(raw_fetch(&relay, "live/cam", 0).await.unwrap(), payloads(0));
    let (status, body) = http_get(relay.addr, "/fetch/live/cam/clock?group=5").await;
    assert_eq!((status, body), (200, concatenated(5)));
    relay.shutdown().await;
}

#[tokio::test]
async fn an_expired_group_is_not_found_but_says_expired_unlike_one_that_never_was() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(dir.path().join("tier")).await;
    let published = publish_groups(&relay, "short/cam", 2).await;
    relay
        .metric_until("moql_relay_disk_writes_total", |n| n >= 2)
        .await;
    // A group that never existed, asked while the broadcast is live (once it is gone, a
    // group the tier never held waits for the broadcast to come back, up to the deadline).
    let (status, body) = http_get(relay.addr, "/fetch/short/cam/clock?group=1000").await;
    let body = String::from_utf8(body).unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("expired"), "{body}");
    // The publisher leaves (memory copies go with its broadcast), and the groups pass the
    // "short" rule's 1 s.
    leave(&relay, published.publisher, "short").await;
    relay
        .metric_until("moql_relay_disk_groups", |n| n == 0)
        .await;

    let (status, body) = http_get(relay.addr, "/fetch/short/cam/clock?group=0").await;
    let body = String::from_utf8(body).unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("expired"), "{body}");
    // On the wire both are 13 (NotFound), the spec's code for a group not held.
    assert_eq!(raw_fetch(&relay, "short/cam", 0).await, Err(13));

    relay.shutdown().await;
}

#[tokio::test]
async fn a_disk_dir_that_cannot_be_used_degrades_to_memory_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"a file where the directory should be").unwrap();
    let relay = start(file).await;
    assert_eq!(relay.metric("moql_relay_disk_degraded").await, 1);
    let _published = publish_groups(&relay, "live/cam", 2).await;
    // Still serving from memory, within its window.
    let (status, body) = http_get(relay.addr, "/fetch/live/cam/clock?group=0").await;
    assert_eq!((status, body), (200, concatenated(0)));
    assert_eq!(relay.metric("moql_relay_disk_writes_total").await, 0);
    relay.shutdown().await;
}
