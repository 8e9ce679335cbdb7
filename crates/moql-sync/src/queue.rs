//! [`Queue`]: a FIFO of values between tasks, bounded or unbounded.

use std::collections::VecDeque;
use std::fmt;
use std::task::Poll;

use crate::sync::{Arc, Mutex, lock};
use crate::{PushError, Waiter, WaiterList, poll_fn};

/// Constructors for a FIFO queue with any number of [`QueueSender`]s and [`QueueReceiver`]s.
///
/// Pushing wakes only waiting receivers and popping wakes only waiting senders (two separate
/// waiter lists). The queue closes when every sender or every receiver is dropped, or when
/// either side calls `close`; receivers still drain what was pushed before the close.
///
/// ```
/// let (tx, rx) = moql_sync::Queue::bounded(2);
/// tx.try_push(1).unwrap();
/// tx.try_push(2).unwrap();
/// assert!(tx.try_push(3).is_err(), "full");
/// drop(tx);
/// futures::executor::block_on(async {
///     assert_eq!(rx.pop().await, Some(1));
///     assert_eq!(rx.pop().await, Some(2));
///     assert_eq!(rx.pop().await, None, "closed and drained");
/// });
/// ```
#[derive(Debug)]
pub struct Queue;

impl Queue {
    /// A queue that holds at most `capacity` values (at least one).
    pub fn bounded<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
        Self::with_capacity(Some(capacity.max(1)))
    }

    /// A queue without a capacity limit: pushes never wait.
    pub fn unbounded<T>() -> (QueueSender<T>, QueueReceiver<T>) {
        Self::with_capacity(None)
    }

    fn with_capacity<T>(capacity: Option<usize>) -> (QueueSender<T>, QueueReceiver<T>) {
        let shared = Arc::new(Mutex::new(State {
            items: VecDeque::new(),
            capacity,
            closed: false,
            senders: 1,
            receivers: 1,
            pop_waiters: WaiterList::new(),
            push_waiters: WaiterList::new(),
        }));
        (
            QueueSender {
                shared: shared.clone(),
            },
            QueueReceiver { shared },
        )
    }
}

struct State<T> {
    items: VecDeque<T>,
    capacity: Option<usize>,
    closed: bool,
    senders: usize,
    receivers: usize,
    /// Receivers waiting for an item (woken by push and close).
    pop_waiters: WaiterList,
    /// Senders waiting for room (woken by pop and close).
    push_waiters: WaiterList,
}

impl<T> State<T> {
    fn is_full(&self) -> bool {
        self.capacity.is_some_and(|cap| self.items.len() >= cap)
    }

    fn close(&mut self) -> crate::WakeList {
        self.closed = true;
        let mut wake = self.pop_waiters.take();
        wake.append(self.push_waiters.take());
        wake
    }
}

/// The pushing side of a [`Queue`]. Clone it for more senders.
pub struct QueueSender<T> {
    shared: Arc<Mutex<State<T>>>,
}

impl<T> QueueSender<T> {
    /// Pushes `value` if there is room now.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] at capacity, [`PushError::Closed`] once closed; the value is returned.
    pub fn try_push(&self, value: T) -> Result<(), PushError<T>> {
        let mut state = lock(&self.shared);
        if state.closed {
            return Err(PushError::Closed(value));
        }
        if state.is_full() {
            return Err(PushError::Full(value));
        }
        state.items.push_back(value);
        let wake = state.pop_waiters.take();
        drop(state);
        wake.wake();
        Ok(())
    }

    /// Pushes the value in `slot` when there is room, registering `waiter` otherwise.
    ///
    /// Returns `Ready(Ok(()))` once pushed (the slot is then empty) and `Ready(Err(value))` if
    /// the queue is closed. An empty slot is `Ready(Ok(()))` at once.
    pub fn poll_push(&self, waiter: &Waiter, slot: &mut Option<T>) -> Poll<Result<(), T>> {
        let Some(value) = slot.take() else {
            return Poll::Ready(Ok(()));
        };
        let mut state = lock(&self.shared);
        if state.closed {
            return Poll::Ready(Err(value));
        }
        if state.is_full() {
            state.push_waiters.register(waiter);
            *slot = Some(value);
            return Poll::Pending;
        }
        state.items.push_back(value);
        let wake = state.pop_waiters.take();
        drop(state);
        wake.wake();
        Poll::Ready(Ok(()))
    }

    /// Pushes `value`, waiting for room in a bounded queue.
    ///
    /// # Errors
    ///
    /// The value, if the queue is closed.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future before it completes drops the value.
    pub async fn push(&self, value: T) -> Result<(), T> {
        let mut slot = Some(value);
        poll_fn(|waiter| self.poll_push(waiter, &mut slot)).await
    }

    /// Closes the queue: further pushes fail, receivers drain what is queued and then see the end.
    pub fn close(&self) {
        let wake = lock(&self.shared).close();
        wake.wake();
    }

    /// Returns true once the queue is closed.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).closed
    }

    /// The number of queued values.
    pub fn len(&self) -> usize {
        lock(&self.shared).items.len()
    }

    /// Returns true if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared).senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for QueueSender<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.senders -= 1;
        if state.senders == 0 && !state.closed {
            let wake = state.close();
            drop(state);
            wake.wake();
        }
    }
}

impl<T> fmt::Debug for QueueSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("QueueSender")
            .field("len", &state.items.len())
            .field("closed", &state.closed)
            .finish()
    }
}

/// The popping side of a [`Queue`]. Clone it for more receivers; each value goes to one.
pub struct QueueReceiver<T> {
    shared: Arc<Mutex<State<T>>>,
}

impl<T> QueueReceiver<T> {
    /// Pops the oldest value if there is one now. `Ok(None)` means empty but open.
    ///
    /// # Errors
    ///
    /// [`QueueClosed`] once the queue is closed and drained.
    pub fn try_pop(&self) -> Result<Option<T>, QueueClosed> {
        let mut state = lock(&self.shared);
        match state.items.pop_front() {
            Some(value) => {
                let wake = state.push_waiters.take();
                drop(state);
                wake.wake();
                Ok(Some(value))
            }
            None if state.closed => Err(QueueClosed),
            None => Ok(None),
        }
    }

    /// Pops the oldest value, registering `waiter` if the queue is empty.
    ///
    /// Returns `Ready(None)` once the queue is closed and drained.
    pub fn poll_pop(&self, waiter: &Waiter) -> Poll<Option<T>> {
        let mut state = lock(&self.shared);
        match state.items.pop_front() {
            Some(value) => {
                let wake = state.push_waiters.take();
                drop(state);
                wake.wake();
                Poll::Ready(Some(value))
            }
            None if state.closed => Poll::Ready(None),
            None => {
                state.pop_waiters.register(waiter);
                Poll::Pending
            }
        }
    }

    /// Waits for the oldest value; `None` once the queue is closed and drained.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a value is only removed by the poll that returns it.
    pub async fn pop(&self) -> Option<T> {
        poll_fn(|waiter| self.poll_pop(waiter)).await
    }

    /// Closes the queue: pushes fail from now on; queued values can still be popped.
    pub fn close(&self) {
        let wake = lock(&self.shared).close();
        wake.wake();
    }

    /// The number of queued values.
    pub fn len(&self) -> usize {
        lock(&self.shared).items.len()
    }

    /// Returns true if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for QueueReceiver<T> {
    fn clone(&self) -> Self {
        lock(&self.shared).receivers += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.receivers -= 1;
        if state.receivers == 0 && !state.closed {
            let wake = state.close();
            drop(state);
            wake.wake();
        }
    }
}

impl<T> fmt::Debug for QueueReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("QueueReceiver")
            .field("len", &state.items.len())
            .field("closed", &state.closed)
            .finish()
    }
}

/// Returned by [`QueueReceiver::try_pop`] once the queue is closed and drained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueClosed;

impl fmt::Display for QueueClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is closed")
    }
}

impl std::error::Error for QueueClosed {}
