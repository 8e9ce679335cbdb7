//! [`BroadcastProducer`] and [`BroadcastConsumer`]: a named set of tracks from one publisher.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::task::Poll;

use moql_sync::{Closed, Consumer, Observer, Producer, Waiter, poll_fn};

use crate::error::from_closed;
use crate::track::TrackState;
use crate::{Error, Subscription, TrackConsumer, TrackInfo, TrackProducer, TrackRequest};

/// Longest track name, in bytes, a broadcast accepts (created or asked for): 1 KiB.
///
/// The spec bounds a name only by its message (64 KiB); a name is kept as the key of a table
/// entry, and real names are a few words, so 1 KiB leaves ample room while keeping what one
/// request can make a relay or publisher store small.
pub const MAX_TRACK_NAME: usize = 1024;

#[derive(Default)]
pub(crate) struct BroadcastState {
    /// Every track consumers can reach, by name. Observers: the table keeps neither a track
    /// open nor a consumer count up.
    tracks: HashMap<Arc<str>, Observer<TrackState, Error>>,
    /// Tracks consumers asked for that the producer has not looked at yet.
    requests: VecDeque<TrackRequest>,
    /// The table's size after the last [`sweep`](Self::sweep): the next one runs once it has
    /// doubled, so sweeping stays amortised O(1) per insert.
    swept_at: usize,
}

/// The table size below which no sweep runs.
const SWEEP_FLOOR: usize = 16;

impl BroadcastState {
    /// Sweeps the table if it doubled since the last sweep.
    fn maybe_sweep(&mut self) {
        if self.tracks.len() >= 2 * self.swept_at.max(SWEEP_FLOOR) {
            self.sweep();
        }
    }

    /// Removes the entries nothing can use: requests still queued whose every consumer left
    /// (dropping one closes its track), then tracks that ended without a readable cache
    /// (rejected, aborted, dropped unfinished). Without this every request for a new name
    /// would stay in the table for the broadcast's life.
    fn sweep(&mut self) {
        self.requests
            .retain(|request| request.poll_unused(&Waiter::noop()).is_pending());
        self.tracks.retain(|_, track| is_usable(track));
        self.swept_at = self.tracks.len();
    }
}

/// A track in the table can still be handed out: open, or finished cleanly (its cached
/// groups stay readable).
fn is_usable(track: &Observer<TrackState, Error>) -> bool {
    match track.closed() {
        None => true,
        Some(Closed::Dropped) => track.read().end.is_some(),
        Some(Closed::Closed) => true,
        Some(_) => false,
    }
}

/// The publishing side of a broadcast.
///
/// Create tracks with [`create_track`](Self::create_track); learn about tracks consumers want
/// but you have not created with [`requested_track`](Self::requested_track).
///
/// Ending: [`close`](Self::close) (or dropping the last clone) ends the broadcast: no new
/// tracks can be requested, existing tracks go on until their own producers end them.
/// [`abort`](Self::abort) ends it with an error. An [`OriginProducer`](crate::OriginProducer)
/// that published it withdraws it automatically.
#[derive(Clone)]
pub struct BroadcastProducer {
    inner: Producer<BroadcastState, Error>,
}

impl BroadcastProducer {
    /// Creates an empty broadcast.
    pub fn new() -> Self {
        Self {
            inner: Producer::new(BroadcastState::default()),
        }
    }

    /// Creates track `name` with `info`. If a consumer already asked for it (a pending
    /// [`TrackRequest`] nobody took yet), that request is accepted, so its consumers are served.
    ///
    /// # Errors
    ///
    /// [`Error::Duplicate`] if the track exists and is still open, [`Error::BoundsExceeded`]
    /// for invalid info or a name longer than [`MAX_TRACK_NAME`], or the broadcast's close
    /// error.
    pub fn create_track(&self, name: &str, info: TrackInfo) -> Result<TrackProducer, Error> {
        info.validate()?;
        if name.len() > MAX_TRACK_NAME {
            return Err(Error::BoundsExceeded);
        }
        let mut state = self.inner.write().map_err(from_closed)?;
        if let Some(at) = state.requests.iter().position(|r| r.name() == name) {
            let request = state.requests.remove(at).expect("index from position");
            drop(state);
            return request.accept(info);
        }
        if let Some(existing) = state.tracks.get(name)
            && existing.closed().is_none()
        {
            return Err(Error::Duplicate);
        }
        let track = TrackProducer::with_info(Arc::from(name), Some(info));
        state.maybe_sweep();
        state.tracks.insert(Arc::from(name), track.observe());
        Ok(track)
    }

    /// Yields the next track a consumer asked for that does not exist; `None` once the
    /// broadcast is closed.
    pub fn poll_requested_track(&self, waiter: &Waiter) -> Poll<Option<TrackRequest>> {
        self.inner
            .poll(waiter, |state| match state.requests.pop_front() {
                Some(request) => Poll::Ready(request),
                None => Poll::Pending,
            })
            .map(Result::ok)
    }

    /// Waits for the next requested track; see [`poll_requested_track`](Self::poll_requested_track).
    pub async fn requested_track(&self) -> Option<TrackRequest> {
        poll_fn(|waiter| self.poll_requested_track(waiter)).await
    }

    /// A consumer of this broadcast.
    pub fn consume(&self) -> BroadcastConsumer {
        BroadcastConsumer {
            inner: self.inner.consume(),
        }
    }

    /// Ends the broadcast cleanly.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if it already ended.
    pub fn close(&self) -> Result<(), Error> {
        self.inner.close().map_err(|_| Error::Closed)
    }

    /// Ends the broadcast with `err`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if it already ended.
    pub fn abort(&self, err: Error) -> Result<(), Error> {
        self.inner.abort(err).map_err(|_| Error::Closed)
    }

    /// The names of the tracks in the table (created or requested).
    pub fn track_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .read()
            .tracks
            .keys()
            .map(|k| k.to_string())
            .collect();
        names.sort();
        names
    }

    /// Resolves when no consumer of the broadcast is left.
    pub fn poll_unused(&self, waiter: &Waiter) -> Poll<()> {
        self.inner.poll_unused(waiter)
    }

    /// Waits until no consumer of the broadcast is left.
    pub async fn unused(&self) {
        self.inner.unused().await
    }
}

impl Default for BroadcastProducer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for BroadcastProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastProducer")
            .field("tracks", &self.track_names())
            .finish()
    }
}

/// The consuming side of a broadcast: reach its tracks by name.
#[derive(Clone)]
pub struct BroadcastConsumer {
    inner: Consumer<BroadcastState, Error>,
}

impl BroadcastConsumer {
    /// A consumer of track `name` without a live subscription (for fetches and info).
    ///
    /// If the producer has not created the track, it is asked to with a [`TrackRequest`]
    /// and the returned consumer waits for the answer ([`TrackConsumer::wait_info`]). Two
    /// consumers asking for one track share one request.
    ///
    /// The table keeps an entry per name while it can serve someone: entries for tracks that
    /// ended unusable (rejected, aborted) and queued requests nobody waits for any more are
    /// swept whenever the table has doubled since the last sweep, so it stays within twice
    /// its useful size (plus 16).
    ///
    /// # Errors
    ///
    /// [`Error::BoundsExceeded`] for a name longer than [`MAX_TRACK_NAME`];
    /// [`Error::NotFound`] if the broadcast ended and the track is not in its table, or the
    /// broadcast's abort error.
    pub fn track(&self, name: &str) -> Result<TrackConsumer, Error> {
        if name.len() > MAX_TRACK_NAME {
            return Err(Error::BoundsExceeded);
        }
        let mut state = match self.inner.write() {
            Ok(state) => state,
            Err(closed) => {
                // An ended broadcast keeps serving the tracks it has.
                let state = self.inner.read();
                return match state.tracks.get(name).filter(|t| is_usable(t)) {
                    Some(track) => Ok(TrackConsumer::new(track.consume(), Arc::from(name))),
                    None => Err(match closed {
                        Closed::Aborted(err) => err,
                        _ => Error::NotFound,
                    }),
                };
            }
        };
        if let Some(track) = state.tracks.get(name).filter(|t| is_usable(t)) {
            return Ok(TrackConsumer::new(track.consume(), Arc::from(name)));
        }
        let name: Arc<str> = Arc::from(name);
        let producer = TrackProducer::with_info(name.clone(), None);
        let consumer = producer.consume();
        state.maybe_sweep();
        state.tracks.insert(name, producer.observe());
        state.requests.push_back(TrackRequest::new(producer));
        Ok(consumer)
    }

    /// A consumer of track `name` with a live subscription.
    ///
    /// # Errors
    ///
    /// As [`track`](Self::track).
    pub fn subscribe_track(
        &self,
        name: &str,
        subscription: Subscription,
    ) -> Result<TrackConsumer, Error> {
        let mut consumer = self.track(name)?;
        consumer.subscribe(subscription);
        Ok(consumer)
    }

    /// How the broadcast ended, if it has: `Some(Ok(()))` for a clean end.
    pub fn closed(&self) -> Option<Result<(), Error>> {
        self.inner.closed().map(|closed| match closed {
            Closed::Aborted(err) => Err(err),
            _ => Ok(()),
        })
    }

    /// Resolves once the broadcast has ended (`Ok` for a clean end or a dropped producer).
    pub fn poll_closed(&self, waiter: &Waiter) -> Poll<Result<(), Error>> {
        self.inner.poll_closed(waiter).map(|closed| match closed {
            Closed::Aborted(err) => Err(err),
            _ => Ok(()),
        })
    }

    /// Waits until the broadcast has ended.
    pub async fn wait_closed(&self) -> Result<(), Error> {
        poll_fn(|waiter| self.poll_closed(waiter)).await
    }

    /// Returns true if both handles refer to the same broadcast.
    pub fn same_broadcast(&self, other: &Self) -> bool {
        self.inner.same_channel(&other.inner)
    }
}

impl fmt::Debug for BroadcastConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastConsumer").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use futures::executor::block_on;

    use super::*;

    #[test]
    fn consumers_reach_created_tracks_by_name() {
        let broadcast = BroadcastProducer::new();
        let track = broadcast.create_track("video", TrackInfo::DEFAULT).unwrap();
        let consumer = broadcast.consume().track("video").unwrap();
        assert_eq!(consumer.info(), Some(TrackInfo::DEFAULT));
        track.append_group().unwrap().finish().unwrap();
        assert_eq!(consumer.latest(), Some(0));
        assert_eq!(
            broadcast.create_track("video", TrackInfo::DEFAULT).err(),
            Some(Error::Duplicate)
        );
    }

    #[test]
    fn an_unknown_track_becomes_a_request_the_producer_can_accept() {
        let broadcast = BroadcastProducer::new();
        let consumer = broadcast.consume();
        let first = consumer.track("audio").unwrap();
        let second = consumer.track("audio").unwrap();
        assert_eq!(first.info(), None);
        let request = block_on(broadcast.requested_track()).unwrap();
        assert_eq!(request.name(), "audio");
        assert!(
            broadcast.poll_requested_track(&Waiter::noop()).is_pending(),
            "two consumers share one request"
        );
        let info = TrackInfo {
            timescale: 48_000,
            ..TrackInfo::DEFAULT
        };
        let track = request.accept(info).unwrap();
        assert_eq!(block_on(first.wait_info()), Ok(info));
        assert_eq!(block_on(second.wait_info()), Ok(info));
        drop(track);
    }

    #[test]
    fn a_request_learns_whether_its_info_is_wanted_fetches_alone_do_not_ask() {
        let broadcast = BroadcastProducer::new();
        let fetcher = broadcast.consume().track("v").unwrap();
        let request = block_on(broadcast.requested_track()).unwrap();
        // A fetch is answered without the info: no TRACK round trip for it.
        let pending = fetcher.fetch(3, None).unwrap();
        let fetch = block_on(request.requested_fetch()).unwrap();
        assert!(request.poll_info_wanted(&Waiter::noop()).is_pending());
        fetch.serve().unwrap().finish().unwrap();
        assert_eq!(block_on(pending).unwrap().sequence(), 3);
        assert!(request.poll_info_wanted(&Waiter::noop()).is_pending());

        // Asking for the info (or subscribing) wakes the request.
        let waiting = std::thread::spawn(move || {
            block_on(request.info_wanted());
            request
        });
        assert!(fetcher.poll_info(&Waiter::noop()).is_pending());
        let request = waiting.join().unwrap();
        assert!(request.poll_info_wanted(&Waiter::noop()).is_ready());

        let other = BroadcastProducer::new();
        let mut live = other.consume().track("a").unwrap();
        let request = block_on(other.requested_track()).unwrap();
        assert!(request.poll_info_wanted(&Waiter::noop()).is_pending());
        live.subscribe(Subscription::DEFAULT);
        assert!(request.poll_info_wanted(&Waiter::noop()).is_ready());
    }

    #[test]
    fn create_track_accepts_a_pending_request() {
        let broadcast = BroadcastProducer::new();
        let consumer = broadcast.consume().track("meta").unwrap();
        let track = broadcast.create_track("meta", TrackInfo::DEFAULT).unwrap();
        assert_eq!(block_on(consumer.wait_info()), Ok(TrackInfo::DEFAULT));
        drop(track);
    }

    #[test]
    fn rejected_and_ignored_requests_fail_their_consumers() {
        let broadcast = BroadcastProducer::new();
        let consumer = broadcast.consume();
        let rejected = consumer.track("a").unwrap();
        let ignored = consumer.track("b").unwrap();
        block_on(broadcast.requested_track())
            .unwrap()
            .reject(Error::Remote(moql_wire::ErrorCode::app(3)));
        drop(block_on(broadcast.requested_track()).unwrap());
        assert_eq!(
            block_on(rejected.wait_info()),
            Err(Error::Remote(moql_wire::ErrorCode::app(3)))
        );
        assert_eq!(block_on(ignored.wait_info()), Err(Error::NotFound));
    }

    #[test]
    fn an_ended_broadcast_serves_existing_tracks_but_no_new_ones() {
        let broadcast = BroadcastProducer::new();
        let track = broadcast.create_track("video", TrackInfo::DEFAULT).unwrap();
        let group = track.append_group().unwrap();
        group.write(0, "x").unwrap();
        group.finish().unwrap();
        track.finish().unwrap();
        let consumer = broadcast.consume();
        drop(broadcast);
        assert_eq!(consumer.closed(), Some(Ok(())));
        assert_eq!(consumer.track("other").err(), Some(Error::NotFound));
        let video = consumer.track("video").unwrap();
        let mut fetched = block_on(video.fetch(0, None).unwrap()).unwrap();
        assert_eq!(block_on(fetched.read_all()).unwrap().len(), 1);
        drop(track);
    }

    #[test]
    fn requested_track_ends_when_the_broadcast_closes() {
        let broadcast = BroadcastProducer::new();
        let clone = broadcast.clone();
        clone.close().unwrap();
        assert!(block_on(broadcast.requested_track()).is_none());
    }

    #[test]
    fn refused_requests_for_unknown_names_leave_the_table() {
        let broadcast = BroadcastProducer::new();
        let _known = broadcast.create_track("video", TrackInfo::DEFAULT).unwrap();
        let consumer = broadcast.consume();
        for i in 0..1000 {
            let asked = consumer.track(&format!("unknown-{i}")).unwrap();
            block_on(broadcast.requested_track())
                .unwrap()
                .reject(Error::NotFound);
            assert_eq!(block_on(asked.wait_info()), Err(Error::NotFound));
        }
        let names = broadcast.track_names();
        assert!(names.len() <= 64, "{} names kept", names.len());
        assert!(names.contains(&"video".to_string()));
    }

    #[test]
    fn abandoned_requests_leave_the_table_and_the_queue() {
        let broadcast = BroadcastProducer::new();
        let consumer = broadcast.consume();
        for i in 0..1000 {
            drop(consumer.track(&format!("gone-{i}")).unwrap());
        }
        let waiting = consumer.track("wanted").unwrap();
        assert!(broadcast.track_names().len() <= 64);
        let mut queued = Vec::new();
        while let Poll::Ready(Some(request)) = broadcast.poll_requested_track(&Waiter::noop()) {
            queued.push(request.name().to_string());
        }
        assert!(queued.len() <= 64, "{} requests queued", queued.len());
        assert!(queued.contains(&"wanted".to_string()));
        drop(waiting);
    }

    #[test]
    fn a_track_name_longer_than_the_cap_is_refused() {
        let broadcast = BroadcastProducer::new();
        let long = "x".repeat(MAX_TRACK_NAME + 1);
        assert_eq!(
            broadcast.consume().track(&long).err(),
            Some(Error::BoundsExceeded)
        );
        assert_eq!(
            broadcast.create_track(&long, TrackInfo::DEFAULT).err(),
            Some(Error::BoundsExceeded)
        );
        assert!(broadcast.track_names().is_empty());
        let longest = "x".repeat(MAX_TRACK_NAME);
        assert!(broadcast.consume().track(&longest).is_ok());
    }
}
