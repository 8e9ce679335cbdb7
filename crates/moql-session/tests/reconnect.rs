//! The reconnecting client over real QUIC on loopback: a server that restarts in place, a
//! GOAWAY with a URI (make-before-break to a second server) and without one (back to the
//! same server after the drain), and a fatal dial error.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moql_model::{
    BroadcastConsumer, BroadcastProducer, OriginProducer, Path, Subscription, TrackConsumer,
    TrackInfo, TrackProducer,
};
use moql_native::{Certificate, Client, ClientConfig, ClientTls, Server, ServerConfig};
use moql_session::{
    Accepting, Backoff, DialError, ReconnectConfig, ReconnectError, ReconnectEvent, Reconnecting,
    Session, SessionConfig,
};
use moql_wire::ErrorCode;

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(10);

/// A server publishing `origin` to every client, keeping its sessions for GOAWAY and close.
struct TestServer {
    url: String,
    addr: SocketAddr,
    sessions: Arc<Mutex<Vec<Session>>>,
    task: tokio::task::JoinHandle<Server>,
}

impl TestServer {
    fn start(addr: SocketAddr, certificate: Certificate, origin: &OriginProducer) -> Self {
        let mut server = Server::bind(ServerConfig::new(addr, certificate)).expect("bind");
        let addr = server.local_addr().expect("address");
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let list = sessions.clone();
        let origin = origin.clone();
        let task = tokio::spawn(async move {
            while let Some(incoming) = server.accept().await {
                let version = incoming.version();
                let Ok(transport) = incoming.accept().await else {
                    continue;
                };
                let Ok(accepting) = Accepting::new(transport, version, WAIT).await else {
                    continue;
                };
                let config = SessionConfig::new().with_publish(origin.consume());
                if let Ok(session) = accepting.accept(config).await {
                    list.lock().unwrap().push(session);
                }
            }
            server
        });
        Self {
            url: format!("moql://127.0.0.1:{}/", addr.port()),
            addr,
            sessions,
            task,
        }
    }

    fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }

    /// Closes every session and the endpoint, and waits until the port is free.
    async fn kill(self) {
        for session in self.sessions() {
            session.close(ErrorCode::CANCEL, "restart");
        }
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A publisher writing one single-frame group every 20 ms into `demo/clock`.
fn publisher() -> (OriginProducer, TrackProducer, tokio::task::JoinHandle<()>) {
    let origin = OriginProducer::new();
    let broadcast = BroadcastProducer::new();
    let track = broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
    origin
        .publish(&Path::new("demo").unwrap(), broadcast.consume())
        .unwrap();
    let writer = track.clone();
    let task = tokio::spawn(async move {
        let _keep = broadcast;
        for n in 0u64.. {
            let Ok(group) = writer.append_group() else {
                return;
            };
            let _ = group.write(0, n.to_string());
            let _ = group.finish();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    (origin, track, task)
}

fn certificate() -> Certificate {
    Certificate::generate(&["localhost".into()]).unwrap()
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

type Events = Arc<Mutex<Vec<ReconnectEvent>>>;

/// A reconnecting client trusting `fingerprint`, recording its events.
async fn client(url: &str, fingerprint: String) -> (Reconnecting, Events) {
    let events: Events = Arc::default();
    let log = events.clone();
    let config = ReconnectConfig {
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
            healthy: Duration::from_secs(10),
        },
        on_event: Some(Arc::new(move |e: &ReconnectEvent| {
            log.lock().unwrap().push(e.clone());
        })),
        ..ReconnectConfig::default()
    };
    let native = Client::new(ClientConfig::new(ClientTls::Fingerprints(vec![
        fingerprint,
    ])))
    .unwrap();
    let reconnecting = Reconnecting::connect(
        url,
        move |url: String, received: OriginProducer| {
            let native = native.clone();
            async move {
                let connected = native.connect(&url).await.map_err(DialError::retry)?;
                let config = SessionConfig::new().with_subscribe(received);
                Session::connect(connected.session, connected.version, config)
                    .await
                    .map_err(DialError::retry)
            }
        },
        config,
    )
    .await
    .expect("first dial");
    (reconnecting, events)
}

async fn broadcast(client: &Reconnecting) -> BroadcastConsumer {
    let path = Path::new("demo").unwrap();
    let mut watch = client.origin().consume();
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(b) = client.origin().broadcast(&path) {
                return b;
            }
            watch.announced().await.expect("origin open");
        }
    })
    .await
    .expect("demo announced")
}

/// The next `n` group sequences of `track`.
async fn groups(track: &mut TrackConsumer, n: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let group = tokio::time::timeout(WAIT, track.next_group())
            .await
            .expect("a group in time")
            .expect("no error while reconnecting")
            .expect("the track goes on");
        seen.push(group.sequence());
    }
    seen
}

fn subscribe(broadcast: &BroadcastConsumer) -> TrackConsumer {
    broadcast
        .subscribe_track("clock", Subscription::DEFAULT)
        .unwrap()
}

#[tokio::test]
async fn a_consumed_track_continues_across_a_server_restart() {
    let (origin, _track, _writer) = publisher();
    let certificate = certificate();
    let server = TestServer::start(any_port(), certificate.clone(), &origin);
    let addr = server.addr;
    let (client, events) = client(&server.url, certificate.fingerprint()).await;
    let mut track = subscribe(&broadcast(&client).await);
    let before = groups(&mut track, 3).await;

    server.kill().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _server = TestServer::start(addr, certificate, &origin);

    // The same TrackConsumer goes on, in order, with no error surfacing meanwhile.
    let after = groups(&mut track, 5).await;
    assert!(after[0] > before[2], "{before:?} then {after:?}");
    assert!(after.windows(2).all(|w| w[0] < w[1]), "{after:?}");
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ReconnectEvent::Lost { .. })),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ReconnectEvent::Reconnected { .. })),
        "{events:?}"
    );
    assert!(client.close_reason().is_none());
}

#[tokio::test]
async fn goaway_with_a_uri_moves_without_losing_a_group() {
    let (origin, _track, _writer) = publisher();
    let certificate = certificate();
    let a = TestServer::start(any_port(), certificate.clone(), &origin);
    let b = TestServer::start(any_port(), certificate.clone(), &origin);
    let (client, events) = client(&a.url, certificate.fingerprint()).await;
    let mut track = subscribe(&broadcast(&client).await);
    let mut seen = groups(&mut track, 3).await;

    let old = a.sessions().pop().expect("a session on A");
    old.goaway(&b.url).await.expect("GOAWAY sent");
    // A keeps serving; the client moves, subscribes on B, then lets A go.
    seen.extend(groups(&mut track, 10).await);
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "a group went missing: {seen:?}"
    );
    tokio::time::timeout(WAIT, old.closed())
        .await
        .expect("the client closes the old session after the handover");
    assert_eq!(b.sessions().len(), 1, "the client is on B");
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ReconnectEvent::Moving { url } if *url == b.url)),
        "{events:?}"
    );
}

#[tokio::test]
async fn goaway_without_a_uri_comes_back_after_the_drain() {
    let (origin, _track, _writer) = publisher();
    let certificate = certificate();
    let server = TestServer::start(any_port(), certificate.clone(), &origin);
    let (client, events) = client(&server.url, certificate.fingerprint()).await;
    let mut track = subscribe(&broadcast(&client).await);
    let before = groups(&mut track, 2).await;

    let old = server.sessions().pop().expect("a session");
    old.goaway("").await.expect("GOAWAY sent");
    // The client stays until the drain ends...
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        server.sessions().len(),
        1,
        "no new session before the drain"
    );
    old.close(ErrorCode::CANCEL, "drained");

    // Groups already received drain first; then the same track goes on from the new session.
    let mut after = Vec::new();
    tokio::time::timeout(WAIT, async {
        while server.sessions().len() < 2 {
            after.extend(groups(&mut track, 1).await);
        }
    })
    .await
    .expect("reconnected to the same server");
    after.extend(groups(&mut track, 5).await);
    assert!(after[0] > before[1]);
    assert!(after.windows(2).all(|w| w[0] < w[1]), "{after:?}");
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(|e| matches!(e, ReconnectEvent::Draining)),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_fatal_dial_error_stops_the_client_and_ends_its_tracks() {
    let (origin, _track, _writer) = publisher();
    let certificate = certificate();
    let server = TestServer::start(any_port(), certificate.clone(), &origin);
    let native = Client::new(ClientConfig::new(ClientTls::Fingerprints(vec![
        certificate.fingerprint(),
    ])))
    .unwrap();
    let dials = Arc::new(Mutex::new(0));
    let count = dials.clone();
    let client = Reconnecting::connect(
        server.url.clone(),
        move |url: String, received: OriginProducer| {
            let native = native.clone();
            let count = count.clone();
            async move {
                *count.lock().unwrap() += 1;
                if *count.lock().unwrap() > 1 {
                    return Err(DialError::fatal("refused"));
                }
                let connected = native.connect(&url).await.map_err(DialError::retry)?;
                let config = SessionConfig::new().with_subscribe(received);
                Session::connect(connected.session, connected.version, config)
                    .await
                    .map_err(DialError::retry)
            }
        },
        ReconnectConfig {
            backoff: Backoff {
                initial: Duration::from_millis(10),
                ..Backoff::default()
            },
            ..ReconnectConfig::default()
        },
    )
    .await
    .unwrap();
    let mut track = subscribe(&broadcast(&client).await);
    groups(&mut track, 1).await;
    server.kill().await;
    let err = tokio::time::timeout(WAIT, client.closed()).await.unwrap();
    assert!(
        matches!(err, ReconnectError::Dial(ref e) if e.is_fatal()),
        "{err:?}"
    );
    assert_eq!(*dials.lock().unwrap(), 2, "no dial after the fatal one");
    // The track ends with an error rather than hanging.
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match track.next_group().await {
                Ok(Some(_)) => continue,
                other => return other.map(|g| g.is_none()),
            }
        }
    })
    .await
    .expect("the track ends");
    assert!(end.is_err(), "{end:?}");
}
