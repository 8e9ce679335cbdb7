//! The reconnecting client's decisions under interleavings that real sockets only hit by
//! chance: sessions over the in-memory pair, on a paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moql_model::{
    BroadcastProducer, Error, OriginProducer, Path, Subscription, TrackConsumer, TrackInfo,
    TrackProducer,
};
use moql_wire::{ErrorCode, Version};

use super::mirror::Mirrors;
use super::{Backoff, DialError, ReconnectConfig, Reconnecting};
use crate::testing::mem;
use crate::{Accepting, Session, SessionConfig};

/// Bound on every wait (on the paused clock).
const WAIT: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// A client session to a server publishing `publish`: (client, server). The client's
/// received broadcasts land in `received`.
async fn connect(publish: &OriginProducer, received: OriginProducer) -> (Session, Session) {
    let (client, server) = mem::pair_at(Version::LATEST);
    let config = SessionConfig::new().with_publish(publish.consume());
    let serving = tokio::spawn(async move {
        let accepting = Accepting::new(server, Version::LATEST, WAIT)
            .await
            .expect("client SETUP");
        accepting.accept(config).await.expect("server session")
    });
    let config = SessionConfig::new().with_subscribe(received);
    let client = Session::connect(client, Version::LATEST, config)
        .await
        .expect("client session");
    let server = within("the server session", serving).await.unwrap();
    (client, server)
}

/// Logs to the test output when `RUST_LOG` is set.
fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn demo() -> Path {
    Path::new("demo").unwrap()
}

/// `origin` offering `demo` with one track `t`.
fn offering() -> (OriginProducer, BroadcastProducer, TrackProducer) {
    let origin = OriginProducer::new();
    let broadcast = BroadcastProducer::new();
    let track = broadcast.create_track("t", TrackInfo::DEFAULT).unwrap();
    origin.publish(&demo(), broadcast.consume()).unwrap();
    (origin, broadcast, track)
}

fn write(track: &TrackProducer, sequence: u64) {
    let group = track.create_group(sequence).unwrap();
    group.write(0, sequence.to_string()).unwrap();
    group.finish().unwrap();
}

async fn next(track: &mut TrackConsumer, what: &str) -> u64 {
    within(what, track.next_group())
        .await
        .expect("no error reaches the application")
        .expect("the track goes on")
        .sequence()
}

/// A relay shutting down with a GOAWAY URL whose upstream (a cluster peer) goes with it: the
/// relayed broadcast is withdrawn and its subscription fails a moment *before* the GOAWAY
/// arrives (on another stream). The application's track must wait for the GOAWAY target, not
/// end: before the fix the mirror waited its margin for the session's close only, missed the
/// GOAWAY, and ended the track ("transport closed"), so `moql subscribe` exited.
#[tokio::test(start_paused = true)]
async fn a_failure_just_before_the_goaway_moves_the_track_instead_of_ending_it() {
    init_tracing();
    let stable = OriginProducer::new();
    let mirrors = Mirrors::new(stable.clone());

    // Session 1, to relay A, which relays `demo`.
    let (origin_a, broadcast_a, track_a) = offering();
    let received_a = OriginProducer::new();
    let (client_a, server_a) = connect(&origin_a, received_a.clone()).await;
    tokio::spawn(mirrors.clone().follow(received_a, client_a.clone(), 1));
    let mut watch = stable.consume();
    let broadcast = within("demo mirrored", async {
        loop {
            if let Some(broadcast) = stable.broadcast(&demo()) {
                return broadcast;
            }
            watch.announced().await.expect("origin open");
        }
    })
    .await;
    let mut track = broadcast
        .subscribe_track("t", Subscription::DEFAULT)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    write(&track_a, 0);
    assert_eq!(next(&mut track, "group 0 through A").await, 0);

    // A's upstream goes: the broadcast is withdrawn and the subscription fails...
    // (as a relay's remote track and broadcast end when its peer session closes).
    track_a.abort(Error::Transport).unwrap();
    broadcast_a.abort(Error::Transport).unwrap();
    origin_a.unpublish(&demo());
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ... and then, well within the margin, the GOAWAY follows.
    within("GOAWAY", server_a.goaway("moql://b/"))
        .await
        .unwrap();
    within("GOAWAY received", client_a.goaway_received()).await;

    // The client moves: session 2, to relay B, carries `demo` (the same upstream).
    let (origin_b, _broadcast_b, track_b) = offering();
    let received_b = OriginProducer::new();
    let (client_b, _server_b) = connect(&origin_b, received_b.clone()).await;
    tokio::spawn(mirrors.clone().follow(received_b, client_b, 2));
    let writer = track_b.clone();
    let feed = tokio::spawn(async move {
        for sequence in 1.. {
            write(&writer, sequence);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    // The same track goes on through B, with no end and no error in between.
    let sequence = next(&mut track, "a group through B").await;
    assert!(sequence >= 1, "{sequence}");
    assert!(
        stable.broadcast(&demo()).is_some(),
        "the broadcast stayed announced"
    );
    feed.abort();
    client_a.close(ErrorCode::CANCEL, "done");
}

/// Dials in-memory servers by name, the first dial of each name in `refuse` failing.
#[derive(Clone, Default)]
struct Dialer {
    dialled: Arc<Mutex<Vec<String>>>,
    servers: Arc<Mutex<Vec<Session>>>,
    refuse: Arc<Mutex<Vec<String>>>,
}

impl Dialer {
    async fn dial(self, url: String, received: OriginProducer) -> Result<Session, DialError> {
        self.dialled.lock().unwrap().push(url.clone());
        let refused = {
            let mut refuse = self.refuse.lock().unwrap();
            let at = refuse.iter().position(|u| *u == url);
            at.map(|at| refuse.remove(at))
        };
        if refused.is_some() {
            return Err(DialError::retry(format!("{url} is not up yet")));
        }
        let (client, server) = connect(&OriginProducer::new(), received).await;
        self.servers.lock().unwrap().push(server);
        Ok(client)
    }

    fn dialled(&self) -> Vec<String> {
        self.dialled.lock().unwrap().clone()
    }

    fn server(&self, n: usize) -> Session {
        self.servers.lock().unwrap()[n].clone()
    }
}

/// GOAWAY names B, the dial to B fails once, then A (draining) closes: the next dial goes to
/// B, where the peer said to go, not back to A, which is shutting down (before the fix the
/// client kept redialling A's URL).
#[tokio::test(start_paused = true)]
async fn after_a_failed_move_the_client_redials_the_goaway_target_not_the_old_relay() {
    let dialer = Dialer::default();
    dialer.refuse.lock().unwrap().push("b".into());
    let dial = dialer.clone();
    let config = ReconnectConfig {
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
            healthy: Duration::from_secs(10),
        },
        ..ReconnectConfig::default()
    };
    let client = Reconnecting::connect(
        "a",
        move |url, received| dial.clone().dial(url, received),
        config,
    )
    .await
    .expect("first dial");
    let server_a = dialer.server(0);
    within("GOAWAY", server_a.goaway("b")).await.unwrap();
    within("the dial to b", async {
        while dialer.dialled().len() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    // A's drain ends.
    server_a.close(ErrorCode::CANCEL, "relay shutting down");
    within("the next dial", async {
        while dialer.dialled().len() < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(dialer.dialled(), ["a", "b", "b"]);
    drop(client);
}

/// Closing the client is not a lost connection: no `Lost` event (before the fix, the
/// supervisor often saw its session close before it saw the stop, and `moql` printed
/// "connection lost: session closed with code 0 …; reconnecting" as it exited normally).
#[tokio::test(start_paused = true)]
async fn closing_the_client_reports_no_lost_connection() {
    for _ in 0..20 {
        let dialer = Dialer::default();
        let dial = dialer.clone();
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let config = ReconnectConfig {
            on_event: Some(Arc::new(move |event: &super::ReconnectEvent| {
                seen.lock().unwrap().push(format!("{event:?}"));
            })),
            ..ReconnectConfig::default()
        };
        let client = Reconnecting::connect(
            "a",
            move |url, received| dial.clone().dial(url, received),
            config,
        )
        .await
        .expect("first dial");
        client.close(ErrorCode::CANCEL, "done");
        assert!(matches!(
            within("the end", client.closed()).await,
            super::ReconnectError::Closed
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let events = events.lock().unwrap();
        assert!(!events.iter().any(|e| e.starts_with("Lost")), "{events:?}");
        assert_eq!(dialer.dialled(), ["a"], "no redial");
    }
}
