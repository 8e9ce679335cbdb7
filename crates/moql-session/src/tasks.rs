//! [`Tasks`]: every task a session spawns, counted and cancelled together, so closing a
//! session leaves nothing running (a test counts them).
//!
//! Cancelling and releasing are two steps. [`cancel`](Tasks::cancel) stops polling every task
//! at once; [`release`](Tasks::release) drops them. In between, a cancelled task's streams
//! stay open: dropping a stream resets or stops it, and those frames must not reach the peer
//! before the session close does (the close goes first, then the release, once the
//! transport is down and the resets go nowhere).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

/// The session's task set. Clones share it.
#[derive(Clone)]
pub(crate) struct Tasks {
    inner: Arc<Inner>,
}

struct Inner {
    count: AtomicUsize,
    cancel: watch::Sender<bool>,
    release: watch::Sender<bool>,
}

/// Decrements the count when a task ends, however it ends.
struct Guard(Arc<Inner>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Tasks {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                count: AtomicUsize::new(0),
                cancel: watch::Sender::new(false),
                release: watch::Sender::new(false),
            }),
        }
    }

    /// Spawns `future`. Once the session is cancelled it is polled no more; it is dropped
    /// (with its streams) on [`release`](Self::release), and counted until then.
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.is_released() {
            return;
        }
        self.inner.count.fetch_add(1, Ordering::SeqCst);
        let guard = Guard(self.inner.clone());
        let mut cancel = self.inner.cancel.subscribe();
        let mut release = self.inner.release.subscribe();
        tokio::spawn(async move {
            let _guard = guard;
            let mut future = std::pin::pin!(future);
            tokio::select! {
                biased;
                _ = cancel.wait_for(|c| *c) => {}
                _ = &mut future => return,
            }
            // Cancelled: hold the future, unpolled, until the release drops it.
            let _ = release.wait_for(|r| *r).await;
        });
    }

    /// Cancels every task: none is polled again (idempotent).
    pub(crate) fn cancel(&self) {
        self.inner.cancel.send_replace(true);
    }

    /// Cancels every task and drops them, closing their streams (idempotent).
    pub(crate) fn release(&self) {
        self.cancel();
        self.inner.release.send_replace(true);
    }

    fn is_released(&self) -> bool {
        *self.inner.release.borrow()
    }

    /// Tasks still running.
    pub(crate) fn count(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst)
    }
}
