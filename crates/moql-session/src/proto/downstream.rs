//! Serving one subscription (spec 4.4), as a state machine over named events: when to report
//! the first group (SUBSCRIBE_OK) and the end (SUBSCRIBE_END), when the Subscribe stream may
//! FIN, where a lite-06 subscription starts, and which in-flight groups a lagging subscriber
//! loses. The driver (`publisher/subscribe.rs`) turns [`Event`]s into calls of
//! [`Downstream::on`] and carries out the [`Step`] it returns.

use moql_wire::Version;

/// What happened to the subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// The track produced a group; the driver dispatches it on its own stream.
    Group { sequence: u64 },
    /// The track has no more groups; `end` is its end (exclusive), 0 if it has none.
    TrackEnded { end: u64 },
    /// The track's end became known while groups below it may still come.
    EndKnown { end: u64 },
    /// The track's end can no longer be watched (the track failed; its groups say how).
    EndLost,
    /// A group stream completed (delivered, reset or abandoned).
    GroupDone,
}

/// A message to send on the Subscribe stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// SUBSCRIBE_OK: the first group delivered (lite-05 on).
    Ok { group: u64 },
    /// SUBSCRIBE_END: nothing at or above `group` will be delivered (lite-05 on).
    End { group: u64 },
}

/// What the driver does after an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Step {
    /// Send this first.
    pub(crate) reply: Option<Reply>,
    /// Then FIN the Subscribe stream: the track finished and every group stream opened for
    /// the subscription completed (spec 4.4).
    pub(crate) finish: bool,
}

/// The publisher half's view of one subscription it serves.
#[derive(Clone, Debug)]
pub(crate) struct Downstream {
    version: Version,
    started: bool,
    end_sent: bool,
    end_lost: bool,
    track_done: bool,
    in_flight: usize,
}

impl Downstream {
    pub(crate) fn new(version: Version) -> Self {
        Self {
            version,
            started: false,
            end_sent: false,
            end_lost: false,
            track_done: false,
            in_flight: 0,
        }
    }

    /// Applies `event` and says what to send and whether the stream is done.
    pub(crate) fn on(&mut self, event: Event) -> Step {
        let reply = match event {
            Event::Group { sequence } => {
                self.in_flight += 1;
                let first = !self.started && self.version.has_subscribe_start();
                self.started = true;
                first.then_some(Reply::Ok { group: sequence })
            }
            Event::TrackEnded { end } => {
                self.track_done = true;
                self.end(end)
            }
            Event::EndKnown { end } => self.end(end),
            Event::EndLost => {
                self.end_lost = true;
                None
            }
            Event::GroupDone => {
                self.in_flight = self.in_flight.saturating_sub(1);
                None
            }
        };
        Step {
            reply,
            finish: self.track_done && self.in_flight == 0,
        }
    }

    fn end(&mut self, end: u64) -> Option<Reply> {
        if self.end_sent || !self.version.has_subscribe_end() {
            return None;
        }
        self.end_sent = true;
        Some(Reply::End { group: end })
    }

    /// Whether the track may still produce groups (else stop asking it).
    pub(crate) fn wants_groups(&self) -> bool {
        !self.track_done
    }

    /// Whether an early end of the track is still worth reporting.
    pub(crate) fn wants_end(&self) -> bool {
        !self.end_sent && !self.end_lost && self.version.has_subscribe_end()
    }
}

/// Where a lite-06 subscription starts, if not at the next group to arrive: the oldest cached
/// group the max latency still accepts at or above the floor (`oldest`), unless that is the
/// latest (already where a subscription without a start begins); with nothing cached at or
/// above a named floor, the floor itself (moq-lite-06.md 6.9).
pub(crate) fn resolved_start(
    floor: Option<u64>,
    oldest: Option<u64>,
    latest: Option<u64>,
) -> Option<u64> {
    match oldest {
        Some(oldest) if Some(oldest) == latest && floor.is_none() => None,
        Some(oldest) => Some(oldest),
        None => floor,
    }
}

/// How many of the oldest in-flight groups to drop (reset with Lagged) so the bytes they hold
/// fit in `max`. `held` lists each group's bytes, oldest first. The newest group is always
/// kept, so a subscriber that reads again resumes with fresh data.
pub(crate) fn shed(held: &[usize], max: usize) -> usize {
    let mut total: usize = held.iter().sum();
    let mut dropped = 0;
    while total > max && held.len() - dropped > 1 {
        total = total.saturating_sub(held[dropped]);
        dropped += 1;
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(step: Step) -> Option<Reply> {
        step.reply
    }

    #[test]
    fn the_first_group_is_reported_once_then_fin_after_the_last_stream() {
        let mut down = Downstream::new(Version::Lite05);
        assert_eq!(
            reply(down.on(Event::Group { sequence: 4 })),
            Some(Reply::Ok { group: 4 })
        );
        assert_eq!(down.on(Event::Group { sequence: 5 }), Step::default());
        assert_eq!(
            down.on(Event::TrackEnded { end: 6 }),
            Step {
                reply: Some(Reply::End { group: 6 }),
                finish: false
            },
            "two group streams are still open"
        );
        assert!(!down.wants_groups());
        assert!(!down.on(Event::GroupDone).finish);
        assert_eq!(
            down.on(Event::GroupDone),
            Step {
                reply: None,
                finish: true
            }
        );
    }

    #[test]
    fn an_early_end_is_reported_once() {
        let mut down = Downstream::new(Version::Lite06);
        assert!(down.wants_end());
        assert_eq!(
            reply(down.on(Event::EndKnown { end: 10 })),
            Some(Reply::End { group: 10 })
        );
        assert!(!down.wants_end());
        assert_eq!(down.on(Event::TrackEnded { end: 10 }).reply, None);
        assert!(down.on(Event::TrackEnded { end: 10 }).finish);
    }

    #[test]
    fn a_lost_end_watch_stops_asking_but_the_end_is_still_reported() {
        let mut down = Downstream::new(Version::Lite05);
        down.on(Event::Group { sequence: 0 });
        assert_eq!(down.on(Event::EndLost), Step::default());
        assert!(!down.wants_end(), "a failed watch is not polled again");
        assert_eq!(
            down.on(Event::TrackEnded { end: 1 }).reply,
            Some(Reply::End { group: 1 })
        );
    }

    #[test]
    fn lite04_sends_neither_ok_nor_end() {
        let mut down = Downstream::new(Version::Lite04);
        assert!(!down.wants_end());
        assert_eq!(down.on(Event::Group { sequence: 0 }).reply, None);
        assert_eq!(
            down.on(Event::TrackEnded { end: 1 }),
            Step {
                reply: None,
                finish: false
            }
        );
        assert!(down.on(Event::GroupDone).finish);
    }

    #[test]
    fn an_empty_track_finishes_at_once() {
        let mut down = Downstream::new(Version::Lite05);
        assert_eq!(
            down.on(Event::TrackEnded { end: 0 }),
            Step {
                reply: Some(Reply::End { group: 0 }),
                finish: true
            }
        );
    }

    #[test]
    fn a_lite06_start_is_the_oldest_fresh_group_at_or_above_the_floor() {
        // Max latency reaches back to group 3 of 0..=9.
        assert_eq!(resolved_start(None, Some(3), Some(9)), Some(3));
        assert_eq!(resolved_start(Some(5), Some(5), Some(9)), Some(5));
        // Only the latest is fresh (max latency 0): as any subscription without a start.
        assert_eq!(resolved_start(None, Some(9), Some(9)), None);
        // A named floor above everything cached waits for that group.
        assert_eq!(resolved_start(Some(12), None, Some(9)), Some(12));
        assert_eq!(resolved_start(None, None, None), None);
    }

    #[test]
    fn shedding_drops_the_oldest_and_keeps_the_newest() {
        assert_eq!(shed(&[], 10), 0);
        assert_eq!(shed(&[5, 5], 10), 0);
        assert_eq!(shed(&[5, 5, 5], 10), 1);
        assert_eq!(shed(&[20, 1, 1], 10), 1);
        // The newest stays even when it alone exceeds the budget.
        assert_eq!(shed(&[5, 5, 50], 10), 2);
        assert_eq!(shed(&[50], 0), 0);
    }
}
