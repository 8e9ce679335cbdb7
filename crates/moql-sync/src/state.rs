//! The state a [`Producer`](crate::Producer) and its [`Consumer`](crate::Consumer)s share, and
//! the guards that read and write it.
//!
//! One lock guards the value, the close status, the handle counts and one waiter list per
//! event, so checking a condition and registering for it are atomic with respect to every
//! change that could satisfy it.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::sync::{Arc, Mutex, MutexGuard, lock};
use crate::{Closed, WaiterList, WakeList};

pub(crate) type Shared<T, E> = Arc<Mutex<State<T, E>>>;

pub(crate) struct State<T, E> {
    pub(crate) value: T,
    pub(crate) closed: Option<Closed<E>>,
    pub(crate) producers: usize,
    pub(crate) consumers: usize,
    /// Woken when the producer side writes or the channel closes.
    pub(crate) consumer_waiters: WaiterList,
    /// Woken when the consumer side writes or the channel closes.
    pub(crate) producer_waiters: WaiterList,
    /// Woken when the last consumer is dropped.
    pub(crate) unused_waiters: WaiterList,
    /// Woken only when the channel closes.
    pub(crate) closed_waiters: WaiterList,
}

impl<T, E> State<T, E> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            value,
            closed: None,
            producers: 1,
            consumers: 0,
            consumer_waiters: WaiterList::new(),
            producer_waiters: WaiterList::new(),
            unused_waiters: WaiterList::new(),
            closed_waiters: WaiterList::new(),
        }
    }

    /// Marks the channel closed (if it is not already) and takes everyone who waits on it.
    pub(crate) fn close(&mut self, how: Closed<E>) -> Result<WakeList, Closed<E>>
    where
        E: Clone,
    {
        if let Some(closed) = &self.closed {
            return Err(closed.clone());
        }
        self.closed = Some(how);
        Ok(self.take_on_close())
    }

    /// The close reason, or registers `waiter` to be woken by the close.
    pub(crate) fn poll_closed(&mut self, waiter: &crate::Waiter) -> std::task::Poll<Closed<E>>
    where
        E: Clone,
    {
        match &self.closed {
            Some(closed) => std::task::Poll::Ready(closed.clone()),
            None => {
                self.closed_waiters.register(waiter);
                std::task::Poll::Pending
            }
        }
    }

    /// Everyone to wake when the channel closes.
    pub(crate) fn take_on_close(&mut self) -> WakeList {
        let mut wake = self.consumer_waiters.take();
        wake.append(self.producer_waiters.take());
        wake.append(self.closed_waiters.take());
        wake
    }
}

/// Which side a [`Mut`] guard writes from; the other side is woken.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Side {
    Producer,
    Consumer,
}

/// Shared access to a channel's value; holds the channel's lock until dropped.
///
/// Keep it short-lived: every producer and consumer of the channel waits while it exists.
pub struct Ref<'a, T, E = std::convert::Infallible> {
    guard: MutexGuard<'a, State<T, E>>,
}

impl<'a, T, E> Ref<'a, T, E> {
    pub(crate) fn new(shared: &'a Shared<T, E>) -> Self {
        Self {
            guard: lock(shared),
        }
    }

    /// How the channel ended, if it has.
    pub fn closed(&self) -> Option<&Closed<E>> {
        self.guard.closed.as_ref()
    }
}

impl<T, E> Deref for Ref<'_, T, E> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard.value
    }
}

impl<T: fmt::Debug, E> fmt::Debug for Ref<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.guard.value.fmt(f)
    }
}

/// Exclusive access to a channel's value; holds the channel's lock until dropped.
///
/// If the value was mutably dereferenced, dropping the guard wakes the other side's waiters
/// (consumers for a producer's guard, producers for a consumer's guard) after releasing the
/// lock. A guard that was only read wakes nobody.
pub struct Mut<'a, T, E = std::convert::Infallible> {
    guard: Option<MutexGuard<'a, State<T, E>>>,
    side: Side,
    modified: bool,
}

impl<'a, T, E> Mut<'a, T, E> {
    pub(crate) fn new(guard: MutexGuard<'a, State<T, E>>, side: Side) -> Self {
        Self {
            guard: Some(guard),
            side,
            modified: false,
        }
    }

    fn state(&self) -> &State<T, E> {
        // The guard is only taken in `drop`.
        self.guard.as_ref().expect("guard present until drop")
    }

    /// Marks the value changed without touching it, so the other side is woken on drop.
    pub fn notify(&mut self) {
        self.modified = true;
    }

    /// The number of live consumers.
    pub fn consumers(&self) -> usize {
        self.state().consumers
    }
}

impl<T, E> Deref for Mut<'_, T, E> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.state().value
    }
}

impl<T, E> DerefMut for Mut<'_, T, E> {
    fn deref_mut(&mut self) -> &mut T {
        self.modified = true;
        &mut self.guard.as_mut().expect("guard present until drop").value
    }
}

impl<T, E> Drop for Mut<'_, T, E> {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        if !self.modified {
            return;
        }
        let wake = match self.side {
            Side::Producer => guard.consumer_waiters.take(),
            Side::Consumer => guard.producer_waiters.take(),
        };
        drop(guard);
        wake.wake();
    }
}

impl<T: fmt::Debug, E> fmt::Debug for Mut<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state().value.fmt(f)
    }
}
