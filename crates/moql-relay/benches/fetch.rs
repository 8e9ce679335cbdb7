//! A cache-hit FETCH through a real relay over loopback (issue target: under 1 ms p50).
//!
//! A publisher client publishes a track with many finished groups while a watcher client
//! subscribes through the relay, so the relay caches every group. The publisher never serves
//! FETCH (its track is not marked as requested), so a fetch that succeeds can only have been
//! answered from the relay's cache. Each iteration, a third client (which has not seen the
//! track's groups) fetches a group it has not fetched before: one request to the relay, one
//! group back. Criterion's `median` is the p50 of the per-sample means.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use moql_model::{BroadcastProducer, OriginProducer, Path, Subscription, TrackInfo};
use moql_native::{Client, ClientConfig, ClientTls};
use moql_relay::{Relay, RelayConfig};
use moql_session::{Session, SessionConfig};
use moql_wire::Version;

/// Groups cached on the relay; each iteration fetches a new one, so the fetching client never
/// answers from its own cache.
const GROUPS: u64 = 60_000;

struct Peer {
    publish: OriginProducer,
    subscribe: OriginProducer,
    _session: Session,
}

async fn peer(url: &str, fingerprint: &str) -> Peer {
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![fingerprint.to_string()]),
        ..ClientConfig::default()
    })
    .unwrap();
    let connected = client.connect(url).await.unwrap();
    let publish = OriginProducer::new();
    let subscribe = OriginProducer::new();
    let mut config = SessionConfig::new()
        .with_publish(publish.consume())
        .with_subscribe(subscribe.clone());
    config.setup_path = connected.setup_path.clone();
    let session = Session::connect(connected.session, Version::Lite05, config)
        .await
        .unwrap();
    Peer {
        publish,
        subscribe,
        _session: session,
    }
}

async fn wait_broadcast(origin: &OriginProducer, path: &Path) -> moql_model::BroadcastConsumer {
    for _ in 0..2_000 {
        if let Some(b) = origin.broadcast(path) {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("broadcast {path} never announced");
}

fn relay_fetch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let path = Path::new("bench/archive").unwrap();
    let (consumer, _keep) = runtime.block_on(async {
        let mut config = RelayConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            http: false,
            ..RelayConfig::default()
        };
        config.auth.public = Some("".into());
        let relay = Relay::bind(config).await.unwrap();
        let url = format!("moql://127.0.0.1:{}/", relay.local_addr().unwrap().port());
        let fingerprint = relay.fingerprint();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(relay.run(async move {
            let _ = stopped.await;
        }));

        let publisher = peer(&url, &fingerprint).await;
        let watcher = peer(&url, &fingerprint).await;
        let fetcher = peer(&url, &fingerprint).await;

        let broadcast = BroadcastProducer::new();
        let info = TrackInfo {
            max_latency: Duration::from_secs(3600),
            ..TrackInfo::DEFAULT
        };
        let track = broadcast.create_track("data", info).unwrap();
        publisher
            .publish
            .publish(&path, broadcast.consume())
            .unwrap();

        // The watcher's subscription makes the relay subscribe upstream and cache every group.
        let watched = wait_broadcast(&watcher.subscribe, &path).await;
        let mut live = watched
            .subscribe_track("data", Subscription::default())
            .unwrap();
        for _ in 0..2_000 {
            if track.subscription().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for seq in 1..=GROUPS {
            let group = track.create_group(seq).unwrap();
            group.write(0, Bytes::from_static(b"cached")).unwrap();
            group.finish().unwrap();
        }
        // Every group has passed through the relay once the watcher has read the last one.
        loop {
            let group = tokio::time::timeout(Duration::from_secs(30), live.next_group())
                .await
                .expect("groups reach the watcher")
                .unwrap()
                .expect("track open");
            if group.sequence() == GROUPS {
                break;
            }
        }

        let remote = wait_broadcast(&fetcher.subscribe, &path).await;
        let consumer = remote.track("data").unwrap();
        consumer.wait_info().await.unwrap();
        (
            consumer,
            (stop, publisher, watcher, fetcher, broadcast, track, live),
        )
    });

    let mut group = c.benchmark_group("relay_fetch");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let mut next = 1u64;
    group.bench_function("cache_hit_raw_quic", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let seq = next;
                    assert!(seq <= GROUPS, "ran out of uncached groups: raise GROUPS");
                    next += 1;
                    let pending = consumer.fetch(seq, None).unwrap();
                    assert!(!pending.is_cache_hit(), "the fetcher must not have it");
                    let mut fetched = pending
                        .await
                        .unwrap_or_else(|err| panic!("fetch {seq}: {err}"));
                    let frame = fetched.next_frame().await.unwrap().expect("one frame");
                    assert_eq!(&frame.payload[..], b"cached");
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    drop(_keep);
}

criterion_group!(benches, relay_fetch);
criterion_main!(benches);
