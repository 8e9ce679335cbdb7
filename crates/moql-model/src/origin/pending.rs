//! [`Watcher`]: one [`OriginConsumer`](super::OriginConsumer)'s view of the origin, kept under
//! the origin's lock so that a change can be coalesced against what the consumer last read.

use std::collections::{BTreeMap, HashMap};

use moql_sync::WaiterList;
use moql_wire::Path;

/// What one consumer has been told, and which paths may now differ from it.
///
/// The bound (why a watcher that never reads cannot grow): a path is pending only while the
/// consumer knows it (it was reported active and not yet ended) or it has a route now. A path
/// that becomes active and ends before the consumer reads leaves nothing behind. So
/// `pending ≤ known + active paths under the prefix`, however many changes went by.
pub(crate) struct Watcher {
    pub(crate) prefix: Path,
    /// What the consumer last reported for each path: the route's entry id.
    known: HashMap<Path, u64>,
    /// Pending paths in the order they first changed since the last read: sequence → path.
    order: BTreeMap<u64, Path>,
    /// The same pending paths, path → sequence (to find and drop one in O(log n)).
    pending: HashMap<Path, u64>,
    next: u64,
    pub(crate) waiters: WaiterList,
}

impl Watcher {
    /// A watcher of `prefix` whose consumer was given `known` as its initial set.
    pub(crate) fn new(prefix: Path, known: HashMap<Path, u64>) -> Self {
        Self {
            prefix,
            known,
            order: BTreeMap::new(),
            pending: HashMap::new(),
            next: 0,
            waiters: WaiterList::new(),
        }
    }

    /// Records that `path` changed and now has the route `current` (or none). Returns true if
    /// the consumer has something new to read.
    pub(crate) fn touch(&mut self, path: &Path, current: Option<u64>) -> bool {
        if current.is_some() || self.known.contains_key(path) {
            if !self.pending.contains_key(path) {
                self.next += 1;
                self.order.insert(self.next, path.clone());
                self.pending.insert(path.clone(), self.next);
            }
            true
        } else {
            // Came and went unseen: the consumer has nothing to learn about it.
            if let Some(seq) = self.pending.remove(path) {
                self.order.remove(&seq);
            }
            false
        }
    }

    /// The oldest pending path.
    pub(crate) fn pop(&mut self) -> Option<Path> {
        let (_, path) = self.order.pop_first()?;
        self.pending.remove(&path);
        Some(path)
    }

    /// The route the consumer last reported at `path`.
    pub(crate) fn known(&self, path: &Path) -> Option<u64> {
        self.known.get(path).copied()
    }

    /// Records what the consumer just reported at `path`.
    pub(crate) fn report(&mut self, path: Path, current: Option<u64>) {
        match current {
            Some(id) => self.known.insert(path, id),
            None => self.known.remove(&path),
        };
    }

    /// Paths waiting to be read.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn path(s: &str) -> Path {
        Path::new(s).unwrap()
    }

    #[test]
    fn an_unknown_path_that_ends_unread_is_forgotten() {
        let mut watcher = Watcher::new(Path::root(), HashMap::new());
        assert!(watcher.touch(&path("a"), Some(1)));
        assert!(!watcher.touch(&path("a"), None));
        assert_eq!(watcher.len(), 0);
        assert_eq!(watcher.pop(), None);
    }

    #[test]
    fn a_known_path_stays_pending_until_read_and_order_is_first_change() {
        let mut watcher = Watcher::new(Path::root(), HashMap::from([(path("k"), 1)]));
        assert!(watcher.touch(&path("k"), None));
        assert!(watcher.touch(&path("n"), Some(2)));
        assert!(watcher.touch(&path("k"), Some(3)));
        assert_eq!(watcher.len(), 2);
        assert_eq!(watcher.pop(), Some(path("k")));
        watcher.report(path("k"), Some(3));
        assert_eq!(watcher.known(&path("k")), Some(3));
        assert_eq!(watcher.pop(), Some(path("n")));
        assert_eq!(watcher.pop(), None);
    }
}
