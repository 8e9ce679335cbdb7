//! Queue: FIFO order, capacity, separate wake lists and every close path.

use futures::executor::block_on;

use crate::testing::CountingWaker;
use crate::{PushError, Queue, QueueClosed, Waiter};

#[test]
fn values_come_out_in_push_order() {
    let (tx, rx) = Queue::unbounded();
    for i in 0..100 {
        tx.try_push(i).unwrap();
    }
    let out: Vec<_> = (0..100).map(|_| rx.try_pop().unwrap().unwrap()).collect();
    assert_eq!(out, (0..100).collect::<Vec<_>>());
    assert_eq!(rx.try_pop(), Ok(None));
}

#[test]
fn bounded_queue_refuses_past_capacity_and_hands_the_value_back() {
    let (tx, rx) = Queue::bounded(1);
    tx.try_push("a").unwrap();
    match tx.try_push("b") {
        Err(PushError::Full(v)) => assert_eq!(v, "b"),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(rx.try_pop(), Ok(Some("a")));
    tx.try_push("b").unwrap();
}

#[test]
fn pop_wakes_a_waiting_sender_and_push_wakes_a_waiting_receiver() {
    let (tx, rx) = Queue::bounded(1);
    let sender_wakes = CountingWaker::new();
    let receiver_wakes = CountingWaker::new();
    let sw = Waiter::with_waker(&sender_wakes.waker());
    let rw = Waiter::with_waker(&receiver_wakes.waker());

    assert!(rx.poll_pop(&rw).is_pending());
    tx.try_push(1).unwrap();
    assert_eq!((receiver_wakes.count(), sender_wakes.count()), (1, 0));

    let mut slot = Some(2);
    assert!(tx.poll_push(&sw, &mut slot).is_pending());
    assert_eq!(
        slot,
        Some(2),
        "the value stays with the caller while waiting"
    );
    assert_eq!(rx.try_pop(), Ok(Some(1)));
    assert_eq!((receiver_wakes.count(), sender_wakes.count()), (1, 1));
    assert!(tx.poll_push(&sw, &mut slot).is_ready());
    assert_eq!(slot, None);
}

#[test]
fn dropping_every_sender_closes_after_draining() {
    let (tx, rx) = Queue::unbounded();
    let tx2 = tx.clone();
    tx.try_push(1).unwrap();
    drop(tx);
    tx2.try_push(2).unwrap();
    drop(tx2);
    assert_eq!(block_on(rx.pop()), Some(1));
    assert_eq!(block_on(rx.pop()), Some(2));
    assert_eq!(block_on(rx.pop()), None);
    assert_eq!(rx.try_pop(), Err(QueueClosed));
}

#[test]
fn dropping_every_receiver_fails_pushes_and_wakes_blocked_senders() {
    let (tx, rx) = Queue::bounded(1);
    tx.try_push(1).unwrap();
    let counter = CountingWaker::new();
    let waiter = Waiter::with_waker(&counter.waker());
    let mut slot = Some(2);
    assert!(tx.poll_push(&waiter, &mut slot).is_pending());
    drop(rx);
    assert_eq!(counter.count(), 1);
    assert_eq!(
        tx.poll_push(&waiter, &mut slot),
        std::task::Poll::Ready(Err(2))
    );
    assert!(matches!(tx.try_push(3), Err(PushError::Closed(3))));
    assert!(tx.is_closed());
}

#[test]
fn explicit_close_from_either_side() {
    let (tx, rx) = Queue::unbounded::<u8>();
    rx.close();
    assert!(matches!(tx.try_push(1), Err(PushError::Closed(1))));

    let (tx, rx) = Queue::unbounded::<u8>();
    tx.try_push(5).unwrap();
    tx.close();
    assert_eq!(block_on(rx.pop()), Some(5));
    assert_eq!(block_on(rx.pop()), None);
}

#[test]
fn async_push_waits_for_room_across_threads() {
    let (tx, rx) = Queue::bounded(2);
    let producer = std::thread::spawn(move || {
        block_on(async {
            for i in 0..1_000u32 {
                tx.push(i).await.unwrap();
            }
        })
    });
    let mut got = Vec::new();
    while let Some(v) = block_on(rx.pop()) {
        got.push(v);
    }
    producer.join().unwrap();
    assert_eq!(got, (0..1_000).collect::<Vec<_>>());
}
