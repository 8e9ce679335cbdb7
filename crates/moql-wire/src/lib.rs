//! The moq-lite wire codec (moq-lite-06, -05, -04 and -03): every message, the primitive
//! encodings, broadcast paths and error codes. No IO, no async runtime.
//!
//! lite-06 follows `moq-lite-06.md` (in the repository's `docs/spec/`), a
//! difference list against `moq-lite-05.md`; every difference is a predicate on [`Version`]
//! ([`Version::has_announce_ids`], [`Version::has_frame_bounds`], …).
//!
//! # Which type to use when
//!
//! * A session negotiates a [`Version`] from ALPN ([`Version::from_alpn`]) and passes it to
//!   every encode and decode call. Version differences are named predicates on `Version`
//!   ([`Version::has_setup`], [`Version::has_timestamps`], …).
//! * Each stream starts with a stream type: [`BidiStream`] or [`UniStream`].
//! * Control messages ([`Setup`], [`AnnounceRequest`], [`AnnounceOk`], [`Announce`] (lite-03
//!   to lite-05),
//!   [`Subscribe`], [`SubscribeUpdate`], [`Track`], [`TrackInfo`], [`Fetch`], [`Probe`],
//!   [`Goaway`], [`Group`]) are length-prefixed [`Message`]s and implement [`Encode`] and
//!   [`Decode`].
//! * The publisher's replies on a Subscribe stream are typed: [`SubscribeResponse`]; so are
//!   its lite-06 announcements after ANNOUNCE_OK: [`AnnounceMessage`].
//! * FRAMEs need per-stream state: [`FrameEncoder`] and [`FrameDecoder`] (or the stateless
//!   [`FrameHeader`] to stream large payloads yourself).
//! * A QUIC datagram body is a [`Datagram`].
//! * Broadcast paths are [`Path`]s (normalized, ≤ 32 segments); error codes are canonical
//!   [`ErrorCode`]s (every decode error maps to one with [`DecodeError::code`]), translated
//!   to and from the negotiated version's wire registry with [`ErrorCode::to_wire`] and
//!   [`ErrorCode::from_wire`].
//!
//! # Partial input
//!
//! [`DecodeError::Short`] is the only error that more bytes can fix. Decode from a cursor
//! ([`Decode::decode_from`] on a slice, or a `Bytes` clone) and retry from the message start.
//!
//! # Example
//!
//! ```
//! use moql_wire::{Decode, Encode, Path, Subscribe, Version};
//!
//! let subscribe = Subscribe {
//!     id: 0,
//!     broadcast: Path::new("demo")?,
//!     track: "clock".to_string(),
//!     priority: 2,
//!     ordered: false,
//!     max_latency: 500, // milliseconds
//!     start: None,      // latest group
//!     end: None,        // unbounded
//!     frame_start: 0,   // lite-06 only
//!     frame_end: None,  // lite-06 only
//! };
//!
//! let bytes = subscribe.encode_to_vec(Version::Lite05)?;
//! assert_eq!(bytes.len(), subscribe.encoded_len(Version::Lite05));
//! assert_eq!(bytes[..3], [0x12, 0x00, 0x04]); // length 18, id 0, path length 4
//!
//! let (decoded, used) = Subscribe::decode_from(&bytes, Version::Lite05)?;
//! assert_eq!((decoded, used), (subscribe.clone(), bytes.len()));
//!
//! // lite-06: no Ordered byte, a raw Group Start and two frame fields (moq-lite-06.md 8.3).
//! let bytes = subscribe.encode_to_vec(Version::Lite06)?;
//! assert_eq!(bytes[..3], [0x13, 0x00, 0x04]); // length 19
//! assert_eq!(bytes[bytes.len() - 7..], [0x02, 0x41, 0xf4, 0x00, 0x00, 0x00, 0x00]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * `testing`: proptest strategies for every message ([`testing`]).
//! * `fuzzing`: plain entry points for the cargo-fuzz targets (`fuzz`).

mod code;
mod coding;
mod message;
mod path;
mod version;

pub mod limits;

#[cfg(feature = "fuzzing")]
pub mod fuzz;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod proptests;

pub use code::{CodeScope, ErrorCode};
pub use coding::{
    BoundsExceeded, Decode, DecodeError, Encode, EncodeError, VarInt, ZIGZAG_MAX, ZIGZAG_MIN,
    decode_bytes, decode_string, decode_varint, decode_vec, encode_bytes, encode_string,
    encode_varint, prefixed_len, zigzag_decode, zigzag_encode,
};
pub use message::{
    Announce, AnnounceEnd, AnnounceMessage, AnnounceOk, AnnounceRequest, AnnounceStart,
    AnnounceStatus, AnnounceUpdate, BidiStream, Datagram, Fetch, Frame, FrameDecoder, FrameEncoder,
    FrameHeader, FrameInfo, Goaway, Group, Message, Probe, ProbeLevel, Role, RouteCost, Setup,
    Subscribe, SubscribeDrop, SubscribeEnd, SubscribeOk, SubscribeOkLegacy, SubscribeResponse,
    SubscribeUpdate, Track, TrackInfo, UniStream,
};
pub use path::{Path, PathError};
pub use version::Version;
