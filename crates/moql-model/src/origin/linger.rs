//! Linger and resume: a broadcast whose publisher vanished without ending it stays in the
//! origin for a while, so a publisher that comes back with the same path resumes it and its
//! subscribers never see an end (issue #18).
//!
//! The decision is pure ([`Departure::linger`]); what is kept while a broadcast lingers is a
//! [`Parked`] in the origin, taken back by [`OriginProducer::resume`] or ended by
//! [`OriginProducer::expire`]. The origin has no clock of its own: whoever parks a broadcast
//! arms the timer that calls `expire` (a session does, with tokio).

use std::sync::Arc;
use std::time::Duration;

use moql_wire::Path;

use super::{Handoff, OriginProducer, lock};
use crate::{BroadcastConsumer, BroadcastProducer, Error, TrackProducer};

/// The linger of the previous generation of the reference relay, which this follows: 5 s.
/// Long enough for a publisher process to be restarted by hand or by a supervisor, short
/// enough that a broadcast that is really gone is withdrawn while viewers still wait for it.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);

/// How the publisher of a broadcast left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Departure {
    /// It ended the broadcast: ANNOUNCE `ended`, the announce stream finished, or the session
    /// closed with code 0 (what `moql publish` does at the end of its input and on SIGTERM).
    Ended,
    /// It closed the session with an error code (a refusal, a protocol violation, an expired
    /// token): a decision, not an accident, so nothing waits for it to come back.
    Failed,
    /// The connection was lost: timed out, reset, or the process died (`kill -9`).
    Vanished,
    /// The peer said GOAWAY before closing (spec 4.7): it is restarting or moving, and its
    /// broadcasts are expected back.
    Moved,
}

impl Departure {
    /// How long a broadcast left this way stays announced, given the configured `linger`:
    /// `None` ends it at once. Only a vanished or moved publisher lingers, and a zero
    /// `linger` turns lingering off.
    pub fn linger(self, linger: Duration) -> Option<Duration> {
        match self {
            Self::Vanished | Self::Moved if !linger.is_zero() => Some(linger),
            _ => None,
        }
    }
}

/// A broadcast kept while its publisher is away: the broadcast itself (still published, so
/// watchers see no change) and the tracks that were being served, with their caches and
/// their subscribers' consumers.
#[derive(Debug)]
pub struct Parked {
    /// The broadcast, not ended.
    pub broadcast: BroadcastProducer,
    /// Tracks that were open when the publisher left (ended ones are dropped at parking).
    pub tracks: Vec<TrackProducer>,
}

impl Parked {
    /// Ends the broadcast and its tracks with `err`: what subscribers would have seen at the
    /// departure without a linger.
    pub fn end(self, err: Error) {
        for track in &self.tracks {
            let _ = track.abort(err.clone());
        }
        let _ = self.broadcast.abort(err);
    }
}

/// A parked broadcast in the origin, with the token its expiry timer holds.
pub(super) struct Lingering {
    token: u64,
    parked: Parked,
}

impl OriginProducer {
    /// Parks `parked` at `path` for the linger `departure` earns (see [`Departure::linger`]).
    ///
    /// Returns the token to pass to [`expire`](Self::expire) once `linger` has passed, or
    /// `None` if the broadcast was ended here at once (no linger, or its broadcast already
    /// ended) with [`Error::Transport`] for a vanished publisher and [`Error::Cancel`]
    /// otherwise. A broadcast already parked at `path` is ended (the newer one wins).
    pub fn park(
        &self,
        path: &Path,
        mut parked: Parked,
        departure: Departure,
        linger: Duration,
    ) -> Option<u64> {
        let err = match departure {
            Departure::Vanished | Departure::Moved => Error::Transport,
            _ => Error::Cancel,
        };
        if departure.linger(linger).is_none() || parked.broadcast.consume().closed().is_some() {
            parked.end(err);
            return None;
        }
        parked
            .tracks
            .retain(|t| t.end().is_none() && !t.is_closed());
        let mut state = lock(&self.shared);
        let token = state.next_id();
        let old = state
            .parked
            .insert(path.clone(), Lingering { token, parked });
        drop(state);
        if let Some(old) = old {
            old.parked.end(Error::Transport);
        }
        tracing::debug!(%path, ?departure, "broadcast lingering");
        Some(token)
    }

    /// Takes the broadcast parked at `path`, if any: the caller publishes its routes again and
    /// serves its tracks (the broadcast is still published, so no watcher sees a change).
    pub fn resume(&self, path: &Path) -> Option<Parked> {
        let parked = lock(&self.shared).parked.remove(path).map(|l| l.parked);
        if parked.is_some() {
            tracing::debug!(%path, "broadcast resumed");
        }
        parked
    }

    /// The linger of the broadcast parked at `path` with `token` is over: takes it if it is
    /// still parked (not resumed, not replaced), so the caller ends it.
    pub fn expire(&self, path: &Path, token: u64) -> Option<Parked> {
        let mut state = lock(&self.shared);
        if state.parked.get(path).is_none_or(|l| l.token != token) {
            return None;
        }
        let parked = state.parked.remove(path).map(|l| l.parked);
        drop(state);
        tracing::debug!(%path, "broadcast linger expired");
        parked
    }

    /// Gives the route to `path` that carries `broadcast` a new hop list and a new
    /// `handoff` (its new server, see [`take_over`](Self::take_over)), in place: the entry
    /// keeps its identity, so watchers see no change and downstream peers no new
    /// announcement (a resumed broadcast is the same broadcast to them). Publishes it as a new
    /// route if it has none (its linger ran out meanwhile, or it was never published here).
    ///
    /// # Errors
    ///
    /// As [`publish_with_hops`](Self::publish_with_hops).
    pub fn reroute(
        &self,
        path: &Path,
        broadcast: BroadcastConsumer,
        hops: Arc<[u64]>,
        handoff: Option<Arc<dyn Handoff>>,
    ) -> Result<(), Error> {
        let mut state = lock(&self.shared);
        if let Some(entry) = state.broadcasts.get_mut(path).and_then(|routes| {
            routes
                .0
                .iter_mut()
                .find(|e| e.broadcast.same_broadcast(&broadcast))
        }) {
            entry.hops = hops;
            entry.handoff = handoff;
            return Ok(());
        }
        drop(state);
        self.publish_served(path, broadcast, hops, handoff)
    }

    /// Paths with a broadcast lingering now.
    pub fn lingering(&self) -> Vec<Path> {
        let mut paths: Vec<Path> = lock(&self.shared).parked.keys().cloned().collect();
        paths.sort();
        paths
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::TrackInfo;

    fn path(s: &str) -> Path {
        Path::new(s).unwrap()
    }

    #[test]
    fn only_a_vanished_or_moved_publisher_lingers_and_zero_turns_it_off() {
        let five = Duration::from_secs(5);
        assert_eq!(Departure::Vanished.linger(five), Some(five));
        assert_eq!(Departure::Moved.linger(five), Some(five));
        assert_eq!(Departure::Ended.linger(five), None);
        assert_eq!(Departure::Failed.linger(five), None);
        assert_eq!(Departure::Vanished.linger(Duration::ZERO), None);
    }

    #[test]
    fn a_parked_broadcast_stays_published_and_resumes_with_its_tracks_open() {
        let origin = OriginProducer::new();
        let broadcast = BroadcastProducer::new();
        origin.publish(&path("live"), broadcast.consume()).unwrap();
        let track = broadcast.create_track("v", TrackInfo::DEFAULT).unwrap();
        let consumer = track.consume();
        track.append_group().unwrap().finish().unwrap();
        let parked = Parked {
            broadcast,
            tracks: vec![track],
        };
        let token = origin.park(&path("live"), parked, Departure::Vanished, DEFAULT_LINGER);
        assert!(token.is_some());
        assert!(origin.broadcast(&path("live")).is_some(), "still announced");
        assert_eq!(origin.lingering(), vec![path("live")]);
        let resumed = origin.resume(&path("live")).expect("parked");
        assert_eq!(resumed.tracks.len(), 1);
        // The expiry of a resumed broadcast finds nothing.
        assert!(origin.expire(&path("live"), token.unwrap()).is_none());
        resumed.tracks[0].append_group().unwrap().finish().unwrap();
        assert_eq!(consumer.latest(), Some(1), "the same track goes on");
        assert_eq!(consumer.closed(), None);
    }

    #[test]
    fn an_expired_linger_ends_the_broadcast_and_withdraws_it() {
        let origin = OriginProducer::new();
        let broadcast = BroadcastProducer::new();
        origin.publish(&path("live"), broadcast.consume()).unwrap();
        let track = broadcast.create_track("v", TrackInfo::DEFAULT).unwrap();
        let consumer = track.consume();
        let parked = Parked {
            broadcast,
            tracks: vec![track],
        };
        let token = origin
            .park(&path("live"), parked, Departure::Vanished, DEFAULT_LINGER)
            .unwrap();
        origin
            .expire(&path("live"), token)
            .unwrap()
            .end(Error::Transport);
        assert!(origin.broadcast(&path("live")).is_none(), "withdrawn");
        assert_eq!(consumer.closed(), Some(Err(Error::Transport)));
        assert!(origin.lingering().is_empty());
    }

    #[test]
    fn a_clean_end_ends_at_once() {
        let origin = OriginProducer::new();
        let broadcast = BroadcastProducer::new();
        origin.publish(&path("live"), broadcast.consume()).unwrap();
        let track = broadcast.create_track("v", TrackInfo::DEFAULT).unwrap();
        let consumer = track.consume();
        let parked = Parked {
            broadcast,
            tracks: vec![track],
        };
        assert!(
            origin
                .park(&path("live"), parked, Departure::Ended, DEFAULT_LINGER)
                .is_none()
        );
        assert!(origin.broadcast(&path("live")).is_none());
        assert!(consumer.closed().is_some());
    }
}
