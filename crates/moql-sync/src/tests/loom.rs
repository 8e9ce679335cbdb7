//! loom models: every interleaving of a notifier and a waiter ends with the waiter woken.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p moql-sync --release --lib` (what
//! `cargo xtask test` does, bounded by `LOOM_MAX_PREEMPTIONS`).

use std::task::Poll;

use loom::future::block_on;
use loom::thread;

use crate::{Closed, Producer, channel};

/// A write racing a consumer's check-then-register is never lost.
#[test]
fn write_is_never_lost_between_poll_and_register() {
    loom::model(|| {
        let (producer, consumer) = channel::<u32, ()>(0);
        let writer = thread::spawn(move || {
            *producer.write().unwrap() = 1;
            producer
        });
        let seen = block_on(consumer.wait(|v| {
            if *v == 1 {
                Poll::Ready(*v)
            } else {
                Poll::Pending
            }
        }));
        assert_eq!(seen, Ok(1));
        drop(writer.join().unwrap());
    });
}

/// Dropping the last producer wakes a consumer waiting on a condition that never comes.
#[test]
fn producer_drop_is_never_lost() {
    loom::model(|| {
        let (producer, consumer) = channel::<u32, ()>(0);
        let dropper = thread::spawn(move || drop(producer));
        let seen = block_on(consumer.wait(|_| Poll::<()>::Pending));
        assert_eq!(seen, Err(Closed::Dropped));
        dropper.join().unwrap();
    });
}

/// The last consumer leaving always wakes `unused`.
#[test]
fn unused_is_never_lost() {
    loom::model(|| {
        let producer = Producer::<u32, ()>::new(0);
        let consumer = producer.consume();
        let leaver = thread::spawn(move || drop(consumer));
        block_on(producer.unused());
        leaver.join().unwrap();
    });
}

/// A consumer's write (a request) always reaches a producer polling for it.
#[test]
fn consumer_write_is_never_lost() {
    loom::model(|| {
        let (producer, consumer) = channel::<Option<u32>, ()>(None);
        let requester = thread::spawn(move || {
            *consumer.write().unwrap() = Some(5);
        });
        let got = block_on(producer.wait(|slot| match slot.take() {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }));
        assert_eq!(got, Ok(5));
        requester.join().unwrap();
    });
}
