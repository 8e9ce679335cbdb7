//! A hand-driven client against a server running our session: raw bytes on raw streams, for
//! the tests that need to misbehave (hostile input) or to observe the wire itself (stream
//! order, resets).

use moql_model::{BroadcastProducer, OriginProducer, Path, TrackInfo, TrackProducer};
use moql_native::{Client, ClientConfig, ClientTls, TransportKind};
use moql_session::{Accepting, Session, SessionConfig, testing};
use moql_wire::{Encode, Version};

use super::{TestServer, WAIT, init_tracing, loopback, within};

/// The version [`harness`] and [`encode`] use.
pub const V: Version = Version::Lite05;

/// A server running our session (publishing `demo/clock`, consuming the client's broadcasts),
/// and a hand-driven client transport that has sent a valid SETUP.
pub struct Harness<T> {
    pub client: T,
    pub track: TrackProducer,
    pub server: tokio::sync::oneshot::Receiver<Session>,
    _broadcast: BroadcastProducer,
    _listener: TestServer,
    _received: OriginProducer,
    _origin: OriginProducer,
}

pub async fn harness() -> Harness<impl web_transport_trait::Session> {
    harness_at(V).await
}

/// [`harness`] on `version`.
pub async fn harness_at(version: Version) -> Harness<impl web_transport_trait::Session> {
    init_tracing();
    let mut listener = TestServer::start(loopback(false), vec![version]);
    let origin = OriginProducer::new();
    let broadcast = BroadcastProducer::new();
    let track = broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
    origin
        .publish(&Path::new("demo").unwrap(), broadcast.consume())
        .unwrap();
    let received = OriginProducer::new();

    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![listener.fingerprint.clone()]),
        versions: vec![version],
        ..ClientConfig::default()
    })
    .unwrap();
    let url = listener.url(TransportKind::Quic, "/");
    let (connected, incoming) = within("connect", async {
        tokio::join!(client.connect(&url), listener.server.accept())
    })
    .await;
    let connected = connected.unwrap();
    let incoming = incoming.unwrap();

    let (tx, rx) = tokio::sync::oneshot::channel();
    let publish = origin.consume();
    let subscribe = received.clone();
    let keep = origin.clone();
    tokio::spawn(async move {
        let transport = incoming.accept().await.unwrap();
        let accepting = Accepting::new(transport, version, WAIT).await.unwrap();
        let session = accepting
            .accept(
                SessionConfig::new()
                    .with_publish(publish)
                    .with_subscribe(subscribe),
            )
            .await
            .unwrap();
        let _ = tx.send(session);
    });

    let client = connected.session;
    testing::raw::send_setup(&client, version).await;
    Harness {
        client,
        track,
        server: rx,
        _broadcast: broadcast,
        _listener: listener,
        _received: received,
        _origin: keep,
    }
}

/// `message` encoded at lite-05 ([`V`]).
pub fn encode<M: Encode>(message: &M) -> Vec<u8> {
    testing::raw::encode(message, V)
}

/// Opens a Subscribe stream for demo/clock with `max_latency` (ms) and waits until the
/// subscription reached the publisher. The streams stay open while the caller holds them.
pub async fn subscribe<T: web_transport_trait::Session>(
    h: &Harness<T>,
    id: u64,
    max_latency: u64,
) -> (T::SendStream, T::RecvStream) {
    let streams = testing::raw::subscribe(&h.client, V, id, "demo", "clock", max_latency).await;
    within(
        "the subscription upstream",
        h.track.subscription_changed(None),
    )
    .await
    .expect("the track is open");
    streams
}
