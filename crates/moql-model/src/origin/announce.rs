//! [`OriginConsumer`]: watches an origin's broadcasts under a prefix.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::task::Poll;

use moql_sync::{Waiter, poll_fn};
use moql_wire::Path;

use super::{Entry, OriginShared, OriginState, Routes, Watcher};
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
/// The first announcement is [`Announcement::Initial`]: what is active when it is first
/// polled. Then one announcement per change, coalesced per path (a path that went active and
/// ended before being read is not reported; one replaced twice is reported once). Returns
/// `None` once every [`OriginProducer`] is gone and nothing is pending.
///
/// A consumer costs the origin nothing until its first poll: only then does it register to be
/// told of changes (a session holds one per root and only scopes it, never reads it). Once
/// registered, what it holds unread is bounded by the paths it was told are active plus the
/// paths active under its prefix, however slowly it reads.
///
/// [`OriginProducer`]: crate::OriginProducer
pub struct OriginConsumer {
    shared: Arc<OriginShared>,
    /// The watcher registered at the first poll.
    id: Option<u64>,
    prefix: Path,
}

impl OriginConsumer {
    pub(crate) fn new(shared: Arc<OriginShared>, prefix: Path) -> Self {
        Self {
            shared,
            id: None,
            prefix,
        }
    }

    /// Registers the watcher and takes the initial set (the paths under the prefix only).
    fn start(&mut self) -> Vec<Announced> {
        let mut state = self.shared.lock();
        let id = state.next_id();
        let mut initial = Vec::new();
        let mut known = HashMap::new();
        for (path, entry) in state.active_under(&self.prefix) {
            known.insert(path.clone(), entry.id);
            initial.push(announced(path, entry));
        }
        state
            .watchers
            .insert(id, Watcher::new(self.prefix.clone(), known));
        self.id = Some(id);
        initial
    }

    /// The prefix this consumer watches.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// A new, independent watcher of the broadcasts under `prefix / suffix` (a narrower view
    /// of the same origin, with its own initial set at its first poll). A session uses it to answer
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
        let Some(id) = self.id else {
            return Poll::Ready(Some(Announcement::Initial(self.start())));
        };
        let mut state = self.shared.lock();
        let producers = state.producers;
        let OriginState {
            broadcasts,
            watchers,
            ..
        } = &mut *state;
        let Some(watcher) = watchers.get_mut(&id) else {
            return Poll::Ready(None);
        };
        while let Some(path) = watcher.pop() {
            let current = broadcasts.get(&path).and_then(Routes::active);
            let announcement = match (watcher.known(&path), current) {
                (Some(old), Some(e)) if old != e.id => Announcement::Replaced(announced(&path, e)),
                (None, Some(e)) => Announcement::Active(announced(&path, e)),
                (Some(_), None) => Announcement::Ended(path.clone()),
                _ => continue,
            };
            watcher.report(path, current.map(|e| e.id));
            return Poll::Ready(Some(announcement));
        }
        if producers == 0 {
            return Poll::Ready(None);
        }
        watcher.waiters.register(waiter);
        Poll::Pending
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

    /// The broadcast at `path` by the shortest route whose hop chain does not contain `avoid`
    /// (spec 9: never serve a peer from a route through that peer; `avoid` 0 excludes
    /// nothing), if it is under this consumer's prefix. `None` if every route goes through
    /// `avoid`.
    pub fn broadcast_avoiding(&self, path: &Path, avoid: u64) -> Option<BroadcastConsumer> {
        if !path.has_prefix(&self.prefix) {
            return None;
        }
        let state = self.shared.lock();
        let routes = state.broadcasts.get(path)?;
        routes
            .0
            .iter()
            .filter(|e| avoid == 0 || !e.hops.contains(&avoid))
            .min_by_key(|e| (e.hops.len(), e.id))
            .map(|e| e.broadcast.clone())
    }

    /// Waits until `path` (under this consumer's prefix) has a route that avoids `avoid` (see
    /// [`broadcast_avoiding`](Self::broadcast_avoiding)), and returns that broadcast; at once
    /// if it already has one. `None` if the path is outside the prefix or every
    /// [`OriginProducer`](crate::OriginProducer) is gone.
    ///
    /// Lets a request for a broadcast that is announced a moment later succeed (a viewer that
    /// arrives just before its stream starts). It never gives up on its own: bound it with a
    /// timeout. While it waits it holds one watcher scoped to `path` (what it keeps is bounded
    /// as for any [`OriginConsumer`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it unregisters the watcher.
    pub async fn wait_broadcast(&self, path: &Path, avoid: u64) -> Option<BroadcastConsumer> {
        if !path.has_prefix(&self.prefix) {
            return None;
        }
        let mut watch = Self::new(self.shared.clone(), path.clone());
        // The first poll registers the watcher and takes the initial set, so a broadcast
        // announced between the check below and the next poll still wakes it.
        loop {
            watch.announced().await?;
            if let Some(broadcast) = self.broadcast_avoiding(path, avoid) {
                return Some(broadcast);
            }
        }
    }

    /// The paths currently published under this consumer's prefix.
    pub fn paths(&self) -> Vec<Path> {
        self.shared
            .lock()
            .active_under(&self.prefix)
            .map(|(p, _)| p.clone())
            .collect()
    }
}

fn announced(path: &Path, entry: &Entry) -> Announced {
    Announced {
        path: path.clone(),
        broadcast: entry.broadcast.clone(),
        hops: entry.hops.clone(),
    }
}

impl Drop for OriginConsumer {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let removed = self.shared.lock().watchers.remove(&id);
            drop(removed);
        }
    }
}

impl fmt::Debug for OriginConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginConsumer")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}
