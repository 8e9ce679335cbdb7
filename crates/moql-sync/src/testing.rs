//! Test helpers: a waker that counts its wake-ups.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};

/// A waker whose wake-ups can be counted.
pub(crate) struct CountingWaker {
    count: Arc<Counter>,
}

struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    pub(crate) fn new() -> Self {
        Self {
            count: Arc::new(Counter(AtomicUsize::new(0))),
        }
    }

    pub(crate) fn waker(&self) -> Waker {
        Waker::from(self.count.clone())
    }

    pub(crate) fn count(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }
}
