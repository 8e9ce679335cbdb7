//! A hand-driven client against a server running our session, over the in-memory pair: raw
//! bytes on raw streams, for the tests that misbehave (hostile input) or watch the wire.

#![allow(dead_code, unreachable_pub)]

use moql_model::{BroadcastProducer, OriginProducer, Path, TrackInfo, TrackProducer};
use moql_session::testing::mem::{self, Config, MemSession};
use moql_session::{Accepting, Session, SessionConfig, testing};
use moql_wire::{Encode, Version};

use crate::support::{WAIT, init_tracing, subscribed};

/// The version [`harness`] and [`encode`] use.
pub const V: Version = Version::Lite05;

/// A server running our session (publishing `demo/clock`, consuming the client's broadcasts),
/// and a hand-driven client transport that has sent a valid SETUP.
pub struct Harness {
    pub client: MemSession,
    pub track: TrackProducer,
    pub server: tokio::sync::oneshot::Receiver<Session>,
    _broadcast: BroadcastProducer,
    _received: OriginProducer,
    _origin: OriginProducer,
}

pub async fn harness() -> Harness {
    harness_with(V, Config::version(V)).await
}

/// [`harness`] on `version`.
pub async fn harness_at(version: Version) -> Harness {
    harness_with(version, Config::version(version)).await
}

/// [`harness`] on `version` over a pair configured by `config`.
pub async fn harness_with(version: Version, config: Config) -> Harness {
    init_tracing();
    let (client, server) = mem::pair_with(config);
    let origin = OriginProducer::new();
    let broadcast = BroadcastProducer::new();
    let track = broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
    origin
        .publish(&Path::new("demo").unwrap(), broadcast.consume())
        .unwrap();
    let received = OriginProducer::new();

    let (tx, rx) = tokio::sync::oneshot::channel();
    let publish = origin.consume();
    let subscribe = received.clone();
    tokio::spawn(async move {
        let accepting = Accepting::new(server, version, WAIT).await.unwrap();
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

    if version.has_setup() {
        testing::raw::send_setup(&client, version).await;
    }
    Harness {
        client,
        track,
        server: rx,
        _broadcast: broadcast,
        _received: received,
        _origin: origin,
    }
}

/// `message` encoded at lite-05 ([`V`]).
pub fn encode<M: Encode>(message: &M) -> Vec<u8> {
    testing::raw::encode(message, V)
}

pub use testing::raw::read_to_end;

/// Opens a Subscribe stream for demo/clock with `max_latency` (ms) and waits until the
/// subscription reached the publisher. The streams stay open while the caller holds them.
pub async fn subscribe(h: &Harness, id: u64, max_latency: u64) -> (mem::MemSend, mem::MemRecv) {
    let streams = testing::raw::subscribe(&h.client, V, id, "demo", "clock", max_latency).await;
    subscribed(&h.track).await;
    streams
}
