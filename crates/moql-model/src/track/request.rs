//! [`TrackRequest`]: a consumer asked a broadcast for a track its producer has not created.

use std::fmt;
use std::task::Poll;

use moql_sync::Waiter;

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
