//! The typed announcements of lite-06 (moq-lite-06.md sections 3, 4, 6.4–6.6): what the
//! publisher sends on an Announce stream after ANNOUNCE_OK, replacing the untyped
//! [`Announce`](crate::Announce).
//!
//! ```text
//! Type (i), Message Length (i), Body
//!
//! type 0 ANNOUNCE_START  { Broadcast Path Suffix (p), Hop Count (i), Hop ID (i)...,
//!                          Warm Cost (i), Cold Cost (i) }
//! type 1 ANNOUNCE_END    { Announce ID (i) }
//! type 2 ANNOUNCE_UPDATE { Announce ID (i), Hop Count (i), Hop ID (i)...,
//!                          Warm Cost (i), Cold Cost (i) }      // ANNOUNCE_RESTART in the code
//! other types            skipped by their length; they assign no Announce ID
//! ```
//!
//! * Announce IDs are never on the wire in ANNOUNCE_START: both sides count STARTs from 0 per
//!   stream (moq-lite-06.md section 5.1). Tracking them is the session's job.
//! * Hop lists: at most 32 entries ([`DecodeError::BoundsExceeded`]), origin publisher first,
//!   the sender's own ID (ANNOUNCE_OK's Hop ID) not included; a non-zero ID repeated in one
//!   list is [`DecodeError::Duplicate`] (moq-lite-06.md sections 6.4 and 2, row 10).
//! * Leftover bytes inside a body are [`DecodeError::Trailing`] (moq-lite-06.md section 4).
//!   A body shorter than its fields is [`DecodeError::Underflow`] at once: the reference
//!   waits for the stream to end, moq-lite-06.md section 9 recommends failing promptly.
//! * The Message Length is capped at [`MAX_MESSAGE_LEN`](crate::limits::MAX_MESSAGE_LEN)
//!   for every type, including unknown ones (we must hold a body to skip it).

use bytes::{Buf, BufMut};

use super::{decode_framed, encode_len};
use crate::Version;
use crate::coding::{
    Decode, DecodeError, Encode, EncodeError, VarInt, check_varints, decode_varint, encode_string,
    encode_varint, read_path, string_len,
};
use crate::limits::{MAX_HOPS, MAX_MESSAGE_LEN};
use crate::path::Path;

/// ANNOUNCE_START type number.
const START: u64 = 0;
/// ANNOUNCE_END type number.
const END: u64 = 1;
/// ANNOUNCE_UPDATE type number.
const UPDATE: u64 = 2;

/// A route's price, lower wins (moq-lite-06.md sections 6.4 and 10.2). Both values are
/// `0 ..= 2^62 − 1` ([`RouteCost::MAX`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteCost {
    /// Cost as the mesh stands today, accumulated per link.
    pub warm: u64,
    /// The same path priced as if no relay on it carried anything; breaks Warm Cost ties.
    pub cold: u64,
}

impl RouteCost {
    /// Largest cost: 2^62 − 1, the largest varint. The reference saturates here.
    pub const MAX: u64 = VarInt::MAX.into_inner();

    /// A route learned over a pre-lite-06 link: warm 0, cold [`MAX`](Self::MAX) ("unknown",
    /// moq-lite-06.md section 10.2).
    pub const UNKNOWN: Self = Self {
        warm: 0,
        cold: Self::MAX,
    };

    /// A route through a peer that sent GOAWAY: both costs [`MAX`](Self::MAX) (moq-lite-06.md
    /// section 10.2).
    pub const DRAINING: Self = Self {
        warm: Self::MAX,
        cold: Self::MAX,
    };

    /// Both costs plus `link`, saturating at [`MAX`](Self::MAX): what a receiver stores
    /// (moq-lite-06.md section 6.7 step 6 and 10.2, "Charging on receipt").
    pub const fn charge(self, link: u64) -> Self {
        const fn add(a: u64, b: u64) -> u64 {
            let sum = a.saturating_add(b);
            if sum > RouteCost::MAX {
                RouteCost::MAX
            } else {
                sum
            }
        }
        Self {
            warm: add(self.warm, link),
            cold: add(self.cold, link),
        }
    }
}

/// ANNOUNCE_START (type 0): a broadcast became visible; assigns the stream's next Announce ID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceStart {
    /// Path relative to the ANNOUNCE_REQUEST prefix.
    pub suffix: Path,
    /// The route, origin publisher first, without the sender's own ID; at most 32 entries,
    /// 0 = unknown hop, no non-zero ID twice.
    pub hops: Vec<u64>,
    /// The advertised route cost.
    pub cost: RouteCost,
}

/// ANNOUNCE_END (type 1): retracts the advertisement with this ID and retires the ID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AnnounceEnd {
    /// The Announce ID (the index of its ANNOUNCE_START on this stream).
    pub id: u64,
}

/// ANNOUNCE_UPDATE (type 2; ANNOUNCE_RESTART in the reference's code): replaces the hop
/// chain and cost of a live advertisement in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceUpdate {
    /// The Announce ID.
    pub id: u64,
    /// The new route, same rules as [`AnnounceStart::hops`].
    pub hops: Vec<u64>,
    /// The new cost.
    pub cost: RouteCost,
}

/// A typed message on a lite-06 Announce stream after ANNOUNCE_OK.
///
/// Exists only where [`Version::has_announce_ids`]; elsewhere encoding and decoding fail
/// with `Version` before touching a byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnounceMessage {
    /// Type 0.
    Start(AnnounceStart),
    /// Type 1.
    End(AnnounceEnd),
    /// Type 2.
    Update(AnnounceUpdate),
    /// Any other type: the body was skipped (moq-lite-06.md 4, "Unknown announce types … are
    /// skipped by their length and do not assign an Announce ID; the stream stays up").
    ///
    /// Encoding one writes the type, the length and `len` zero bytes (for tests; a real peer
    /// has nothing to send). `kind` must not be 0, 1 or 2 and `len` at most the message cap.
    Unknown {
        /// The type number.
        kind: u64,
        /// The skipped body's length.
        len: u64,
    },
}

impl AnnounceMessage {
    /// The type number.
    pub fn type_id(&self) -> u64 {
        match self {
            Self::Start(_) => START,
            Self::End(_) => END,
            Self::Update(_) => UPDATE,
            Self::Unknown { kind, .. } => *kind,
        }
    }

    /// The spec's name for the message (`"ANNOUNCE_START"`, …, `"ANNOUNCE_UNKNOWN"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Start(_) => "ANNOUNCE_START",
            Self::End(_) => "ANNOUNCE_END",
            Self::Update(_) => "ANNOUNCE_UPDATE",
            Self::Unknown { .. } => "ANNOUNCE_UNKNOWN",
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Self::Start(s) => string_len(s.suffix.as_str()) + route_len(&s.hops, s.cost),
            Self::End(e) => VarInt::size_of(e.id),
            Self::Update(u) => VarInt::size_of(u.id) + route_len(&u.hops, u.cost),
            // Saturating: an oversized `len` fails `check`, this only has to not overflow.
            Self::Unknown { len, .. } => usize::try_from(*len).unwrap_or(usize::MAX),
        }
    }

    fn check(&self, version: Version) -> Result<(), EncodeError> {
        match self {
            Self::Start(s) => check_route(&s.hops, s.cost, version),
            Self::End(e) => check_varints(&[e.id]),
            Self::Update(u) => {
                check_varints(&[u.id])?;
                check_route(&u.hops, u.cost, version)
            }
            Self::Unknown { kind, len } => {
                if matches!(*kind, START | END | UPDATE) {
                    return Err(EncodeError::InvalidValue(
                        "ANNOUNCE_UNKNOWN with a known type",
                    ));
                }
                check_varints(&[*kind])?;
                if *len > MAX_MESSAGE_LEN as u64 {
                    return Err(EncodeError::TooLarge);
                }
                Ok(())
            }
        }
    }
}

/// Encoded size of `Hop Count, Hop IDs, Warm Cost, Cold Cost`.
fn route_len(hops: &[u64], cost: RouteCost) -> usize {
    VarInt::size_of(hops.len() as u64)
        + hops.iter().map(|&h| VarInt::size_of(h)).sum::<usize>()
        + VarInt::size_of(cost.warm)
        + VarInt::size_of(cost.cold)
}

fn check_route(hops: &[u64], cost: RouteCost, version: Version) -> Result<(), EncodeError> {
    if hops.len() > MAX_HOPS {
        return Err(EncodeError::BoundsExceeded);
    }
    check_varints(hops)?;
    check_varints(&[cost.warm, cost.cold])?;
    if version.rejects_repeated_hops() && has_repeated_hop(hops) {
        return Err(EncodeError::InvalidValue("repeated non-zero hop ID"));
    }
    Ok(())
}

/// Whether a non-zero ID appears twice (lists hold at most 32 entries: quadratic is fine).
fn has_repeated_hop(hops: &[u64]) -> bool {
    hops.iter()
        .enumerate()
        .any(|(i, &h)| h != 0 && hops[..i].contains(&h))
}

fn put_route<B: BufMut>(buf: &mut B, hops: &[u64], cost: RouteCost) -> Result<(), EncodeError> {
    encode_varint(buf, hops.len() as u64)?;
    for &hop in hops {
        encode_varint(buf, hop)?;
    }
    encode_varint(buf, cost.warm)?;
    encode_varint(buf, cost.cold)
}

fn read_route<B: Buf>(buf: &mut B, version: Version) -> Result<(Vec<u64>, RouteCost), DecodeError> {
    let count = decode_varint(buf)?;
    // moq-lite-06.md 6.4: "Count > 32 → decode error" — checked before reading or allocating.
    if count > MAX_HOPS as u64 {
        return Err(DecodeError::BoundsExceeded);
    }
    // Lossless: count <= 32.
    let mut hops = Vec::with_capacity(count as usize);
    for _ in 0..count {
        hops.push(decode_varint(buf)?);
    }
    // moq-lite-06.md 6.4: "a repeated non-zero ID in the list → decode error".
    if version.rejects_repeated_hops() && has_repeated_hop(&hops) {
        return Err(DecodeError::Duplicate);
    }
    let cost = RouteCost {
        warm: decode_varint(buf)?,
        cold: decode_varint(buf)?,
    };
    Ok((hops, cost))
}

impl Encode for AnnounceMessage {
    fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        if !version.has_announce_ids() {
            return Err(EncodeError::Version);
        }
        self.check(version)?;
        encode_varint(buf, self.type_id())?;
        encode_len(buf, self.body_len())?;
        match self {
            Self::Start(s) => {
                encode_string(buf, s.suffix.as_str())?;
                put_route(buf, &s.hops, s.cost)
            }
            Self::End(e) => encode_varint(buf, e.id),
            Self::Update(u) => {
                encode_varint(buf, u.id)?;
                put_route(buf, &u.hops, u.cost)
            }
            Self::Unknown { len, .. } => {
                // Lossless: len <= MAX_MESSAGE_LEN (checked).
                buf.put_bytes(0, *len as usize);
                Ok(())
            }
        }
    }

    fn encoded_len(&self, _: Version) -> usize {
        let len = self.body_len();
        VarInt::size_of(self.type_id()) + VarInt::size_of(len as u64) + len
    }
}

impl Decode for AnnounceMessage {
    fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        if !version.has_announce_ids() {
            return Err(DecodeError::Version);
        }
        let kind = decode_varint(buf)?;
        decode_framed(buf, |body| {
            Ok(match kind {
                START => {
                    let suffix = read_path(body)?;
                    let (hops, cost) = read_route(body, version)?;
                    Self::Start(AnnounceStart { suffix, hops, cost })
                }
                END => Self::End(AnnounceEnd {
                    id: decode_varint(body)?,
                }),
                UPDATE => {
                    let id = decode_varint(body)?;
                    let (hops, cost) = read_route(body, version)?;
                    Self::Update(AnnounceUpdate { id, hops, cost })
                }
                kind => {
                    let len = body.remaining();
                    body.advance(len);
                    Self::Unknown {
                        kind,
                        len: len as u64,
                    }
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Version = Version::Lite06;

    fn demo(hops: Vec<u64>, warm: u64, cold: u64) -> AnnounceMessage {
        AnnounceMessage::Start(AnnounceStart {
            suffix: Path::new("demo").unwrap(),
            hops,
            cost: RouteCost { warm, cold },
        })
    }

    fn round_trip(message: &AnnounceMessage, hex: &[u8]) {
        let bytes = message.encode_to_vec(V).unwrap();
        assert_eq!(bytes, hex, "{message:?}");
        assert_eq!(message.encoded_len(V), bytes.len());
        assert_eq!(&AnnounceMessage::decode_exact(&bytes, V).unwrap(), message);
    }

    #[test]
    fn section_8_2_examples_round_trip() {
        round_trip(
            &demo(vec![], 0, 0),
            &[0x00, 0x08, 0x04, b'd', b'e', b'm', b'o', 0x00, 0x00, 0x00],
        );
        round_trip(&AnnounceMessage::End(AnnounceEnd { id: 0 }), &[1, 1, 0]);
        round_trip(&AnnounceMessage::End(AnnounceEnd { id: 42 }), &[1, 1, 0x2a]);
        round_trip(
            &demo(vec![42], 1, 1),
            &[0, 9, 4, b'd', b'e', b'm', b'o', 1, 0x2a, 1, 1],
        );
        let mut unknown = vec![0, 0x10, 4, b'd', b'e', b'm', b'o', 1, 0x2a, 0];
        unknown.extend([0xff; 8]);
        round_trip(&demo(vec![42], 0, RouteCost::MAX), &unknown);
        let update = |cost| {
            AnnounceMessage::Update(AnnounceUpdate {
                id: 0,
                hops: vec![42],
                cost,
            })
        };
        round_trip(
            &update(RouteCost { warm: 3, cold: 3 }),
            &[2, 5, 0, 1, 0x2a, 3, 3],
        );
        let mut draining = vec![2, 0x13, 0, 1, 0x2a];
        draining.extend([0xff; 16]);
        round_trip(&update(RouteCost::DRAINING), &draining);
    }

    #[test]
    fn unknown_types_are_skipped_by_length() {
        let bytes = [0x04, 0x02, 0x01, 0x78, 0x01, 0x01, 0x00];
        let (first, used) = AnnounceMessage::decode_from(&bytes, V).unwrap();
        assert_eq!(first, AnnounceMessage::Unknown { kind: 4, len: 2 });
        assert_eq!(used, 4);
        let (next, _) = AnnounceMessage::decode_from(&bytes[used..], V).unwrap();
        assert_eq!(next, AnnounceMessage::End(AnnounceEnd { id: 0 }));
        // Re-encoding writes zeros in place of the skipped body.
        assert_eq!(first.encode_to_vec(V).unwrap(), [0x04, 0x02, 0x00, 0x00]);
        // A known type cannot be encoded as unknown.
        let fake = AnnounceMessage::Unknown { kind: 1, len: 0 };
        assert!(matches!(
            fake.encode_to_vec(V),
            Err(EncodeError::InvalidValue(_))
        ));
        // An unknown body must be complete before it can be skipped.
        assert_eq!(
            AnnounceMessage::decode_from(&[0x04, 0x03, 0x01], V),
            Err(DecodeError::Short)
        );
    }

    #[test]
    fn body_rules() {
        // Leftover bytes inside a body.
        assert_eq!(
            AnnounceMessage::decode_exact(&[1, 2, 0, 0], V),
            Err(DecodeError::Trailing)
        );
        // A length too small for the fields fails at once.
        assert_eq!(
            AnnounceMessage::decode_exact(&[1, 0], V),
            Err(DecodeError::Underflow)
        );
        // 33 hops.
        assert_eq!(
            AnnounceMessage::decode_exact(&[0, 2, 0, 0x21], V),
            Err(DecodeError::BoundsExceeded)
        );
        assert_eq!(
            AnnounceMessage::decode_exact(&[2, 2, 0, 0x21], V),
            Err(DecodeError::BoundsExceeded)
        );
        assert_eq!(
            demo(vec![1; 33], 0, 0).encode_to_vec(V),
            Err(EncodeError::BoundsExceeded)
        );
        // A repeated non-zero hop; repeated zeros are fine.
        assert_eq!(
            AnnounceMessage::decode_exact(&[0, 6, 0, 2, 0x2a, 0x2a, 0, 0], V),
            Err(DecodeError::Duplicate)
        );
        assert!(matches!(
            demo(vec![5, 6, 5], 0, 0).encode_to_vec(V),
            Err(EncodeError::InvalidValue(_))
        ));
        let zeros = AnnounceMessage::decode_exact(&[0, 6, 0, 2, 0, 0, 0, 0], V).unwrap();
        assert_eq!(
            zeros,
            AnnounceMessage::Start(AnnounceStart {
                hops: vec![0, 0],
                ..AnnounceStart::default()
            })
        );
    }

    #[test]
    fn only_on_lite06() {
        for v in [Version::Lite05, Version::Lite04, Version::Lite03] {
            assert_eq!(
                AnnounceMessage::End(AnnounceEnd { id: 0 }).encode_to_vec(v),
                Err(EncodeError::Version)
            );
            assert_eq!(
                AnnounceMessage::decode_exact(&[1, 1, 0], v),
                Err(DecodeError::Version)
            );
        }
    }

    #[test]
    fn cost_charging_saturates() {
        let cost = RouteCost { warm: 0, cold: 7 };
        assert_eq!(cost.charge(2), RouteCost { warm: 2, cold: 9 });
        assert_eq!(RouteCost::UNKNOWN.charge(5).cold, RouteCost::MAX);
        assert_eq!(RouteCost::DRAINING.charge(u64::MAX), RouteCost::DRAINING);
    }
}
