//! Linger and resume on the subscriber half (issue #18): when the session that delivered a
//! peer's broadcasts goes away without ending them, they are parked in the origin
//! ([`OriginProducer::park`]) with the tracks that were open, and a later session announcing
//! the same path takes them back ([`OriginProducer::resume`]).
//!
//! Who decides: every holder of a remote broadcast or track (the announce stream's
//! [`Remote`](super::announce), each track task's guard) asks the same [`Departing`] when it
//! lets go. The session's close is recorded before its tasks are released, so they all see
//! the same verdict: a lingering departure leaves tracks open for the park, any other ends
//! them as before.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use moql_model::{
    BroadcastProducer, Departure, Handoff, OriginProducer, Parked, Path, Subscription,
    TrackProducer,
};
use moql_wire::ErrorCode;
use tokio::sync::watch;

use crate::error::SessionError;

/// How a session's end counts for its broadcasts, from how it closed and whether the peer
/// said GOAWAY first. `None` while the session is open.
pub(crate) fn departure(closed: Option<&SessionError>, goaway: bool) -> Option<Departure> {
    let closed = closed?;
    Some(match closed {
        // A peer that announced it is leaving is expected back, however it then closes.
        _ if goaway => Departure::Moved,
        SessionError::Closed { code, .. } if *code == ErrorCode::CANCEL => Departure::Ended,
        SessionError::Transport(_) => Departure::Vanished,
        _ => Departure::Failed,
    })
}

/// What one session's tasks consult when they let go of a remote broadcast or track.
#[derive(Clone)]
pub(crate) struct Departing {
    closed: watch::Receiver<Option<SessionError>>,
    goaway: watch::Receiver<Option<String>>,
    /// The configured linger ([`SessionConfig::linger`](crate::SessionConfig::linger)).
    linger: Duration,
}

impl Departing {
    pub(crate) fn new(
        closed: watch::Receiver<Option<SessionError>>,
        goaway: watch::Receiver<Option<String>>,
        linger: Duration,
    ) -> Self {
        Self {
            closed,
            goaway,
            linger,
        }
    }

    /// The session's departure, once it has closed.
    pub(crate) fn departure(&self) -> Option<Departure> {
        departure(
            self.closed.borrow().as_ref(),
            self.goaway.borrow().is_some(),
        )
    }

    /// True once the session has closed in a way that parks its broadcasts: tracks are then
    /// left open for the park instead of ended.
    pub(crate) fn lingers(&self) -> bool {
        self.departure()
            .is_some_and(|d| d.linger(self.linger).is_some())
    }

    /// Waits (at most `bound`) until the session's close is recorded, so a task that saw the
    /// transport fail decides with the final verdict. The close cancels the waiting task, so
    /// in practice it never resumes; the bound covers a transport error nobody closes for.
    pub(crate) async fn settled(&self, bound: Duration) {
        let mut closed = self.closed.clone();
        let _ = tokio::time::timeout(bound, closed.wait_for(Option::is_some)).await;
    }

    /// Parks `broadcast` (with `tracks`) at `path` in `origin` if the session's departure
    /// lingers, and arms its expiry; otherwise ends nothing and gives `parked` back (the
    /// caller ends it as before).
    pub(crate) fn park(
        &self,
        origin: &OriginProducer,
        path: &Path,
        parked: Parked,
    ) -> Result<(), Parked> {
        let Some(departure) = self.departure() else {
            return Err(parked);
        };
        let Some(linger) = departure.linger(self.linger) else {
            return Err(parked);
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Nothing would run the expiry: end it now rather than keep it forever.
            return Err(parked);
        };
        let Some(token) = origin.park(path, parked, departure, linger) else {
            return Ok(());
        };
        let (origin, path) = (origin.clone(), path.clone());
        runtime.spawn(async move {
            tokio::time::sleep(linger).await;
            if let Some(parked) = origin.expire(&path, token) {
                parked.end(moql_model::Error::Transport);
            }
        });
        Ok(())
    }
}

/// The open tracks of one remote broadcast, kept so they can be parked with it. Clones share
/// the table; ended tracks are pruned as new ones come.
#[derive(Clone, Default)]
pub(crate) struct Tracks(Arc<Mutex<Vec<TrackProducer>>>);

impl Tracks {
    /// Records `track` as served by this session.
    pub(crate) fn add(&self, track: TrackProducer) {
        if let Ok(mut tracks) = self.0.lock() {
            tracks.retain(|t| !t.is_closed());
            tracks.push(track);
        }
    }

    /// Takes every track still open.
    pub(crate) fn take(&self) -> Vec<TrackProducer> {
        self.0
            .lock()
            .map(|mut tracks| {
                let mut all = std::mem::take(&mut *tracks);
                all.retain(|t| !t.is_closed());
                all
            })
            .unwrap_or_default()
    }
}

/// The sequence shift of a resumed track: the new publisher's group `g` is this track's group
/// `offset + g`. Zero for a track served from its start, and for a new publisher that already
/// continues the track's numbering (see [`shift_for`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Shift(pub(crate) u64);

/// The shift a resumed track takes, from `next` (one past the highest group it held at the
/// resume, 0 if it held none) and `first`, the first group sequence the new publisher sends.
///
/// A publisher that continues past the track's groups (a reconnecting client that kept its
/// own numbering) is not shifted: its sequences already follow. One whose first group would
/// go backwards or collide with a group the track holds (a fresh `moql publish` starts at 0)
/// is shifted past the track's last group, `next + g`, so the track's sequence space stays
/// monotonic (players drop groups older than the latest) whatever it starts at.
pub(crate) fn shift_for(next: u64, first: u64) -> Shift {
    if first >= next { Shift(0) } else { Shift(next) }
}

impl Shift {
    /// The track's sequence of the publisher's group `upstream`.
    pub(crate) fn down(self, upstream: u64) -> u64 {
        upstream.saturating_add(self.0)
    }

    /// `sub` as the publisher numbers groups: its start and end groups shifted back (a start
    /// before the resume asks the new publisher from its first group).
    pub(crate) fn subscription(self, sub: Subscription) -> Subscription {
        Subscription {
            start: sub.start.map(|s| s.saturating_sub(self.0)),
            end: sub.end.map(|e| e.saturating_sub(self.0)),
            ..sub
        }
    }

    /// The publisher's sequence of the track's group `local`; `None` for a group from before
    /// the resume (the new publisher never had it).
    pub(crate) fn up(self, local: u64) -> Option<u64> {
        local.checked_sub(self.0)
    }
}

/// The shift of one served track, decided once by the first group its publisher sends
/// ([`shift_for`]). Clones share the decision: every group stream of the subscription maps
/// its sequence the same way.
#[derive(Clone, Debug)]
pub(crate) struct Shifting {
    /// One past the track's highest group when it was resumed.
    next: u64,
    decided: Arc<OnceLock<Shift>>,
}

impl Shifting {
    /// A track served from its start: nothing to shift.
    pub(crate) fn none() -> Self {
        Self {
            next: 0,
            decided: Arc::new(OnceLock::from(Shift(0))),
        }
    }

    /// A track resumed at a new publisher: the shift waits for its first group.
    pub(crate) fn after(track: &TrackProducer) -> Self {
        Self {
            next: track.latest().map_or(0, |latest| latest.saturating_add(1)),
            decided: Arc::new(OnceLock::new()),
        }
    }

    /// The shift, deciding it from `first` (the publisher's group sequence now arriving) if
    /// no group decided it yet.
    pub(crate) fn decide(&self, first: u64) -> Shift {
        *self.decided.get_or_init(|| shift_for(self.next, first))
    }

    /// The shift decided so far; before the first group, the shift a fresh publisher would
    /// take (what a subscription's range and a FETCH are mapped through meanwhile).
    pub(crate) fn current(&self) -> Shift {
        self.decided.get().copied().unwrap_or(Shift(self.next))
    }
}

/// One remote broadcast as one session serves it: shared by the announce stream's entry, the
/// task answering its track requests and its track tasks. A newer announcement of the path by
/// the same route takes it over ([`Handoff`]): the broadcast and its open tracks move to the
/// new session, and every task here stops touching them.
pub(crate) struct Served {
    broadcast: Mutex<Option<BroadcastProducer>>,
    tracks: Tracks,
    superseded: watch::Sender<bool>,
}

impl Served {
    pub(crate) fn new(broadcast: BroadcastProducer, tracks: Tracks) -> Arc<Self> {
        Arc::new(Self {
            broadcast: Mutex::new(Some(broadcast)),
            tracks,
            superseded: watch::Sender::new(false),
        })
    }

    /// The broadcast, unless it was handed over.
    pub(crate) fn broadcast(&self) -> Option<BroadcastProducer> {
        self.broadcast.lock().ok().and_then(|b| b.clone())
    }

    /// Takes the broadcast for ending or parking it, unless it was handed over.
    pub(crate) fn take(&self) -> Option<BroadcastProducer> {
        self.broadcast.lock().ok().and_then(|mut b| b.take())
    }

    /// The open tracks.
    pub(crate) fn tracks(&self) -> &Tracks {
        &self.tracks
    }

    /// A watch of the handover, for the tasks that must stop at it.
    pub(crate) fn superseded(&self) -> Superseded {
        Superseded(self.superseded.subscribe())
    }
}

impl Handoff for Served {
    fn hand_off(&self) -> Option<Parked> {
        let broadcast = self.take()?;
        // Before the tracks are taken: a group stream checks this before it writes.
        self.superseded.send_replace(true);
        Some(Parked {
            broadcast,
            tracks: self.tracks.take(),
        })
    }
}

/// Whether the broadcast a task serves was handed over to a newer announcement.
#[derive(Clone)]
pub(crate) struct Superseded(watch::Receiver<bool>);

impl Superseded {
    /// True once handed over.
    pub(crate) fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once handed over (never, if the [`Served`] is gone without a handover).
    pub(crate) async fn wait(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|set| *set).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(code: u32) -> SessionError {
        SessionError::Closed {
            code: ErrorCode(code),
            reason: String::new(),
        }
    }

    #[test]
    fn a_lost_connection_lingers_a_normal_close_ends_an_error_close_fails() {
        assert_eq!(departure(None, false), None, "open");
        assert_eq!(
            departure(Some(&SessionError::Transport("timed out".into())), false),
            Some(Departure::Vanished)
        );
        assert_eq!(departure(Some(&closed(0)), false), Some(Departure::Ended));
        assert_eq!(departure(Some(&closed(6)), false), Some(Departure::Failed));
        let violation = SessionError::Protocol {
            code: ErrorCode::PROTOCOL_VIOLATION,
            reason: String::new(),
        };
        assert_eq!(departure(Some(&violation), false), Some(Departure::Failed));
        assert_eq!(
            departure(Some(&closed(0)), true),
            Some(Departure::Moved),
            "GOAWAY first: a restart"
        );
    }

    #[test]
    fn a_shift_keeps_sequences_monotonic_and_maps_fetches_back() {
        let track = TrackProducer::new("v", moql_model::TrackInfo::DEFAULT).unwrap();
        assert_eq!(Shifting::after(&track).decide(0), Shift(0), "nothing held");
        track.create_group(41).unwrap().finish().unwrap();
        let shifting = Shifting::after(&track);
        assert_eq!(
            shifting.current(),
            Shift(42),
            "tentative: a fresh publisher"
        );
        let shift = shifting.decide(0);
        assert_eq!(shift.down(0), 42, "a fresh publisher's group 0 follows 41");
        assert_eq!(
            shifting.decide(100),
            shift,
            "decided once, by the first group"
        );
        assert_eq!(shift.up(43), Some(1));
        assert_eq!(shift.up(41), None, "before the resume");
    }

    #[test]
    fn a_publisher_that_continues_the_numbering_is_not_shifted() {
        assert_eq!(shift_for(42, 42), Shift(0), "exactly the next group");
        assert_eq!(
            shift_for(42, 50),
            Shift(0),
            "past it: a gap of its own, kept"
        );
        assert_eq!(shift_for(42, 41), Shift(42), "a collision");
        assert_eq!(shift_for(42, 0), Shift(42), "backwards: a fresh publisher");
        assert_eq!(shift_for(0, 0), Shift(0), "a track that held nothing");
        let track = TrackProducer::new("v", moql_model::TrackInfo::DEFAULT).unwrap();
        track.create_group(41).unwrap().finish().unwrap();
        let shifting = Shifting::after(&track);
        assert_eq!(shifting.decide(42).down(42), 42);
        assert_eq!(shifting.current(), Shift(0));
    }
}
