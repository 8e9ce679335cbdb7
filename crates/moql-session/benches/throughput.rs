//! One session, one track, 1 KiB frames: delivered frames/s and MB/s over loopback, raw QUIC
//! and WebTransport (issue target: report both).
//!
//! Each iteration publishes one group of 1,000 frames of 1 KiB on the server and waits until
//! the client has read every frame of it through a live subscription, so the figure includes
//! framing, QUIC, TLS, the model on both ends and the wake-ups in between.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moql_model::{
    BroadcastProducer, OriginProducer, Path, Subscription, TrackConsumer, TrackInfo, TrackProducer,
};
use moql_native::{
    Certificate, Client, ClientConfig, ClientTls, Server, ServerConfig, TransportKind,
};
use moql_session::{Accepting, Session, SessionConfig};
use moql_wire::Version;

const FRAMES: u64 = 1_000;
const FRAME_SIZE: usize = 1024;

struct Bench {
    track: TrackProducer,
    sub: TrackConsumer,
    broadcast: BroadcastProducer,
    remote: moql_model::BroadcastConsumer,
    _keep: (
        Session,
        Session,
        BroadcastProducer,
        OriginProducer,
        OriginProducer,
        Server,
    ),
}

async fn setup(kind: TransportKind) -> Bench {
    let certificate = Certificate::generate(&["localhost".into()]).unwrap();
    let mut server = Server::bind(ServerConfig::new(
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
        certificate,
    ))
    .unwrap();
    let addr = server.local_addr().unwrap();
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![server.fingerprint()]),
        ..ClientConfig::default()
    })
    .unwrap();
    let scheme = if kind == TransportKind::Quic {
        "moql"
    } else {
        "https"
    };
    let url = format!("{scheme}://127.0.0.1:{}/", addr.port());

    let origin = OriginProducer::new();
    let broadcast = BroadcastProducer::new();
    // A one-hour window: the fetch benchmark's groups stay cached however many there are.
    let info = TrackInfo {
        max_latency: Duration::from_secs(3600),
        ..TrackInfo::DEFAULT
    };
    let track = broadcast.create_track("data", info).unwrap();
    origin
        .publish(&Path::new("bench").unwrap(), broadcast.consume())
        .unwrap();
    let publish = origin.consume();
    let accept = tokio::spawn(async move {
        let incoming = server.accept().await.unwrap();
        let version = incoming.version();
        let transport = incoming.accept().await.unwrap();
        let accepting = Accepting::new(transport, version, Duration::from_secs(5))
            .await
            .unwrap();
        (
            accepting
                .accept(SessionConfig::new().with_publish(publish))
                .await
                .unwrap(),
            server,
        )
    });
    let connected = client.connect(&url).await.unwrap();
    let received = OriginProducer::new();
    let mut config = SessionConfig::new().with_subscribe(received.clone());
    config.setup_path = connected.setup_path.clone();
    let client_session = Session::connect(connected.session, Version::Lite05, config)
        .await
        .unwrap();
    let (server_session, server) = accept.await.unwrap();

    let remote = loop {
        if let Some(b) = received.broadcast(&Path::new("bench").unwrap()) {
            break b;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let sub = remote
        .subscribe_track("data", Subscription::default())
        .unwrap();
    while track.subscription().is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Bench {
        track,
        sub,
        broadcast: broadcast.clone(),
        remote,
        _keep: (
            client_session,
            server_session,
            broadcast,
            origin,
            received,
            server,
        ),
    }
}

fn throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let payload = Bytes::from(vec![0x5a; FRAME_SIZE]);
    let mut group = c.benchmark_group("session_throughput");
    group.throughput(Throughput::Bytes(FRAMES * FRAME_SIZE as u64));
    group.sample_size(20);
    for kind in [TransportKind::Quic, TransportKind::WebTransport] {
        let mut bench = runtime.block_on(setup(kind));
        let name = if kind == TransportKind::Quic {
            "raw_quic_1000x1KiB"
        } else {
            "webtransport_1000x1KiB"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let producer = bench.track.append_group().unwrap();
                        for i in 0..FRAMES {
                            producer.write(i, payload.clone()).unwrap();
                        }
                        producer.finish().unwrap();
                        let mut received = bench.sub.next_group().await.unwrap().unwrap();
                        let mut count = 0;
                        while received.next_frame().await.unwrap().is_some() {
                            count += 1;
                        }
                        assert_eq!(count, FRAMES);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// Groups cached on the server for the fetch benchmark; each iteration fetches a new one, so
/// the client never answers from its own cache.
const FETCH_GROUPS: u64 = 150_000;

/// Latency of a FETCH answered from the far side's cache over loopback (what a relay does for
/// a cached group): one round trip, TRACK_INFO already known.
fn fetch_latency(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("session_fetch");
    // Few, short samples: every fetch must be of a group the client has not cached yet.
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for kind in [TransportKind::Quic, TransportKind::WebTransport] {
        let bench = runtime.block_on(async {
            let bench = setup(kind).await;
            // A track nobody subscribes to: the client only ever fetches it.
            let info = TrackInfo {
                max_latency: Duration::from_secs(3600),
                ..TrackInfo::DEFAULT
            };
            let archive = bench.broadcast.create_track("archive", info).unwrap();
            for seq in 1..=FETCH_GROUPS {
                let g = archive.create_group(seq).unwrap();
                g.write(0, Bytes::from_static(b"cached")).unwrap();
                g.finish().unwrap();
            }
            let consumer = bench.remote.track("archive").unwrap();
            consumer.wait_info().await.unwrap();
            (bench, archive, consumer)
        });
        let (_bench, _archive, consumer) = &bench;
        let mut next = 1u64;
        let name = if kind == TransportKind::Quic {
            "cache_hit_raw_quic"
        } else {
            "cache_hit_webtransport"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let seq = next;
                        assert!(
                            seq <= FETCH_GROUPS,
                            "ran out of uncached groups: raise FETCH_GROUPS"
                        );
                        next += 1;
                        let pending = consumer.fetch(seq, None).unwrap();
                        assert!(!pending.is_cache_hit());
                        let mut fetched = pending
                            .await
                            .unwrap_or_else(|err| panic!("fetch {seq}: {err}"));
                        assert!(fetched.next_frame().await.unwrap().is_some());
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, throughput, fetch_latency);
criterion_main!(benches);
