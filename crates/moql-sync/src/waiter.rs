//! [`Waiter`] and [`WaiterList`]: registering interest from a poll function and waking it.
//!
//! The protocol that rules out lost wake-ups: a poll function checks the shared state and, if
//! it must wait, registers its [`Waiter`] in a [`WaiterList`] **while holding the same lock** a
//! notifier takes to change that state. A notifier changes the state, takes the list
//! ([`WaiterList::take`]) under the lock, releases the lock and only then wakes
//! ([`WakeList`]). A registration therefore either sees the new state or is in the list the
//! notifier takes.

use std::fmt;
use std::task::Waker;

use crate::sync::{Arc, Mutex, lock};

/// The handle a poll function registers to be woken later.
///
/// A `Waiter` is cheap to clone (one reference count) and holds the [`Waker`] of the task that
/// is currently waiting. The task updates the waker before every poll
/// ([`Waiter::set_waker`]); a wake-up always uses the newest waker, so a task that moved to
/// another executor thread is still found.
///
/// [`Pending`](crate::Pending) keeps one `Waiter` alive across polls, which is what lets a
/// [`WaiterList`] recognise repeated registrations of the same wait.
#[derive(Clone)]
pub struct Waiter {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    waker: Mutex<Option<Waker>>,
}

impl Waiter {
    /// Creates a waiter that has no waker yet; registering it is harmless until
    /// [`set_waker`](Self::set_waker) gives it one.
    pub fn new() -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                waker: Mutex::new(None),
            })),
        }
    }

    /// Creates a waiter that wakes `waker`.
    pub fn with_waker(waker: &Waker) -> Self {
        let waiter = Self::new();
        waiter.set_waker(waker);
        waiter
    }

    /// A waiter that is never woken and never stored: for a one-shot check of a poll function
    /// ("is it ready right now?") where nobody will wait for the answer.
    pub const fn noop() -> Self {
        Self { inner: None }
    }

    /// Returns true for [`Waiter::noop`].
    pub fn is_noop(&self) -> bool {
        self.inner.is_none()
    }

    /// Replaces the waker to use on the next wake-up (a no-op if it would wake the same task).
    pub fn set_waker(&self, waker: &Waker) {
        if let Some(inner) = &self.inner {
            let mut slot = lock(&inner.waker);
            match &*slot {
                Some(current) if current.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
    }

    /// Wakes the task behind this waiter, if it has one. Waking never consumes the waker: the
    /// same waiter can be woken again after it registers again.
    pub fn wake(&self) {
        if let Some(inner) = &self.inner {
            inner.wake();
        }
    }

    /// Returns true if both handles are the same waiter.
    pub fn same(&self, other: &Self) -> bool {
        match (&self.inner, &other.inner) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Inner {
    fn wake(&self) {
        // Clone out of the lock so a waker that re-enters this waiter cannot deadlock.
        let waker = lock(&self.waker).clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Default for Waiter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("noop", &self.is_noop())
            .finish()
    }
}

/// The waiters interested in one event, kept inside the state that the event changes.
///
/// Keep one list per event ("a value was written", "the last consumer left", …) so that an
/// event wakes only the waiters that care about it.
///
/// Registering the same [`Waiter`] twice in a row is stored once. Entries whose waiter was
/// dropped, and duplicates left by a waiter that was polled again without being woken (for
/// example inside a `select!`), are removed when the list has doubled since it was last
/// compacted, so a list holds at most about twice as many entries as live distinct waiters.
#[derive(Default)]
pub struct WaiterList {
    entries: Vec<Arc<Inner>>,
    compact_at: usize,
}

/// The smallest list length that triggers a compaction; below it a linear scan costs more
/// than the duplicates it would remove.
const MIN_COMPACT: usize = 16;

impl WaiterList {
    /// Creates an empty list.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
            compact_at: MIN_COMPACT,
        }
    }

    /// Registers `waiter` to be woken by the next [`take`](Self::take). Call it while holding
    /// the lock that guards the state this list belongs to. A [`Waiter::noop`] is ignored.
    pub fn register(&mut self, waiter: &Waiter) {
        let Some(inner) = &waiter.inner else {
            return;
        };
        if let Some(last) = self.entries.last()
            && Arc::ptr_eq(last, inner)
        {
            return;
        }
        if self.entries.len() >= self.compact_at.max(MIN_COMPACT) {
            self.compact();
        }
        self.entries.push(inner.clone());
    }

    /// Removes every waiter and returns them to be woken after the lock is released.
    pub fn take(&mut self) -> WakeList {
        self.compact_at = MIN_COMPACT;
        WakeList {
            entries: std::mem::take(&mut self.entries),
        }
    }

    /// The number of registrations currently held (duplicates not yet compacted included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns true if nobody is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn compact(&mut self) {
        // A strong count of one means only this list still holds the waiter: its wait is over.
        self.entries.retain(|entry| Arc::strong_count(entry) > 1);
        self.entries
            .sort_unstable_by_key(|entry| Arc::as_ptr(entry) as usize);
        self.entries.dedup_by(|a, b| Arc::ptr_eq(a, b));
        self.compact_at = self.entries.len() * 2;
    }
}

impl fmt::Debug for WaiterList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaiterList")
            .field("len", &self.entries.len())
            .finish()
    }
}

/// Waiters taken from a [`WaiterList`], woken when this value is dropped (or by
/// [`wake`](Self::wake)).
///
/// Waking on drop means a taken list can never be forgotten; drop it **after** releasing the
/// lock so woken tasks do not immediately contend on it.
#[must_use = "dropping a WakeList wakes it; drop it after releasing the lock"]
pub struct WakeList {
    entries: Vec<Arc<Inner>>,
}

impl WakeList {
    /// An empty list.
    pub const fn empty() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Wakes every waiter now.
    pub fn wake(self) {
        drop(self);
    }

    /// Adds the waiters of `other` to this list.
    pub fn append(&mut self, mut other: Self) {
        self.entries.append(&mut other.entries);
    }

    /// The number of waiters that will be woken.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns true if nobody will be woken.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        for entry in self.entries.drain(..) {
            entry.wake();
        }
    }
}

impl fmt::Debug for WakeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WakeList")
            .field("len", &self.entries.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::testing::CountingWaker;

    #[test]
    fn take_wakes_every_registered_waiter_once() {
        let counters: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
        let waiters: Vec<_> = counters
            .iter()
            .map(|c| Waiter::with_waker(&c.waker()))
            .collect();
        let mut list = WaiterList::new();
        for w in &waiters {
            list.register(w);
        }
        list.take().wake();
        for c in &counters {
            assert_eq!(c.count(), 1);
        }
        assert!(list.is_empty());
        list.take().wake();
        for c in &counters {
            assert_eq!(
                c.count(),
                1,
                "a taken list is empty until waiters register again"
            );
        }
    }

    #[test]
    fn repeated_registration_is_stored_once() {
        let counter = CountingWaker::new();
        let waiter = Waiter::with_waker(&counter.waker());
        let mut list = WaiterList::new();
        for _ in 0..1_000 {
            list.register(&waiter);
        }
        assert_eq!(list.len(), 1);
        list.take().wake();
        assert_eq!(counter.count(), 1);
    }

    #[test]
    fn interleaved_duplicates_and_dropped_waiters_are_compacted() {
        let a = Waiter::new();
        let b = Waiter::new();
        let mut list = WaiterList::new();
        for i in 0..10_000 {
            list.register(&a);
            list.register(&b);
            let gone = Waiter::new();
            list.register(&gone);
            assert!(
                list.len() <= 2 * MIN_COMPACT + 2 * 3,
                "iteration {i}: {}",
                list.len()
            );
        }
    }

    #[test]
    fn noop_waiter_is_never_stored() {
        let mut list = WaiterList::new();
        list.register(&Waiter::noop());
        assert!(list.is_empty());
    }

    #[test]
    fn wake_uses_the_newest_waker() {
        let old = CountingWaker::new();
        let new = CountingWaker::new();
        let waiter = Waiter::with_waker(&old.waker());
        let mut list = WaiterList::new();
        list.register(&waiter);
        waiter.set_waker(&new.waker());
        list.take().wake();
        assert_eq!((old.count(), new.count()), (0, 1));
    }

    #[test]
    fn dropping_a_wake_list_wakes_it() {
        let counter = CountingWaker::new();
        let waiter = Waiter::with_waker(&counter.waker());
        let mut list = WaiterList::new();
        list.register(&waiter);
        let taken = list.take();
        assert_eq!(counter.count(), 0);
        drop(taken);
        assert_eq!(counter.count(), 1);
    }
}
