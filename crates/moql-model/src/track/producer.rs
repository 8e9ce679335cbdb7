//! [`TrackProducer`]: creates a track's groups and answers its fetches.

use std::fmt;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use moql_sync::{Observer, Producer, Waiter, poll_fn};

use crate::error::from_closed;
use crate::track::fetch::FetchRequest;
use crate::track::state::TrackState;
use crate::{CacheLimits, Error, GroupProducer, Subscription, TrackConsumer, TrackInfo};

/// The writing side of a track: a sequence of groups, possibly created out of order.
///
/// Groups go into the track's cache, from which live subscribers ([`TrackConsumer`]) are
/// served and fetches are answered; non-latest groups leave the cache once older than the
/// track's [`TrackInfo::max_latency`] (see [`crate::cache`]).
///
/// Ending: [`finish`](Self::finish) declares the end (no new groups at or past it; cached
/// groups stay fetchable and subscribers finish once they have everything). [`abort`](Self::abort)
/// ends the track with an error. Dropping the last producer closes the track: a finished track
/// closes cleanly, an unfinished one ends with [`Error::Dropped`].
///
/// Demand flows back: [`requested_fetch`](Self::requested_fetch) yields fetches the cache
/// could not answer, [`subscription`](Self::subscription) is the combined preference of the
/// live subscribers, and [`unused`](Self::unused) resolves when no consumer is left.
#[derive(Clone)]
pub struct TrackProducer {
    pub(crate) inner: Producer<TrackState, Error>,
    name: Arc<str>,
}

impl TrackProducer {
    /// Creates a stand-alone track (not part of a broadcast).
    ///
    /// # Errors
    ///
    /// [`Error::BoundsExceeded`] if `info` is invalid (timescale 0).
    pub fn new(name: impl Into<Arc<str>>, info: TrackInfo) -> Result<Self, Error> {
        info.validate()?;
        Ok(Self::with_info(name.into(), Some(info)))
    }

    pub(crate) fn with_info(name: Arc<str>, info: Option<TrackInfo>) -> Self {
        Self {
            inner: Producer::new(TrackState::new(name.clone(), info)),
            name,
        }
    }

    /// The track's name within its broadcast.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The track's properties (`None` only for a requested track that was not accepted).
    pub fn info(&self) -> Option<TrackInfo> {
        self.inner.read().info
    }

    /// Creates group `sequence` as the live group it is: subscribers receive it, it becomes the
    /// latest if its sequence is the highest, and a fetch waiting for it is answered.
    ///
    /// # Errors
    ///
    /// [`Error::Duplicate`] if a healthy copy is cached, [`Error::BoundsExceeded`] at or past
    /// the declared end, or the track's close error.
    pub fn create_group(&self, sequence: u64) -> Result<GroupProducer, Error> {
        self.create_group_at(sequence, Instant::now())
    }

    /// [`create_group`](Self::create_group) at time `now` (the group's cache age starts there).
    pub(crate) fn create_group_at(
        &self,
        sequence: u64,
        now: Instant,
    ) -> Result<GroupProducer, Error> {
        let mut state = self.inner.write().map_err(from_closed)?;
        state.create_group(sequence, now)
    }

    /// Creates the group after the latest (0 for the first).
    ///
    /// # Errors
    ///
    /// As [`create_group`](Self::create_group).
    pub fn append_group(&self) -> Result<GroupProducer, Error> {
        let mut state = self.inner.write().map_err(from_closed)?;
        let sequence = state.latest.map_or(0, |l| l + 1);
        state.create_group(sequence, Instant::now())
    }

    /// Declares that the track ends after its latest group.
    ///
    /// # Errors
    ///
    /// The track's close error, or [`Error::Closed`] if it was already finished.
    pub fn finish(&self) -> Result<(), Error> {
        let end = self.inner.read().latest.map_or(0, |l| l + 1);
        self.finish_at(end)
    }

    /// Declares the track's exclusive end: no group at or after `end` will exist
    /// (SUBSCRIBE_END's value). Groups below it may still arrive (a relay learns the end before
    /// the last groups' streams).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if already finished, [`Error::BoundsExceeded`] if a group at or past
    /// `end` exists, or the track's close error.
    pub fn finish_at(&self, end: u64) -> Result<(), Error> {
        let mut state = self.inner.write().map_err(from_closed)?;
        if state.end.is_some() {
            return Err(Error::Closed);
        }
        if state.latest.is_some_and(|l| l >= end) {
            return Err(Error::BoundsExceeded);
        }
        state.end = Some(end);
        Ok(())
    }

    /// Ends the track with `err`: subscribers and pending fetches get it.
    ///
    /// A track with byte limits ([`set_cache_limits`](Self::set_cache_limits): a cache that
    /// shares memory, as a relay's does) lets go of its cached groups and its
    /// [`CacheBudget`](crate::CacheBudget) charge at once, since a broadcast table or a
    /// lingering consumer may keep the track's state alive long after and nothing new can be
    /// served from it. Without limits the cached groups stay readable through existing
    /// consumers. Either way, groups already handed to readers stay readable.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the track already ended.
    pub fn abort(&self, err: Error) -> Result<(), Error> {
        let mut state = self.inner.write().map_err(|_| Error::Closed)?;
        if state.limits.is_limited() {
            state.release();
        }
        drop(state);
        self.inner.abort(err).map_err(|_| Error::Closed)
    }

    /// A consumer without a live subscription (for fetches, info, cache reads).
    pub fn consume(&self) -> TrackConsumer {
        TrackConsumer::new(self.inner.consume(), self.name.clone())
    }

    /// A consumer with a live subscription.
    pub fn subscribe(&self, subscription: Subscription) -> TrackConsumer {
        let mut consumer = self.consume();
        consumer.subscribe(subscription);
        consumer
    }

    /// The combined preferences of the live subscribers (spec 11.4); `None` if there is none.
    pub fn subscription(&self) -> Option<Subscription> {
        self.inner.read().subscription()
    }

    /// Resolves with the combined subscription once it differs from `current`.
    pub fn poll_subscription_changed(
        &self,
        waiter: &Waiter,
        current: Option<Subscription>,
    ) -> Poll<Result<Option<Subscription>, Error>> {
        self.inner
            .poll(waiter, |state| {
                let now = state.subscription();
                if now == current {
                    Poll::Pending
                } else {
                    Poll::Ready(now)
                }
            })
            .map(|r| r.map_err(from_closed))
    }

    /// Waits until the combined subscription differs from `current` and returns it.
    ///
    /// # Errors
    ///
    /// The track's close error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only compares the subscription with `current` and consumes nothing; a
    /// change that happens while no future is polled is seen by the next call.
    pub async fn subscription_changed(
        &self,
        current: Option<Subscription>,
    ) -> Result<Option<Subscription>, Error> {
        poll_fn(|waiter| self.poll_subscription_changed(waiter, current)).await
    }

    /// Yields the next fetch the cache could not answer (highest priority first); `None` once
    /// the track is closed.
    ///
    /// Calling it marks the track as served: until a producer has asked once, a fetch that
    /// misses the cache of a track created with [`TrackProducer::new`] or
    /// [`BroadcastProducer::create_track`](crate::BroadcastProducer::create_track) fails with
    /// [`Error::NotFound`] at once, since nobody would answer it.
    pub fn poll_requested_fetch(&self, waiter: &Waiter) -> Poll<Option<FetchRequest>> {
        let polled = self.inner.poll(waiter, |state| {
            state.serves_fetches = true;
            match state.fetches.take_requested() {
                Some(taken) => Poll::Ready((taken, state.timescale())),
                None => Poll::Pending,
            }
        });
        match polled {
            Poll::Ready(Ok((taken, timescale))) => Poll::Ready(Some(FetchRequest::new(
                self.inner.clone(),
                taken,
                timescale,
            ))),
            Poll::Ready(Err(_)) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Declares that this producer answers fetch requests (as calling
    /// [`requested_fetch`](Self::requested_fetch) does), so misses wait for it instead of
    /// failing with [`Error::NotFound`].
    pub fn accept_fetches(&self) {
        if let Ok(mut state) = self.inner.write() {
            state.serves_fetches = true;
        }
    }

    /// Waits for the next fetch the cache could not answer; see
    /// [`poll_requested_fetch`](Self::poll_requested_fetch).
    pub async fn requested_fetch(&self) -> Option<FetchRequest> {
        poll_fn(|waiter| self.poll_requested_fetch(waiter)).await
    }

    /// Serves group `sequence` for fetches (and the cache) without making it a live group, and
    /// without waiting for a request. Frames of a cut-short cached copy are already in the
    /// returned group; write from `frame_count()` on.
    ///
    /// # Errors
    ///
    /// [`Error::Duplicate`] if a healthy copy is cached, [`Error::BoundsExceeded`] for a
    /// timescale of 0 or a sequence at or past the end, or the track's close error.
    pub fn serve_fetch(&self, sequence: u64, timescale: u64) -> Result<GroupProducer, Error> {
        if timescale == 0 {
            return Err(Error::BoundsExceeded);
        }
        let mut state = self.inner.write().map_err(from_closed)?;
        state.serve(sequence, timescale, Instant::now())
    }

    /// Drops cached groups past the publisher's max latency, then any over a byte limit
    /// ([`set_cache_limits`](Self::set_cache_limits)), now (it also happens whenever a group is
    /// created). Returns how many were dropped.
    pub fn evict(&self) -> usize {
        self.evict_at(Instant::now())
    }

    /// [`evict`](Self::evict) with cache ages measured at `now`.
    pub(crate) fn evict_at(&self, now: Instant) -> usize {
        match self.inner.write() {
            Ok(mut state) => state.evict(now),
            Err(_) => 0,
        }
    }

    /// Sets byte limits on this track's cache (see [`CacheLimits`]) and applies them at once.
    /// Limits are checked on every eviction pass, like the time window.
    pub fn set_cache_limits(&self, limits: CacheLimits) {
        if let Ok(mut state) = self.inner.write() {
            state.limits = limits;
            state.evict(Instant::now());
        }
    }

    /// The sequences currently cached, ascending.
    pub fn cached(&self) -> Vec<u64> {
        self.inner.read().cache.keys().copied().collect()
    }

    /// The bytes cached groups are charged: payload plus [`FRAME_OVERHEAD`](crate::FRAME_OVERHEAD)
    /// per frame and [`GROUP_OVERHEAD`](crate::GROUP_OVERHEAD) per group.
    pub fn cached_bytes(&self) -> usize {
        self.inner.read().charged()
    }

    /// The declared exclusive end, if the track is finished.
    pub fn end(&self) -> Option<u64> {
        self.inner.read().end
    }

    /// The latest (highest) live group sequence.
    pub fn latest(&self) -> Option<u64> {
        self.inner.read().latest
    }

    /// Whether the track has ended (finished, aborted or closed): nothing more can be written.
    pub fn is_closed(&self) -> bool {
        self.inner.closed().is_some()
    }

    /// Resolves when no consumer of the track is left.
    pub fn poll_unused(&self, waiter: &Waiter) -> Poll<()> {
        self.inner.poll_unused(waiter)
    }

    /// Waits until no consumer of the track is left.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes the consumer count.
    pub async fn unused(&self) {
        self.inner.unused().await
    }

    pub(crate) fn observe(&self) -> Observer<TrackState, Error> {
        self.inner.observe()
    }

    /// Sets the track's properties (accepting a requested track).
    pub(crate) fn set_info(&self, info: TrackInfo) -> Result<(), Error> {
        let mut state = self.inner.write().map_err(from_closed)?;
        state.info = Some(info);
        Ok(())
    }
}

impl fmt::Debug for TrackProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackProducer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
