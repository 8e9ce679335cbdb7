//! SETUP (spec 5.1): the only message on each endpoint's Setup stream. lite-05 and later; the
//! layout is unchanged in lite-06, where the Cost parameter (0x4) is used for route cost and
//! the Hop parameter (0x5, the draft's Origin) is the peer's identity for loop avoidance
//! (moq-lite-06.md section 6.1).
//!
//! ```text
//! SETUP {
//!   Message Length (i)
//!   Parameter Count (i)
//!   Parameter { Parameter ID (i), Value Length (i), Value (b) } ...
//! }
//! ```
//!
//! Known parameters: 0x1 Probe `(i)`, 0x2 Path (UTF-8 bytes), 0x3 Role `(i)`, 0x4 Cost `(i)`,
//! 0x5 Origin `(i)`. Unknown ids are ignored by the protocol; we keep them in
//! [`Setup::unknown`] so a relay can inspect them.
//!
//! **Order.** Spec 5.1: "Parameter order is not significant and not stable … Decoders must
//! accept any order". We encode every parameter, known and unknown, in ascending id order (the
//! order the vectors use) and store `unknown` sorted by id, so equal SETUPs compare equal
//! whatever order they arrived in.

use bytes::{Buf, BufMut, Bytes};

use super::Message;
use crate::Version;
use crate::coding::{DecodeError, EncodeError, VarInt, decode_varint, encode_varint, prefixed_len};
use crate::limits::{MAX_SETUP_PARAMETERS, MAX_STRING_LEN};

const PROBE: u64 = 0x1;
const PATH: u64 = 0x2;
const ROLE: u64 = 0x3;
const COST: u64 = 0x4;
const ORIGIN: u64 = 0x5;

/// The Probe parameter's level (spec 5.1, id 0x1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeLevel {
    /// 0: no probe reports (same as absent; omitted on encode).
    #[default]
    None,
    /// 1: the sender reports its bandwidth estimate on a Probe stream.
    Report,
    /// 2: the sender may also increase its send rate when asked. Unknown values ≥ 3 decode as
    /// this ("Unknown values ≥ 3 are treated as Increase").
    Increase,
}

/// The Role parameter (spec 5.1, id 0x3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// 0: both directions (same as absent; omitted on encode). Unknown values decode as this
    /// ("Unknown values mean Both").
    #[default]
    Both,
    /// 1: the client will only publish.
    Publisher,
    /// 2: the client will only subscribe.
    Subscriber,
}

/// SETUP: each endpoint's declaration, sent once on its Setup stream (lite-05 and later).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    /// Probe level offered by the sender (param 0x1).
    pub probe: ProbeLevel,
    /// Request target for URI-less bindings: URL path plus `?query` (param 0x2). Not
    /// normalized. `Some("")` is sent as an empty value (the reference treats it as absent).
    pub path: Option<String>,
    /// The client's role (param 0x3).
    pub role: Role,
    /// Link price for route selection (param 0x4; ignored by lite-05 receivers, charged on
    /// every received announcement on lite-06, see [`Setup::link_cost`]). 0 is meaningful
    /// ("free").
    pub cost: Option<u64>,
    /// The sender's own hop ID (param 0x5: "Origin" in the draft, "Hop" in the release; see
    /// [`Setup::hop`]). 0 means none: it decodes as `None` and `Some(0)` is omitted on encode.
    pub origin: Option<u64>,
    /// Unknown parameters `(id, value)`, sorted by id. Encoded after validation: ids must be
    /// unique and not one of the known ids 0x1–0x5.
    pub unknown: Vec<(u64, Bytes)>,
}

impl Setup {
    /// The link cost a peer that sent no Cost parameter is charged at (moq-lite-06.md 6.1:
    /// "Absent = 1").
    pub const DEFAULT_COST: u64 = 1;

    /// The sender's Hop ID (parameter 0x5), `None` if absent or 0.
    pub fn hop(&self) -> Option<u64> {
        self.origin.filter(|&o| o != 0)
    }

    /// The Cost the sender declared (parameter 0x4), or [`DEFAULT_COST`](Self::DEFAULT_COST)
    /// when absent. A locally configured price takes precedence (moq-lite-06.md 10.2); that
    /// is the session's choice.
    pub fn link_cost(&self) -> u64 {
        self.cost.unwrap_or(Self::DEFAULT_COST)
    }

    /// The non-default known parameters as `(id, varint value)` or `(id, bytes)`, ascending.
    fn known(&self) -> impl Iterator<Item = (u64, Value<'_>)> {
        let probe = match self.probe {
            ProbeLevel::None => None,
            ProbeLevel::Report => Some((PROBE, Value::Int(1))),
            ProbeLevel::Increase => Some((PROBE, Value::Int(2))),
        };
        let path = self
            .path
            .as_deref()
            .map(|p| (PATH, Value::Bytes(p.as_bytes())));
        let role = match self.role {
            Role::Both => None,
            Role::Publisher => Some((ROLE, Value::Int(1))),
            Role::Subscriber => Some((ROLE, Value::Int(2))),
        };
        let cost = self.cost.map(|c| (COST, Value::Int(c)));
        let origin = self
            .origin
            .filter(|&o| o != 0)
            .map(|o| (ORIGIN, Value::Int(o)));
        [probe, path, role, cost, origin].into_iter().flatten()
    }

    /// Every parameter to encode, ascending by id.
    fn params(&self) -> Vec<(u64, Value<'_>)> {
        let mut all: Vec<_> = self.known().collect();
        all.extend(self.unknown.iter().map(|(id, v)| (*id, Value::Bytes(v))));
        all.sort_by_key(|(id, _)| *id);
        all
    }
}

#[derive(Clone, Copy)]
enum Value<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

impl Value<'_> {
    fn len(self) -> usize {
        match self {
            Self::Int(v) => VarInt::size_of(v),
            Self::Bytes(b) => b.len(),
        }
    }
}

impl Message for Setup {
    const NAME: &'static str = "SETUP";

    fn exists_in(version: Version) -> bool {
        version.has_setup()
    }

    fn check(&self, _: Version) -> Result<(), EncodeError> {
        let params = self.params();
        if params.len() > MAX_SETUP_PARAMETERS {
            return Err(EncodeError::InvalidValue("more than 64 SETUP parameters"));
        }
        for (i, (id, value)) in params.iter().enumerate() {
            if *id > VarInt::MAX.into_inner() {
                return Err(EncodeError::BoundsExceeded);
            }
            if let Value::Int(v) = value
                && *v > VarInt::MAX.into_inner()
            {
                return Err(EncodeError::BoundsExceeded);
            }
            if i > 0 && params[i - 1].0 == *id {
                return Err(EncodeError::InvalidValue("duplicate SETUP parameter id"));
            }
        }
        Ok(())
    }

    fn body_len(&self, _: Version) -> usize {
        let params = self.params();
        let mut len = VarInt::size_of(params.len() as u64);
        for (id, value) in params {
            len += VarInt::size_of(id) + prefixed_len(value.len());
        }
        len
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, _: Version) -> Result<(), EncodeError> {
        let params = self.params();
        encode_varint(buf, params.len() as u64)?;
        for (id, value) in params {
            encode_varint(buf, id)?;
            encode_varint(buf, value.len() as u64)?;
            match value {
                Value::Int(v) => encode_varint(buf, v)?,
                Value::Bytes(b) => buf.put_slice(b),
            }
        }
        Ok(())
    }

    fn decode_body<B: Buf>(buf: &mut B, _: Version) -> Result<Self, DecodeError> {
        let count = decode_varint(buf)?;
        // spec 5.1: "At most 64 parameters" — checked before reading any of them.
        if count > MAX_SETUP_PARAMETERS as u64 {
            return Err(DecodeError::TooMany);
        }
        let mut setup = Self::default();
        let mut seen_known = 0u8;
        for _ in 0..count {
            let id = decode_varint(buf)?;
            let len = decode_varint(buf)?;
            if len > buf.remaining() as u64 {
                return Err(DecodeError::Underflow);
            }
            // Lossless: len <= remaining.
            let len = len as usize;
            if (PROBE..=ORIGIN).contains(&id) {
                // spec 5.1: "a repeated Parameter ID is a decode error."
                let bit = 1u8 << id;
                if seen_known & bit != 0 {
                    return Err(DecodeError::Duplicate);
                }
                seen_known |= bit;
            } else if setup.unknown.iter().any(|(seen, _)| *seen == id) {
                return Err(DecodeError::Duplicate);
            }
            match id {
                PROBE => {
                    setup.probe = match varint_value(buf, len)? {
                        0 => ProbeLevel::None,
                        1 => ProbeLevel::Report,
                        _ => ProbeLevel::Increase,
                    }
                }
                PATH => {
                    if len > MAX_STRING_LEN {
                        return Err(DecodeError::TooLarge);
                    }
                    let mut raw = vec![0; len];
                    buf.copy_to_slice(&mut raw);
                    // spec 5.1.2: "Invalid UTF-8 in Path is a SETUP decode error." The
                    // reference reports it as InvalidValue.
                    let path = String::from_utf8(raw)
                        .map_err(|_| DecodeError::InvalidValue("SETUP path is not UTF-8"))?;
                    setup.path = Some(path);
                }
                ROLE => {
                    setup.role = match varint_value(buf, len)? {
                        1 => Role::Publisher,
                        2 => Role::Subscriber,
                        _ => Role::Both,
                    }
                }
                COST => setup.cost = Some(varint_value(buf, len)?),
                ORIGIN => setup.origin = Some(varint_value(buf, len)?).filter(|&o| o != 0),
                _ => setup.unknown.push((id, buf.copy_to_bytes(len))),
            }
        }
        setup.unknown.sort_by_key(|(id, _)| *id);
        Ok(setup)
    }
}

/// Reads a varint-valued parameter of `len` bytes. Spec 5.1: "'Varint' parameters must contain
/// **exactly one** `(i)` filling the whole value; extra bytes are a decode error."
fn varint_value<B: Buf>(buf: &mut B, len: usize) -> Result<u64, DecodeError> {
    let mut value = buf.take(len);
    let v = decode_varint(&mut value).map_err(|_| DecodeError::Underflow)?;
    if value.has_remaining() {
        return Err(DecodeError::Trailing);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn spec_example_client_setup_round_trips() {
        // spec 7.1: Probe = 1, Path = "/anon", Origin = 42.
        let setup = Setup {
            probe: ProbeLevel::Report,
            path: Some("/anon".into()),
            origin: Some(42),
            ..Setup::default()
        };
        let bytes = setup.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(
            bytes,
            [
                0x0e, 0x03, 1, 1, 1, 2, 5, b'/', b'a', b'n', b'o', b'n', 5, 1, 0x2a
            ]
        );
        assert_eq!(Setup::decode_exact(&bytes, Version::Lite05).unwrap(), setup);
    }

    #[test]
    fn unknown_parameters_are_kept_sorted_and_reencoded_in_order() {
        let bytes = [0x07, 0x02, 0x20, 0x01, 0xaa, 0x10, 0x01, 0xbb];
        let setup = Setup::decode_exact(&bytes, Version::Lite05).unwrap();
        assert_eq!(
            setup.unknown,
            [
                (0x10, Bytes::from_static(&[0xbb])),
                (0x20, Bytes::from_static(&[0xaa]))
            ]
        );
        let again = setup.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(again, [0x07, 0x02, 0x10, 0x01, 0xbb, 0x20, 0x01, 0xaa]);
    }

    #[test]
    fn invalid_unknown_parameters_are_refused() {
        let mut setup = Setup {
            unknown: vec![(PATH, Bytes::new())],
            ..Setup::default()
        };
        setup.path = Some(String::new());
        let mut out = Vec::new();
        assert!(matches!(
            setup.encode(&mut out, Version::Lite05),
            Err(EncodeError::InvalidValue(_))
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn setup_does_not_exist_before_lite05() {
        for v in [Version::Lite03, Version::Lite04] {
            assert_eq!(Setup::default().encode_to_vec(v), Err(EncodeError::Version));
            assert_eq!(
                Setup::decode_exact(&[0x01, 0x00], v),
                Err(DecodeError::Version)
            );
        }
    }

    #[test]
    fn origin_zero_means_none() {
        let setup = Setup {
            origin: Some(0),
            ..Setup::default()
        };
        assert_eq!(setup.encode_to_vec(Version::Lite05).unwrap(), [0x01, 0x00]);
    }

    #[test]
    fn lite06_section_8_1_examples() {
        let v = Version::Lite06;
        let client = Setup {
            probe: ProbeLevel::Report,
            path: Some("/anon".into()),
            cost: Some(2),
            origin: Some(42),
            ..Setup::default()
        };
        let bytes = client.encode_to_vec(v).unwrap();
        assert_eq!(
            bytes,
            [
                0x11, 0x04, 1, 1, 1, 2, 5, b'/', b'a', b'n', b'o', b'n', 4, 1, 2, 5, 1, 0x2a
            ]
        );
        assert_eq!(Setup::decode_exact(&bytes, v).unwrap(), client);
        assert_eq!((client.hop(), client.link_cost()), (Some(42), 2));
        let server = Setup::decode_exact(&[0x08, 0x02, 1, 1, 1, 5, 2, 0x52, 0x34], v).unwrap();
        assert_eq!((server.hop(), server.link_cost()), (Some(0x1234), 1));
        let cost = Setup {
            cost: Some(100),
            ..Setup::default()
        };
        assert_eq!(
            cost.encode_to_vec(v).unwrap(),
            [0x05, 0x01, 0x04, 0x02, 0x40, 0x64]
        );
        // Cost with trailing bytes is a SETUP decode error (moq-lite-06.md 6.1).
        assert_eq!(
            Setup::decode_exact(&[0x05, 0x01, 0x04, 0x02, 0x01, 0x00], v),
            Err(DecodeError::Trailing)
        );
    }
}
