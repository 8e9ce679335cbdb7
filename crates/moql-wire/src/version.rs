//! Protocol versions, their ALPN tokens, and every per-version difference as a named
//! capability.
//!
//! This is the only file that matches on [`Version`] variants: everything else asks a
//! predicate such as [`Version::has_setup`], so adding a version means editing this file and
//! following the compiler. Sources: spec section 1.1 and older-versions.md.

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
    /// moq-lite-05, the current version.
    Lite05,
}

impl Version {
    /// Every supported version, most preferred (newest) first: the order to offer in ALPN.
    pub const ALL: [Self; 3] = [Self::Lite05, Self::Lite04, Self::Lite03];

    /// The newest version.
    pub const LATEST: Self = Self::Lite05;

    /// The ALPN / WebTransport protocol token, e.g. `"moq-lite-05"`.
    pub const fn alpn(self) -> &'static str {
        match self {
            Self::Lite03 => "moq-lite-03",
            Self::Lite04 => "moq-lite-04",
            Self::Lite05 => "moq-lite-05",
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
        }
    }

    /// SETUP message and the unidirectional Setup stream (type 1). Added in lite-05.
    pub const fn has_setup(self) -> bool {
        matches!(self, Self::Lite05)
    }

    /// TRACK / TRACK_INFO messages and the Track stream (bidi type 6). Added in lite-05.
    pub const fn has_track(self) -> bool {
        matches!(self, Self::Lite05)
    }

    /// Fetch streams are served. The FETCH message codec exists from lite-03, but the
    /// reference serves fetches only from lite-05 (older-versions.md, "Streams").
    pub const fn has_fetch(self) -> bool {
        matches!(self, Self::Lite05)
    }

    /// FRAME carries a zigzag timestamp delta before its length. Added in lite-05.
    pub const fn has_timestamps(self) -> bool {
        matches!(self, Self::Lite05)
    }

    /// QUIC datagrams carry one-frame groups. Added in lite-05.
    pub const fn has_datagrams(self) -> bool {
        matches!(self, Self::Lite05)
    }

    /// The GOAWAY message. Added in lite-04.
    pub const fn has_goaway(self) -> bool {
        matches!(self, Self::Lite04 | Self::Lite05)
    }

    /// ANNOUNCE_OK (hop id + active count) starts every announce reply. Added in lite-05.
    pub const fn has_announce_ok(self) -> bool {
        matches!(self, Self::Lite05)
    }

    /// ANNOUNCE carries hop IDs (lite-03 carries only a count). Added in lite-04.
    pub const fn has_hop_ids(self) -> bool {
        matches!(self, Self::Lite04 | Self::Lite05)
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
    /// decodes as `active`. Added in lite-05; before it both are errors.
    pub const fn has_announce_restart(self) -> bool {
        matches!(self, Self::Lite05)
    }

    /// ANNOUNCE_REQUEST carries an Exclude Hop after the prefix. Added in lite-04.
    pub const fn has_exclude_hop(self) -> bool {
        matches!(self, Self::Lite04 | Self::Lite05)
    }

    /// PROBE carries an RTT after the bitrate. Added in lite-04.
    pub const fn probe_has_rtt(self) -> bool {
        matches!(self, Self::Lite04 | Self::Lite05)
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
        matches!(self, Self::Lite05)
    }

    /// SUBSCRIBE_END (type 1, exclusive end group). Added in lite-05; it moved SUBSCRIBE_DROP
    /// from type 1 to type 2.
    pub const fn has_subscribe_end(self) -> bool {
        matches!(self, Self::Lite05)
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
        assert!(Lite03.announce_count_includes_sender());
        assert_eq!(Lite04.subscribe_drop_type(), 1);
        assert_eq!(Lite05.subscribe_drop_type(), 2);
    }
}
