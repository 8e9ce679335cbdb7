//! FETCH of one past group: the consumer's pending handle ([`TrackFetch`]) and the
//! producer's request ([`FetchRequest`]).
//!
//! Where a fetch travels: [`TrackConsumer::fetch`](crate::TrackConsumer::fetch) first looks
//! in the track's cache; a healthy copy (complete or still being written) resolves at once.
//! Otherwise it registers demand in the track's [`FetchSlots`](super::slots::FetchSlots) —
//! one slot per sequence, shared by every concurrent fetcher of that group — and the producer
//! learns of it through `requested_fetch` (a [`FetchRequest`]). Two ways serve a fetch:
//! [`FetchRequest::serve`] answers a request, and
//! [`TrackProducer::serve_fetch`](crate::TrackProducer::serve_fetch) serves a group nobody
//! asked for yet; either creates a [`GroupProducer`] that is also put in the cache, so later
//! fetches hit (a live group of that sequence answers a waiting fetch too). Dropping the last
//! pending fetch withdraws the demand; the request's [`FetchRequest::unused`] then resolves.

use std::fmt;
use std::task::Poll;
use std::time::Instant;

use moql_sync::{Closed, Consumer, Pending, Producer, Waiter, poll_fn};

use crate::error::from_closed;
use crate::group::GroupObserver;
use crate::track::slots::Taken;
use crate::track::state::TrackState;
use crate::{Error, GroupConsumer, GroupProducer};

/// A fetch that resolves to the group's [`GroupConsumer`]; `.await` it as a
/// [`TrackFetchPending`].
///
/// Dropping it withdraws this fetcher's demand; the last fetcher of a sequence withdraws the
/// request from the producer.
pub struct TrackFetch {
    sequence: u64,
    kind: Kind,
}

enum Kind {
    /// Resolved at creation (cache hit).
    Ready(GroupObserver),
    /// Waiting on a fetch slot of the track.
    Slot {
        track: Consumer<TrackState, Error>,
        id: u64,
    },
}

/// The pending handle [`TrackConsumer::fetch`](crate::TrackConsumer::fetch) returns.
///
/// # Cancel safety
///
/// Polling it by reference (`&mut pending` in a `select!`) and dropping that poll loses
/// nothing. Dropping the handle itself withdraws the demand (see [`TrackFetch`]): the group
/// is not lost (a producer that already served it keeps it in the cache), but this fetch is.
pub type TrackFetchPending = Pending<TrackFetch>;

impl TrackFetch {
    pub(crate) fn ready(sequence: u64, group: GroupObserver) -> Self {
        Self {
            sequence,
            kind: Kind::Ready(group),
        }
    }

    pub(crate) fn slot(sequence: u64, track: Consumer<TrackState, Error>, id: u64) -> Self {
        Self {
            sequence,
            kind: Kind::Slot { track, id },
        }
    }

    /// The group sequence being fetched.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// True if the group came from the cache without asking the producer.
    pub fn is_cache_hit(&self) -> bool {
        matches!(self.kind, Kind::Ready(_))
    }
}

impl moql_sync::Future for TrackFetch {
    type Output = Result<GroupConsumer, Error>;

    fn poll(&self, waiter: &Waiter) -> Poll<Self::Output> {
        let (track, id) = match &self.kind {
            Kind::Ready(group) => return Poll::Ready(Ok(GroupConsumer::from_observer(group))),
            Kind::Slot { track, id } => (track, *id),
        };
        let sequence = self.sequence;
        let mut finished = false;
        let polled = track.poll(waiter, |state| {
            finished = state.end.is_some();
            state.fetches.poll(sequence, id)
        });
        match polled {
            Poll::Ready(Ok(Ok(group))) => Poll::Ready(Ok(GroupConsumer::from_observer(&group))),
            Poll::Ready(Ok(Err(err))) => Poll::Ready(Err(err)),
            // The track ended while we waited: nobody is left to serve it.
            Poll::Ready(Err(Closed::Dropped)) if finished => Poll::Ready(Err(Error::NotFound)),
            Poll::Ready(Err(closed)) => Poll::Ready(Err(from_closed(closed))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for TrackFetch {
    fn drop(&mut self) {
        let Kind::Slot { track, id } = &self.kind else {
            return;
        };
        // A closed track cannot be written; its slots die with it.
        if let Ok(mut state) = track.write() {
            state.fetches.leave(self.sequence, *id);
        }
    }
}

impl fmt::Debug for TrackFetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackFetch")
            .field("sequence", &self.sequence)
            .field("cache_hit", &self.is_cache_hit())
            .finish()
    }
}

/// A fetch of one group that consumers want and the cache could not answer.
///
/// Serve it ([`serve`](Self::serve)) with a group whose frames the producer then writes,
/// starting at frame [`frame_start`](Self::frame_start) (earlier frames are already there when
/// a cut-short cached copy is being resumed), or [`reject`](Self::reject) it. Dropping it
/// without either rejects it with [`Error::Dropped`].
///
/// [`unused`](Self::unused) resolves when every fetcher has given up, so a producer can stop
/// (for example cancel an upstream request).
pub struct FetchRequest {
    track: Producer<TrackState, Error>,
    sequence: u64,
    id: u64,
    priority: u8,
    frame_start: usize,
    timescale: u64,
    done: bool,
}

impl FetchRequest {
    pub(crate) fn new(track: Producer<TrackState, Error>, taken: Taken, timescale: u64) -> Self {
        Self {
            track,
            sequence: taken.sequence,
            id: taken.id,
            priority: taken.priority,
            frame_start: taken.frame_start,
            timescale,
            done: false,
        }
    }

    /// The group sequence wanted.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The highest priority among the fetchers when the request was handed out.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The first frame the server must provide: frames before it are already cached from a
    /// copy that was cut short, and the served group starts with them (resume).
    pub fn frame_start(&self) -> usize {
        self.frame_start
    }

    /// Serves the fetch with the track's timescale (1000 for a track without
    /// [`TrackInfo`](crate::TrackInfo)).
    ///
    /// Write frames from [`frame_start`](Self::frame_start) on to the returned group, then
    /// finish it.
    ///
    /// # Errors
    ///
    /// [`Error::Duplicate`] if a healthy copy appeared in the cache meanwhile (the fetchers get
    /// that copy; nothing more to do), [`Error::BoundsExceeded`] at or past the track's end, or
    /// the track's close error.
    pub fn serve(self) -> Result<GroupProducer, Error> {
        self.serve_at(Instant::now())
    }

    /// [`serve`](Self::serve), with the served group's cache age counted from `now`.
    pub(crate) fn serve_at(mut self, now: Instant) -> Result<GroupProducer, Error> {
        self.done = true;
        let mut state = self.track.write().map_err(from_closed)?;
        state.serve(self.sequence, self.timescale, now)
    }

    /// Refuses the fetch: every fetcher of this sequence gets `err`.
    pub fn reject(mut self, err: Error) {
        self.done = true;
        self.resolve_rejected(err);
    }

    fn resolve_rejected(&self, err: Error) {
        if let Ok(mut state) = self.track.write() {
            state.fetches.reject(self.sequence, self.id, err);
        }
    }

    /// Resolves once no fetcher wants this group any more (or the track closed).
    pub fn poll_unused(&self, waiter: &Waiter) -> Poll<()> {
        let (sequence, id) = (self.sequence, self.id);
        let polled = self.track.poll(waiter, |state| {
            if state.fetches.is_wanted(sequence, id) {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        });
        polled.map(|_| ())
    }

    /// Waits until no fetcher wants this group any more.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes the fetchers' demand; the request stays unanswered and
    /// can still be served or rejected.
    pub async fn unused(&self) {
        poll_fn(|waiter| self.poll_unused(waiter)).await
    }
}

impl Drop for FetchRequest {
    fn drop(&mut self) {
        if !self.done {
            self.resolve_rejected(Error::Dropped);
        }
    }
}

impl fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchRequest")
            .field("sequence", &self.sequence)
            .field("priority", &self.priority)
            .field("frame_start", &self.frame_start)
            .finish()
    }
}
