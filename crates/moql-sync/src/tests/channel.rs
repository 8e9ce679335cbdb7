//! Producer/Consumer: writes wake consumers, and every close, drop and abort path.

use std::task::Poll;

use futures::executor::block_on;

use crate::testing::CountingWaker;
use crate::{Closed, Future, Pending, Producer, Waiter, channel};

fn ready_when_at_least(n: u32) -> impl FnMut(&u32) -> Poll<u32> {
    move |v| {
        if *v >= n {
            Poll::Ready(*v)
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn write_wakes_a_parked_consumer() {
    let (producer, consumer) = channel::<u32, ()>(0);
    let counter = CountingWaker::new();
    let waiter = Waiter::with_waker(&counter.waker());
    assert!(consumer.poll(&waiter, ready_when_at_least(1)).is_pending());
    *producer.write().unwrap() = 1;
    assert_eq!(counter.count(), 1);
    assert_eq!(
        consumer.poll(&waiter, ready_when_at_least(1)),
        Poll::Ready(Ok(1))
    );
}

#[test]
fn read_only_write_guard_wakes_nobody() {
    let (producer, consumer) = channel::<u32, ()>(0);
    let counter = CountingWaker::new();
    let waiter = Waiter::with_waker(&counter.waker());
    assert!(consumer.poll(&waiter, ready_when_at_least(1)).is_pending());
    let guard = producer.write().unwrap();
    assert_eq!(*guard, 0);
    drop(guard);
    assert_eq!(counter.count(), 0);
}

#[test]
fn consumer_write_wakes_producers_not_consumers() {
    let (producer, consumer) = channel::<u32, ()>(0);
    let other = consumer.clone();
    let producer_wakes = CountingWaker::new();
    let consumer_wakes = CountingWaker::new();
    let pw = Waiter::with_waker(&producer_wakes.waker());
    let cw = Waiter::with_waker(&consumer_wakes.waker());
    assert!(
        producer
            .poll(&pw, |v| if *v > 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            })
            .is_pending()
    );
    assert!(other.poll(&cw, ready_when_at_least(5)).is_pending());
    *consumer.write().unwrap() += 1;
    assert_eq!(producer_wakes.count(), 1);
    assert_eq!(consumer_wakes.count(), 0, "no wake-up storm across sides");
}

#[test]
fn close_keeps_the_final_value_readable() {
    let (producer, consumer) = channel::<u32, ()>(0);
    *producer.write().unwrap() = 3;
    producer.close().unwrap();
    assert_eq!(*consumer.read(), 3);
    assert_eq!(
        block_on(consumer.wait(ready_when_at_least(3))),
        Ok(3),
        "a satisfied condition wins over the close"
    );
    assert_eq!(
        block_on(consumer.wait(ready_when_at_least(4))),
        Err(Closed::Closed)
    );
    assert_eq!(producer.write().err(), Some(Closed::Closed));
    assert_eq!(
        producer.close(),
        Err(Closed::Closed),
        "closing twice reports the first close"
    );
}

#[test]
fn close_wakes_a_parked_consumer() {
    let (producer, consumer) = channel::<u32, ()>(0);
    let counter = CountingWaker::new();
    let waiter = Waiter::with_waker(&counter.waker());
    assert!(consumer.poll(&waiter, ready_when_at_least(1)).is_pending());
    producer.close().unwrap();
    assert_eq!(counter.count(), 1);
    assert_eq!(
        consumer.poll(&waiter, ready_when_at_least(1)),
        Poll::Ready(Err(Closed::Closed))
    );
}

#[test]
fn dropping_the_last_producer_closes_as_dropped() {
    let (producer, consumer) = channel::<u32, ()>(0);
    let second = producer.clone();
    drop(producer);
    assert_eq!(consumer.closed(), None, "one producer is still alive");
    let counter = CountingWaker::new();
    let waiter = Waiter::with_waker(&counter.waker());
    assert!(consumer.poll_closed(&waiter).is_pending());
    drop(second);
    assert_eq!(counter.count(), 1);
    assert_eq!(consumer.closed(), Some(Closed::Dropped));
    assert_eq!(block_on(consumer.wait_closed()), Closed::Dropped);
}

#[test]
fn dropping_after_close_keeps_the_clean_close() {
    let (producer, consumer) = channel::<u32, ()>(0);
    producer.close().unwrap();
    drop(producer);
    assert_eq!(consumer.closed(), Some(Closed::Closed));
}

#[test]
fn abort_delivers_the_error_to_every_consumer() {
    let (producer, consumer) = channel::<u32, &'static str>(0);
    let other = consumer.clone();
    producer.abort("boom").unwrap();
    assert_eq!(block_on(consumer.wait_closed()), Closed::Aborted("boom"));
    assert_eq!(
        block_on(other.wait(ready_when_at_least(1))),
        Err(Closed::Aborted("boom"))
    );
    assert_eq!(producer.abort("again"), Err(Closed::Aborted("boom")));
    assert_eq!(consumer.write().err(), Some(Closed::Aborted("boom")));
}

#[test]
fn abort_from_one_clone_is_seen_by_another() {
    let producer = Producer::<u32, u8>::new(0);
    let clone = producer.clone();
    let counter = CountingWaker::new();
    let waiter = Waiter::with_waker(&counter.waker());
    assert!(clone.poll_closed(&waiter).is_pending());
    producer.abort(7).unwrap();
    assert_eq!(counter.count(), 1);
    assert_eq!(clone.poll_closed(&waiter), Poll::Ready(Closed::Aborted(7)));
}

#[test]
fn unused_resolves_when_the_last_consumer_drops() {
    let (producer, consumer) = channel::<u32, ()>(0);
    let second = consumer.clone();
    let counter = CountingWaker::new();
    let waiter = Waiter::with_waker(&counter.waker());
    assert!(producer.poll_unused(&waiter).is_pending());
    drop(consumer);
    assert_eq!(counter.count(), 0);
    assert_eq!(producer.consumer_count(), 1);
    drop(second);
    assert_eq!(counter.count(), 1);
    assert!(producer.poll_unused(&waiter).is_ready());
    block_on(producer.unused());

    let late = producer.consume();
    assert!(
        producer.poll_unused(&Waiter::noop()).is_pending(),
        "a new consumer revives it"
    );
    drop(late);
}

#[test]
fn producer_with_no_consumer_is_unused_at_once() {
    let producer = Producer::<u32, ()>::new(0);
    assert!(producer.poll_unused(&Waiter::noop()).is_ready());
}

#[test]
fn consumers_created_after_close_see_the_close() {
    let producer = Producer::<u32, ()>::new(9);
    producer.close().unwrap();
    let consumer = producer.consume();
    assert_eq!(*consumer.read(), 9);
    assert_eq!(consumer.closed(), Some(Closed::Closed));
}

#[test]
fn producer_poll_can_take_from_the_value() {
    let (producer, consumer) = channel::<Vec<u32>, ()>(Vec::new());
    consumer.write().unwrap().push(4);
    let taken = block_on(producer.wait(|requests| match requests.pop() {
        Some(r) => Poll::Ready(r),
        None => Poll::Pending,
    }));
    assert_eq!(taken, Ok(4));
    assert!(producer.read().is_empty());
}

#[test]
fn producer_poll_reports_close() {
    let (producer, consumer) = channel::<u32, ()>(0);
    let other = producer.clone();
    drop(consumer);
    other.close().unwrap();
    let result = block_on(producer.wait(|_| Poll::<()>::Pending));
    assert_eq!(result, Err(Closed::Closed));
}

#[test]
fn consumer_threads_see_every_write_in_order() {
    let (producer, consumer) = channel::<Vec<u32>, ()>(Vec::new());
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let consumer = consumer.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut next = 0;
                loop {
                    let r = block_on(consumer.wait(|items| match items.get(next) {
                        Some(v) => Poll::Ready(*v),
                        None => Poll::Pending,
                    }));
                    match r {
                        Ok(v) => {
                            seen.push(v);
                            next += 1;
                        }
                        Err(closed) => {
                            assert_eq!(closed, Closed::Closed);
                            return seen;
                        }
                    }
                }
            })
        })
        .collect();
    for i in 0..1_000 {
        producer.write().unwrap().push(i);
    }
    producer.close().unwrap();
    let expected: Vec<u32> = (0..1_000).collect();
    for reader in readers {
        assert_eq!(reader.join().unwrap(), expected);
    }
}

/// A named wait built on the channel, the way later crates build theirs.
struct AtLeast {
    consumer: crate::Consumer<u32, ()>,
    n: u32,
}

impl Future for AtLeast {
    type Output = Result<u32, Closed<()>>;

    fn poll(&self, waiter: &Waiter) -> Poll<Self::Output> {
        self.consumer.poll(waiter, ready_when_at_least(self.n))
    }
}

#[test]
fn pending_bridges_a_named_wait_to_await_and_derefs() {
    let (producer, consumer) = channel::<u32, ()>(0);
    let pending: Pending<AtLeast> = AtLeast { consumer, n: 2 }.pending();
    assert_eq!(pending.n, 2, "inherent fields stay reachable through Deref");
    assert_eq!(pending.now(), None);
    let waiter = std::thread::spawn(move || block_on(pending));
    *producer.write().unwrap() = 2;
    assert_eq!(waiter.join().unwrap(), Ok(2));
}

#[test]
fn repolling_a_pending_does_not_grow_the_waiter_list() {
    use std::pin::Pin;
    use std::task::Context;

    let (producer, consumer) = channel::<u32, ()>(0);
    let mut pending = AtLeast { consumer, n: 1 }.pending();
    let counter = CountingWaker::new();
    let waker = counter.waker();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..10_000 {
        assert!(std::future::Future::poll(Pin::new(&mut pending), &mut cx).is_pending());
    }
    *producer.write().unwrap() = 1;
    assert_eq!(counter.count(), 1, "one registration, one wake-up");
}

#[test]
fn handles_are_send_sync_and_unpin() {
    fn check<T: Send + Sync + Unpin>() {}
    check::<crate::Producer<Vec<u8>, String>>();
    check::<crate::Consumer<Vec<u8>, String>>();
    check::<Waiter>();
    check::<crate::WaiterList>();
    check::<Pending<AtLeast>>();
}

#[test]
fn observer_counts_as_neither_producer_nor_consumer() {
    let (producer, consumer) = channel::<u32, ()>(1);
    let observer = consumer.observe();
    drop(consumer);
    assert!(
        producer.poll_unused(&Waiter::noop()).is_ready(),
        "observers are no audience"
    );
    let late = observer.consume();
    assert_eq!(*late.read(), 1);
    assert!(producer.poll_unused(&Waiter::noop()).is_pending());

    let second = observer.upgrade().expect("open channel upgrades");
    drop(producer);
    assert_eq!(
        observer.closed(),
        None,
        "the upgraded producer keeps it open"
    );
    drop(second);
    assert_eq!(
        observer.closed(),
        Some(Closed::Dropped),
        "observers do not keep it open"
    );
    assert!(
        observer.upgrade().is_none(),
        "a closed channel cannot gain producers"
    );
    assert_eq!(*observer.read(), 1, "but stays readable");
}

#[test]
fn close_waiters_are_not_woken_by_writes() {
    let (producer, consumer) = channel::<u32, ()>(0);
    let counter = CountingWaker::new();
    let waiter = Waiter::with_waker(&counter.waker());
    assert!(consumer.poll_closed(&waiter).is_pending());
    *producer.write().unwrap() = 1;
    assert_eq!(counter.count(), 0, "a write is not a close");
    producer.close().unwrap();
    assert_eq!(counter.count(), 1);
}
