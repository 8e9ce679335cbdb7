//! [`Observer`]: a handle that neither produces nor consumes.

use std::convert::Infallible;
use std::fmt;
use std::task::Poll;

use crate::state::{Ref, Shared};
use crate::sync::{Arc, lock};
use crate::{Closed, Consumer, Producer, Waiter, poll_fn};

/// A handle to a channel that keeps its value alive and readable but counts as neither a
/// producer nor a consumer.
///
/// Caches and indexes hold observers: holding one does not keep a channel open (dropping the
/// last [`Producer`] still closes it as [`Closed::Dropped`]) and does not count as an audience
/// (it does not hold off [`Producer::unused`]). From an observer one can start consuming
/// ([`consume`](Self::consume)) or rejoin the producers of a channel that is still open
/// ([`upgrade`](Self::upgrade)).
pub struct Observer<T, E = Infallible> {
    shared: Shared<T, E>,
}

impl<T, E> Observer<T, E> {
    pub(crate) fn from_shared(shared: Shared<T, E>) -> Self {
        Self { shared }
    }

    /// Creates a consumer of the channel (also after it closed).
    pub fn consume(&self) -> Consumer<T, E> {
        lock(&self.shared).consumers += 1;
        Consumer::from_shared(self.shared.clone())
    }

    /// Creates a producer if the channel is still open (some producer is alive and nobody
    /// closed it); `None` otherwise.
    pub fn upgrade(&self) -> Option<Producer<T, E>> {
        let mut state = lock(&self.shared);
        if state.closed.is_some() || state.producers == 0 {
            return None;
        }
        state.producers += 1;
        drop(state);
        Some(Producer::from_shared(self.shared.clone()))
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

    /// Resolves with the close reason once the channel has closed.
    pub fn poll_closed(&self, waiter: &Waiter) -> Poll<Closed<E>>
    where
        E: Clone,
    {
        lock(&self.shared).poll_closed(waiter)
    }

    /// Waits until the channel has closed and returns why.
    pub async fn wait_closed(&self) -> Closed<E>
    where
        E: Clone,
    {
        poll_fn(|waiter| self.poll_closed(waiter)).await
    }
}

impl<T, E> Clone for Observer<T, E> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for Observer<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("Observer")
            .field("value", &state.value)
            .field("closed", &state.closed)
            .finish()
    }
}
