//! ANNOUNCE_REQUEST (spec 5.2): the subscriber's first and only message on an Announce stream.
//!
//! ```text
//! ANNOUNCE_REQUEST {
//!   Message Length (i)
//!   Broadcast Path Prefix (p)
//!   Exclude Hop (i)            // lite-04 and lite-05; absent on lite-03 and lite-06
//! }
//! ```
//!
//! lite-06 removed Exclude Hop (moq-lite-06.md section 6.2): the body is the prefix only, and
//! a lite-05-style trailing varint is [`DecodeError::Trailing`].

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_varints, decode_varint, encode_string, encode_varint,
    read_path, string_len,
};
use crate::path::Path;

/// ANNOUNCE_REQUEST: "tell me about broadcasts under this prefix".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// Only broadcasts whose path has this (whole-segment) prefix are announced; root = all.
    pub prefix: Path,
    /// The subscriber's own hop ID, for loop avoidance; 0 = none. Not on the wire in lite-03
    /// and lite-06 ([`Version::has_exclude_hop`]): ignored on encode and decoded as 0 (on
    /// lite-06 the SETUP Hop parameter carries the identity instead).
    pub exclude_hop: u64,
}

impl Message for AnnounceRequest {
    const NAME: &'static str = "ANNOUNCE_REQUEST";

    fn exists_in(_: Version) -> bool {
        true
    }

    fn check(&self, version: Version) -> Result<(), EncodeError> {
        if version.has_exclude_hop() {
            check_varints(&[self.exclude_hop])?;
        }
        Ok(())
    }

    fn body_len(&self, version: Version) -> usize {
        let hop = if version.has_exclude_hop() {
            VarInt::size_of(self.exclude_hop)
        } else {
            0
        };
        string_len(self.prefix.as_str()) + hop
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        encode_string(buf, self.prefix.as_str())?;
        if version.has_exclude_hop() {
            encode_varint(buf, self.exclude_hop)?;
        }
        Ok(())
    }

    fn decode_body<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        let prefix = read_path(buf)?;
        let exclude_hop = if version.has_exclude_hop() {
            decode_varint(buf)?
        } else {
            0
        };
        Ok(Self {
            prefix,
            exclude_hop,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn spec_example_round_trips() {
        // spec 7.2: prefix "", Exclude Hop 0x1234 → 03 00 52 34
        let req = AnnounceRequest {
            prefix: Path::root(),
            exclude_hop: 0x1234,
        };
        let bytes = req.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(bytes, [0x03, 0x00, 0x52, 0x34]);
        assert_eq!(
            AnnounceRequest::decode_exact(&bytes, Version::Lite05).unwrap(),
            req
        );
    }

    #[test]
    fn lite03_has_no_exclude_hop() {
        let req = AnnounceRequest {
            prefix: Path::new("demo").unwrap(),
            exclude_hop: 7,
        };
        let bytes = req.encode_to_vec(Version::Lite03).unwrap();
        assert_eq!(bytes, [0x05, 0x04, b'd', b'e', b'm', b'o']);
        let back = AnnounceRequest::decode_exact(&bytes, Version::Lite03).unwrap();
        assert_eq!(back.exclude_hop, 0);
        assert_eq!(
            AnnounceRequest::decode_exact(&bytes, Version::Lite04),
            Err(DecodeError::Underflow)
        );
    }

    #[test]
    fn lite06_has_no_exclude_hop() {
        // moq-lite-06.md section 8.2: "01 00" (prefix "") and "01 05 04 72 6f 6f 6d".
        let req = AnnounceRequest {
            prefix: Path::root(),
            exclude_hop: 0x1234,
        };
        let bytes = req.encode_to_vec(Version::Lite06).unwrap();
        assert_eq!(bytes, [0x01, 0x00]);
        let room = AnnounceRequest {
            prefix: Path::new("room").unwrap(),
            exclude_hop: 0,
        };
        assert_eq!(
            AnnounceRequest::decode_exact(&[0x05, 0x04, b'r', b'o', b'o', b'm'], Version::Lite06),
            Ok(room)
        );
        // The lite-05 form of the request: the Exclude Hop is left over.
        assert_eq!(
            AnnounceRequest::decode_exact(&[0x03, 0x00, 0x52, 0x34], Version::Lite06),
            Err(DecodeError::Trailing)
        );
    }
}
