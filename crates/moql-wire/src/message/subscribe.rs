//! SUBSCRIBE (spec 5.5): the subscriber's first message on a Subscribe stream. All versions.
//!
//! ```text
//! SUBSCRIBE {
//!   Message Length (i)
//!   Subscribe ID (i)
//!   Broadcast Path (p)
//!   Track Name (s)
//!   Subscriber Priority (8)
//!   Subscriber Ordered (8)
//!   Subscriber Max Latency (ms)
//!   Group Start (g)            // plus-one: 0 = latest
//!   Group End (g)              // plus-one: 0 = unbounded; inclusive
//! }
//! ```

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_group_opt, check_varints, decode_varint, encode_string,
    encode_varint, group_opt_len, put_bool, put_group_opt, read_bool, read_group_opt, read_path,
    read_string, read_u8, string_len,
};
use crate::path::Path;

/// SUBSCRIBE: start receiving a track's groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscribe {
    /// Chosen by the subscriber, unique for the session, echoed in every GROUP and datagram.
    pub id: u64,
    /// The broadcast, relative to the session root.
    pub broadcast: Path,
    /// The track name: exact, case-sensitive, not normalized.
    pub track: String,
    /// Subscriber priority, higher is more important.
    pub priority: u8,
    /// `true` = oldest group first, `false` = newest first.
    pub ordered: bool,
    /// Subscriber max latency in milliseconds (0 = only the latest group matters).
    pub max_latency: u64,
    /// First group wanted; `None` = start at the latest group. At most 2^62 − 2.
    pub start: Option<u64>,
    /// Last group wanted (inclusive pause cap); `None` = unbounded. At most 2^62 − 2.
    pub end: Option<u64>,
}

impl Message for Subscribe {
    const NAME: &'static str = "SUBSCRIBE";

    fn exists_in(_: Version) -> bool {
        true
    }

    fn check(&self, _: Version) -> Result<(), EncodeError> {
        check_varints(&[self.id, self.max_latency])?;
        check_group_opt(self.start)?;
        check_group_opt(self.end)
    }

    fn body_len(&self, _: Version) -> usize {
        VarInt::size_of(self.id)
            + string_len(self.broadcast.as_str())
            + string_len(&self.track)
            + 2
            + VarInt::size_of(self.max_latency)
            + group_opt_len(self.start)
            + group_opt_len(self.end)
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, _: Version) -> Result<(), EncodeError> {
        encode_varint(buf, self.id)?;
        encode_string(buf, self.broadcast.as_str())?;
        encode_string(buf, &self.track)?;
        buf.put_u8(self.priority);
        put_bool(buf, self.ordered);
        encode_varint(buf, self.max_latency)?;
        put_group_opt(buf, self.start)?;
        put_group_opt(buf, self.end)
    }

    fn decode_body<B: Buf>(buf: &mut B, _: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            id: decode_varint(buf)?,
            broadcast: read_path(buf)?,
            track: read_string(buf)?,
            priority: read_u8(buf)?,
            ordered: read_bool(buf)?,
            max_latency: decode_varint(buf)?,
            start: read_group_opt(buf)?,
            end: read_group_opt(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    fn demo_clock() -> Subscribe {
        Subscribe {
            id: 0,
            broadcast: Path::new("demo").unwrap(),
            track: "clock".into(),
            priority: 2,
            ordered: false,
            max_latency: 500,
            start: None,
            end: None,
        }
    }

    #[test]
    fn spec_examples_round_trip() {
        // spec 7.4
        let sub = demo_clock();
        let bytes = sub.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(
            bytes,
            [
                0x12, 0x00, 0x04, b'd', b'e', b'm', b'o', 0x05, b'c', b'l', b'o', b'c', b'k', 0x02,
                0x00, 0x41, 0xf4, 0x00, 0x00
            ]
        );
        assert_eq!(
            Subscribe::decode_exact(&bytes, Version::Lite05).unwrap(),
            sub
        );

        let second = Subscribe {
            id: 1,
            priority: 0,
            ordered: true,
            max_latency: 0,
            start: Some(3),
            end: Some(4),
            ..demo_clock()
        };
        let bytes = second.encode_to_vec(Version::Lite03).unwrap();
        assert_eq!(bytes[bytes.len() - 5..], [0x00, 0x01, 0x00, 0x04, 0x05]);
        assert_eq!(
            Subscribe::decode_exact(&bytes, Version::Lite03).unwrap(),
            second
        );
    }

    #[test]
    fn out_of_range_values_are_refused_before_writing() {
        let mut out = Vec::new();
        let sub = Subscribe {
            start: Some(VarInt::MAX.into_inner()),
            ..demo_clock()
        };
        assert_eq!(
            sub.encode(&mut out, Version::Lite05),
            Err(EncodeError::BoundsExceeded)
        );
        let sub = Subscribe {
            id: u64::MAX,
            ..demo_clock()
        };
        assert_eq!(
            sub.encode(&mut out, Version::Lite05),
            Err(EncodeError::BoundsExceeded)
        );
        assert!(out.is_empty());
    }
}
