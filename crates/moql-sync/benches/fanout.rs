//! Fan-out: one producer appending to a shared log watched by 1,000 consumers.
//!
//! Each iteration appends one item and then lets every consumer observe it (poll, read the new
//! item, re-register), which is the work a live track does per frame. Throughput is reported
//! in deliveries (consumer observations), so `elements/s` is deliveries per second.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Wake, Waker};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moql_sync::{Consumer, Waiter, channel};

const CONSUMERS: usize = 1_000;

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn fanout(c: &mut Criterion) {
    let (producer, consumer) = channel::<Vec<u64>, ()>(Vec::new());
    let wakes = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut readers: Vec<(Consumer<Vec<u64>, ()>, Waiter, usize)> = (0..CONSUMERS)
        .map(|_| (consumer.clone(), Waiter::with_waker(&waker), 0))
        .collect();
    drop(consumer);

    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(CONSUMERS as u64));
    group.bench_function("1_producer_1000_consumers", |b| {
        b.iter(|| {
            producer.write().unwrap().push(1);
            for (consumer, waiter, next) in readers.iter_mut() {
                loop {
                    let r = consumer.poll(waiter, |items| match items.get(*next) {
                        Some(v) => Poll::Ready(*v),
                        None => Poll::Pending,
                    });
                    match r {
                        Poll::Ready(Ok(_)) => *next += 1,
                        _ => break,
                    }
                }
            }
        })
    });
    group.finish();
    assert!(wakes.0.load(Ordering::Relaxed) > 0);
}

criterion_group!(benches, fanout);
criterion_main!(benches);
