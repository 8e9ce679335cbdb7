//! [`Producer`]: the writing side of a channel.

use std::convert::Infallible;
use std::fmt;
use std::task::Poll;

use crate::state::{Mut, Ref, Shared, Side, State};
use crate::sync::{Arc, Mutex, lock};
use crate::{Closed, Consumer, Observer, Waiter, poll_fn};

/// Creates a channel holding `value`, returning its first producer and a consumer.
pub fn channel<T, E>(value: T) -> (Producer<T, E>, Consumer<T, E>) {
    let producer = Producer::new(value);
    let consumer = producer.consume();
    (producer, consumer)
}

/// The writing side of a channel: a value of type `T` behind one lock, watched by
/// [`Consumer`]s.
///
/// Writes through [`write`](Self::write) wake the consumers that wait for a change. Clones
/// share the channel; the channel closes when one of them calls [`close`](Self::close) or
/// [`abort`](Self::abort), or when the last producer is dropped ([`Closed::Dropped`]). After
/// that the value is final: consumers can still read it, and every wait that needs a change
/// returns the [`Closed`] reason.
///
/// Producers also learn about their audience: [`poll_unused`](Self::poll_unused) /
/// [`unused`](Self::unused) resolve when no consumer is left, and [`poll`](Self::poll) waits
/// for consumers' writes (requests flowing back to the producer).
pub struct Producer<T, E = Infallible> {
    shared: Shared<T, E>,
}

impl<T, E> Producer<T, E> {
    /// Creates a channel holding `value`, with no consumer yet.
    pub fn new(value: T) -> Self {
        Self {
            shared: Arc::new(Mutex::new(State::new(value))),
        }
    }

    /// Wraps a shared state whose producer count already includes this handle.
    pub(crate) fn from_shared(shared: Shared<T, E>) -> Self {
        Self { shared }
    }

    /// Creates a new consumer of this channel. Works after close too: the consumer then sees
    /// the final value and the close reason.
    pub fn consume(&self) -> Consumer<T, E> {
        lock(&self.shared).consumers += 1;
        Consumer::from_shared(self.shared.clone())
    }

    /// Reads the value. Holds the channel's lock until the guard is dropped.
    pub fn read(&self) -> Ref<'_, T, E> {
        Ref::new(&self.shared)
    }

    /// Returns how the channel ended, if it has.
    pub fn closed(&self) -> Option<Closed<E>>
    where
        E: Clone,
    {
        lock(&self.shared).closed.clone()
    }

    /// The number of live consumers.
    pub fn consumer_count(&self) -> usize {
        lock(&self.shared).consumers
    }

    /// Returns true if both handles belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Creates an [`Observer`]: a handle that keeps the value readable but counts as neither
    /// a producer nor a consumer.
    pub fn observe(&self) -> Observer<T, E> {
        Observer::from_shared(self.shared.clone())
    }

    /// Polls a condition on the value, registering `waiter` to be woken when a consumer writes
    /// (or the channel closes) if `f` returns [`Poll::Pending`].
    ///
    /// `f` may change the value (for example to take a request out of it); such changes wake
    /// nobody. Use [`write`](Self::write) for changes consumers must see.
    ///
    /// Returns `Ready(Err(closed))` when `f` is pending and the channel is closed.
    pub fn poll<R>(
        &self,
        waiter: &Waiter,
        mut f: impl FnMut(&mut T) -> Poll<R>,
    ) -> Poll<Result<R, Closed<E>>>
    where
        E: Clone,
    {
        let mut state = lock(&self.shared);
        if let Poll::Ready(r) = f(&mut state.value) {
            return Poll::Ready(Ok(r));
        }
        if let Some(closed) = &state.closed {
            return Poll::Ready(Err(closed.clone()));
        }
        state.producer_waiters.register(waiter);
        Poll::Pending
    }

    /// Waits until `f` returns `Ready`, re-checking after every consumer write.
    ///
    /// # Errors
    ///
    /// The [`Closed`] reason if the channel closes while `f` is still pending.
    pub async fn wait<R>(&self, mut f: impl FnMut(&mut T) -> Poll<R>) -> Result<R, Closed<E>>
    where
        E: Clone,
    {
        poll_fn(|waiter| self.poll(waiter, &mut f)).await
    }

    /// Resolves when no consumer is left (immediately if there is none now).
    ///
    /// A producer uses it to stop work nobody will read. New consumers can still be created
    /// with [`consume`](Self::consume) afterwards; the next poll then returns `Pending` again.
    pub fn poll_unused(&self, waiter: &Waiter) -> Poll<()> {
        let mut state = lock(&self.shared);
        if state.consumers == 0 {
            return Poll::Ready(());
        }
        state.unused_waiters.register(waiter);
        Poll::Pending
    }

    /// Waits until no consumer is left; see [`poll_unused`](Self::poll_unused).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only discards the wait.
    pub async fn unused(&self) {
        poll_fn(|waiter| self.poll_unused(waiter)).await
    }

    /// Resolves with the close reason once the channel has closed (for example because another
    /// clone of this producer aborted it).
    pub fn poll_closed(&self, waiter: &Waiter) -> Poll<Closed<E>>
    where
        E: Clone,
    {
        lock(&self.shared).poll_closed(waiter)
    }
}

impl<T, E: Clone> Producer<T, E> {
    /// Locks the value for writing. Dropping the guard wakes waiting consumers if the value was
    /// mutably accessed.
    ///
    /// # Errors
    ///
    /// The [`Closed`] reason once the channel has closed: a closed value is final.
    pub fn write(&self) -> Result<Mut<'_, T, E>, Closed<E>> {
        let state = lock(&self.shared);
        if let Some(closed) = &state.closed {
            return Err(closed.clone());
        }
        Ok(Mut::new(state, Side::Producer))
    }

    /// Closes the channel cleanly: the value is final and complete.
    ///
    /// # Errors
    ///
    /// The earlier reason if the channel was already closed.
    pub fn close(&self) -> Result<(), Closed<E>> {
        let wake = lock(&self.shared).close(Closed::Closed)?;
        wake.wake();
        Ok(())
    }

    /// Closes the channel with an error: consumers' waits return [`Closed::Aborted`].
    ///
    /// # Errors
    ///
    /// The earlier reason if the channel was already closed.
    pub fn abort(&self, err: E) -> Result<(), Closed<E>> {
        let wake = lock(&self.shared).close(Closed::Aborted(err))?;
        wake.wake();
        Ok(())
    }
}

impl<T, E> Clone for Producer<T, E> {
    fn clone(&self) -> Self {
        lock(&self.shared).producers += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T, E> Drop for Producer<T, E> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.producers -= 1;
        if state.producers > 0 || state.closed.is_some() {
            return;
        }
        state.closed = Some(Closed::Dropped);
        let wake = state.take_on_close();
        drop(state);
        wake.wake();
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for Producer<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("Producer")
            .field("value", &state.value)
            .field("closed", &state.closed)
            .field("consumers", &state.consumers)
            .finish()
    }
}
