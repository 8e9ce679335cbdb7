//! The typed publisher → subscriber messages on a Subscribe stream (spec 5.6).
//!
//! Spec 2.8: "Responses on the Subscribe stream are **typed** as well: a type varint comes
//! *before* the length":
//!
//! ```text
//! Type (i), Message Length (i), Body
//!
//! lite-05:    type 0 SUBSCRIBE_OK   { Group (i) }                   // first group served
//!             type 1 SUBSCRIBE_END  { Group (i) }                   // EXCLUSIVE end
//!             type 2 SUBSCRIBE_DROP { Start (i), End (i), Error Code (i) }
//! lite-03/04: type 0 SUBSCRIBE_OK   { Priority (8), Ordered (8), Max Latency (ms),
//!                                     Group Start (g), Group End (g) }
//!             type 1 SUBSCRIBE_DROP { Start (i), End (i), Error Code (i) }
//! ```
//!
//! [`SubscribeResponse`] has one variant per message; encoding a variant in a version without
//! it fails with [`EncodeError::Version`] rather than producing another message's type.

use bytes::{Buf, BufMut};

use super::{decode_framed, encode_len};
use crate::Version;
use crate::coding::{
    Decode, DecodeError, Encode, EncodeError, VarInt, check_group_opt, check_varints,
    decode_varint, encode_varint, group_opt_len, put_bool, put_group_opt, read_bool,
    read_group_opt, read_u8,
};

/// lite-05 SUBSCRIBE_OK (the reference's SUBSCRIBE_START): the first group that will be
/// delivered, sent once when it starts being served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubscribeOk {
    /// Absolute sequence of the first group delivered.
    pub group: u64,
}

/// lite-05 SUBSCRIBE_END: the track ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubscribeEnd {
    /// **Exclusive** end: the first sequence that will never exist; 0 = no groups at all
    /// (spec 5.6, and moq-lite-05.md section 12: the draft's inclusive reading is wrong).
    pub group: u64,
}

/// SUBSCRIBE_DROP: groups that will not be delivered (type 2 on lite-05, type 1 before).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubscribeDrop {
    /// First dropped group (absolute).
    pub start: u64,
    /// Last dropped group (absolute, inclusive).
    pub end: u64,
    /// 0 = simply unavailable; otherwise application-defined.
    pub error_code: u64,
}

/// lite-03/04 SUBSCRIBE_OK: the publisher's properties, sent once before any group.
/// Receivers ignore the contents (older-versions.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubscribeOkLegacy {
    /// Publisher priority.
    pub priority: u8,
    /// Publisher ordered.
    pub ordered: bool,
    /// Publisher max latency in milliseconds.
    pub max_latency: u64,
    /// Group start (plus-one encoded), `None` = absent.
    pub start: Option<u64>,
    /// Group end (plus-one encoded), `None` = absent.
    pub end: Option<u64>,
}

/// A message the publisher sends on a Subscribe stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubscribeResponse {
    /// lite-05 type 0.
    Ok(SubscribeOk),
    /// lite-03/04 type 0.
    OkLegacy(SubscribeOkLegacy),
    /// lite-05 type 1.
    End(SubscribeEnd),
    /// lite-05 type 2, lite-03/04 type 1.
    Drop(SubscribeDrop),
}

impl SubscribeResponse {
    /// The type number of this message in `version`, or `None` if it does not exist there.
    pub fn type_id(&self, version: Version) -> Option<u64> {
        match self {
            Self::Ok(_) => version.has_subscribe_start().then_some(0),
            Self::OkLegacy(_) => (!version.has_subscribe_start()).then_some(0),
            Self::End(_) => version.has_subscribe_end().then_some(1),
            Self::Drop(_) => Some(version.subscribe_drop_type()),
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Self::Ok(SubscribeOk { group }) | Self::End(SubscribeEnd { group }) => {
                VarInt::size_of(*group)
            }
            Self::OkLegacy(ok) => {
                2 + VarInt::size_of(ok.max_latency)
                    + group_opt_len(ok.start)
                    + group_opt_len(ok.end)
            }
            Self::Drop(d) => {
                VarInt::size_of(d.start) + VarInt::size_of(d.end) + VarInt::size_of(d.error_code)
            }
        }
    }

    fn check(&self) -> Result<(), EncodeError> {
        match self {
            Self::Ok(SubscribeOk { group }) | Self::End(SubscribeEnd { group }) => {
                check_varints(&[*group])
            }
            Self::OkLegacy(ok) => {
                check_varints(&[ok.max_latency])?;
                check_group_opt(ok.start)?;
                check_group_opt(ok.end)
            }
            Self::Drop(d) => check_varints(&[d.start, d.end, d.error_code]),
        }
    }
}

impl Encode for SubscribeResponse {
    fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        let type_id = self.type_id(version).ok_or(EncodeError::Version)?;
        self.check()?;
        let len = self.body_len();
        encode_varint(buf, type_id)?;
        encode_len(buf, len)?;
        match self {
            Self::Ok(SubscribeOk { group }) | Self::End(SubscribeEnd { group }) => {
                encode_varint(buf, *group)
            }
            Self::OkLegacy(ok) => {
                buf.put_u8(ok.priority);
                put_bool(buf, ok.ordered);
                encode_varint(buf, ok.max_latency)?;
                put_group_opt(buf, ok.start)?;
                put_group_opt(buf, ok.end)
            }
            Self::Drop(d) => {
                encode_varint(buf, d.start)?;
                encode_varint(buf, d.end)?;
                encode_varint(buf, d.error_code)
            }
        }
    }

    fn encoded_len(&self, version: Version) -> usize {
        let len = self.body_len();
        let type_len = VarInt::size_of(self.type_id(version).unwrap_or(0));
        type_len + VarInt::size_of(len as u64) + len
    }
}

impl Decode for SubscribeResponse {
    fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        let type_id = decode_varint(buf)?;
        // spec 5.6: "Any other Type value is a decode error" — rejected before the length.
        let kind = match type_id {
            0 if version.has_subscribe_start() => Kind::Ok,
            0 => Kind::OkLegacy,
            1 if version.has_subscribe_end() => Kind::End,
            t if t == version.subscribe_drop_type() => Kind::Drop,
            t => return Err(DecodeError::InvalidMessage(t)),
        };
        decode_framed(buf, |body| {
            Ok(match kind {
                Kind::Ok => Self::Ok(SubscribeOk {
                    group: decode_varint(body)?,
                }),
                Kind::End => Self::End(SubscribeEnd {
                    group: decode_varint(body)?,
                }),
                Kind::OkLegacy => Self::OkLegacy(SubscribeOkLegacy {
                    priority: read_u8(body)?,
                    ordered: read_bool(body)?,
                    max_latency: decode_varint(body)?,
                    start: read_group_opt(body)?,
                    end: read_group_opt(body)?,
                }),
                Kind::Drop => Self::Drop(SubscribeDrop {
                    start: decode_varint(body)?,
                    end: decode_varint(body)?,
                    error_code: decode_varint(body)?,
                }),
            })
        })
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Ok,
    OkLegacy,
    End,
    Drop,
}

impl From<SubscribeOk> for SubscribeResponse {
    fn from(value: SubscribeOk) -> Self {
        Self::Ok(value)
    }
}

impl From<SubscribeOkLegacy> for SubscribeResponse {
    fn from(value: SubscribeOkLegacy) -> Self {
        Self::OkLegacy(value)
    }
}

impl From<SubscribeEnd> for SubscribeResponse {
    fn from(value: SubscribeEnd) -> Self {
        Self::End(value)
    }
}

impl From<SubscribeDrop> for SubscribeResponse {
    fn from(value: SubscribeDrop) -> Self {
        Self::Drop(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_round_trip() {
        // spec 7.4: "00 01 03" OK(3), "01 01 05" END(5), "02 03 03 04 00" DROP(3..=4, 0)
        let v = Version::Lite05;
        let cases: [(SubscribeResponse, &[u8]); 3] = [
            (SubscribeOk { group: 3 }.into(), &[0x00, 0x01, 0x03]),
            (SubscribeEnd { group: 5 }.into(), &[0x01, 0x01, 0x05]),
            (
                SubscribeDrop {
                    start: 3,
                    end: 4,
                    error_code: 0,
                }
                .into(),
                &[0x02, 0x03, 0x03, 0x04, 0x00],
            ),
        ];
        for (msg, bytes) in cases {
            assert_eq!(msg.encode_to_vec(v).unwrap(), bytes);
            assert_eq!(msg.encoded_len(v), bytes.len());
            assert_eq!(SubscribeResponse::decode_exact(bytes, v).unwrap(), msg);
        }
    }

    #[test]
    fn legacy_layout_on_lite04() {
        let ok = SubscribeResponse::OkLegacy(SubscribeOkLegacy {
            priority: 2,
            ..Default::default()
        });
        let bytes = ok.encode_to_vec(Version::Lite04).unwrap();
        assert_eq!(bytes, [0x00, 0x05, 0x02, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(
            SubscribeResponse::decode_exact(&bytes, Version::Lite04).unwrap(),
            ok
        );
        let drop = SubscribeResponse::Drop(SubscribeDrop {
            start: 42,
            end: 43,
            error_code: 0,
        });
        assert_eq!(
            drop.encode_to_vec(Version::Lite03).unwrap(),
            [0x01, 0x03, 42, 43, 0]
        );
    }

    #[test]
    fn variants_are_refused_in_the_wrong_version() {
        let end = SubscribeResponse::End(SubscribeEnd { group: 1 });
        assert_eq!(
            end.encode_to_vec(Version::Lite04),
            Err(EncodeError::Version)
        );
        let ok = SubscribeResponse::Ok(SubscribeOk { group: 1 });
        assert_eq!(ok.encode_to_vec(Version::Lite03), Err(EncodeError::Version));
        let legacy = SubscribeResponse::OkLegacy(SubscribeOkLegacy::default());
        assert_eq!(
            legacy.encode_to_vec(Version::Lite05),
            Err(EncodeError::Version)
        );
        assert_eq!(
            SubscribeResponse::decode_exact(&[0x02, 0x03, 0x01, 0x03, 0x00], Version::Lite04),
            Err(DecodeError::InvalidMessage(2))
        );
        assert_eq!(
            SubscribeResponse::decode_exact(&[0x03, 0x01, 0x00], Version::Lite05),
            Err(DecodeError::InvalidMessage(3))
        );
    }
}
