//! [`TrackRequest`]: a consumer asked a broadcast for a track its producer has not created.

use std::fmt;
use std::task::Poll;

use moql_sync::{Waiter, poll_fn};

use crate::track::fetch::FetchRequest;
use crate::{Error, Subscription, TrackInfo, TrackProducer};

/// A track that consumers want and the broadcast's producer has not created yet.
///
/// The producer decides: [`accept`](Self::accept) it with its properties and produce it like
/// any track, [`reject`](Self::reject) it, or answer fetches without ever accepting
/// ([`requested_fetch`](Self::requested_fetch), then [`FetchRequest::serve`]) — a fetch-only
/// track needs no [`TrackInfo`]. A relay turns each request into an upstream
/// TRACK / SUBSCRIBE / FETCH.
///
/// Dropping the request without accepting closes the track: consumers waiting for its info
/// get [`Error::NotFound`].
pub struct TrackRequest {
    producer: TrackProducer,
}

impl TrackRequest {
    pub(crate) fn new(producer: TrackProducer) -> Self {
        Self { producer }
    }

    /// The track's name.
    pub fn name(&self) -> &str {
        self.producer.name()
    }

    /// The combined live subscription of the consumers, if any subscribed.
    pub fn subscription(&self) -> Option<Subscription> {
        self.producer.subscription()
    }

    /// Accepts the track with `info`; consumers waiting for it proceed.
    ///
    /// # Errors
    ///
    /// [`Error::BoundsExceeded`] for invalid info, or the track's close error (every consumer
    /// left and something closed it).
    pub fn accept(self, info: TrackInfo) -> Result<TrackProducer, Error> {
        info.validate()?;
        self.producer.set_info(info)?;
        Ok(self.producer)
    }

    /// Refuses the track: consumers get `err` (e.g. [`Error::NotFound`], or an upstream code).
    pub fn reject(self, err: Error) {
        // Already closed means the consumers already have an answer.
        let _ = self.producer.abort(err);
    }

    /// Resolves once the track's [`TrackInfo`] is wanted: a consumer asked for it
    /// ([`TrackConsumer::wait_info`](crate::TrackConsumer::wait_info)) or subscribed live.
    /// Until then the producer may answer fetches alone, without learning the info (a relay
    /// forwards FETCH upstream with no TRACK round trip first). Pending while neither happened;
    /// `Ready` too once the track is closed, so a waiting producer moves on.
    pub fn poll_info_wanted(&self, waiter: &Waiter) -> Poll<()> {
        self.producer
            .inner
            .poll(waiter, |state| {
                if state.info_wanted || !state.subscribers.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .map(|_| ())
    }

    /// Waits until the track's info is wanted; see [`poll_info_wanted`](Self::poll_info_wanted).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes the consumers' demand.
    pub async fn info_wanted(&self) {
        poll_fn(|waiter| self.poll_info_wanted(waiter)).await
    }

    /// Sets byte limits on the requested track's cache (see
    /// [`TrackProducer::set_cache_limits`]), so groups served for fetches before (or without)
    /// an accept are bounded like any others.
    pub fn set_cache_limits(&self, limits: crate::CacheLimits) {
        self.producer.set_cache_limits(limits);
    }

    /// Yields fetches for this track that the cache could not answer.
    pub fn poll_requested_fetch(&self, waiter: &Waiter) -> Poll<Option<FetchRequest>> {
        self.producer.poll_requested_fetch(waiter)
    }

    /// Waits for the next fetch for this track.
    pub async fn requested_fetch(&self) -> Option<FetchRequest> {
        self.producer.requested_fetch().await
    }

    /// Resolves when no consumer of the requested track is left.
    pub fn poll_unused(&self, waiter: &Waiter) -> Poll<()> {
        self.producer.poll_unused(waiter)
    }

    /// Waits until no consumer of the requested track is left.
    pub async fn unused(&self) {
        self.producer.unused().await
    }
}

impl fmt::Debug for TrackRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackRequest")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}
