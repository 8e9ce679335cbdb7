//! GROUP (spec 5.13): the header of a Group stream, followed by FRAMEs. All versions.
//!
//! ```text
//! GROUP {
//!   Message Length (i)
//!   Subscribe ID (i)
//!   Group Sequence (i)         // absolute
//!   Frame Start (i)            // lite-06 only: index of the first FRAME on this stream
//! }
//! ```
//!
//! lite-06: moq-lite-06.md section 6.14. The frame timestamp delta chain still restarts at 0
//! on every group stream, whatever the Frame Start.

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_varints, decode_varint, encode_varint,
};

/// GROUP: which subscription and which group this stream carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Group {
    /// The SUBSCRIBE's id.
    pub subscribe_id: u64,
    /// The group's absolute sequence.
    pub sequence: u64,
    /// lite-06: the index of the first FRAME on this stream (0 = from the head). Must be 0
    /// before lite-06 ([`EncodeError::Version`] otherwise).
    pub frame_start: u64,
}

impl Message for Group {
    const NAME: &'static str = "GROUP";

    fn exists_in(_: Version) -> bool {
        true
    }

    fn check(&self, version: Version) -> Result<(), EncodeError> {
        if !version.has_frame_bounds() && self.frame_start != 0 {
            return Err(EncodeError::Version);
        }
        check_varints(&[self.subscribe_id, self.sequence, self.frame_start])
    }

    fn body_len(&self, version: Version) -> usize {
        let frame = if version.has_frame_bounds() {
            VarInt::size_of(self.frame_start)
        } else {
            0
        };
        VarInt::size_of(self.subscribe_id) + VarInt::size_of(self.sequence) + frame
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        encode_varint(buf, self.subscribe_id)?;
        encode_varint(buf, self.sequence)?;
        if version.has_frame_bounds() {
            encode_varint(buf, self.frame_start)?;
        }
        Ok(())
    }

    fn decode_body<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            subscribe_id: decode_varint(buf)?,
            sequence: decode_varint(buf)?,
            frame_start: if version.has_frame_bounds() {
                decode_varint(buf)?
            } else {
                0
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn spec_example_round_trips() {
        // spec 7.5: "02 00 03" = subscribe id 0, sequence 3
        let group = Group {
            subscribe_id: 0,
            sequence: 3,
            frame_start: 0,
        };
        for v in [Version::Lite05, Version::Lite04, Version::Lite03] {
            let bytes = group.encode_to_vec(v).unwrap();
            assert_eq!(bytes, [0x02, 0x00, 0x03]);
            assert_eq!(Group::decode_exact(&bytes, v).unwrap(), group);
        }
    }

    #[test]
    fn lite06_carries_frame_start() {
        // moq-lite-06.md section 8.5: "03 00 03 00" and "03 01 07 04".
        let v = Version::Lite06;
        let head = Group {
            subscribe_id: 0,
            sequence: 3,
            frame_start: 0,
        };
        assert_eq!(head.encode_to_vec(v).unwrap(), [0x03, 0x00, 0x03, 0x00]);
        let mid = Group {
            subscribe_id: 1,
            sequence: 7,
            frame_start: 4,
        };
        assert_eq!(mid.encode_to_vec(v).unwrap(), [0x03, 0x01, 0x07, 0x04]);
        assert_eq!(Group::decode_exact(&[0x03, 0x01, 0x07, 0x04], v), Ok(mid));
        assert_eq!(
            Group::decode_exact(&[0x02, 0x00, 0x03], v),
            Err(DecodeError::Underflow)
        );
        assert_eq!(
            mid.encode_to_vec(Version::Lite05),
            Err(EncodeError::Version)
        );
    }
}
