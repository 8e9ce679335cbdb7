//! Caps on what a peer can make us read or allocate, with the reason for each value.
//!
//! The reference imposes no upper bound on a message or string length (spec 2.8, 2.3:
//! "Implementations should impose a sane cap on control messages"). Every cap here is checked
//! against the *declared* length before a single byte of the body is read or allocated.

/// Largest Message Length we accept for a length-prefixed message: 64 KiB.
///
/// Every length-prefixed message is a small control message (frames and datagrams are not
/// length-prefixed this way). The largest legitimate one is a SETUP whose Path carries a URL
/// with a token (`/anon?jwt=…`); tokens are typically well under 8 KiB and HTTP servers commonly
/// cap a whole request header block at 8–16 KiB, so 64 KiB leaves 4× headroom while bounding
/// what one hostile stream can make us buffer.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Largest string (track name, path, URI, SETUP value) we accept: the message cap, since a
/// string can never be longer than the message that holds it.
pub const MAX_STRING_LEN: usize = MAX_MESSAGE_LEN;

/// Longest GOAWAY New Session URI, in bytes: 8192. The release refuses a longer one on every
/// version (moq-lite-06.md section 2 row 12), so we neither send nor accept one.
pub const MAX_GOAWAY_URI_LEN: usize = 8192;

/// Most `/`-separated segments in a broadcast path (spec 2.4: "a path may contain at most
/// **32** non-empty `/`-separated segments").
pub const MAX_PATH_SEGMENTS: usize = 32;

/// Most hop IDs in one ANNOUNCE (spec 2.10: "hop IDs in one ANNOUNCE | 32").
pub const MAX_HOPS: usize = 32;

/// Most SETUP parameters (spec 5.1: "At most 64 parameters").
pub const MAX_SETUP_PARAMETERS: usize = 64;

/// Default largest frame payload a receiver accepts: 32 MiB (spec 2.10: "frame payload size
/// accepted by a Rust receiver | 32 MiB"). Configurable per [`FrameDecoder`](crate::FrameDecoder).
pub const MAX_FRAME_PAYLOAD: u64 = 32 * 1024 * 1024;

/// Largest datagram body the draft allows a sender to produce (spec 4.9: "staying at or below
/// 1200 is the interoperable choice"). Receivers do not enforce it.
pub const MAX_DATAGRAM_SIZE: usize = 1200;

/// Largest frame timestamp (spec 5.13: "The resulting timestamp must stay within
/// 0 … 2^62−1").
pub const MAX_TIMESTAMP: u64 = (1 << 62) - 1;
