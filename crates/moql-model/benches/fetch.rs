//! The cost of a cache-hit fetch: `TrackConsumer::fetch` of a cached group, resolving the
//! pending handle to a `GroupConsumer` (no producer involved), and a miss that is served.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use moql_model::{TrackInfo, TrackProducer};
use moql_sync::{Future as _, Waiter};

fn fetch(c: &mut Criterion) {
    let track = TrackProducer::new("bench", TrackInfo::DEFAULT).unwrap();
    track.accept_fetches();
    for seq in 0..100u64 {
        let group = track.create_group(seq).unwrap();
        for i in 0..30 {
            group.write(seq * 1000 + i, vec![1u8; 1024]).unwrap();
        }
        group.finish().unwrap();
    }
    let consumer = track.consume();

    c.bench_function("model_fetch/cache_hit", |b| {
        b.iter(|| {
            let pending = consumer.fetch(97, None).unwrap();
            let group = pending.now().unwrap().unwrap();
            std::hint::black_box(group);
        })
    });

    let mut seq = 1_000_000u64;
    c.bench_function("model_fetch/miss_served", |b| {
        b.iter(|| {
            seq += 1;
            let pending = consumer.fetch(seq, None).unwrap();
            let std::task::Poll::Ready(Some(request)) = track.poll_requested_fetch(&Waiter::noop())
            else {
                panic!("request expected")
            };
            request.serve().unwrap().finish().unwrap();
            let group = pending.poll(&Waiter::noop());
            assert!(std::hint::black_box(group).is_ready());
            if seq.is_multiple_of(1024) {
                track.evict();
            }
        })
    });
}

criterion_group!(benches, fetch);
criterion_main!(benches);
