//! [`OriginProducer`] and [`OriginConsumer`]: the set of broadcasts a session can see, by
//! path, with prefix-filtered announcements.
//!
//! Who wakes whom: publishing or withdrawing a broadcast marks its path dirty in every
//! watcher whose prefix matches, and wakes only those watchers. A watcher
//! ([`OriginConsumer`]) compares the current entry for each dirty path with what it last
//! reported, so a burst of changes to one path is reported once, as its final state
//! (level-triggered: memory per watcher is bounded by the number of paths, however slowly it
//! reads). A published broadcast that ends is withdrawn by a wake-up from the broadcast
//! itself; no task polls for it.

mod announce;
mod linger;
mod pending;
mod takeover;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use moql_sync::{Waiter, WakeList};
use moql_wire::Path;

pub use announce::{Announced, Announcement, OriginConsumer};
pub use linger::{DEFAULT_LINGER, Departure, Parked};
pub use takeover::{Handoff, takes_over};

use crate::{BroadcastConsumer, Error};
use pending::Watcher;
use watch::CloseWatch;

/// Most routes one path keeps: one per peer that announced it (a session holds one route per
/// path), so this is how many peers may offer the same broadcast at once. A route beyond it is
/// refused with [`Error::BoundsExceeded`] (the peer's announcement is ignored); re-announcing a
/// broadcast that already has a route replaces that route and never counts twice.
pub const MAX_ROUTES_PER_PATH: usize = 32;

/// The default of [`OriginProducer::with_max_broadcasts`]: 100 000 paths, a few hundred MB of
/// announcement state at most, far above any one relay's honest load.
pub const DEFAULT_MAX_BROADCASTS: usize = 100_000;

pub(crate) struct OriginShared {
    state: Mutex<OriginState>,
}

#[derive(Default)]
pub(crate) struct OriginState {
    broadcasts: BTreeMap<Path, Routes>,
    watchers: HashMap<u64, Watcher>,
    next_id: u64,
    producers: usize,
    /// Routes over every path (the sum of each [`Routes`]' length).
    routes: usize,
    /// Most paths with a route; a new path beyond it is refused.
    max_broadcasts: usize,
    /// Broadcasts whose publisher left without ending them, by path (see [`linger`]).
    parked: HashMap<Path, linger::Lingering>,
}

/// What an origin holds right now: for metrics and for tests of its bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OriginStats {
    /// Paths with at least one route.
    pub broadcasts: usize,
    /// Routes over every path (a path learned from several peers has several).
    pub routes: usize,
    /// Live [`OriginConsumer`]s.
    pub watchers: usize,
    /// Changes the watchers have not read yet, summed.
    pub pending: usize,
}

pub(crate) struct Entry {
    pub(crate) id: u64,
    pub(crate) broadcast: BroadcastConsumer,
    pub(crate) hops: Arc<[u64]>,
    /// Who serves this route and gives it up to a newer announcement (see [`takeover`]).
    pub(crate) handoff: Option<Arc<dyn Handoff>>,
    /// Registered with the broadcast's close: withdraws this entry when it ends.
    _watch: Waiter,
}

/// Every route to one path. The active one is the shortest (fewest hops), the earliest among
/// equals, so a relay reaches each broadcast the shortest way it knows and keeps the others
/// as fail-over: when the active route ends, the next one takes over (watchers see
/// [`Announcement::Replaced`]).
#[derive(Default)]
pub(crate) struct Routes(Vec<Entry>);

impl Routes {
    pub(crate) fn active(&self) -> Option<&Entry> {
        self.0.iter().min_by_key(|e| (e.hops.len(), e.id))
    }
}

impl OriginState {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Tells every watcher under whose prefix `path` is that it changed; returns who to wake.
    fn touch(&mut self, path: &Path) -> WakeList {
        let current = self.entry(path).map(|e| e.id);
        let mut wake = WakeList::empty();
        for watcher in self.watchers.values_mut() {
            if path.has_prefix(&watcher.prefix) && watcher.touch(path, current) {
                wake.append(watcher.waiters.take());
            }
        }
        wake
    }

    /// The active route to `path`.
    pub(crate) fn entry(&self, path: &Path) -> Option<&Entry> {
        self.broadcasts.get(path).and_then(Routes::active)
    }

    /// The active route of every path under `prefix` (whole segments), in path order. Visits
    /// only those paths: `prefix` itself, then the range `prefix/` .. `prefix0` ('0' follows
    /// '/'), which holds exactly the paths below it.
    pub(crate) fn active_under<'a>(
        &'a self,
        prefix: &'a Path,
    ) -> impl Iterator<Item = (&'a Path, &'a Entry)> + 'a {
        use std::ops::Bound;
        let all = prefix.is_root();
        let (own, below) = if all {
            (None, self.broadcasts.range::<str, _>(..))
        } else {
            let low = format!("{}/", prefix.as_str());
            let high = format!("{}0", prefix.as_str());
            (
                self.broadcasts.get_key_value(prefix),
                self.broadcasts.range::<str, _>((
                    Bound::Included(low.as_str()),
                    Bound::Excluded(high.as_str()),
                )),
            )
        };
        own.into_iter()
            .chain(below)
            .filter_map(|(path, routes)| routes.active().map(|e| (path, e)))
    }
}

fn lock(shared: &OriginShared) -> MutexGuard<'_, OriginState> {
    match shared.state.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The publishing side of an origin: which broadcasts exist, by path.
///
/// Clones share the origin. Publishing a path that is already published replaces the entry
/// (watchers see [`Announcement::Replaced`]). A published broadcast that ends is withdrawn on
/// its own. When the last producer is dropped, watchers see the end of announcements after
/// the pending ones.
pub struct OriginProducer {
    shared: Arc<OriginShared>,
}

impl OriginProducer {
    /// Creates an empty origin holding at most [`DEFAULT_MAX_BROADCASTS`] paths.
    pub fn new() -> Self {
        Self::with_max_broadcasts(DEFAULT_MAX_BROADCASTS)
    }

    /// Creates an empty origin holding at most `max` paths: publishing at a new path beyond
    /// it fails with [`Error::BoundsExceeded`] (a path that already has a route still takes
    /// more, up to [`MAX_ROUTES_PER_PATH`]). A relay sets it so that the announcements of all
    /// its peers together cannot grow the origin without bound.
    pub fn with_max_broadcasts(max: usize) -> Self {
        Self {
            shared: Arc::new(OriginShared {
                state: Mutex::new(OriginState {
                    producers: 1,
                    max_broadcasts: max,
                    ..OriginState::default()
                }),
            }),
        }
    }

    /// Publishes `broadcast` at `path`, produced here (no hops).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the broadcast already ended.
    pub fn publish(&self, path: &Path, broadcast: BroadcastConsumer) -> Result<(), Error> {
        self.publish_with_hops(path, broadcast, Arc::from([]))
    }

    /// Publishes `broadcast` at `path` with the route it came by: origin publisher first, up
    /// to the peer this origin learned it from (spec 9).
    ///
    /// A route with the same hop list as an existing one replaces it (a restart of the same
    /// source), and so does a route to the same broadcast (the peer moved it to a new chain:
    /// one broadcast never holds two routes). Any other route is added, and the shortest route
    /// is the one consumers see.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the broadcast already ended; [`Error::BoundsExceeded`] if the
    /// route would be the [`MAX_ROUTES_PER_PATH`]+1st at `path`, or `path` would be one path
    /// more than [`with_max_broadcasts`](Self::with_max_broadcasts) allows. Nothing changes on
    /// error.
    pub fn publish_with_hops(
        &self,
        path: &Path,
        broadcast: BroadcastConsumer,
        hops: Arc<[u64]>,
    ) -> Result<(), Error> {
        self.insert(path, broadcast, hops, None)
    }

    /// [`publish_with_hops`](Self::publish_with_hops), with the route's `handoff`.
    fn insert(
        &self,
        path: &Path,
        broadcast: BroadcastConsumer,
        hops: Arc<[u64]>,
        handoff: Option<Arc<dyn Handoff>>,
    ) -> Result<(), Error> {
        let mut state = lock(&self.shared);
        let replaces = |e: &Entry| e.hops == hops || e.broadcast.same_broadcast(&broadcast);
        match state.broadcasts.get(path) {
            None if state.broadcasts.len() >= state.max_broadcasts => {
                return Err(Error::BoundsExceeded);
            }
            Some(routes)
                if routes.0.len() >= MAX_ROUTES_PER_PATH && !routes.0.iter().any(replaces) =>
            {
                return Err(Error::BoundsExceeded);
            }
            _ => {}
        }
        let id = state.next_id();
        let watch = Waiter::with_waker(&Waker::from(Arc::new(CloseWatch::new(
            Arc::downgrade(&self.shared),
            path.clone(),
            id,
        ))));
        if broadcast.poll_closed(&watch).is_ready() {
            return Err(Error::Closed);
        }
        let routes = state.broadcasts.entry(path.clone()).or_default();
        let old: Vec<Entry> = {
            let (same, other): (Vec<Entry>, Vec<Entry>) =
                routes.0.drain(..).partition(|e| replaces(e));
            routes.0 = other;
            same
        };
        routes.0.push(Entry {
            id,
            broadcast,
            hops,
            handoff,
            _watch: watch,
        });
        state.routes = state.routes + 1 - old.len();
        let wake = state.touch(path);
        drop(state);
        drop(old);
        wake.wake();
        tracing::debug!(%path, "broadcast published");
        Ok(())
    }

    /// Withdraws every route to `path`. Returns true if there was one.
    pub fn unpublish(&self, path: &Path) -> bool {
        self.shared.remove(path, None)
    }

    /// The broadcast published at `path`.
    pub fn broadcast(&self, path: &Path) -> Option<BroadcastConsumer> {
        lock(&self.shared).entry(path).map(|e| e.broadcast.clone())
    }

    /// What the origin holds right now (one pass over the watchers, none over the paths).
    pub fn stats(&self) -> OriginStats {
        let state = lock(&self.shared);
        OriginStats {
            broadcasts: state.broadcasts.len(),
            routes: state.routes,
            watchers: state.watchers.len(),
            pending: state.watchers.values().map(Watcher::len).sum(),
        }
    }

    /// The paths published under `prefix`, sorted.
    pub fn paths(&self, prefix: &Path) -> Vec<Path> {
        lock(&self.shared)
            .active_under(prefix)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// A watcher of every broadcast.
    pub fn consume(&self) -> OriginConsumer {
        self.consume_prefix(&Path::root())
    }

    /// A watcher of the broadcasts whose path has `prefix` (whole segments).
    pub fn consume_prefix(&self, prefix: &Path) -> OriginConsumer {
        OriginConsumer::new(self.shared.clone(), prefix.clone())
    }
}

impl OriginShared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, OriginState> {
        lock(self)
    }

    /// Removes every route at `path`, or only route `id`. Returns true if one was removed.
    pub(crate) fn remove(&self, path: &Path, id: Option<u64>) -> bool {
        let mut state = lock(self);
        let Some(routes) = state.broadcasts.get_mut(path) else {
            return false;
        };
        let old: Vec<Entry> = match id {
            Some(id) => {
                let Some(at) = routes.0.iter().position(|e| e.id == id) else {
                    return false;
                };
                vec![routes.0.remove(at)]
            }
            None => std::mem::take(&mut routes.0),
        };
        if routes.0.is_empty() {
            state.broadcasts.remove(path);
        }
        state.routes -= old.len();
        let wake = state.touch(path);
        drop(state);
        drop(old);
        wake.wake();
        tracing::debug!(%path, "broadcast withdrawn");
        true
    }
}

impl Clone for OriginProducer {
    fn clone(&self) -> Self {
        lock(&self.shared).producers += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for OriginProducer {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.producers -= 1;
        if state.producers > 0 {
            return;
        }
        let mut wake = WakeList::empty();
        for watcher in state.watchers.values_mut() {
            wake.append(watcher.waiters.take());
        }
        drop(state);
        wake.wake();
    }
}

impl Default for OriginProducer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OriginProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginProducer")
            .field("broadcasts", &lock(&self.shared).broadcasts.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
