//! Wire error codes (moq-lite-05.md section 10.1), their per-version translation, and the
//! HTTP/3 WebTransport mapping (moq-lite-05.md section 10.2).
//!
//! Codes are 32-bit values carried in RESET_STREAM / STOP_SENDING and in the session close.
//! The constants below come from one table ([`error_codes!`]) so the names, numbers and docs
//! cannot drift apart; a test pins every number.
//!
//! # Canonical codes and the wire
//!
//! [`ErrorCode`]'s constants are moq-lite-05.md's single registry: the **canonical** names the
//! rest of the stack uses on every version. lite-03/04/05 put them on the wire unchanged
//! (they are what moq-lite-05.md, our vectors and a lite-05-only peer use); lite-06
//! translates them to and from the released reference's two registries (moq-lite-06.md
//! section 7) with [`ErrorCode::to_wire`] / [`ErrorCode::from_wire`]. Why, and the full
//! table with its aliases: `code/translate.rs`.

use std::fmt;

mod translate;

pub use translate::CodeScope;

/// A moq-lite error code. Unknown values are kept verbatim (spec 10.1: "A code received from
/// a peer is kept verbatim").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ErrorCode(pub u32);

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $name:ident = $value:literal => $spec:literal;)*) => {
        impl ErrorCode {
            $(
                $(#[doc = $doc])*
                pub const $name: Self = Self($value);
            )*

            /// The spec's name for this code (`"NotFound"`), or `None` for an application,
            /// reserved or unassigned code.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($spec),)*
                    _ => None,
                }
            }
        }

        #[cfg(test)]
        const ALL_CODES: &[(ErrorCode, u32, &str)] = &[$((ErrorCode::$name, $value, $spec),)*];
    };
}

error_codes! {
    /// Not needed any more: routine cancellation, also what a dropped stream carries. Not a
    /// failure.
    CANCEL = 0 => "Cancel";
    /// A required extension is missing (also the session code the reference uses when the
    /// transport failed).
    REQUIRED_EXTENSION = 1 => "RequiredExtension";
    /// Group expired from the cache.
    OLD = 2 => "Old";
    /// Took too long.
    TIMEOUT = 3 => "Timeout";
    /// Underlying transport error.
    TRANSPORT = 4 => "Transport";
    /// A message could not be parsed.
    DECODE = 5 => "Decode";
    /// Credential does not grant the path/operation, or expired.
    UNAUTHORIZED = 6 => "Unauthorized";
    /// Version mismatch / feature not available in this version.
    VERSION = 9 => "Version";
    /// Stream type not expected here.
    UNEXPECTED_STREAM = 10 => "UnexpectedStream";
    /// An integer left its range while processing (encoding, timestamp arithmetic).
    BOUNDS_EXCEEDED = 11 => "BoundsExceeded";
    /// Duplicate identifier (duplicate group, duplicate lite-03/04 announcement).
    DUPLICATE = 12 => "Duplicate";
    /// Broadcast, track or group does not exist.
    NOT_FOUND = 13 => "NotFound";
    /// Frame payload shorter than its declared size.
    WRONG_SIZE = 14 => "WrongSize";
    /// Peer broke a protocol rule.
    PROTOCOL_VIOLATION = 15 => "ProtocolViolation";
    /// Valid message in the wrong state.
    UNEXPECTED_MESSAGE = 16 => "UnexpectedMessage";
    /// Feature not implemented.
    UNSUPPORTED = 17 => "Unsupported";
    /// Local encode failure.
    ENCODE = 18 => "Encode";
    /// Too many parameters.
    TOO_MANY_PARAMETERS = 19 => "TooManyParameters";
    /// Peer acted against its SETUP Role.
    INVALID_ROLE = 20 => "InvalidRole";
    /// No usable version.
    UNKNOWN_ALPN = 21 => "UnknownAlpn";
    /// Producer went away without finishing.
    DROPPED = 24 => "Dropped";
    /// Handle already closed.
    CLOSED = 25 => "Closed";
    /// Reader fell behind the group's byte budget.
    LAGGED = 26 => "Lagged";
    /// Frame larger than the receiver accepts (32 MiB).
    FRAME_TOO_LARGE = 27 => "FrameTooLarge";
    /// Frame timestamp incompatible with the track timescale.
    TIMESTAMP_MISMATCH = 29 => "TimestampMismatch";
    /// No route to the requested broadcast.
    UNROUTABLE = 30 => "Unroutable";
    /// Group evicted under memory pressure (may be fetched again).
    EVICTED = 31 => "Evicted";
}

/// First application code: `App(n)` is `64 + n`.
const APP_BASE: u32 = 64;

/// First value of the HTTP/3 range reserved for WebTransport stream errors.
const HTTP3_FIRST: u64 = 0x52e4_a40f_a8db;
/// Last value of that range (the image of `u32::MAX`).
const HTTP3_LAST: u64 = 0x52e5_ac98_3162;

/// Application codes for limits. The code table (spec 10.1) has no "too many" or "busy"
/// code; the reference relay refuses with `64 + HTTP status` (spec 10.1, row `64 + n`), so
/// these follow that convention.
impl ErrorCode {
    /// `App(429)` = 493: a per-session limit was hit (too many subscriptions, announcements).
    pub const TOO_MANY_REQUESTS: Self = Self::app(429);
    /// `App(503)` = 567: the server is at its session limit; try later or elsewhere.
    pub const SERVICE_UNAVAILABLE: Self = Self::app(503);
}

impl ErrorCode {
    /// Application code `n` (0–65535), carried as `64 + n`.
    pub const fn app(n: u16) -> Self {
        Self(APP_BASE + n as u32)
    }

    /// `Some(n)` if this is application code `n` (`64 ..= 64 + 65535`).
    pub const fn app_code(self) -> Option<u16> {
        let n = self.0.wrapping_sub(APP_BASE);
        if self.0 >= APP_BASE && n <= u16::MAX as u32 {
            Some(n as u16)
        } else {
            None
        }
    }

    /// Maps a stream code into the HTTP/3 WebTransport range (spec 10.2):
    /// `wire = 0x52e4a40fa8db + code + floor(code / 0x1e)`.
    ///
    /// The reference applies this to RESET_STREAM and STOP_SENDING codes on WebTransport **and**
    /// raw QUIC; session close codes are sent unmapped.
    pub const fn to_http3(self) -> u64 {
        let code = self.0 as u64;
        HTTP3_FIRST + code + code / 0x1e
    }

    /// Maps an HTTP/3 stream error code back (spec 10.2): `d = wire − 0x52e4a40fa8db;
    /// code = d − floor(d / 0x1f)`.
    ///
    /// `None` for values outside `0x52e4a40fa8db ..= 0x52e5ac983162` ("not WebTransport
    /// codes") and for the reserved GREASE points inside it (`d mod 0x1f == 0x1e`), which no
    /// encoder produces.
    pub const fn from_http3(wire: u64) -> Option<Self> {
        if wire < HTTP3_FIRST || wire > HTTP3_LAST {
            return None;
        }
        let d = wire - HTTP3_FIRST;
        if d % 0x1f == 0x1e {
            return None;
        }
        let code = d - d / 0x1f;
        if code > u32::MAX as u64 {
            return None;
        }
        Some(Self(code as u32))
    }
}

impl fmt::Display for ErrorCode {
    /// The spec name (`NotFound`), `App(n)` for application codes, else the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.name() {
            f.write_str(name)
        } else if let Some(n) = self.app_code() {
            write!(f, "App({n})")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl fmt::Debug for ErrorCode {
    /// `NotFound(13)`, `App(502)`, or `ErrorCode(7)` for other values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.name() {
            write!(f, "{name}({})", self.0)
        } else if let Some(n) = self.app_code() {
            write!(f, "App({n})")
        } else {
            write!(f, "ErrorCode({})", self.0)
        }
    }
}

impl From<u32> for ErrorCode {
    fn from(value: u32) -> Self {
        Self(value)
    }
}

impl From<ErrorCode> for u32 {
    fn from(value: ErrorCode) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_pinned() {
        let expected: &[(&str, u32)] = &[
            ("Cancel", 0),
            ("RequiredExtension", 1),
            ("Old", 2),
            ("Timeout", 3),
            ("Transport", 4),
            ("Decode", 5),
            ("Unauthorized", 6),
            ("Version", 9),
            ("UnexpectedStream", 10),
            ("BoundsExceeded", 11),
            ("Duplicate", 12),
            ("NotFound", 13),
            ("WrongSize", 14),
            ("ProtocolViolation", 15),
            ("UnexpectedMessage", 16),
            ("Unsupported", 17),
            ("Encode", 18),
            ("TooManyParameters", 19),
            ("InvalidRole", 20),
            ("UnknownAlpn", 21),
            ("Dropped", 24),
            ("Closed", 25),
            ("Lagged", 26),
            ("FrameTooLarge", 27),
            ("TimestampMismatch", 29),
            ("Unroutable", 30),
            ("Evicted", 31),
        ];
        assert_eq!(ALL_CODES.len(), expected.len());
        for ((code, value, name), (want_name, want_value)) in ALL_CODES.iter().zip(expected) {
            assert_eq!(
                (code.0, *value, *name),
                (*want_value, *want_value, *want_name)
            );
            assert_eq!(code.name(), Some(*want_name));
        }
        assert_eq!(ErrorCode::NOT_FOUND, ErrorCode(13));
        assert_eq!(ErrorCode::EVICTED, ErrorCode(31));
    }

    #[test]
    fn app_codes() {
        assert_eq!(ErrorCode::app(502), ErrorCode(566));
        assert_eq!(ErrorCode(566).app_code(), Some(502));
        assert_eq!(ErrorCode(564).app_code(), Some(500));
        assert_eq!(ErrorCode(63).app_code(), None);
        assert_eq!(ErrorCode(64 + 65535).app_code(), Some(65535));
        assert_eq!(ErrorCode(64 + 65536).app_code(), None);
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(ErrorCode::NOT_FOUND.to_string(), "NotFound");
        assert_eq!(format!("{:?}", ErrorCode::NOT_FOUND), "NotFound(13)");
        assert_eq!(ErrorCode::app(502).to_string(), "App(502)");
        assert_eq!(ErrorCode(7).to_string(), "7");
        assert_eq!(format!("{:?}", ErrorCode(7)), "ErrorCode(7)");
    }

    #[test]
    fn http3_mapping_matches_spec_examples() {
        // spec 10.2: "0 → 0x52e4a40fa8db, 2 → …fa8dd, 5 → …fa8e0, 10 → …fa8e5, 12 → …fa8e7,
        // 13 → …fa8e8, 15 → …fa8ea, 24 → …fa8f3, 30 → …fa8fa, 31 → …fa8fb"
        let examples = [
            (0, 0x52e4a40fa8db),
            (2, 0x52e4a40fa8dd),
            (5, 0x52e4a40fa8e0),
            (10, 0x52e4a40fa8e5),
            (12, 0x52e4a40fa8e7),
            (13, 0x52e4a40fa8e8),
            (15, 0x52e4a40fa8ea),
            (24, 0x52e4a40fa8f3),
            (30, 0x52e4a40fa8fa),
            (31, 0x52e4a40fa8fb),
        ];
        for (code, wire) in examples {
            assert_eq!(ErrorCode(code).to_http3(), wire, "code {code}");
            assert_eq!(
                ErrorCode::from_http3(wire),
                Some(ErrorCode(code)),
                "wire {wire:#x}"
            );
        }
        assert_eq!(ErrorCode(u32::MAX).to_http3(), 0x52e5ac983162);
        assert_eq!(
            ErrorCode::from_http3(0x52e5ac983162),
            Some(ErrorCode(u32::MAX))
        );
    }

    #[test]
    fn http3_mapping_rejects_foreign_and_grease_values() {
        assert_eq!(ErrorCode::from_http3(0), None);
        assert_eq!(ErrorCode::from_http3(0x52e4a40fa8da), None);
        assert_eq!(ErrorCode::from_http3(0x52e5ac983163), None);
        // d = 30 is skipped by the forward mapping (29 → d 29, 30 → d 31).
        assert_eq!(ErrorCode::from_http3(0x52e4a40fa8db + 30), None);
        for code in (0..2000).chain([u32::MAX - 1, u32::MAX]) {
            let c = ErrorCode(code);
            assert_eq!(ErrorCode::from_http3(c.to_http3()), Some(c));
        }
    }
}
