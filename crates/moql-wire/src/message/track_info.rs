//! TRACK_INFO (spec 5.9): the publisher's only message on a Track stream. lite-05 and later.
//!
//! ```text
//! TRACK_INFO {
//!   Message Length (i)
//!   Publisher Priority (8)
//!   Publisher Ordered (8)      // lite-05 only; removed in lite-06 (moq-lite-06.md 6.12)
//!   Publisher Max Latency (ms) // "Max Age" on lite-06
//!   Timescale (i)              // 1 ..= 2^62 − 1; 0 is a decode error
//! }
//! ```

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_varints, decode_varint, encode_varint, put_bool,
    read_bool, read_u8,
};

/// TRACK_INFO: a track's immutable properties, above all its timescale.
///
/// [`Default`] is the reference's default (priority 0, unordered, 5000 ms, timescale 1000),
/// which encodes as `06 00 00 53 88 43 e8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrackInfo {
    /// Publisher priority (tie-break), higher is more important.
    pub priority: u8,
    /// Publisher ordered (tie-break). Not on the lite-06 wire ([`Version::has_ordered`]):
    /// ignored on encode, decoded as `false`.
    pub ordered: bool,
    /// How long (ms) a non-latest group stays cached; 0 = only the latest.
    pub max_latency: u64,
    /// Units per second of frame and datagram timestamps; never 0.
    pub timescale: u64,
}

impl Default for TrackInfo {
    fn default() -> Self {
        Self {
            priority: 0,
            ordered: false,
            max_latency: 5000,
            timescale: 1000,
        }
    }
}

impl Message for TrackInfo {
    const NAME: &'static str = "TRACK_INFO";

    fn exists_in(version: Version) -> bool {
        version.has_track()
    }

    fn check(&self, _: Version) -> Result<(), EncodeError> {
        // spec 5.9: "Timescale … 1 ≤ value ≤ 2^62−1".
        if self.timescale == 0 {
            return Err(EncodeError::InvalidValue("TRACK_INFO timescale 0"));
        }
        check_varints(&[self.max_latency, self.timescale])
    }

    fn body_len(&self, version: Version) -> usize {
        1 + usize::from(version.has_ordered())
            + VarInt::size_of(self.max_latency)
            + VarInt::size_of(self.timescale)
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        buf.put_u8(self.priority);
        if version.has_ordered() {
            put_bool(buf, self.ordered);
        }
        encode_varint(buf, self.max_latency)?;
        encode_varint(buf, self.timescale)
    }

    fn decode_body<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        let info = Self {
            priority: read_u8(buf)?,
            ordered: version.has_ordered() && read_bool(buf)?,
            max_latency: decode_varint(buf)?,
            timescale: decode_varint(buf)?,
        };
        // spec 5.9: "**0 is a decode error**".
        if info.timescale == 0 {
            return Err(DecodeError::InvalidValue("TRACK_INFO timescale 0"));
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn default_matches_the_reference_bytes() {
        let bytes = TrackInfo::default().encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(bytes, [0x06, 0x00, 0x00, 0x53, 0x88, 0x43, 0xe8]);
        assert_eq!(
            TrackInfo::decode_exact(&bytes, Version::Lite05).unwrap(),
            TrackInfo::default()
        );
    }

    #[test]
    fn timescale_zero_is_refused_both_ways() {
        let zero = TrackInfo {
            timescale: 0,
            ..TrackInfo::default()
        };
        assert!(matches!(
            zero.encode_to_vec(Version::Lite05),
            Err(EncodeError::InvalidValue(_))
        ));
        assert!(matches!(
            TrackInfo::decode_exact(&[0x04, 0, 0, 0, 0], Version::Lite05),
            Err(DecodeError::InvalidValue(_))
        ));
    }

    #[test]
    fn only_on_lite05() {
        assert_eq!(
            TrackInfo::default().encode_to_vec(Version::Lite04),
            Err(EncodeError::Version)
        );
    }

    #[test]
    fn lite06_has_no_ordered_byte() {
        // moq-lite-06.md section 8.4: the release defaults (priority 127, 5000 ms, 1000)
        // are "05 7f 53 88 43 e8" on lite-06 and "06 7f 00 53 88 43 e8" on lite-05.
        let info = TrackInfo {
            priority: 127,
            ordered: true,
            ..TrackInfo::default()
        };
        let bytes = info.encode_to_vec(Version::Lite06).unwrap();
        assert_eq!(bytes, [0x05, 0x7f, 0x53, 0x88, 0x43, 0xe8]);
        let back = TrackInfo::decode_exact(&bytes, Version::Lite06).unwrap();
        assert_eq!(
            back,
            TrackInfo {
                ordered: false,
                ..info
            }
        );
        assert_eq!(
            TrackInfo::decode_exact(&[0x06, 0x7f, 0x00, 0x53, 0x88, 0x43, 0xe8], Version::Lite06),
            Err(DecodeError::Trailing)
        );
        assert!(matches!(
            TrackInfo::decode_exact(&[0x03, 0x7f, 0x00, 0x00], Version::Lite06),
            Err(DecodeError::InvalidValue(_))
        ));
    }
}
