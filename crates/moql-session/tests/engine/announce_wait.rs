//! Requests before the announcement (issue #17): a SUBSCRIBE, FETCH or TRACK for a broadcast
//! that is not announced yet waits up to `announce_wait` for it, then fails as it did at once
//! before (30 Unroutable); the peer's RESET ends the wait.

use std::time::Duration;

use moql_model::{OriginProducer, TrackInfo};
use moql_session::testing::mem::{self, MemRecv, MemSend, MemSession};
use moql_session::testing::raw;
use moql_session::{Accepting, SessionConfig};
use moql_wire::{BidiStream, Decode, ErrorCode, Fetch, Path, Track, Version};
use tokio::time::Instant;
use web_transport_trait::{SendStream as _, Session as _};

use crate::support::{WAIT, init_tracing, produce, publish, quiescent, subscribed, until, within};

const V: Version = Version::Lite05;

/// A server session publishing `origin` (waiting `announce_wait`), and a hand-driven client
/// that has sent SETUP.
async fn server(origin: &OriginProducer, announce_wait: Duration) -> MemSession {
    init_tracing();
    let (client, server) = mem::pair_at(V);
    let mut config = SessionConfig::new().with_publish(origin.consume());
    config.announce_wait = announce_wait;
    tokio::spawn(async move {
        let accepting = Accepting::new(server, V, WAIT).await.unwrap();
        let session = accepting.accept(config).await.unwrap();
        session.closed().await;
    });
    raw::send_setup(&client, V).await;
    client
}

/// Opens a bidi stream of `kind` and writes `message` on it.
async fn request<M: moql_wire::Encode>(
    client: &MemSession,
    kind: BidiStream,
    message: &M,
) -> (MemSend, MemRecv) {
    let (mut send, recv) = client.open_bi().await.unwrap();
    let mut bytes = raw::encode(&kind, V);
    bytes.extend(raw::encode(message, V));
    send.write_all(&bytes).await.unwrap();
    (send, recv)
}

fn fetch(broadcast: &str, group: u64) -> Fetch {
    Fetch {
        broadcast: Path::new(broadcast).unwrap(),
        track: "clock".into(),
        priority: 0,
        group,
        frame_start: 0,
        frame_end: None,
    }
}

fn track(broadcast: &str) -> Track {
    Track {
        broadcast: Path::new(broadcast).unwrap(),
        track: "clock".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn requests_made_before_the_announcement_are_served_once_it_comes() {
    let origin = OriginProducer::new();
    let client = server(&origin, Duration::from_secs(5)).await;
    let (_fs, mut fetch_reply) = request(&client, BidiStream::Fetch, &fetch("late", 0)).await;
    let (_ts, mut track_reply) = request(&client, BidiStream::Track, &track("late")).await;
    let (_ss, _sr) = raw::subscribe(&client, V, 1, "late", "clock", 1000).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (_broadcast, producer) = publish(&origin, "late", TrackInfo::DEFAULT);
    produce(&producer, 0, 1);
    let bytes = within("the FETCH reply", raw::read_to_end(&mut fetch_reply))
        .await
        .expect("the fetch is served");
    assert!(bytes.ends_with(b"0:0"), "the group's frame: {bytes:?}");
    let bytes = within("the TRACK reply", raw::read_to_end(&mut track_reply))
        .await
        .expect("the track info is served");
    let (info, _) = moql_wire::TrackInfo::decode_from(&bytes, V).unwrap();
    assert_eq!(info.priority, TrackInfo::DEFAULT.priority);
    subscribed(&producer).await;
}

#[tokio::test(start_paused = true)]
async fn a_request_for_a_broadcast_that_never_comes_fails_after_the_wait_as_before() {
    let origin = OriginProducer::new();
    let client = server(&origin, Duration::from_secs(3)).await;
    let started = Instant::now();
    let (_send, mut reply) = request(&client, BidiStream::Fetch, &fetch("never", 0)).await;
    let code = within("the refusal", raw::read_to_end(&mut reply)).await;
    assert_eq!(code, Err(Some(ErrorCode::UNROUTABLE.0)));
    assert!(started.elapsed() >= Duration::from_secs(3), "it waited");

    // Zero is off: refused at once.
    let origin = OriginProducer::new();
    let client = server(&origin, Duration::ZERO).await;
    let started = Instant::now();
    let (_send, mut reply) = request(&client, BidiStream::Track, &track("never")).await;
    let code = within("the refusal", raw::read_to_end(&mut reply)).await;
    assert_eq!(code, Err(Some(ErrorCode::UNROUTABLE.0)));
    assert!(started.elapsed() < Duration::from_millis(100), "no wait");
}

#[tokio::test(start_paused = true)]
async fn the_peers_reset_ends_the_wait() {
    let origin = OriginProducer::new();
    let client = server(&origin, Duration::from_secs(60)).await;
    let (mut send, _recv) = request(&client, BidiStream::Fetch, &fetch("never", 0)).await;
    until("the request waits on a watcher", || {
        origin.stats().watchers == 1
    })
    .await;
    send.reset(0);
    let started = Instant::now();
    until("the wait ended", || origin.stats().watchers == 0).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    quiescent().await;
}
