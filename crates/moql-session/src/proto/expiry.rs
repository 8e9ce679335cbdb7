//! What a publisher does with a group that fell out of its subscriber's max latency.
//!
//! The released reference enforces Subscriber Max Latency (moq-lite-06.md 10.5, "Max Age"
//! there) only where it costs the receiver nothing, and this engine does the same on every
//! version: a stale group is skipped before its stream opens; an open stream is reset (Old)
//! only while it is behind, i.e. a write waits for flow-control credit; a stream that has
//! written everything the group holds and waits for the producer is ended with a FIN. A
//! flowing group therefore completes. This matters because the previous generation of
//! released clients subscribes with max latency 0 and ends its whole subscription on any
//! group reset.
//!
//! Two choices differ from the reference, each to lose less for the receiver:
//! - **Grace before a FIN.** The reference FINs a caught-up stale group at the first check.
//!   A relay often sees group N+1's first frame a moment before group N's last frame or FIN
//!   (they travel on different streams), so a FIN at the first check could silently cut
//!   group N short. Here the group must be found stale and idle at two checks in a row.
//! - **No reset after the FIN.** The reference also resets a stale stream whose FIN is not
//!   yet acknowledged. Everything is written by then; a reset could only destroy a group the
//!   receiver is about to complete, so the stream is released instead (the transport still
//!   delivers what it holds).

/// Where serving a group stands when its staleness is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No stream opened yet.
    Unopened,
    /// Everything the group holds is written; waiting for the producer's next frame or end.
    /// `stale_before`: the previous check also found it stale, and no frame came since.
    CaughtUp { stale_before: bool },
    /// A write waits for flow-control credit: the receiver is behind.
    Blocked,
    /// The FIN is sent; waiting for the peer to acknowledge everything.
    Finishing,
}

/// What to do with the group after a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Keep serving as before.
    Serve,
    /// Do not open a stream for it at all (no SUBSCRIBE_DROP either, as the reference).
    Skip,
    /// End the stream cleanly with what was written (FIN).
    Finish,
    /// Reset the stream with Old.
    Reset,
    /// Stop waiting for the acknowledgement; leave the finished stream to the transport.
    Release,
}

/// The decision for a group in `phase` that is (`stale`) or is not past the subscriber's max
/// latency.
pub(crate) fn verdict(phase: Phase, stale: bool) -> Verdict {
    if !stale {
        return Verdict::Serve;
    }
    match phase {
        Phase::Unopened => Verdict::Skip,
        Phase::CaughtUp {
            stale_before: false,
        } => Verdict::Serve,
        Phase::CaughtUp { stale_before: true } => Verdict::Finish,
        Phase::Blocked => Verdict::Reset,
        Phase::Finishing => Verdict::Release,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Phase; 5] = [
        Phase::Unopened,
        Phase::CaughtUp {
            stale_before: false,
        },
        Phase::CaughtUp { stale_before: true },
        Phase::Blocked,
        Phase::Finishing,
    ];

    #[test]
    fn a_fresh_group_is_always_served() {
        for phase in ALL {
            assert_eq!(verdict(phase, false), Verdict::Serve, "{phase:?}");
        }
    }

    #[test]
    fn a_stale_group_is_skipped_before_its_stream_opens() {
        assert_eq!(verdict(Phase::Unopened, true), Verdict::Skip);
    }

    #[test]
    fn only_a_stream_that_is_behind_is_reset() {
        let resets: Vec<Phase> = ALL
            .into_iter()
            .filter(|&p| verdict(p, true) == Verdict::Reset)
            .collect();
        assert_eq!(resets, [Phase::Blocked]);
    }

    #[test]
    fn a_caught_up_stale_group_is_finished_after_one_check_of_grace() {
        assert_eq!(
            verdict(
                Phase::CaughtUp {
                    stale_before: false
                },
                true
            ),
            Verdict::Serve
        );
        assert_eq!(
            verdict(Phase::CaughtUp { stale_before: true }, true),
            Verdict::Finish
        );
    }

    #[test]
    fn a_finished_stream_is_released_not_reset() {
        assert_eq!(verdict(Phase::Finishing, true), Verdict::Release);
    }
}
