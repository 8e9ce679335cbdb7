//! SUBSCRIBE (spec 5.5): the subscriber's first message on a Subscribe stream. All versions.
//!
//! ```text
//! SUBSCRIBE {
//!   Message Length (i)
//!   Subscribe ID (i)
//!   Broadcast Path (p)
//!   Track Name (s)
//!   Subscriber Priority (8)
//!   Subscriber Ordered (8)         // lite-03 … lite-05 only
//!   Subscriber Max Latency (ms)    // "Max Age" on lite-06, same field
//!   Group Start (g)                // plus-one: 0 = latest; lite-06: RAW (i), 0 = no floor
//!   Group End (g)                  // plus-one: 0 = unbounded; inclusive
//!   Frame Start (i)                // lite-06 only: first frame of the Group Start group
//!   Frame End (g)                  // lite-06 only: plus-one, inclusive, in the Group End group
//! }
//! ```
//!
//! The lite-06 layout is moq-lite-06.md section 6.9; the per-version rules (Ordered ignored,
//! raw start, Frame End needs Group End, frame fields refused before lite-06) are in the
//! `delivery` module shared with SUBSCRIBE_UPDATE.

use bytes::{Buf, BufMut};

use super::Message;
use super::delivery::Delivery;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_varints, decode_varint, encode_string, encode_varint,
    read_path, read_string, string_len,
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
    /// `true` = oldest group first, `false` = newest first. Not on the lite-06 wire
    /// ([`Version::has_ordered`]): ignored on encode, decoded as `false`.
    pub ordered: bool,
    /// Subscriber max latency in milliseconds (0 = only the latest group matters). lite-06
    /// calls it Max Age and also uses it to pick the first group (moq-lite-06.md 6.9).
    pub max_latency: u64,
    /// First group wanted. lite-03 … lite-05: `None` = start at the latest group, at most
    /// 2^62 − 2. lite-06: a floor, `None` = no floor (wire `0`), at most 2^62 − 1; `Some(0)`
    /// encodes as `0` too and decodes back as `None`.
    pub start: Option<u64>,
    /// Last group wanted (inclusive pause cap); `None` = unbounded. At most 2^62 − 2.
    pub end: Option<u64>,
    /// lite-06: index of the first frame wanted in the `start` group (0 = from the head; a
    /// non-zero value qualifies group 0 too). Must be 0 before lite-06.
    pub frame_start: u64,
    /// lite-06: inclusive last frame wanted in the `end` group; `None` = the whole group.
    /// Requires `end`. Must be `None` before lite-06.
    pub frame_end: Option<u64>,
}

impl Subscribe {
    fn delivery(&self) -> Delivery {
        Delivery {
            priority: self.priority,
            ordered: self.ordered,
            max_latency: self.max_latency,
            start: self.start,
            end: self.end,
            frame_start: self.frame_start,
            frame_end: self.frame_end,
        }
    }
}

impl Message for Subscribe {
    const NAME: &'static str = "SUBSCRIBE";

    fn exists_in(_: Version) -> bool {
        true
    }

    fn check(&self, version: Version) -> Result<(), EncodeError> {
        check_varints(&[self.id])?;
        self.delivery()
            .check(version, "SUBSCRIBE frame end without group end")
    }

    fn body_len(&self, version: Version) -> usize {
        VarInt::size_of(self.id)
            + string_len(self.broadcast.as_str())
            + string_len(&self.track)
            + self.delivery().len(version)
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        encode_varint(buf, self.id)?;
        encode_string(buf, self.broadcast.as_str())?;
        encode_string(buf, &self.track)?;
        self.delivery().encode(buf, version)
    }

    fn decode_body<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        let id = decode_varint(buf)?;
        let broadcast = read_path(buf)?;
        let track = read_string(buf)?;
        let d = Delivery::decode(buf, version, "SUBSCRIBE frame end without group end")?;
        Ok(Self {
            id,
            broadcast,
            track,
            priority: d.priority,
            ordered: d.ordered,
            max_latency: d.max_latency,
            start: d.start,
            end: d.end,
            frame_start: d.frame_start,
            frame_end: d.frame_end,
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
            frame_start: 0,
            frame_end: None,
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

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    fn check(sub: &Subscribe, bytes: &str) {
        let bytes = hex(bytes);
        assert_eq!(
            sub.encode_to_vec(Version::Lite06).unwrap(),
            bytes,
            "{sub:?}"
        );
        assert_eq!(sub.encoded_len(Version::Lite06), bytes.len());
        assert_eq!(
            &Subscribe::decode_exact(&bytes, Version::Lite06).unwrap(),
            sub
        );
    }

    #[test]
    fn lite06_section_8_3_examples_round_trip() {
        check(
            &demo_clock(),
            "13 00 04 64 65 6d 6f 05 63 6c 6f 63 6b 02 41 f4 00 00 00 00",
        );
        check(
            &Subscribe {
                id: 1,
                max_latency: 0,
                start: Some(7),
                end: Some(9),
                frame_start: 4,
                frame_end: Some(2),
                ..demo_clock()
            },
            "12 01 04 64 65 6d 6f 05 63 6c 6f 63 6b 02 00 07 0a 04 03",
        );
        check(
            &Subscribe {
                id: 2,
                priority: 0,
                max_latency: 5000,
                start: Some(3),
                end: Some(4),
                ..demo_clock()
            },
            "13 02 04 64 65 6d 6f 05 63 6c 6f 63 6b 00 53 88 03 05 00 00",
        );
        check(
            &Subscribe {
                id: 3,
                priority: 1,
                max_latency: 0,
                frame_start: 4,
                ..demo_clock()
            },
            "12 03 04 64 65 6d 6f 05 63 6c 6f 63 6b 01 00 00 00 04 00",
        );
    }

    #[test]
    fn lite06_start_zero_and_ordered_are_normalized() {
        let sub = Subscribe {
            ordered: true,
            start: Some(0),
            ..demo_clock()
        };
        let bytes = sub.encode_to_vec(Version::Lite06).unwrap();
        assert_eq!(bytes, demo_clock().encode_to_vec(Version::Lite06).unwrap());
        assert_eq!(
            Subscribe::decode_exact(&bytes, Version::Lite06).unwrap(),
            demo_clock()
        );
        // The raw start can reach 2^62 - 1 on lite-06 (plus-one stops one below).
        let max = Subscribe {
            start: Some(VarInt::MAX.into_inner()),
            ..demo_clock()
        };
        assert!(max.encode_to_vec(Version::Lite06).is_ok());
    }

    #[test]
    fn lite06_frame_end_needs_group_end() {
        let bad = Subscribe {
            frame_end: Some(2),
            ..demo_clock()
        };
        assert!(matches!(
            bad.encode_to_vec(Version::Lite06),
            Err(EncodeError::InvalidValue(_))
        ));
        // moq-lite-06.md section 8.3, the invalid example.
        let bytes = hex("12 04 04 64 65 6d 6f 05 63 6c 6f 63 6b 00 00 00 00 00 03");
        assert!(matches!(
            Subscribe::decode_exact(&bytes, Version::Lite06),
            Err(DecodeError::InvalidValue(_))
        ));
    }

    #[test]
    fn frame_fields_do_not_exist_before_lite06() {
        for v in [Version::Lite05, Version::Lite04, Version::Lite03] {
            let sub = Subscribe {
                frame_start: 1,
                ..demo_clock()
            };
            assert_eq!(sub.encode_to_vec(v), Err(EncodeError::Version));
            let sub = Subscribe {
                end: Some(3),
                frame_end: Some(0),
                ..demo_clock()
            };
            assert_eq!(sub.encode_to_vec(v), Err(EncodeError::Version));
        }
        // The lite-05 bytes of the same request do not decode as lite-06 (moq-lite-06.md 8.3).
        let lite05 = hex("12 00 04 64 65 6d 6f 05 63 6c 6f 63 6b 02 00 41 f4 00 00");
        assert_eq!(
            Subscribe::decode_exact(&lite05, Version::Lite06),
            Err(DecodeError::Underflow)
        );
    }
}
