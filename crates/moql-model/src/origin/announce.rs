//! [`OriginConsumer`]: watches an origin's broadcasts under a prefix.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::task::Poll;

use moql_sync::{Waiter, WaiterList, poll_fn};
use moql_wire::Path;

use super::{OriginShared, Watcher};
use crate::BroadcastConsumer;

/// A broadcast as an origin announces it.
#[derive(Clone)]
pub struct Announced {
    /// The broadcast's full path in the origin.
    pub path: Path,
    /// The broadcast.
    pub broadcast: BroadcastConsumer,
    /// The route it came by, origin publisher first (empty if produced locally).
    pub hops: Arc<[u64]>,
}

impl fmt::Debug for Announced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Announced")
            .field("path", &self.path)
            .field("hops", &self.hops)
            .finish()
    }
}

/// A change an [`OriginConsumer`] reports.
#[derive(Debug)]
pub enum Announcement {
    /// The broadcasts active when the consumer started watching (possibly none). Always the
    /// first announcement, exactly once (ANNOUNCE_OK's active set).
    Initial(Vec<Announced>),
    /// A broadcast became active.
    Active(Announced),
    /// The broadcast at an active path was replaced by another (a restart).
    Replaced(Announced),
    /// The broadcast at this path ended.
    Ended(Path),
}

/// Watches the broadcasts of an origin whose path has a prefix.
///
/// The first announcement is [`Announcement::Initial`]; then one announcement per change,
/// coalesced per path (a path that went active and ended before being read is not reported;
/// one replaced twice is reported once). Returns `None` once every [`OriginProducer`] is gone
/// and nothing is pending.
///
/// [`OriginProducer`]: crate::OriginProducer
pub struct OriginConsumer {
    shared: Arc<OriginShared>,
    id: u64,
    prefix: Path,
    initial: Option<Vec<Announced>>,
    /// What this consumer last reported for each path: the entry id.
    known: HashMap<Path, u64>,
}

impl OriginConsumer {
    pub(crate) fn new(shared: Arc<OriginShared>, prefix: Path) -> Self {
        let mut state = shared.lock();
        let id = state.next_id();
        let mut initial = Vec::new();
        let mut known = HashMap::new();
        for (path, entry) in state.active() {
            if !path.has_prefix(&prefix) {
                continue;
            }
            known.insert(path.clone(), entry.id);
            initial.push(Announced {
                path: path.clone(),
                broadcast: entry.broadcast.clone(),
                hops: entry.hops.clone(),
            });
        }
        state.watchers.insert(
            id,
            Watcher {
                prefix: prefix.clone(),
                dirty: VecDeque::new(),
                dirty_set: HashSet::new(),
                waiters: WaiterList::new(),
            },
        );
        drop(state);
        Self {
            shared,
            id,
            prefix,
            initial: Some(initial),
            known,
        }
    }

    /// The prefix this consumer watches.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// A new, independent watcher of the broadcasts under `prefix / suffix` (a narrower view
    /// of the same origin, starting with its own initial set). A session uses it to answer
    /// an announce request relative to its root.
    ///
    /// # Errors
    ///
    /// [`PathError`](moql_wire::PathError) if the joined path has too many segments.
    pub fn scope(&self, suffix: &Path) -> Result<Self, moql_wire::PathError> {
        let prefix = self.prefix.join(suffix)?;
        Ok(Self::new(self.shared.clone(), prefix))
    }

    /// The next announcement; `Ready(None)` once the origin has no producer and nothing is
    /// pending.
    pub fn poll_announced(&mut self, waiter: &Waiter) -> Poll<Option<Announcement>> {
        if let Some(initial) = self.initial.take() {
            return Poll::Ready(Some(Announcement::Initial(initial)));
        }
        let mut state = self.shared.lock();
        let producers = state.producers;
        loop {
            let Some(watcher) = state.watchers.get_mut(&self.id) else {
                return Poll::Ready(None);
            };
            let Some(path) = watcher.dirty.pop_front() else {
                if producers == 0 {
                    return Poll::Ready(None);
                }
                watcher.waiters.register(waiter);
                return Poll::Pending;
            };
            watcher.dirty_set.remove(&path);
            let current = state.entry(&path).map(|e| Announced {
                path: path.clone(),
                broadcast: e.broadcast.clone(),
                hops: e.hops.clone(),
            });
            let current_id = state.entry(&path).map(|e| e.id);
            let announcement = match (self.known.get(&path).copied(), current_id, current) {
                (Some(old), Some(new), Some(announced)) if old != new => {
                    Announcement::Replaced(announced)
                }
                (None, Some(_), Some(announced)) => Announcement::Active(announced),
                (Some(_), None, _) => Announcement::Ended(path.clone()),
                _ => continue,
            };
            match current_id {
                Some(id) => self.known.insert(path, id),
                None => self.known.remove(&path),
            };
            return Poll::Ready(Some(announcement));
        }
    }

    /// Waits for the next announcement; see [`poll_announced`](Self::poll_announced).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn announced(&mut self) -> Option<Announcement> {
        poll_fn(|waiter| self.poll_announced(waiter)).await
    }

    /// The broadcast at `path`, if it is published and under this consumer's prefix.
    pub fn broadcast(&self, path: &Path) -> Option<BroadcastConsumer> {
        if !path.has_prefix(&self.prefix) {
            return None;
        }
        self.shared.lock().entry(path).map(|e| e.broadcast.clone())
    }

    /// The paths currently published under this consumer's prefix.
    pub fn paths(&self) -> Vec<Path> {
        self.shared
            .lock()
            .active()
            .map(|(p, _)| p)
            .filter(|p| p.has_prefix(&self.prefix))
            .cloned()
            .collect()
    }
}

impl Drop for OriginConsumer {
    fn drop(&mut self) {
        let removed = self.shared.lock().watchers.remove(&self.id);
        drop(removed);
    }
}

impl fmt::Debug for OriginConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginConsumer")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}
