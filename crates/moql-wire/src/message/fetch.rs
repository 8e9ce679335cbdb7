//! FETCH (spec 5.10): the subscriber's request on a Fetch stream.
//!
//! ```text
//! FETCH {
//!   Message Length (i)
//!   Broadcast Path (p)
//!   Track Name (s)
//!   Subscriber Priority (8)
//!   Group Sequence (i)         // absolute
//! }
//! ```
//!
//! The codec exists in every version; only lite-05 serves fetches
//! ([`Version::has_fetch`]). The reply is bare FRAMEs ([`FrameDecoder`](crate::FrameDecoder)).

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_varints, decode_varint, encode_string, encode_varint,
    read_path, read_string, read_u8, string_len,
};
use crate::path::Path;

/// FETCH: request one complete group.
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
}

impl Message for Fetch {
    const NAME: &'static str = "FETCH";

    fn exists_in(_: Version) -> bool {
        true
    }

    fn check(&self, _: Version) -> Result<(), EncodeError> {
        check_varints(&[self.group])
    }

    fn body_len(&self, _: Version) -> usize {
        string_len(self.broadcast.as_str())
            + string_len(&self.track)
            + 1
            + VarInt::size_of(self.group)
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, _: Version) -> Result<(), EncodeError> {
        encode_string(buf, self.broadcast.as_str())?;
        encode_string(buf, &self.track)?;
        buf.put_u8(self.priority);
        encode_varint(buf, self.group)
    }

    fn decode_body<B: Buf>(buf: &mut B, _: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            broadcast: read_path(buf)?,
            track: read_string(buf)?,
            priority: read_u8(buf)?,
            group: decode_varint(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn spec_example_round_trips() {
        // spec 7.6: "0d 04 64 65 6d 6f 05 63 6c 6f 63 6b 00 03"
        let fetch = Fetch {
            broadcast: Path::new("demo").unwrap(),
            track: "clock".into(),
            priority: 0,
            group: 3,
        };
        for v in Version::ALL {
            let bytes = fetch.encode_to_vec(v).unwrap();
            assert_eq!(bytes, b"\x0d\x04demo\x05clock\x00\x03");
            assert_eq!(Fetch::decode_exact(&bytes, v).unwrap(), fetch);
        }
    }
}
