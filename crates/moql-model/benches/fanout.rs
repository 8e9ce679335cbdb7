//! Fan-out: one track producer, 1,000 live subscribers, 1 KiB frames.
//!
//! Each iteration writes one frame to the current group and lets every subscriber read it
//! (poll, clone the frame out, re-register) — the per-frame work a relay does for each
//! downstream subscriber, without IO. Throughput is in frame deliveries, so `elements/s` is
//! frames delivered per second across all subscribers (issue target: ≥ 5 million/s).

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Wake, Waker};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moql_model::{GroupConsumer, Subscription, TrackInfo, TrackProducer};
use moql_sync::Waiter;

const CONSUMERS: usize = 1_000;
const FRAMES_PER_GROUP: u64 = 30;

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn fanout(c: &mut Criterion) {
    let track = TrackProducer::new("bench", TrackInfo::DEFAULT).unwrap();
    let wakes = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let payload = Bytes::from(vec![7u8; 1024]);

    let mut subscribers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            (
                track.subscribe(Subscription::default()),
                Waiter::with_waker(&waker),
                None::<GroupConsumer>,
            )
        })
        .collect();

    let mut group = track.append_group().unwrap();
    let mut written = 0u64;
    let mut group_no = 0u64;

    let mut bench = c.benchmark_group("model_fanout");
    bench.throughput(Throughput::Elements(CONSUMERS as u64));
    bench.bench_function("1_track_1000_subscribers_1KiB", |b| {
        b.iter(|| {
            if written == FRAMES_PER_GROUP {
                group.finish().unwrap();
                group_no += 1;
                group = track.append_group().unwrap();
                written = 0;
            }
            group
                .write(group_no * 1000 + written, payload.clone())
                .unwrap();
            written += 1;
            for (sub, waiter, current) in subscribers.iter_mut() {
                loop {
                    if let Some(g) = current {
                        match g.poll_next_frame(waiter) {
                            Poll::Ready(Ok(Some(frame))) => {
                                std::hint::black_box(frame);
                                continue;
                            }
                            Poll::Ready(_) => *current = None,
                            Poll::Pending => {}
                        }
                    }
                    match sub.poll_next_group(waiter) {
                        Poll::Ready(Ok(Some(g))) => *current = Some(g),
                        _ => break,
                    }
                }
            }
        })
    });
    bench.finish();
    assert!(wakes.0.load(Ordering::Relaxed) > 0);
}

criterion_group!(benches, fanout);
criterion_main!(benches);
