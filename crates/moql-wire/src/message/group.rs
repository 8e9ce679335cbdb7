//! GROUP (spec 5.13): the header of a Group stream, followed by FRAMEs. All versions.
//!
//! ```text
//! GROUP {
//!   Message Length (i)
//!   Subscribe ID (i)
//!   Group Sequence (i)         // absolute
//! }
//! ```

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
}

impl Message for Group {
    const NAME: &'static str = "GROUP";

    fn exists_in(_: Version) -> bool {
        true
    }

    fn check(&self, _: Version) -> Result<(), EncodeError> {
        check_varints(&[self.subscribe_id, self.sequence])
    }

    fn body_len(&self, _: Version) -> usize {
        VarInt::size_of(self.subscribe_id) + VarInt::size_of(self.sequence)
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, _: Version) -> Result<(), EncodeError> {
        encode_varint(buf, self.subscribe_id)?;
        encode_varint(buf, self.sequence)
    }

    fn decode_body<B: Buf>(buf: &mut B, _: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            subscribe_id: decode_varint(buf)?,
            sequence: decode_varint(buf)?,
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
        };
        for v in Version::ALL {
            let bytes = group.encode_to_vec(v).unwrap();
            assert_eq!(bytes, [0x02, 0x00, 0x03]);
            assert_eq!(Group::decode_exact(&bytes, v).unwrap(), group);
        }
    }
}
