//! FETCH (spec 5.10): the subscriber's request on a Fetch stream.
//!
//! ```text
//! FETCH {
//!   Message Length (i)
//!   Broadcast Path (p)
//!   Track Name (s)
//!   Subscriber Priority (8)
//!   Group Sequence (i)         // absolute
//!   Frame Start (i)            // lite-06 only: first frame to return; 0 = whole group
//!   Frame End (g)              // lite-06 only: plus-one inclusive last frame; 0 = to the end
//! }
//! ```
//!
//! The codec exists in every version; only lite-05 and later serve fetches
//! ([`Version::has_fetch`]). The reply is bare FRAMEs ([`FrameDecoder`](crate::FrameDecoder)),
//! on lite-06 starting at Frame Start with the delta chain from 0 (moq-lite-06.md 6.13).
//! Frame End below Frame Start is invalid both ways.

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_group_opt, check_varints, decode_varint, encode_string,
    encode_varint, group_opt_len, put_group_opt, read_group_opt, read_path, read_string, read_u8,
    string_len,
};
use crate::path::Path;

/// FETCH: request one group (lite-06: a frame range of one group).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fetch {
    /// The broadcast, relative to the session root.
    pub broadcast: Path,
    /// The track name.
    pub track: String,
    /// Subscriber priority, higher is more important.
    pub priority: u8,
    /// The group's absolute sequence.
    pub group: u64,
    /// lite-06: the first frame to return (0 = the whole group). Must be 0 before lite-06.
    pub frame_start: u64,
    /// lite-06: the inclusive last frame; `None` = through the end of the group. At least
    /// `frame_start`. Must be `None` before lite-06.
    pub frame_end: Option<u64>,
}

/// moq-lite-06.md section 6.13: "Frame End < Frame Start → decode error".
const FRAME_RANGE_RULE: &str = "FETCH frame end below frame start";

impl Message for Fetch {
    const NAME: &'static str = "FETCH";

    fn exists_in(_: Version) -> bool {
        true
    }

    fn check(&self, version: Version) -> Result<(), EncodeError> {
        check_varints(&[self.group])?;
        if !version.has_frame_bounds() {
            if self.frame_start != 0 || self.frame_end.is_some() {
                return Err(EncodeError::Version);
            }
            return Ok(());
        }
        check_varints(&[self.frame_start])?;
        check_group_opt(self.frame_end)?;
        if self.frame_end.is_some_and(|end| end < self.frame_start) {
            return Err(EncodeError::InvalidValue(FRAME_RANGE_RULE));
        }
        Ok(())
    }

    fn body_len(&self, version: Version) -> usize {
        let frames = if version.has_frame_bounds() {
            VarInt::size_of(self.frame_start) + group_opt_len(self.frame_end)
        } else {
            0
        };
        string_len(self.broadcast.as_str())
            + string_len(&self.track)
            + 1
            + VarInt::size_of(self.group)
            + frames
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        encode_string(buf, self.broadcast.as_str())?;
        encode_string(buf, &self.track)?;
        buf.put_u8(self.priority);
        encode_varint(buf, self.group)?;
        if version.has_frame_bounds() {
            encode_varint(buf, self.frame_start)?;
            put_group_opt(buf, self.frame_end)?;
        }
        Ok(())
    }

    fn decode_body<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        let mut fetch = Self {
            broadcast: read_path(buf)?,
            track: read_string(buf)?,
            priority: read_u8(buf)?,
            group: decode_varint(buf)?,
            frame_start: 0,
            frame_end: None,
        };
        if version.has_frame_bounds() {
            fetch.frame_start = decode_varint(buf)?;
            fetch.frame_end = read_group_opt(buf)?;
            if fetch.frame_end.is_some_and(|end| end < fetch.frame_start) {
                return Err(DecodeError::InvalidValue(FRAME_RANGE_RULE));
            }
        }
        Ok(fetch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    fn demo_clock() -> Fetch {
        Fetch {
            broadcast: Path::new("demo").unwrap(),
            track: "clock".into(),
            priority: 0,
            group: 3,
            frame_start: 0,
            frame_end: None,
        }
    }

    #[test]
    fn spec_example_round_trips() {
        // spec 7.6: "0d 04 64 65 6d 6f 05 63 6c 6f 63 6b 00 03"
        let fetch = demo_clock();
        for v in [Version::Lite05, Version::Lite04, Version::Lite03] {
            let bytes = fetch.encode_to_vec(v).unwrap();
            assert_eq!(bytes, b"\x0d\x04demo\x05clock\x00\x03");
            assert_eq!(Fetch::decode_exact(&bytes, v).unwrap(), fetch);
        }
    }

    #[test]
    fn lite06_frame_ranges() {
        // moq-lite-06.md section 8.6: whole group, then frames 1 through 1.
        let v = Version::Lite06;
        let whole = demo_clock();
        let bytes = whole.encode_to_vec(v).unwrap();
        assert_eq!(bytes, b"\x0f\x04demo\x05clock\x00\x03\x00\x00");
        assert_eq!(Fetch::decode_exact(&bytes, v).unwrap(), whole);
        let one = Fetch {
            frame_start: 1,
            frame_end: Some(1),
            ..demo_clock()
        };
        let bytes = one.encode_to_vec(v).unwrap();
        assert_eq!(bytes, b"\x0f\x04demo\x05clock\x00\x03\x01\x02");
        assert_eq!(Fetch::decode_exact(&bytes, v).unwrap(), one);
    }

    #[test]
    fn lite06_frame_end_below_start_is_refused() {
        let v = Version::Lite06;
        let bad = Fetch {
            frame_start: 2,
            frame_end: Some(1),
            ..demo_clock()
        };
        assert!(matches!(
            bad.encode_to_vec(v),
            Err(EncodeError::InvalidValue(_))
        ));
        assert!(matches!(
            Fetch::decode_exact(b"\x0f\x04demo\x05clock\x00\x03\x02\x02", v),
            Err(DecodeError::InvalidValue(_))
        ));
        // Before lite-06 the frame fields do not exist.
        assert_eq!(
            Fetch {
                frame_start: 1,
                ..demo_clock()
            }
            .encode_to_vec(Version::Lite05),
            Err(EncodeError::Version)
        );
        assert_eq!(
            Fetch::decode_exact(b"\x0d\x04demo\x05clock\x00\x03", v),
            Err(DecodeError::Underflow)
        );
    }
}
