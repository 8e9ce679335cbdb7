//! [`CloseWatch`]: withdraws a published broadcast when it ends, driven by the broadcast's own
//! close wake-up instead of a task.

use std::sync::{Arc, Weak};
use std::task::Wake;

use moql_wire::Path;

use super::OriginShared;

/// The waker registered with a published broadcast's close. Waking it removes that entry (and
/// only that entry: a newer publication at the same path is left alone).
pub(super) struct CloseWatch {
    origin: Weak<OriginShared>,
    path: Path,
    id: u64,
}

impl CloseWatch {
    pub(super) fn new(origin: Weak<OriginShared>, path: Path, id: u64) -> Self {
        Self { origin, path, id }
    }
}

impl Wake for CloseWatch {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // The close list is only woken by the close itself, so this is the end of the
        // broadcast. An origin that is gone has nothing to withdraw.
        if let Some(origin) = self.origin.upgrade() {
            origin.remove(&self.path, Some(self.id));
        }
    }
}
