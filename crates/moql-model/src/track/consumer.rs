//! [`TrackConsumer`]: reads a track live and fetches its past groups.

use std::fmt;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use moql_sync::{Closed, Consumer, Future as _, Waiter, poll_fn};

use crate::error::from_closed;
use crate::group::GroupObserver;
use crate::track::fetch::{TrackFetch, TrackFetchPending};
use crate::track::state::TrackState;
use crate::track::subscription::Cursor;
use crate::{Error, Fetch, GroupConsumer, Subscription, TrackInfo};

/// The reading side of a track.
///
/// Two ways to read:
/// - **Live**, with a [`Subscription`]: [`next_group`](Self::next_group) yields groups in
///   arrival order from the latest (or the requested start), skipping groups too old for the
///   subscriber's max latency and holding back groups above its end bound. The producer sees
///   every live subscriber's preferences ([`TrackProducer::subscription`](crate::TrackProducer::subscription)).
/// - **Fetch**: [`fetch`](Self::fetch) one past group by sequence, from the cache or, on a
///   miss, from the producer.
///
/// Clones copy the subscription (as a separate subscriber at the same position). Dropping a
/// consumer ends its subscription; dropping the last one resolves
/// [`TrackProducer::unused`](crate::TrackProducer::unused).
pub struct TrackConsumer {
    inner: Consumer<TrackState, Error>,
    name: Arc<str>,
    live: Option<Live>,
}

#[derive(Clone)]
struct Live {
    id: u64,
    subscription: Subscription,
    cursor: Cursor,
}

impl TrackConsumer {
    pub(crate) fn new(inner: Consumer<TrackState, Error>, name: Arc<str>) -> Self {
        Self {
            inner,
            name,
            live: None,
        }
    }

    /// The track's name within its broadcast.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts (or replaces) this consumer's live subscription, positioned per its start.
    pub fn subscribe(&mut self, subscription: Subscription) {
        let Ok(mut state) = self.inner.write() else {
            // A closed track has no producer to tell; position against what is cached.
            let state = self.inner.read();
            let cursor = Cursor::new(&state, &subscription);
            drop(state);
            self.live = Some(Live {
                id: u64::MAX,
                subscription,
                cursor,
            });
            return;
        };
        let id = match &self.live {
            Some(live) => live.id,
            None => state.next_id(),
        };
        state.subscribers.insert(id, subscription);
        let cursor = Cursor::new(&state, &subscription);
        drop(state);
        self.live = Some(Live {
            id,
            subscription,
            cursor,
        });
    }

    /// Updates the live subscription (spec 5.7): priority, order and max latency apply at
    /// once; a present start raises the delivery floor; a new end re-offers held groups.
    /// Starts a subscription if there is none.
    pub fn update(&mut self, subscription: Subscription) {
        let Some(live) = &mut self.live else {
            self.subscribe(subscription);
            return;
        };
        live.subscription = subscription;
        live.cursor.update(&subscription);
        if let Ok(mut state) = self.inner.write() {
            state.subscribers.insert(live.id, subscription);
        }
    }

    /// Another consumer of the same track without a live subscription (for fetches, info and
    /// cache reads alongside a subscription, without becoming a second subscriber).
    pub fn clone_unsubscribed(&self) -> Self {
        Self::new(self.inner.clone(), self.name.clone())
    }

    /// How many entries the live subscription's record of delivered groups holds (tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn delivered_entries(&self) -> usize {
        self.live
            .as_ref()
            .map_or(0, |l| l.cursor.delivered_entries())
    }

    /// The live subscription, if any.
    pub fn subscription(&self) -> Option<Subscription> {
        self.live.as_ref().map(|l| l.subscription)
    }

    /// The first group this subscription delivered (what SUBSCRIBE_OK reports).
    pub fn first_group(&self) -> Option<u64> {
        self.live.as_ref().and_then(|l| l.cursor.first())
    }

    /// The next live group, `Ready(Ok(None))` once the track finished and everything was
    /// delivered, or the track's error. Starts a default subscription if there is none.
    pub fn poll_next_group(
        &mut self,
        waiter: &Waiter,
    ) -> Poll<Result<Option<GroupConsumer>, Error>> {
        if self.live.is_none() {
            self.subscribe(Subscription::DEFAULT);
        }
        let Some(live) = self.live.as_mut() else {
            return Poll::Ready(Err(Error::Closed));
        };
        let now = Instant::now();
        let mut finished = false;
        let polled = self.inner.poll_mut(waiter, |state| {
            finished = state.end.is_some();
            match live.cursor.next(state, &live.subscription, now) {
                Some(seq) => Poll::Ready(state.cache.get(&seq).map(|e| e.group.clone())),
                None if live.cursor.is_done(state) => Poll::Ready(None),
                None => Poll::Pending,
            }
        });
        match polled {
            Poll::Ready(Ok(Some(group))) => {
                Poll::Ready(Ok(Some(GroupConsumer::from_observer(&group))))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(Ok(None)),
            Poll::Ready(Err(Closed::Dropped)) if finished => Poll::Ready(Ok(None)),
            Poll::Ready(Err(closed)) => Poll::Ready(Err(from_closed(closed))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Waits for the next live group; see [`poll_next_group`](Self::poll_next_group).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a group is only consumed by the poll that returns it.
    pub async fn next_group(&mut self) -> Result<Option<GroupConsumer>, Error> {
        poll_fn(|waiter| self.poll_next_group(waiter)).await
    }

    /// Fetches group `sequence`: resolves at once from the cache (complete or still being
    /// written), otherwise asks the producer and resolves when it serves.
    ///
    /// An aborted or cut-short cached copy is not returned: the producer is asked, and only
    /// for the missing frames (the served group starts with the cached ones). Concurrent
    /// fetches of one sequence share a single request. Dropping the pending handle withdraws
    /// this fetcher's demand.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if `sequence` is at or past a finished track's end, if the track is
    /// closed and the group is not cached, or if its producer never answers fetches (see
    /// [`TrackProducer::requested_fetch`](crate::TrackProducer::requested_fetch)); the track's
    /// error if it was aborted.
    pub fn fetch(
        &self,
        sequence: u64,
        options: impl Into<Option<Fetch>>,
    ) -> Result<TrackFetchPending, Error> {
        self.fetch_at(sequence, options.into().unwrap_or_default(), Instant::now())
    }

    /// [`fetch`](Self::fetch), with a cache hit refreshing the group's age at `now`.
    pub(crate) fn fetch_at(
        &self,
        sequence: u64,
        options: Fetch,
        now: Instant,
    ) -> Result<TrackFetchPending, Error> {
        // A hit refreshes the group's wall-clock age (see `TrackState::refresh`); done in
        // `poll_mut`, which wakes nobody: a refresh is no news to the producer or readers.
        let hit = self.inner.poll_mut(&Waiter::noop(), |state| {
            let hit = state.cache_hit(sequence).cloned();
            if hit.is_some() {
                state.refresh(sequence, now);
            }
            Poll::Ready(hit)
        });
        if let Poll::Ready(Ok(Some(hit))) = hit {
            return Ok(TrackFetch::ready(sequence, hit).pending());
        }
        {
            let state = self.inner.read();
            if state.end.is_some_and(|end| sequence >= end) || !state.serves_fetches {
                return Err(Error::NotFound);
            }
        }
        let mut state = match self.inner.write() {
            Ok(state) => state,
            Err(Closed::Aborted(err)) => return Err(err),
            Err(_) => return Err(Error::NotFound),
        };
        if let Some(hit) = state.cache_hit(sequence) {
            let hit: GroupObserver = hit.clone();
            // Nothing changed: do not wake the producer.
            drop(state);
            return Ok(TrackFetch::ready(sequence, hit).pending());
        }
        let id = match state.fetches.join(sequence, options.priority) {
            Some(id) => id,
            None => {
                let id = state.next_id();
                let prefix = state.cut_short_frames(sequence);
                state.fetches.open(sequence, id, options.priority, prefix);
                id
            }
        };
        drop(state);
        Ok(TrackFetch::slot(sequence, self.inner.clone(), id).pending())
    }

    /// A consumer of cached group `sequence`, without asking the producer.
    pub fn cached_group(&self, sequence: u64) -> Option<GroupConsumer> {
        self.inner
            .read()
            .cache_hit(sequence)
            .map(GroupConsumer::from_observer)
    }

    /// The track's properties, once known.
    pub fn info(&self) -> Option<TrackInfo> {
        self.inner.read().info
    }

    /// Resolves with the track's properties once the producer provides them.
    ///
    /// A requested track that nobody accepts fails with [`Error::NotFound`].
    /// Asking tells a requested track's producer that the info is wanted
    /// ([`TrackRequest::info_wanted`](crate::TrackRequest::info_wanted)); fetches alone do not.
    pub fn poll_info(&self, waiter: &Waiter) -> Poll<Result<TrackInfo, Error>> {
        let ask = {
            let state = self.inner.read();
            state.info.is_none() && !state.info_wanted
        };
        if ask && let Ok(mut state) = self.inner.write() {
            state.info_wanted = true;
        }
        self.inner
            .poll(waiter, |state| match state.info {
                Some(info) => Poll::Ready(info),
                None => Poll::Pending,
            })
            .map(|r| {
                r.map_err(|closed| match closed {
                    Closed::Aborted(err) => err,
                    _ => Error::NotFound,
                })
            })
    }

    /// Waits for the track's properties; see [`poll_info`](Self::poll_info).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if nobody accepts the track, or the producer's rejection.
    pub async fn wait_info(&self) -> Result<TrackInfo, Error> {
        poll_fn(|waiter| self.poll_info(waiter)).await
    }

    /// The latest (highest) live group sequence.
    pub fn latest(&self) -> Option<u64> {
        self.inner.read().latest
    }

    /// The track's exclusive end, once declared.
    pub fn end(&self) -> Option<u64> {
        self.inner.read().end
    }

    /// Resolves with the track's exclusive end once declared, or its error.
    pub fn poll_end(&self, waiter: &Waiter) -> Poll<Result<u64, Error>> {
        self.inner
            .poll(waiter, |state| match state.end {
                Some(end) => Poll::Ready(end),
                None => Poll::Pending,
            })
            .map(|r| r.map_err(from_closed))
    }

    /// The age of cached group `sequence` by the expiration rules (zero for the latest);
    /// `None` if it is not cached.
    pub fn group_age(&self, sequence: u64) -> Option<Duration> {
        // `poll_mut` lets the age computation remember first timestamps without waking anyone.
        let now = Instant::now();
        match self.inner.poll_mut(&Waiter::noop(), |state| {
            Poll::Ready(state.age(sequence, now))
        }) {
            Poll::Ready(Ok(age)) => age,
            _ => None,
        }
    }

    /// The oldest cached group at or above `floor` that a subscriber with `max_latency` may
    /// still receive (the latest always may); `None` if nothing at or above `floor` is cached.
    /// Where a lite-06 subscription begins: its start is only a floor, and its max latency
    /// picks the first group (moq-lite-06.md 6.9).
    pub fn oldest_live(&self, floor: u64, max_latency: Duration) -> Option<u64> {
        let now = Instant::now();
        match self.inner.poll_mut(&Waiter::noop(), |state| {
            Poll::Ready(state.oldest_live(floor, max_latency, now))
        }) {
            Poll::Ready(Ok(sequence)) => sequence,
            _ => None,
        }
    }

    /// True while group `sequence` may still be delivered to this subscriber: it is cached and
    /// the latest, or young enough for the subscription's max latency.
    pub fn is_live(&self, sequence: u64) -> bool {
        let limit = self.subscription().map_or(Duration::MAX, |s| s.max_latency);
        self.group_age(sequence)
            .is_some_and(|age| crate::cache::is_live(age, limit))
    }

    /// True while group `sequence` may still be delivered to a subscriber whose max latency is
    /// `max_latency`: it is cached and the latest, or young enough.
    pub fn is_live_for(&self, sequence: u64, max_latency: Duration) -> bool {
        self.group_age(sequence)
            .is_some_and(|age| crate::cache::is_live(age, max_latency))
    }

    /// How the track ended, if it has: `Some(Ok(()))` for a clean end.
    pub fn closed(&self) -> Option<Result<(), Error>> {
        let finished = self.inner.read().end.is_some();
        self.inner.closed().map(|closed| match closed {
            Closed::Closed => Ok(()),
            Closed::Dropped if finished => Ok(()),
            other => Err(from_closed(other)),
        })
    }

    /// Resolves once the track has closed: `Ok(())` for a clean end.
    pub fn poll_closed(&self, waiter: &Waiter) -> Poll<Result<(), Error>> {
        match self.inner.poll_closed(waiter) {
            Poll::Ready(_) => Poll::Ready(self.closed().unwrap_or(Ok(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Clone for TrackConsumer {
    fn clone(&self) -> Self {
        let mut clone = Self::new(self.inner.clone(), self.name.clone());
        if let Some(live) = &self.live {
            let mut live = live.clone();
            if let Ok(mut state) = self.inner.write() {
                live.id = state.next_id();
                state.subscribers.insert(live.id, live.subscription);
            }
            clone.live = Some(live);
        }
        clone
    }
}

impl Drop for TrackConsumer {
    fn drop(&mut self) {
        if let Some(live) = &self.live
            && let Ok(mut state) = self.inner.write()
        {
            state.subscribers.remove(&live.id);
        }
    }
}

impl fmt::Debug for TrackConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackConsumer")
            .field("name", &self.name)
            .field("subscription", &self.subscription())
            .finish_non_exhaustive()
    }
}
