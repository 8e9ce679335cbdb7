//! Notify → wake latency of a channel.
//!
//! `notify/same_thread`: the cost a producer pays to write and wake one parked consumer
//! (lock, take the waiter list, unlock, wake), with the consumer re-registering each round.
//! `notify/ping_pong`: two threads bounce a counter through two channels; the reported time is
//! one round trip, i.e. two notify→wake→observe hops across threads.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Wake, Waker};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::executor::block_on;
use moql_sync::{Waiter, channel};

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn same_thread(c: &mut Criterion) {
    let (producer, consumer) = channel::<u64, ()>(0);
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waiter = Waiter::with_waker(&Waker::from(count.clone()));
    c.bench_function("notify/same_thread", |b| {
        b.iter(|| {
            let target = *consumer.read() + 1;
            let r = consumer.poll(&waiter, |v| {
                if *v >= target {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            assert!(r.is_pending());
            *producer.write().unwrap() += 1;
            black_box(&count);
        })
    });
    assert!(count.0.load(Ordering::Relaxed) > 0);
}

fn ping_pong(c: &mut Criterion) {
    c.bench_function("notify/ping_pong_round_trip", |b| {
        b.iter_custom(|iters| {
            let (ping_tx, ping_rx) = channel::<u64, ()>(0);
            let (pong_tx, pong_rx) = channel::<u64, ()>(0);
            let echo = std::thread::spawn(move || {
                for i in 1..=iters {
                    let seen = block_on(ping_rx.wait(|v| {
                        if *v >= i {
                            Poll::Ready(*v)
                        } else {
                            Poll::Pending
                        }
                    }));
                    *pong_tx.write().unwrap() = seen.unwrap();
                }
            });
            let start = Instant::now();
            for i in 1..=iters {
                *ping_tx.write().unwrap() = i;
                block_on(pong_rx.wait(|v| {
                    if *v >= i {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                }))
                .unwrap();
            }
            let elapsed = start.elapsed();
            echo.join().unwrap();
            elapsed
        })
    });
}

criterion_group!(benches, same_thread, ping_pong);
criterion_main!(benches);
