//! Protocol versions, their ALPN tokens, and every per-version difference as a named
//! capability.
//!
//! This is the only file that matches on [`Version`] variants: everything else asks a
//! predicate such as [`Version::has_setup`], so adding a version means editing this file and
//! following the compiler. Sources: moq-lite-05.md section 1.1, older-versions.md, and for
//! lite-06 moq-lite-06.md sections 1 and 3 (all in `docs/spec/`).

use std::fmt;

/// A moq-lite version, selected by ALPN or the WebTransport protocol token.
///
/// The version is never sent in-band (spec 1.1: "the numeric code is never sent on a lite-05
/// session").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// moq-lite-03.
    Lite03,
    /// moq-lite-04.
    Lite04,
    /// moq-lite-05.
    Lite05,
    /// moq-lite-06, the released reference's default (moq-lite-06.md section 1.1). Not the
    /// old work-in-progress `moq-lite-06-wip`, which is not recognised.
    Lite06,
}

impl Version {
    /// Every supported version, most preferred (newest) first: the order to offer in ALPN.
    pub const ALL: [Self; 4] = [Self::Lite06, Self::Lite05, Self::Lite04, Self::Lite03];

    /// The newest version.
    pub const LATEST: Self = Self::Lite06;

    /// The ALPN / WebTransport protocol token, e.g. `"moq-lite-05"`.
    pub const fn alpn(self) -> &'static str {
        match self {
            Self::Lite03 => "moq-lite-03",
            Self::Lite04 => "moq-lite-04",
            Self::Lite05 => "moq-lite-05",
            Self::Lite06 => "moq-lite-06",
        }
    }

    /// The version a negotiated ALPN / WebTransport token names, if we support it.
    pub fn from_alpn(alpn: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.alpn().as_bytes() == alpn)
    }

    /// The numeric version code (`0xff0dad05` …). Informative only: never sent on the wire.
    pub const fn code(self) -> u32 {
        match self {
            Self::Lite03 => 0xff0d_ad03,
            Self::Lite04 => 0xff0d_ad04,
            Self::Lite05 => 0xff0d_ad05,
            Self::Lite06 => 0xff0d_ad06,
        }
    }

    /// SETUP message and the unidirectional Setup stream (type 1). Added in lite-05.
    pub const fn has_setup(self) -> bool {
        matches!(self, Self::Lite05 | Self::Lite06)
    }

    /// TRACK / TRACK_INFO messages and the Track stream (bidi type 6). Added in lite-05.
    pub const fn has_track(self) -> bool {
        matches!(self, Self::Lite05 | Self::Lite06)
    }

    /// Fetch streams are served. The FETCH message codec exists from lite-03, but the
    /// reference serves fetches only from lite-05 (older-versions.md, "Streams").
    pub const fn has_fetch(self) -> bool {
        matches!(self, Self::Lite05 | Self::Lite06)
    }

    /// FRAME carries a zigzag timestamp delta before its length. Added in lite-05.
    pub const fn has_timestamps(self) -> bool {
        matches!(self, Self::Lite05 | Self::Lite06)
    }

    /// QUIC datagrams carry one-frame groups. Added in lite-05.
    pub const fn has_datagrams(self) -> bool {
        matches!(self, Self::Lite05 | Self::Lite06)
    }

    /// The GOAWAY message. Added in lite-04.
    pub const fn has_goaway(self) -> bool {
        matches!(self, Self::Lite04 | Self::Lite05 | Self::Lite06)
    }

    /// ANNOUNCE_OK (hop id + active count) starts every announce reply. Added in lite-05.
    pub const fn has_announce_ok(self) -> bool {
        matches!(self, Self::Lite05 | Self::Lite06)
    }

    /// ANNOUNCE carries hop IDs (lite-03 carries only a count). Added in lite-04.
    pub const fn has_hop_ids(self) -> bool {
        matches!(self, Self::Lite04 | Self::Lite05 | Self::Lite06)
    }

    /// The ANNOUNCE hop list ends with the sender's own ID. lite-04 only: lite-05 moved the
    /// sender's ID into ANNOUNCE_OK, and lite-03's count includes the sender.
    pub const fn announce_lists_sender(self) -> bool {
        matches!(self, Self::Lite04)
    }

    /// The lite-03 ANNOUNCE hop count includes the sender itself. lite-03 only.
    pub const fn announce_count_includes_sender(self) -> bool {
        matches!(self, Self::Lite03)
    }

    /// A duplicate `active` ANNOUNCE restarts (replaces) the advertisement, and status byte 2
    /// decodes as `active`. lite-05 only: before it both are errors, and lite-06 has no
    /// untyped ANNOUNCE (re-routing is ANNOUNCE_UPDATE by ID, and a second ANNOUNCE_START for
    /// a live path is a protocol violation, moq-lite-06.md sections 3 and 6.7).
    pub const fn has_announce_restart(self) -> bool {
        matches!(self, Self::Lite05)
    }

    /// ANNOUNCE_REQUEST carries an Exclude Hop after the prefix. lite-04 and lite-05; lite-06
    /// removed it (moq-lite-06.md section 6.2: the identity to exclude comes from the peer's
    /// SETUP Hop parameter instead).
    pub const fn has_exclude_hop(self) -> bool {
        matches!(self, Self::Lite04 | Self::Lite05)
    }

    /// Announcements after ANNOUNCE_OK are typed (`Type (i), Length (i), body`):
    /// ANNOUNCE_START / ANNOUNCE_END / ANNOUNCE_UPDATE ([`AnnounceMessage`]), and every
    /// ANNOUNCE_START implicitly assigns the next stream-local Announce ID (counting from 0).
    /// The untyped [`Announce`] does not exist. Added in lite-06 (moq-lite-06.md sections 3,
    /// 5.1, 6.4–6.6).
    ///
    /// [`AnnounceMessage`]: crate::AnnounceMessage
    /// [`Announce`]: crate::Announce
    pub const fn has_announce_ids(self) -> bool {
        matches!(self, Self::Lite06)
    }

    /// ANNOUNCE_START / ANNOUNCE_UPDATE carry a route cost (Warm Cost, Cold Cost) after the
    /// hop list, and the SETUP Cost parameter (0x4) is charged on receipt. Added in lite-06
    /// (moq-lite-06.md sections 6.1, 6.4, 10.2).
    pub const fn has_route_cost(self) -> bool {
        matches!(self, Self::Lite06)
    }

    /// A non-zero hop ID repeated inside one hop list is a decode error.
    ///
    /// moq-lite-06.md section 2 row 10 says the release checks this on every version; we
    /// check it on lite-06 only, so lite-03/04/05 decoding stays exactly what moq-lite-05.md
    /// and its vectors describe (lite-05 lists are only ever produced by the older head).
    pub const fn rejects_repeated_hops(self) -> bool {
        matches!(self, Self::Lite06)
    }

    /// SUBSCRIBE, SUBSCRIBE_UPDATE and TRACK_INFO carry an Ordered byte. lite-03 to lite-05;
    /// removed in lite-06 (moq-lite-06.md sections 6.9, 6.10, 6.12).
    pub const fn has_ordered(self) -> bool {
        matches!(self, Self::Lite03 | Self::Lite04 | Self::Lite05)
    }

    /// Frame-level bounds: SUBSCRIBE / SUBSCRIBE_UPDATE end with Frame Start (i) and Frame
    /// End (g), FETCH with Frame Start (i) and Frame End (g), GROUP with Frame Start (i).
    /// Added in lite-06 (moq-lite-06.md sections 6.9, 6.10, 6.13, 6.14).
    pub const fn has_frame_bounds(self) -> bool {
        matches!(self, Self::Lite06)
    }

    /// SUBSCRIBE / SUBSCRIBE_UPDATE Group Start is "plus one" (`0` = absent). lite-03 to
    /// lite-05; on lite-06 it is a raw sequence where `0` means "no floor" (moq-lite-06.md
    /// section 4).
    pub const fn group_start_is_plus_one(self) -> bool {
        matches!(self, Self::Lite03 | Self::Lite04 | Self::Lite05)
    }

    /// Where a subscription starts is resolved from the Subscriber Max Age (the oldest fresh
    /// group at or above the floor), the Group Start being only a floor; and a SUBSCRIBE_UPDATE
    /// with Group Start 0 clears the floor. lite-06 (moq-lite-06.md sections 6.9, 6.10).
    pub const fn resolves_start(self) -> bool {
        matches!(self, Self::Lite06)
    }

    /// A SUBSCRIBE_END at or below a received group, or a GROUP at or beyond the declared end,
    /// aborts the subscription with a protocol violation (lite-05: a warning, or only that
    /// group dropped). lite-06 (moq-lite-06.md section 5.2).
    pub const fn strict_subscribe_end(self) -> bool {
        matches!(self, Self::Lite06)
    }

    /// The publisher answers an ANNOUNCE_REQUEST only after it has read the peer's SETUP
    /// (whose Hop parameter is the identity it filters against). lite-06 (moq-lite-06.md
    /// section 5.1).
    pub const fn announce_waits_for_setup(self) -> bool {
        matches!(self, Self::Lite06)
    }

    /// Error codes on the wire use the released reference's two registries (session and
    /// stream, moq-lite-06.md section 7) instead of moq-lite-05.md's single table; see
    /// [`ErrorCode::to_wire`](crate::ErrorCode::to_wire). lite-06 only (see the `code`
    /// module docs for why lite-05 keeps the old table).
    pub const fn uses_release_error_codes(self) -> bool {
        matches!(self, Self::Lite06)
    }

    /// PROBE carries an RTT after the bitrate. Added in lite-04.
    pub const fn probe_has_rtt(self) -> bool {
        matches!(self, Self::Lite04 | Self::Lite05 | Self::Lite06)
    }

    /// A Probe stream may be opened only if the peer's SETUP advertised probe level ≥ 1.
    /// lite-05 (lite-03/04 probe streams are not gated).
    pub const fn probe_requires_setup(self) -> bool {
        self.has_setup()
    }

    /// Subscribe response type 0 is the one-field SUBSCRIBE_OK (the reference's
    /// SUBSCRIBE_START), sent when the first group is served. lite-05; lite-03/04 use the
    /// five-field SUBSCRIBE_OK sent before any group.
    pub const fn has_subscribe_start(self) -> bool {
        matches!(self, Self::Lite05 | Self::Lite06)
    }

    /// SUBSCRIBE_END (type 1, exclusive end group). Added in lite-05; it moved SUBSCRIBE_DROP
    /// from type 1 to type 2.
    pub const fn has_subscribe_end(self) -> bool {
        matches!(self, Self::Lite05 | Self::Lite06)
    }

    /// The subscribe response type number of SUBSCRIBE_DROP: 2 on lite-05, 1 before.
    pub const fn subscribe_drop_type(self) -> u64 {
        if self.has_subscribe_end() { 2 } else { 1 }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_round_trips() {
        for v in Version::ALL {
            assert_eq!(Version::from_alpn(v.alpn().as_bytes()), Some(v));
            assert_eq!(v.to_string(), v.alpn());
        }
        assert_eq!(Version::from_alpn(b"moql"), None);
        assert_eq!(Version::from_alpn(b"moq-lite-06-wip"), None);
        assert_eq!(Version::ALL[0], Version::LATEST);
        assert_eq!(Version::Lite05.alpn(), "moq-lite-05");
        assert_eq!(Version::Lite04.code(), 0xff0dad04);
    }

    #[test]
    fn capabilities_follow_older_versions_md() {
        use Version::*;
        let row = |v: Version| {
            [
                v.has_setup(),
                v.has_track(),
                v.has_fetch(),
                v.has_timestamps(),
                v.has_datagrams(),
                v.has_goaway(),
                v.has_announce_ok(),
                v.has_hop_ids(),
                v.announce_lists_sender(),
                v.has_announce_restart(),
                v.has_exclude_hop(),
                v.probe_has_rtt(),
                v.has_subscribe_start(),
                v.has_subscribe_end(),
            ]
        };
        let (t, f) = (true, false);
        assert_eq!(row(Lite03), [f, f, f, f, f, f, f, f, f, f, f, f, f, f]);
        assert_eq!(row(Lite04), [f, f, f, f, f, t, f, t, t, f, t, t, f, f]);
        assert_eq!(row(Lite05), [t, t, t, t, t, t, t, t, f, t, t, t, t, t]);
        assert_eq!(row(Lite06), [t, t, t, t, t, t, t, t, f, f, f, t, t, t]);
        assert!(Lite03.announce_count_includes_sender());
        assert!(!Lite06.announce_count_includes_sender());
        assert_eq!(Lite04.subscribe_drop_type(), 1);
        assert_eq!(Lite05.subscribe_drop_type(), 2);
        assert_eq!(Lite06.subscribe_drop_type(), 2);
        assert!(Lite06.probe_requires_setup());
    }

    #[test]
    fn lite06_capabilities_follow_moq_lite_06_md() {
        use Version::*;
        let row = |v: Version| {
            [
                v.has_announce_ids(),
                v.has_route_cost(),
                v.rejects_repeated_hops(),
                v.has_ordered(),
                v.has_frame_bounds(),
                v.group_start_is_plus_one(),
                v.resolves_start(),
                v.strict_subscribe_end(),
                v.announce_waits_for_setup(),
                v.uses_release_error_codes(),
            ]
        };
        let (t, f) = (true, false);
        for v in [Lite03, Lite04, Lite05] {
            assert_eq!(row(v), [f, f, f, t, f, t, f, f, f, f], "{v}");
        }
        assert_eq!(row(Lite06), [t, t, t, f, t, f, t, t, t, t]);
    }

    #[test]
    fn lite06_identifiers() {
        assert_eq!(Version::LATEST, Version::Lite06);
        assert_eq!(
            Version::ALL,
            [
                Version::Lite06,
                Version::Lite05,
                Version::Lite04,
                Version::Lite03
            ]
        );
        assert_eq!(Version::Lite06.alpn(), "moq-lite-06");
        assert_eq!(Version::Lite06.code(), 0xff0d_ad06);
        assert_eq!(Version::from_alpn(b"moq-lite-06"), Some(Version::Lite06));
        // moq-lite-06.md section 1.1: the old work-in-progress token is not recognised.
        assert_eq!(Version::from_alpn(b"moq-lite-06-wip"), None);
        assert_eq!(Version::from_alpn(b"moq-lite-07-wip"), None);
    }
}
