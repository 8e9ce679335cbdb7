//! Per-version translation of canonical [`ErrorCode`]s to and from the wire (moq-lite-06.md
//! section 7).
//!
//! [`ErrorCode`]'s constants are moq-lite-05.md's single registry. They are the **canonical**
//! names the rest of the stack uses, whatever the version. What goes on the wire depends on
//! the negotiated version and on where the code travels ([`CodeScope`]):
//!
//! * **lite-03, lite-04, lite-05: the canonical table, unchanged** (identity). These are the
//!   numbers moq-lite-05.md, older-versions.md and our conformance vectors describe, and what a
//!   lite-05-only peer (the older reference head) reads. moq-lite-06.md section 2 row 1 says
//!   the *released* reference uses its new registries on lite-05 too; we do not follow it
//!   there, because a lite-05 session does not tell us which of the two a peer is, and
//!   moq-lite-06.md section 7.3 notes the harm of the mismatch is limited (an old-style 0
//!   reads as INTERNAL, which a release peer handles like any group abort; it is fatal only
//!   on announce streams, where every reset already is).
//! * **lite-06: the release's two disjoint registries** (moq-lite-06.md section 7.1 session
//!   codes, 7.2 stream codes), translated at the wire edge with [`ErrorCode::to_wire`] and
//!   [`ErrorCode::from_wire`]. Only a release peer speaks lite-06, so there is no ambiguity.
//!   The switch is [`Version::uses_release_error_codes`].
//!
//! The lite-06 translation (moq-lite-06.md section 7.3 rows marked †; the rest are our
//! choice, reasoned in the right-hand column):
//!
//! | canonical | stream | session | why |
//! |---|---:|---:|---|
//! | Cancel 0 | 1 † | 0 † | routine cancel / normal close |
//! | RequiredExtension 1 | 0 | 1 | our session code for "the transport failed" (moq-lite-06.md 7.3 †: session 1) |
//! | Old 2 | 0x34 † | 1 | stream-scoped: "any stream-scoped error that reaches the session" is INTERNAL (7.1) |
//! | Timeout 3 | 2 | 0x11 | DELIVERY_TIMEOUT is "a local timeout" (7.2); TIMEOUT (7.1) |
//! | Transport 4 | 3 | 1 | SESSION_CLOSED "the session is ending" (7.2); INTERNAL "the transport failed" (7.1) |
//! | Decode 5 | 0x12 † | 3 † | MALFORMED_TRACK / PROTOCOL_VIOLATION |
//! | Unauthorized 6 | 3 † | 2 † | session-scoped codes become SESSION_CLOSED on a stream (7.2) |
//! | Version 9 | 3 | 0x15 | VERSION; session-scoped on a stream → 3 |
//! | UnexpectedStream 10 | 0 | 3 | 7.2 row 0 names "unexpected stream type"; a protocol violation for the session |
//! | BoundsExceeded 11 | 0 | 1 | a local range error: INTERNAL |
//! | Duplicate 12 | 0 † | 3 † | |
//! | NotFound 13 | 0x33 † | 1 | stream-scoped |
//! | WrongSize 14 | 0x37 | 3 | WRONG_SIZE; the peer broke the framing |
//! | ProtocolViolation 15 | 3 † | 3 † | |
//! | UnexpectedMessage 16 | 3 | 3 | a protocol violation |
//! | Unsupported 17 | 0 | 1 | no release equivalent: "any unregistered local error" is INTERNAL (7.2) |
//! | Encode 18 | 0 | 1 | a local failure |
//! | TooManyParameters 19 | 0 | 6 | KEY_VALUE_FORMATTING is the release's "too many parameters" (7.1) |
//! | InvalidRole 20 | 3 | 3 | a protocol violation |
//! | UnknownAlpn 21 | 3 | 0x15 | "no usable version / unknown token" is VERSION (7.1) |
//! | Dropped 24 | 0 † | 1 | |
//! | Closed 25 | 0 | 1 | "handle already closed" is a local condition |
//! | Lagged 26 | 5 † | 1 | TOO_FAR_BEHIND |
//! | FrameTooLarge 27 | 0x38 | 1 | FRAME_TOO_LARGE |
//! | TimestampMismatch 29 | 0x39 | 1 | TIMESTAMP_MISMATCH |
//! | Unroutable 30 | 0x36 † | 1 | |
//! | Evicted 31 | 0x35 † | 1 | |
//! | App(n) = 64 + n | 64 + n | 64 + n | both registries keep the application range |
//! | any other value | verbatim | verbatim | unassigned and reserved canonical codes pass through |
//!
//! Reading (release → canonical): every registered release code maps to the canonical code
//! that writes it back, so a relay re-sends a registered code unchanged between lite-06
//! peers (moq-lite-06.md 7.3: "Relays re-send a received stream code unchanged"), except for four
//! codes with no canonical equivalent, which read as the closest one (an alias):
//!
//! | scope | release code | reads as | writes back as |
//! |---|---|---|---|
//! | stream | 0 INTERNAL | Dropped | 0 |
//! | stream | 3 SESSION_CLOSED | Transport | 3 |
//! | stream | 4 GOING_AWAY | Transport (alias: the peer is leaving) | 3 |
//! | stream | 0x31 CONTROL_TIMEOUT | Timeout (alias) | 2 |
//! | stream | 0x32 GROUP_TOO_LARGE | FrameTooLarge (alias: the closest size limit) | 0x38 |
//! | session | 1 INTERNAL | RequiredExtension (our "transport failed" session code) | 1 |
//! | session | 0x10 GOAWAY_TIMEOUT | Timeout (alias) | 0x11 |
//!
//! Unregistered received codes (including the reserved 32–47 and stream 0x30) and the
//! `64 + n` application range are kept **verbatim**. An unregistered release number that
//! happens to be a canonical name (say stream code 6) therefore reads as that name; the
//! release never sends one.
//!
//! Round trips: for every named canonical code `c` and every application code,
//! `from_wire(to_wire(c))` is `c` or the documented representative of its wire code
//! (stream 0 → Dropped, stream 3 → Transport, session 1 → RequiredExtension, session 3 →
//! ProtocolViolation, session 0x15 → Version, …; pinned by the tests). Unnamed canonical
//! values below 64 that collide with a release number (e.g. `ErrorCode(0x33)`) do not round
//! trip; nothing in the stack creates them.

use super::ErrorCode;
use crate::Version;

/// Where a code travels: the release (lite-06) has one registry for each (moq-lite-06.md
/// section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodeScope {
    /// A session (connection) close code.
    Session,
    /// A RESET_STREAM or STOP_SENDING code.
    Stream,
}

/// The release's session registry (moq-lite-06.md section 7.1): wire code, name, and the
/// canonical code it reads as.
const RELEASE_SESSION: &[(u32, &str, ErrorCode)] = &[
    (0x0, "NO_ERROR", ErrorCode::CANCEL),
    (0x1, "INTERNAL", ErrorCode::REQUIRED_EXTENSION),
    (0x2, "UNAUTHORIZED", ErrorCode::UNAUTHORIZED),
    (0x3, "PROTOCOL_VIOLATION", ErrorCode::PROTOCOL_VIOLATION),
    (0x6, "KEY_VALUE_FORMATTING", ErrorCode::TOO_MANY_PARAMETERS),
    (0x10, "GOAWAY_TIMEOUT", ErrorCode::TIMEOUT),
    (0x11, "TIMEOUT", ErrorCode::TIMEOUT),
    (0x15, "VERSION", ErrorCode::VERSION),
];

/// The release's stream registry (moq-lite-06.md section 7.2); 0x30 is reserved ("never
/// sent") and therefore absent.
const RELEASE_STREAM: &[(u32, &str, ErrorCode)] = &[
    (0x0, "INTERNAL", ErrorCode::DROPPED),
    (0x1, "CANCELLED", ErrorCode::CANCEL),
    (0x2, "DELIVERY_TIMEOUT", ErrorCode::TIMEOUT),
    (0x3, "SESSION_CLOSED", ErrorCode::TRANSPORT),
    (0x4, "GOING_AWAY", ErrorCode::TRANSPORT),
    (0x5, "TOO_FAR_BEHIND", ErrorCode::LAGGED),
    (0x12, "MALFORMED_TRACK", ErrorCode::DECODE),
    (0x31, "CONTROL_TIMEOUT", ErrorCode::TIMEOUT),
    (0x32, "GROUP_TOO_LARGE", ErrorCode::FRAME_TOO_LARGE),
    (0x33, "NOT_FOUND", ErrorCode::NOT_FOUND),
    (0x34, "OLD", ErrorCode::OLD),
    (0x35, "EVICTED", ErrorCode::EVICTED),
    (0x36, "UNROUTABLE", ErrorCode::UNROUTABLE),
    (0x37, "WRONG_SIZE", ErrorCode::WRONG_SIZE),
    (0x38, "FRAME_TOO_LARGE", ErrorCode::FRAME_TOO_LARGE),
    (0x39, "TIMESTAMP_MISMATCH", ErrorCode::TIMESTAMP_MISMATCH),
];

impl CodeScope {
    fn release_table(self) -> &'static [(u32, &'static str, ErrorCode)] {
        match self {
            Self::Session => RELEASE_SESSION,
            Self::Stream => RELEASE_STREAM,
        }
    }
}

impl ErrorCode {
    /// The number to put on the wire for this canonical code in `version` and `scope`.
    ///
    /// Identity before lite-06; on lite-06 the release registries (see the module docs for
    /// the full table and the reasons). Total: application codes and unnamed values pass
    /// through verbatim.
    pub const fn to_wire(self, version: Version, scope: CodeScope) -> u32 {
        if !version.uses_release_error_codes() {
            return self.0;
        }
        let session = matches!(scope, CodeScope::Session);
        // (stream, session) per canonical code: the module-doc table.
        let (stream, sess) = match self {
            Self::CANCEL => (0x1, 0x0),
            Self::REQUIRED_EXTENSION => (0x0, 0x1),
            Self::OLD => (0x34, 0x1),
            Self::TIMEOUT => (0x2, 0x11),
            Self::TRANSPORT => (0x3, 0x1),
            Self::DECODE => (0x12, 0x3),
            Self::UNAUTHORIZED => (0x3, 0x2),
            Self::VERSION => (0x3, 0x15),
            Self::UNEXPECTED_STREAM => (0x0, 0x3),
            Self::BOUNDS_EXCEEDED => (0x0, 0x1),
            Self::DUPLICATE => (0x0, 0x3),
            Self::NOT_FOUND => (0x33, 0x1),
            Self::WRONG_SIZE => (0x37, 0x3),
            Self::PROTOCOL_VIOLATION => (0x3, 0x3),
            Self::UNEXPECTED_MESSAGE => (0x3, 0x3),
            Self::UNSUPPORTED => (0x0, 0x1),
            Self::ENCODE => (0x0, 0x1),
            Self::TOO_MANY_PARAMETERS => (0x0, 0x6),
            Self::INVALID_ROLE => (0x3, 0x3),
            Self::UNKNOWN_ALPN => (0x3, 0x15),
            Self::DROPPED => (0x0, 0x1),
            Self::CLOSED => (0x0, 0x1),
            Self::LAGGED => (0x5, 0x1),
            Self::FRAME_TOO_LARGE => (0x38, 0x1),
            Self::TIMESTAMP_MISMATCH => (0x39, 0x1),
            Self::UNROUTABLE => (0x36, 0x1),
            Self::EVICTED => (0x35, 0x1),
            // Application codes (64 + n), reserved and unassigned values: verbatim.
            other => (other.0, other.0),
        };
        if session { sess } else { stream }
    }

    /// The canonical code a received wire `code` means in `version` and `scope`.
    ///
    /// Identity before lite-06, except the release's stream codes 0x30–0x3f, which the lite-05
    /// table leaves unassigned: a peer of the current generation that negotiated lite-05 (it
    /// uses its new registry on every version, moq-lite-06.md section 2 row 1) still reads as
    /// NotFound, Old, Evicted, Unroutable. On lite-06 every registered release code maps to its
    /// canonical name (a few as documented aliases); anything else, including the `64 + n`
    /// application range, is kept verbatim.
    pub fn from_wire(code: u32, version: Version, scope: CodeScope) -> Self {
        if !version.uses_release_error_codes() {
            let unambiguous = scope == CodeScope::Stream && (0x30..0x40).contains(&code);
            if !unambiguous {
                return Self(code);
            }
        }
        scope
            .release_table()
            .iter()
            .find(|(wire, _, _)| *wire == code)
            .map_or(Self(code), |(_, _, canonical)| *canonical)
    }

    /// The release's name for a wire code in `scope` (`"NOT_FOUND"`, …), for logs; `None` if
    /// it is not registered there (moq-lite-06.md sections 7.1, 7.2).
    pub fn release_name(code: u32, scope: CodeScope) -> Option<&'static str> {
        scope
            .release_table()
            .iter()
            .find(|(wire, _, _)| *wire == code)
            .map(|(_, name, _)| *name)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ALL_CODES;
    use super::*;

    #[test]
    fn release_stream_codes_that_the_old_table_leaves_free_read_by_name_on_lite05() {
        let read = |code| ErrorCode::from_wire(code, Version::Lite05, CodeScope::Stream);
        assert_eq!(read(0x33), ErrorCode::NOT_FOUND);
        assert_eq!(read(0x34), ErrorCode::OLD);
        assert_eq!(read(0x35), ErrorCode::EVICTED);
        assert_eq!(read(0x36), ErrorCode::UNROUTABLE);
        // The old table's own codes keep their old meaning.
        assert_eq!(read(13), ErrorCode::NOT_FOUND);
        assert_eq!(read(2), ErrorCode::OLD);
        // Session codes and what we send are untouched.
        assert_eq!(
            ErrorCode::from_wire(0x33, Version::Lite05, CodeScope::Session),
            ErrorCode(0x33)
        );
        assert_eq!(
            ErrorCode::NOT_FOUND.to_wire(Version::Lite05, CodeScope::Stream),
            13
        );
    }

    const V6: Version = Version::Lite06;
    use CodeScope::{Session, Stream};

    #[test]
    fn section_7_3_rows() {
        // (condition, canonical, release stream, release session); `None` = the row has no
        // value ("—"): the translation still gives one, checked in `full_lite06_table`.
        let rows: &[(&str, ErrorCode, Option<u32>, Option<u32>)] = &[
            ("routine cancel", ErrorCode::CANCEL, Some(1), Some(0)),
            ("old", ErrorCode::OLD, Some(0x34), None),
            ("decode failure", ErrorCode::DECODE, Some(0x12), Some(3)),
            ("unauthorized", ErrorCode::UNAUTHORIZED, Some(3), Some(2)),
            ("duplicate", ErrorCode::DUPLICATE, Some(0), Some(3)),
            ("not found", ErrorCode::NOT_FOUND, Some(0x33), None),
            (
                "protocol violation",
                ErrorCode::PROTOCOL_VIOLATION,
                Some(3),
                Some(3),
            ),
            ("dropped", ErrorCode::DROPPED, Some(0), None),
            ("lagged", ErrorCode::LAGGED, Some(5), None),
            ("unroutable", ErrorCode::UNROUTABLE, Some(0x36), None),
            ("evicted", ErrorCode::EVICTED, Some(0x35), None),
            (
                "transport failure",
                ErrorCode::REQUIRED_EXTENSION,
                None,
                Some(1),
            ),
        ];
        for &(what, code, stream, session) in rows {
            if let Some(wire) = stream {
                assert_eq!(code.to_wire(V6, Stream), wire, "{what} (stream)");
            }
            if let Some(wire) = session {
                assert_eq!(code.to_wire(V6, Session), wire, "{what} (session)");
            }
        }
        // moq-lite-06.md section 1.2: a refused version closes with session code 0x15.
        assert_eq!(ErrorCode::VERSION.to_wire(V6, Session), 0x15);
        assert_eq!(ErrorCode::UNKNOWN_ALPN.to_wire(V6, Session), 0x15);
        // moq-lite-06.md section 10.6: stream code 2 reads as a timeout, not Old.
        assert_eq!(ErrorCode::from_wire(2, V6, Stream), ErrorCode::TIMEOUT);
        assert_eq!(ErrorCode::from_wire(0x34, V6, Stream), ErrorCode::OLD);
    }

    /// Every named canonical code: (code, stream wire, session wire, stream read-back,
    /// session read-back). Pins the whole module-doc table.
    #[test]
    fn full_lite06_table() {
        use ErrorCode as E;
        let table: &[(E, u32, u32, E, E)] = &[
            (E::CANCEL, 1, 0, E::CANCEL, E::CANCEL),
            (
                E::REQUIRED_EXTENSION,
                0,
                1,
                E::DROPPED,
                E::REQUIRED_EXTENSION,
            ),
            (E::OLD, 0x34, 1, E::OLD, E::REQUIRED_EXTENSION),
            (E::TIMEOUT, 2, 0x11, E::TIMEOUT, E::TIMEOUT),
            (E::TRANSPORT, 3, 1, E::TRANSPORT, E::REQUIRED_EXTENSION),
            (E::DECODE, 0x12, 3, E::DECODE, E::PROTOCOL_VIOLATION),
            (E::UNAUTHORIZED, 3, 2, E::TRANSPORT, E::UNAUTHORIZED),
            (E::VERSION, 3, 0x15, E::TRANSPORT, E::VERSION),
            (
                E::UNEXPECTED_STREAM,
                0,
                3,
                E::DROPPED,
                E::PROTOCOL_VIOLATION,
            ),
            (E::BOUNDS_EXCEEDED, 0, 1, E::DROPPED, E::REQUIRED_EXTENSION),
            (E::DUPLICATE, 0, 3, E::DROPPED, E::PROTOCOL_VIOLATION),
            (E::NOT_FOUND, 0x33, 1, E::NOT_FOUND, E::REQUIRED_EXTENSION),
            (E::WRONG_SIZE, 0x37, 3, E::WRONG_SIZE, E::PROTOCOL_VIOLATION),
            (
                E::PROTOCOL_VIOLATION,
                3,
                3,
                E::TRANSPORT,
                E::PROTOCOL_VIOLATION,
            ),
            (
                E::UNEXPECTED_MESSAGE,
                3,
                3,
                E::TRANSPORT,
                E::PROTOCOL_VIOLATION,
            ),
            (E::UNSUPPORTED, 0, 1, E::DROPPED, E::REQUIRED_EXTENSION),
            (E::ENCODE, 0, 1, E::DROPPED, E::REQUIRED_EXTENSION),
            (
                E::TOO_MANY_PARAMETERS,
                0,
                6,
                E::DROPPED,
                E::TOO_MANY_PARAMETERS,
            ),
            (E::INVALID_ROLE, 3, 3, E::TRANSPORT, E::PROTOCOL_VIOLATION),
            (E::UNKNOWN_ALPN, 3, 0x15, E::TRANSPORT, E::VERSION),
            (E::DROPPED, 0, 1, E::DROPPED, E::REQUIRED_EXTENSION),
            (E::CLOSED, 0, 1, E::DROPPED, E::REQUIRED_EXTENSION),
            (E::LAGGED, 5, 1, E::LAGGED, E::REQUIRED_EXTENSION),
            (
                E::FRAME_TOO_LARGE,
                0x38,
                1,
                E::FRAME_TOO_LARGE,
                E::REQUIRED_EXTENSION,
            ),
            (
                E::TIMESTAMP_MISMATCH,
                0x39,
                1,
                E::TIMESTAMP_MISMATCH,
                E::REQUIRED_EXTENSION,
            ),
            (E::UNROUTABLE, 0x36, 1, E::UNROUTABLE, E::REQUIRED_EXTENSION),
            (E::EVICTED, 0x35, 1, E::EVICTED, E::REQUIRED_EXTENSION),
        ];
        assert_eq!(table.len(), ALL_CODES.len(), "every named code has a row");
        for &(code, stream, session, stream_back, session_back) in table {
            assert_eq!(code.to_wire(V6, Stream), stream, "{code:?} stream");
            assert_eq!(code.to_wire(V6, Session), session, "{code:?} session");
            assert_eq!(
                ErrorCode::from_wire(stream, V6, Stream),
                stream_back,
                "{code:?}"
            );
            assert_eq!(
                ErrorCode::from_wire(session, V6, Session),
                session_back,
                "{code:?}"
            );
        }
    }

    #[test]
    fn every_release_code_reads_and_writes_back() {
        // Registered codes: a lite-06 relay re-sends them unchanged, except the aliases.
        let aliases = [
            (Stream, 0x4, 0x3),
            (Stream, 0x31, 0x2),
            (Stream, 0x32, 0x38),
            (Session, 0x10, 0x11),
        ];
        for scope in [Stream, Session] {
            for &(wire, name, canonical) in scope.release_table() {
                assert_eq!(ErrorCode::from_wire(wire, V6, scope), canonical);
                assert_eq!(ErrorCode::release_name(wire, scope), Some(name));
                let back = canonical.to_wire(V6, scope);
                let alias = aliases.iter().find(|(s, w, _)| *s == scope && *w == wire);
                assert_eq!(
                    back,
                    alias.map_or(wire, |a| a.2),
                    "{scope:?} {wire:#x} {name}"
                );
            }
        }
        assert_eq!(ErrorCode::release_name(0x30, Stream), None);
        assert_eq!(ErrorCode::release_name(0x33, Session), None);
    }

    #[test]
    fn unregistered_and_application_codes_pass_through() {
        for scope in [Stream, Session] {
            for wire in [32, 40, 47, 63, 64, 566, 64 + 65535, u32::MAX] {
                assert_eq!(ErrorCode::from_wire(wire, V6, scope), ErrorCode(wire));
                assert_eq!(ErrorCode(wire).to_wire(V6, scope), wire);
            }
        }
        assert_eq!(ErrorCode::from_wire(0x30, V6, Stream), ErrorCode(0x30));
        assert_eq!(ErrorCode::from_wire(0x33, V6, Session), ErrorCode(0x33));
        assert_eq!(ErrorCode::app(502).to_wire(V6, Session), 566);
        assert_eq!(ErrorCode::TOO_MANY_REQUESTS.to_wire(V6, Stream), 493);
    }

    #[test]
    fn older_versions_are_identity_but_for_free_release_stream_codes_on_receipt() {
        for v in [Version::Lite05, Version::Lite04, Version::Lite03] {
            for scope in [Stream, Session] {
                for code in (0..100).chain([566, u32::MAX]) {
                    assert_eq!(ErrorCode(code).to_wire(v, scope), code);
                    if scope == Stream && (0x30..0x40).contains(&code) {
                        assert_eq!(
                            ErrorCode::from_wire(code, v, scope),
                            ErrorCode::from_wire(code, V6, scope)
                        );
                    } else {
                        assert_eq!(ErrorCode::from_wire(code, v, scope), ErrorCode(code));
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn canonical_codes_round_trip_or_alias(
            index in 0..ALL_CODES.len(),
            app in 0..=u16::MAX,
            session in proptest::bool::ANY,
        ) {
            let scope = if session { Session } else { Stream };
            // Named codes: the read-back is the code itself or the representative of its
            // wire number, which writes the same number back (so it is stable).
            let code = ALL_CODES[index].0;
            let wire = code.to_wire(V6, scope);
            let back = ErrorCode::from_wire(wire, V6, scope);
            proptest::prop_assert!(back == code || back.to_wire(V6, scope) == wire, "{code:?} -> {wire} -> {back:?}");
            proptest::prop_assert!(back.name().is_some());
            // Application codes always round trip exactly.
            let code = ErrorCode::app(app);
            proptest::prop_assert_eq!(ErrorCode::from_wire(code.to_wire(V6, scope), V6, scope), code);
        }
    }
}
