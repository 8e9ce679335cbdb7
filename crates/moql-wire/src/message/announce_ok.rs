//! ANNOUNCE_OK (spec 5.3): the publisher's first message on an Announce stream. lite-05 and
//! later.
//!
//! ```text
//! ANNOUNCE_OK {
//!   Message Length (i)
//!   Hop ID (i)          // the publisher's own hop ID; implicit last entry of every hop list
//!   Active Count (i)    // number of ANNOUNCE(active) that immediately follow
//! }
//! ```

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_varints, decode_varint, encode_varint,
};

/// ANNOUNCE_OK: the publisher's identity and the size of the initial snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AnnounceOk {
    /// The publisher's own hop ID (0 = unknown / withheld).
    pub hop_id: u64,
    /// How many ANNOUNCE(active) messages form the initial snapshot.
    pub active_count: u64,
}

impl Message for AnnounceOk {
    const NAME: &'static str = "ANNOUNCE_OK";

    fn exists_in(version: Version) -> bool {
        version.has_announce_ok()
    }

    fn check(&self, _: Version) -> Result<(), EncodeError> {
        check_varints(&[self.hop_id, self.active_count])
    }

    fn body_len(&self, _: Version) -> usize {
        VarInt::size_of(self.hop_id) + VarInt::size_of(self.active_count)
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, _: Version) -> Result<(), EncodeError> {
        encode_varint(buf, self.hop_id)?;
        encode_varint(buf, self.active_count)
    }

    fn decode_body<B: Buf>(buf: &mut B, _: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            hop_id: decode_varint(buf)?,
            active_count: decode_varint(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn spec_example_round_trips() {
        // spec 7.2: "02 2a 01  ANNOUNCE_OK: length 2, Hop ID 42, Active Count 1"
        let ok = AnnounceOk {
            hop_id: 42,
            active_count: 1,
        };
        let bytes = ok.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(bytes, [0x02, 0x2a, 0x01]);
        assert_eq!(
            AnnounceOk::decode_exact(&bytes, Version::Lite05).unwrap(),
            ok
        );
    }

    #[test]
    fn only_on_lite05() {
        for v in [Version::Lite03, Version::Lite04] {
            assert_eq!(
                AnnounceOk::default().encode_to_vec(v),
                Err(EncodeError::Version)
            );
            assert_eq!(
                AnnounceOk::decode_exact(&[2, 1, 0], v),
                Err(DecodeError::Version)
            );
        }
    }
}
