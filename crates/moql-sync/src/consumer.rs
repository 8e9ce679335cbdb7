//! [`Consumer`]: the watching side of a channel.

use std::convert::Infallible;
use std::fmt;
use std::task::Poll;

use crate::state::{Mut, Ref, Shared, Side};
use crate::sync::{Arc, lock};
use crate::{Closed, Observer, Waiter, poll_fn};

/// The watching side of a channel created by [`Producer`](crate::Producer).
///
/// A consumer reads the shared value and waits for the producer to change it: each wait is a
/// condition on the value ([`poll`](Self::poll) / [`wait`](Self::wait)) that is checked again
/// after every producer write. Consumers keep any per-reader position (an index, a cursor)
/// themselves, so many consumers read one value independently.
///
/// Consumers can also write ([`write`](Self::write)), which wakes the producers that
/// [`poll`](crate::Producer::poll): that is how requests travel back to a producer.
///
/// Dropping the last consumer wakes [`Producer::unused`](crate::Producer::unused).
pub struct Consumer<T, E = Infallible> {
    shared: Shared<T, E>,
}

impl<T, E> Consumer<T, E> {
    /// Wraps a shared state whose consumer count already includes this handle.
    pub(crate) fn from_shared(shared: Shared<T, E>) -> Self {
        Self { shared }
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

    /// Returns true if both handles belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Creates an [`Observer`]: a handle that keeps the value readable but counts as neither
    /// a producer nor a consumer.
    pub fn observe(&self) -> Observer<T, E> {
        Observer::from_shared(self.shared.clone())
    }

    /// Polls a condition on the value, registering `waiter` to be woken by the next producer
    /// write (or close) if `f` returns [`Poll::Pending`].
    ///
    /// `f` is always called first, so a consumer can drain what is left after the channel
    /// closed; only when `f` is pending **and** the channel is closed does this return
    /// `Ready(Err(closed))`.
    pub fn poll<R>(
        &self,
        waiter: &Waiter,
        mut f: impl FnMut(&T) -> Poll<R>,
    ) -> Poll<Result<R, Closed<E>>>
    where
        E: Clone,
    {
        self.poll_mut(waiter, |value| f(value))
    }

    /// Like [`poll`](Self::poll), but `f` may update the value in place (for example a cache
    /// of derived data). Such changes wake nobody: use [`write`](Self::write) for changes
    /// producers must see.
    pub fn poll_mut<R>(
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
        state.consumer_waiters.register(waiter);
        Poll::Pending
    }

    /// Waits until `f` returns `Ready`, re-checking after every producer write.
    ///
    /// # Errors
    ///
    /// The [`Closed`] reason if the channel closes while `f` is still pending.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only discards the wait.
    pub async fn wait<R>(&self, mut f: impl FnMut(&T) -> Poll<R>) -> Result<R, Closed<E>>
    where
        E: Clone,
    {
        poll_fn(|waiter| self.poll(waiter, &mut f)).await
    }

    /// Resolves with the close reason once the channel has closed.
    pub fn poll_closed(&self, waiter: &Waiter) -> Poll<Closed<E>>
    where
        E: Clone,
    {
        lock(&self.shared).poll_closed(waiter)
    }

    /// Waits until the channel has closed and returns why.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only discards the wait.
    pub async fn wait_closed(&self) -> Closed<E>
    where
        E: Clone,
    {
        poll_fn(|waiter| self.poll_closed(waiter)).await
    }
}

impl<T, E: Clone> Consumer<T, E> {
    /// Locks the value for writing from the consumer side; dropping the guard wakes producers
    /// that [`poll`](crate::Producer::poll) if the value was mutably accessed.
    ///
    /// # Errors
    ///
    /// The [`Closed`] reason once the channel has closed.
    pub fn write(&self) -> Result<Mut<'_, T, E>, Closed<E>> {
        let state = lock(&self.shared);
        if let Some(closed) = &state.closed {
            return Err(closed.clone());
        }
        Ok(Mut::new(state, Side::Consumer))
    }
}

impl<T, E> Clone for Consumer<T, E> {
    fn clone(&self) -> Self {
        lock(&self.shared).consumers += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T, E> Drop for Consumer<T, E> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.consumers -= 1;
        if state.consumers > 0 {
            return;
        }
        let wake = state.unused_waiters.take();
        drop(state);
        wake.wake();
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for Consumer<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("Consumer")
            .field("value", &state.value)
            .field("closed", &state.closed)
            .finish()
    }
}
