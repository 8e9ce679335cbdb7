//! [`Tasks`]: every task a session spawns, counted and cancelled together, so closing a
//! session leaves nothing running (a test counts them).

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
            }),
        }
    }

    /// Spawns `future`; it is dropped (cancelled) when the session closes.
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.is_cancelled() {
            return;
        }
        self.inner.count.fetch_add(1, Ordering::SeqCst);
        let guard = Guard(self.inner.clone());
        let mut cancel = self.inner.cancel.subscribe();
        tokio::spawn(async move {
            let _guard = guard;
            tokio::select! {
                biased;
                _ = cancel.wait_for(|c| *c) => {}
                _ = future => {}
            }
        });
    }

    /// Cancels every task (idempotent).
    pub(crate) fn cancel(&self) {
        self.inner.cancel.send_replace(true);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        *self.inner.cancel.borrow()
    }

    /// Tasks still running.
    pub(crate) fn count(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst)
    }
}
