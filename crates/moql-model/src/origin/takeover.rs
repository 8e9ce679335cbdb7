//! Takeover: a newer announcement of a path, by the same route as the one serving it, takes
//! the broadcast over at once (issue #18).
//!
//! Why: a publisher killed with `kill -9` and started again reaches the relay long before the
//! relay notices the old connection is dead (the QUIC idle timeout, 30 s by default). Without
//! a takeover the new announcement would be a second route and every subscriber would stay
//! on the dead one until then. As the reference origin ranks routes (newest first among
//! otherwise identical ones), the newer announcement wins the moment it lands, and the open
//! tracks continue from it through the same machinery as a resume after a linger
//! ([`Parked`]): consumers never see the swap.
//!
//! What "the same route" means here is [`takes_over`] (pure). The old route is dropped, not
//! kept as a fallback: its server hands over the broadcast itself (the origin's entry), stops
//! feeding its tracks and forgets the path, so its late groups never interleave with the new
//! ones. A publisher that really is still alive is ignored from then on until it announces
//! again (and then takes the path back the same way).

use std::sync::Arc;

use moql_wire::Path;

use super::{OriginProducer, Parked, lock};
use crate::{BroadcastConsumer, Error};

/// The server of one route: whoever feeds the broadcast published there (a session, for the
/// broadcasts it learned from its peer).
pub trait Handoff: Send + Sync + 'static {
    /// Gives the broadcast up to a newer announcement of its path: stops feeding it and its
    /// tracks at once (a group that arrives later is dropped, never written), leaves them open,
    /// and returns them. `None` if it has nothing to give (it ended, or already handed it
    /// over).
    fn hand_off(&self) -> Option<Parked>;
}

/// Whether a new announcement whose hop chain is `new` takes over the route `current` (both
/// origin publisher first): the same number of hops and the same hops after the first one,
/// so the same way into this origin from a publisher that may have restarted (a restarted
/// publisher names a fresh ID of its own). For a direct publisher (one hop) that is any
/// other direct publisher; through a cluster peer it is the same relays in the same order.
/// A broadcast published here (no hops) is never taken over.
pub fn takes_over(current: &[u64], new: &[u64]) -> bool {
    !current.is_empty() && current.len() == new.len() && current[1..] == new[1..]
}

impl OriginProducer {
    /// Takes over the active route to `path` for an announcement that came by `hops`, if
    /// [`takes_over`] says it does and the route's server can hand it over: returns the
    /// broadcast and its open tracks, still published, for the caller to serve from now on
    /// and give its own hops and handoff with [`reroute`](Self::reroute).
    pub fn take_over(&self, path: &Path, hops: &[u64]) -> Option<Parked> {
        let handoff = {
            let state = lock(&self.shared);
            let entry = state.entry(path)?;
            if !takes_over(&entry.hops, hops) {
                return None;
            }
            entry.handoff.clone()?
        };
        // Outside the lock: the server takes its own locks to stop.
        let parked = handoff.hand_off()?;
        tracing::debug!(%path, tracks = parked.tracks.len(), "route taken over");
        Some(parked)
    }

    /// Publishes `broadcast` at `path` like [`publish_with_hops`](Self::publish_with_hops),
    /// with the `handoff` that serves it, so a newer announcement can take it over.
    ///
    /// # Errors
    ///
    /// As [`publish_with_hops`](Self::publish_with_hops).
    pub fn publish_served(
        &self,
        path: &Path,
        broadcast: BroadcastConsumer,
        hops: Arc<[u64]>,
        handoff: Option<Arc<dyn Handoff>>,
    ) -> Result<(), Error> {
        self.insert(path, broadcast, hops, handoff)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{BroadcastProducer, TrackInfo, TrackProducer};

    fn path(s: &str) -> Path {
        Path::new(s).unwrap()
    }

    #[test]
    fn the_same_way_in_from_a_restarted_publisher_takes_over() {
        assert!(takes_over(&[7], &[9]), "a direct publisher, restarted");
        assert!(takes_over(&[7], &[7]), "the same publisher ID again");
        assert!(takes_over(&[7, 3], &[9, 3]), "through the same peer");
        assert!(takes_over(&[7, 3, 4], &[9, 3, 4]));
        assert!(!takes_over(&[7, 3], &[9, 5]), "through another peer");
        assert!(
            !takes_over(&[7, 3], &[9]),
            "a shorter route is a different route"
        );
        assert!(!takes_over(&[7], &[9, 3]), "a longer one too");
        assert!(!takes_over(&[], &[9]), "published here: never taken over");
        assert!(!takes_over(&[], &[]));
    }

    /// A server that hands over what it holds once.
    struct Server(Mutex<Option<Parked>>);

    impl Handoff for Server {
        fn hand_off(&self) -> Option<Parked> {
            self.0.lock().unwrap().take()
        }
    }

    fn served(origin: &OriginProducer, hops: &[u64]) -> (BroadcastProducer, TrackProducer) {
        let broadcast = BroadcastProducer::new();
        let track = broadcast.create_track("v", TrackInfo::DEFAULT).unwrap();
        let server = Server(Mutex::new(Some(Parked {
            broadcast: broadcast.clone(),
            tracks: vec![track.clone()],
        })));
        origin
            .publish_served(
                &path("live"),
                broadcast.consume(),
                Arc::from(hops),
                Some(Arc::new(server)),
            )
            .unwrap();
        (broadcast, track)
    }

    #[test]
    fn a_newer_announcement_by_the_same_route_takes_the_broadcast_and_its_tracks() {
        let origin = OriginProducer::new();
        let (broadcast, track) = served(&origin, &[7]);
        let consumer = track.consume();
        track.create_group(4).unwrap().finish().unwrap();
        let watched = origin.broadcast(&path("live")).unwrap();

        assert!(
            origin.take_over(&path("live"), &[9, 3]).is_none(),
            "another route"
        );
        let parked = origin.take_over(&path("live"), &[9]).expect("taken over");
        assert!(parked.broadcast.consume().same_broadcast(&watched));
        assert_eq!(parked.tracks.len(), 1);
        assert!(
            origin.take_over(&path("live"), &[11]).is_none(),
            "handed over once"
        );
        origin
            .reroute(
                &path("live"),
                parked.broadcast.consume(),
                Arc::from([9u64]),
                None,
            )
            .unwrap();
        assert_eq!(origin.stats().routes, 1, "the same route, not a second one");
        assert!(
            origin
                .broadcast(&path("live"))
                .is_some_and(|b| b.same_broadcast(&watched)),
            "watchers see the same broadcast"
        );
        parked.tracks[0].create_group(5).unwrap().finish().unwrap();
        assert_eq!(consumer.latest(), Some(5), "the same track goes on");
        assert_eq!(consumer.closed(), None);
        drop(broadcast);
    }

    #[test]
    fn a_route_without_a_server_or_published_here_is_not_taken_over() {
        let origin = OriginProducer::new();
        let local = BroadcastProducer::new();
        origin.publish(&path("live"), local.consume()).unwrap();
        assert!(origin.take_over(&path("live"), &[9]).is_none());
        let remote = BroadcastProducer::new();
        origin
            .publish_with_hops(&path("other"), remote.consume(), Arc::from([7u64]))
            .unwrap();
        assert!(
            origin.take_over(&path("other"), &[9]).is_none(),
            "no handoff"
        );
        assert!(origin.take_over(&path("none"), &[9]).is_none(), "no route");
    }
}
