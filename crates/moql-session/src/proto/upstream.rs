//! One remote track's upstream subscription (spec 4.4), as a state machine over named events:
//! what the subscriber half does when local demand changes, the publisher answers, the
//! publisher FINs, or nobody has wanted the track for a while. The driver
//! (`subscriber/track.rs`) turns [`Event`]s into calls of [`Upstream::on`] and carries out
//! the [`Action`] it returns; nothing here touches a stream.

use moql_model::{Error, Subscription};
use moql_wire::ErrorCode;

use crate::error::StreamError;

/// What happened to the track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// The combined preferences of the local consumers changed; `None` when none is left.
    Demand(Option<Subscription>),
    /// SUBSCRIBE_END: the publisher will deliver nothing at or above `group` (exclusive,
    /// spec 5.6). Groups below it may still be in flight.
    Ended { group: u64 },
    /// The publisher FINned its side: every group stream of the subscription completed
    /// before it (spec 4.4).
    Finished,
    /// Nobody consumed the track for its linger time.
    Idle,
}

/// What the driver does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing to send.
    None,
    /// Open a Subscribe stream with this subscription (routing its ID first: group streams
    /// may arrive before SUBSCRIBE_OK, spec 4.4).
    Open(Subscription),
    /// Send SUBSCRIBE_UPDATE on the open stream.
    Update(Subscription),
    /// FIN our side of the open stream ("Unsubscribe = FIN of the subscriber's side",
    /// spec 4.4) and stop routing its ID; the track stays, a later demand opens a new one.
    Unsubscribe,
    /// Let the group streams still being read land, stop routing, then end the track: at
    /// `end` (exclusive) if the publisher declared one, else at what it has.
    End { declared_end: Option<u64> },
    /// FIN the open stream if any and close the track (cleanly: later consumers ask again).
    Close,
}

/// How a track whose task stops without a verdict (the session closed under it) ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The publisher's FIN was read: end cleanly at its declared end.
    FinishAt(u64),
    /// The publisher's FIN was read, no end declared: end cleanly where it is.
    Finish,
    /// No FIN: the transport failed under the track.
    Abort,
}

/// The subscriber half's view of one upstream subscription.
#[derive(Clone, Debug, Default)]
pub(crate) struct Upstream {
    /// What the open Subscribe stream carries; `None` when none is open.
    open: Option<Subscription>,
    /// The publisher FINned: the track ended and no new subscription opens.
    finished: bool,
    /// The end SUBSCRIBE_END declared, applied at the FIN.
    declared_end: Option<u64>,
}

impl Upstream {
    /// Applies `event` and says what to do about it.
    pub(crate) fn on(&mut self, event: Event) -> Action {
        match event {
            Event::Demand(wanted) => self.demand(wanted),
            Event::Ended { group } => {
                self.declared_end = Some(group);
                Action::None
            }
            Event::Finished => {
                self.finished = true;
                self.open = None;
                Action::End {
                    declared_end: self.declared_end,
                }
            }
            Event::Idle => {
                self.open = None;
                Action::Close
            }
        }
    }

    fn demand(&mut self, wanted: Option<Subscription>) -> Action {
        match (self.open, wanted) {
            // A finished track stays finished: nothing more will come from upstream.
            (None, Some(_)) if self.finished => Action::None,
            (None, Some(sub)) => {
                self.open = Some(sub);
                Action::Open(sub)
            }
            (Some(current), Some(sub)) if current != sub => {
                self.open = Some(sub);
                Action::Update(sub)
            }
            (Some(_), None) => {
                self.open = None;
                Action::Unsubscribe
            }
            _ => Action::None,
        }
    }

    /// Whether a Subscribe stream is open.
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// How the track ends if its task stops now without having ended it.
    pub(crate) fn ending(&self) -> Ending {
        match (self.finished, self.declared_end) {
            (true, Some(end)) => Ending::FinishAt(end),
            (true, None) => Ending::Finish,
            (false, _) => Ending::Abort,
        }
    }
}

/// What the track fails with when its Subscribe stream fails: a RESET 0 means "no longer
/// needed" (spec 3.2), the publisher dropped the subscription, so consumers see a cancel.
pub(crate) fn failure(err: StreamError) -> StreamError {
    match err {
        StreamError::Reset(ErrorCode::CANCEL) => StreamError::Model(Error::Cancel),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sub(priority: u8) -> Subscription {
        Subscription {
            priority,
            ..Subscription::default()
        }
    }

    #[test]
    fn demand_opens_updates_and_unsubscribes() {
        let mut up = Upstream::default();
        assert_eq!(up.on(Event::Demand(Some(sub(1)))), Action::Open(sub(1)));
        assert!(up.is_open());
        // The same combined preferences again: nothing to say.
        assert_eq!(up.on(Event::Demand(Some(sub(1)))), Action::None);
        assert_eq!(up.on(Event::Demand(Some(sub(2)))), Action::Update(sub(2)));
        let later = Subscription {
            max_latency: Duration::from_millis(500),
            ..sub(2)
        };
        assert_eq!(up.on(Event::Demand(Some(later))), Action::Update(later));
        assert_eq!(up.on(Event::Demand(None)), Action::Unsubscribe);
        assert!(!up.is_open());
        assert_eq!(up.on(Event::Demand(None)), Action::None);
        // Demand after an unsubscribe opens a fresh stream.
        assert_eq!(up.on(Event::Demand(Some(sub(3)))), Action::Open(sub(3)));
    }

    #[test]
    fn the_declared_end_is_applied_at_the_fin() {
        let mut up = Upstream::default();
        up.on(Event::Demand(Some(sub(0))));
        assert_eq!(up.on(Event::Ended { group: 7 }), Action::None);
        assert_eq!(
            up.ending(),
            Ending::Abort,
            "no FIN yet: the end is not final"
        );
        assert_eq!(
            up.on(Event::Finished),
            Action::End {
                declared_end: Some(7)
            }
        );
        assert_eq!(up.ending(), Ending::FinishAt(7));
    }

    #[test]
    fn a_finished_track_never_subscribes_again() {
        let mut up = Upstream::default();
        up.on(Event::Demand(Some(sub(0))));
        assert_eq!(up.on(Event::Finished), Action::End { declared_end: None });
        assert_eq!(up.ending(), Ending::Finish);
        assert!(!up.is_open());
        assert_eq!(up.on(Event::Demand(Some(sub(1)))), Action::None);
        assert_eq!(up.on(Event::Demand(None)), Action::None);
    }

    #[test]
    fn idle_closes_whatever_is_open() {
        let mut up = Upstream::default();
        up.on(Event::Demand(Some(sub(0))));
        assert_eq!(up.on(Event::Idle), Action::Close);
        assert!(!up.is_open());
        assert_eq!(up.ending(), Ending::Abort);
    }

    #[test]
    fn a_publisher_reset_0_is_a_cancel() {
        assert!(matches!(
            failure(StreamError::Reset(ErrorCode::CANCEL)),
            StreamError::Model(Error::Cancel)
        ));
        assert!(matches!(
            failure(StreamError::Reset(ErrorCode::NOT_FOUND)),
            StreamError::Reset(ErrorCode::NOT_FOUND)
        ));
    }
}
