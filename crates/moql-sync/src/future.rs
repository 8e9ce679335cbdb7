//! The poll trait for named waits ([`Future`]) and its bridge to `async` ([`Pending`],
//! [`poll_fn`]).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::Waiter;

/// A wait that can be polled through a shared borrow.
///
/// Unlike [`std::future::Future`], `poll` takes `&self` and a [`Waiter`] instead of
/// `Pin<&mut Self>` and a `Context`. That lets a type be polled while other code holds
/// references to it, lets one value be polled from several places, and lets inherent methods
/// (for example a fetch's sequence number) stay callable on it while it is pending.
///
/// Wrap a value in [`Pending`] to `.await` it.
///
/// # Contract
///
/// `poll` returns [`Poll::Pending`] only after registering `waiter` (under the same lock as
/// the state it checked) with every event that could make the next poll return
/// [`Poll::Ready`]; see [`WaiterList`](crate::WaiterList). Polling again after `Ready` is
/// allowed and returns whatever the current state says.
pub trait Future {
    /// What the wait resolves to.
    type Output;

    /// Checks whether the wait is over, registering `waiter` if it is not.
    fn poll(&self, waiter: &Waiter) -> Poll<Self::Output>;

    /// Wraps `self` in [`Pending`] so it can be `.await`ed.
    fn pending(self) -> Pending<Self>
    where
        Self: Sized,
    {
        Pending::new(self)
    }
}

/// Turns a [`Future`] into a [`std::future::Future`].
///
/// It keeps one [`Waiter`] for the whole wait, so repeated polls register the same waiter
/// instead of piling up new ones, and it dereferences to the wrapped value so its inherent
/// methods stay reachable while it is pending.
///
/// Dropping a `Pending` ends the wait: its waiter is discarded from every list at the next
/// compaction, and whatever resource the wrapped value holds is released by its own `Drop`.
///
/// # Cancel safety
///
/// Polling has no side effects beyond registration, so dropping a `Pending` before it
/// completes loses nothing unless the wrapped type says otherwise.
pub struct Pending<F> {
    future: F,
    waiter: Waiter,
}

impl<F> Pending<F> {
    /// Wraps `future`.
    pub fn new(future: F) -> Self {
        Self {
            future,
            waiter: Waiter::new(),
        }
    }

    /// Returns the wrapped value.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Pending<F> {
    /// Polls without a task context: returns the output if it is ready now. Nobody is
    /// registered for a later wake-up.
    pub fn now(&self) -> Option<F::Output> {
        match self.future.poll(&Waiter::noop()) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }
}

// `Pending` never hands out a pinned reference to `future` (it only takes `&F`), so the
// wrapped value is not structurally pinned and moving a `Pending` is always fine.
impl<F> Unpin for Pending<F> {}

impl<F: Future> std::future::Future for Pending<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.into_ref().get_ref();
        this.waiter.set_waker(cx.waker());
        this.future.poll(&this.waiter)
    }
}

impl<F> Deref for Pending<F> {
    type Target = F;

    fn deref(&self) -> &F {
        &self.future
    }
}

impl<F> DerefMut for Pending<F> {
    fn deref_mut(&mut self) -> &mut F {
        &mut self.future
    }
}

impl<F: fmt::Debug> fmt::Debug for Pending<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pending").field(&self.future).finish()
    }
}

/// Creates a [`std::future::Future`] from a poll closure that takes a [`Waiter`].
///
/// This is how the `async fn` counterparts of `poll_*` methods are written: the returned future
/// keeps one waiter across polls, exactly like [`Pending`].
///
/// ```
/// use std::task::Poll;
///
/// let (producer, consumer) = moql_sync::channel::<u32, ()>(0);
/// producer.write().unwrap().clone_from(&7);
/// let seen = futures::executor::block_on(moql_sync::poll_fn(|waiter| {
///     consumer.poll(waiter, |v| if *v == 7 { Poll::Ready(*v) } else { Poll::Pending })
/// }));
/// assert_eq!(seen, Ok(7));
/// ```
pub fn poll_fn<T, F>(f: F) -> PollFn<F>
where
    F: FnMut(&Waiter) -> Poll<T>,
{
    PollFn {
        f,
        waiter: Waiter::new(),
    }
}

/// The future returned by [`poll_fn`].
pub struct PollFn<F> {
    f: F,
    waiter: Waiter,
}

// The closure is only ever called through `&mut`, never pinned.
impl<F> Unpin for PollFn<F> {}

impl<T, F> std::future::Future for PollFn<F>
where
    F: FnMut(&Waiter) -> Poll<T>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        this.waiter.set_waker(cx.waker());
        (this.f)(&this.waiter)
    }
}

impl<F> fmt::Debug for PollFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollFn").finish_non_exhaustive()
    }
}
