//! Two engine sessions over the in-memory pair, and bounded waits on a paused clock.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use moql_model::{
    BroadcastConsumer, BroadcastProducer, Frame, OriginProducer, Path, TrackConsumer, TrackInfo,
    TrackProducer,
};
use moql_session::testing::mem;
use moql_session::{Accepting, Session, SessionConfig};
use moql_wire::Version;
use web_transport_trait::Session as _;

/// How long any single wait may take (on the paused clock) before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test after [`WAIT`].
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Returns once every other task is blocked: on the paused clock, time only advances when the
/// runtime is idle. For the conditions no wake reports (task counts, a blocked write).
pub async fn quiescent() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Waits until `done` holds, checking each time the runtime goes idle (bounded by [`WAIT`]).
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    within(what, async {
        while !done() {
            quiescent().await;
        }
    })
    .await;
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Both ends of one session, with the origins each side publishes and receives.
pub struct Pair {
    /// Broadcasts the server offers to the client.
    pub server_publish: OriginProducer,
    /// Where the client's broadcasts land on the server.
    pub server_received: OriginProducer,
    /// Broadcasts the client offers to the server.
    pub client_publish: OriginProducer,
    /// Where the server's broadcasts land on the client.
    pub client_received: OriginProducer,
    pub client: Session,
    pub server: Session,
    /// The client's end of the in-memory transport (to look at what went out).
    pub client_transport: mem::MemSession,
}

/// What differs between pairs.
pub struct Options {
    pub version: Version,
    /// The prefix the client asks the server to announce.
    pub announce_prefix: Option<String>,
    /// The server's [`SessionConfig::announce_wait`], if not the default.
    pub announce_wait: Option<Duration>,
}

impl Options {
    pub fn new(version: Version) -> Self {
        Self {
            version,
            announce_prefix: None,
            announce_wait: None,
        }
    }
}

/// A client and a server session on `version` over a fresh in-memory pair.
pub async fn pair(version: Version) -> Pair {
    pair_with(Options::new(version)).await
}

/// [`pair`], as `options` say.
pub async fn pair_with(options: Options) -> Pair {
    init_tracing();
    let (client, server) = mem::pair_at(options.version);
    // The version travels as the transport's protocol, as ALPN does over QUIC.
    let version = Version::from_alpn(server.protocol().unwrap().as_bytes()).unwrap();
    let server_publish = OriginProducer::new();
    let server_received = OriginProducer::new();
    let client_publish = OriginProducer::new();
    let client_received = OriginProducer::new();

    let mut config = SessionConfig::new()
        .with_publish(server_publish.consume())
        .with_subscribe(server_received.clone());
    if let Some(wait) = options.announce_wait {
        config.announce_wait = wait;
    }
    let serving = tokio::spawn(async move {
        let accepting = Accepting::new(server, version, WAIT)
            .await
            .expect("client SETUP");
        accepting.accept(config).await.expect("server session")
    });

    let mut config = SessionConfig::new()
        .with_publish(client_publish.consume())
        .with_subscribe(client_received.clone());
    if let Some(prefix) = &options.announce_prefix {
        config.announce_prefix = Path::new(prefix).unwrap();
    }
    let client_transport = client.clone();
    let client = Session::connect(client, version, config)
        .await
        .expect("client session");
    let server = within("the server session", serving).await.unwrap();
    Pair {
        server_publish,
        server_received,
        client_publish,
        client_received,
        client,
        server,
        client_transport,
    }
}

/// Waits until `origin` has a broadcast at `path`.
pub async fn announced(origin: &OriginProducer, path: &str) -> BroadcastConsumer {
    let path = Path::new(path).unwrap();
    let mut watcher = origin.consume();
    within(&format!("announcement of {path}"), async {
        loop {
            if let Some(b) = origin.broadcast(&path) {
                return b;
            }
            if watcher.announced().await.is_none() {
                panic!("origin closed before {path} was announced");
            }
        }
    })
    .await
}

/// Publishes broadcast `name` with one track `clock` on `origin`.
pub fn publish(
    origin: &OriginProducer,
    name: &str,
    info: TrackInfo,
) -> (BroadcastProducer, TrackProducer) {
    let broadcast = BroadcastProducer::new();
    let track = broadcast.create_track("clock", info).unwrap();
    origin
        .publish(&Path::new(name).unwrap(), broadcast.consume())
        .unwrap();
    (broadcast, track)
}

/// Writes group `seq` with `frames` frames ("seq:i", timestamp seq*1000+i) and finishes it.
pub fn produce(track: &TrackProducer, seq: u64, frames: u64) {
    let group = track.create_group(seq).unwrap();
    for i in 0..frames {
        group.write(seq * 1000 + i, format!("{seq}:{i}")).unwrap();
    }
    group.finish().unwrap();
}

pub fn payloads(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| String::from_utf8(f.payload.to_vec()).unwrap())
        .collect()
}

/// The next group of `track` and all its frames.
pub async fn next_group_frames(track: &mut TrackConsumer) -> (u64, Vec<Frame>) {
    let mut group = within("a group", track.next_group())
        .await
        .expect("group")
        .expect("not finished");
    let frames = within("the group's frames", group.read_all())
        .await
        .expect("frames");
    (group.sequence(), frames)
}

/// Waits until a subscription to `track` reached its publisher.
pub async fn subscribed(track: &TrackProducer) {
    within("the subscription upstream", async {
        if track.subscription().is_none() {
            track.subscription_changed(None).await.unwrap();
        }
    })
    .await;
}
