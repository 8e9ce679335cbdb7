//! QUIC variable-length integers (RFC 9000 section 16; moq-lite-05 spec section 2.1).
//!
//! The two most significant bits of the first byte give the encoded length (1, 2, 4 or 8
//! bytes); the remaining bits are the value, big-endian. The largest value is 2^62 − 1.
//!
//! Encoding always uses the shortest form ("Send the shortest form. The reference always does,
//! and byte-exact tests assume it."). Decoding accepts longer forms ("Accept longer forms. The
//! reference decoder accepts non-minimal encodings (`40 05` decodes as 5).").

use std::fmt;

use bytes::{Buf, BufMut};

use super::error::{DecodeError, EncodeError};

/// A value that fits a QUIC varint: `0 ..= 2^62 − 1`.
///
/// The range is checked when the value is built, so encoding a `VarInt` cannot fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VarInt(u64);

/// The value is at or above 2^62 and has no varint encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("value does not fit a varint (max 2^62 - 1)")]
pub struct BoundsExceeded;

impl VarInt {
    /// The largest encodable value, 2^62 − 1.
    pub const MAX: Self = Self((1 << 62) - 1);

    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Builds a varint from a `u32`; every `u32` fits.
    pub const fn from_u32(value: u32) -> Self {
        Self(value as u64)
    }

    /// Builds a varint, or `None` when `value` is at or above 2^62.
    pub const fn new(value: u64) -> Option<Self> {
        if value <= Self::MAX.0 {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The wrapped value.
    pub const fn into_inner(self) -> u64 {
        self.0
    }

    /// Number of bytes the shortest encoding of `self` takes: 1, 2, 4 or 8.
    pub const fn size(self) -> usize {
        Self::size_of(self.0)
    }

    /// Number of bytes the shortest encoding of `value` takes: 1, 2, 4 or 8.
    ///
    /// Values at or above 2^62 have no encoding; they report 8 so that size arithmetic stays
    /// total (the encoder rejects them separately).
    pub const fn size_of(value: u64) -> usize {
        if value < (1 << 6) {
            1
        } else if value < (1 << 14) {
            2
        } else if value < (1 << 30) {
            4
        } else {
            8
        }
    }

    /// Writes the shortest encoding of `self`.
    pub fn encode<B: BufMut>(self, buf: &mut B) {
        let v = self.0;
        if v < (1 << 6) {
            buf.put_u8(v as u8);
        } else if v < (1 << 14) {
            buf.put_u16(0x4000 | v as u16);
        } else if v < (1 << 30) {
            buf.put_u32(0x8000_0000 | v as u32);
        } else {
            buf.put_u64(0xc000_0000_0000_0000 | v);
        }
    }

    /// Reads one varint, accepting non-minimal encodings.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Short`] when `buf` ends inside the varint.
    pub fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        // Fast path: the whole varint is in the first chunk (always true for `Bytes`,
        // `BytesMut` and slices).
        let chunk = buf.chunk();
        if let Some((value, len)) = peek_slice(chunk) {
            buf.advance(len);
            return Ok(Self(value));
        }
        if !buf.has_remaining() {
            return Err(DecodeError::Short);
        }
        let first = buf.chunk()[0];
        let len = 1usize << (first >> 6);
        if buf.remaining() < len {
            return Err(DecodeError::Short);
        }
        let mut value = u64::from(buf.get_u8() & 0x3f);
        for _ in 1..len {
            value = (value << 8) | u64::from(buf.get_u8());
        }
        Ok(Self(value))
    }
}

/// Parses a varint at the start of `bytes` without consuming anything.
///
/// Returns the value and the number of bytes it took, or `None` if `bytes` ends inside it.
pub(crate) fn peek_slice(bytes: &[u8]) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    match first >> 6 {
        0 => Some((u64::from(first), 1)),
        1 => {
            let b: [u8; 2] = bytes.get(..2)?.try_into().ok()?;
            Some((u64::from(u16::from_be_bytes(b) & 0x3fff), 2))
        }
        2 => {
            let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
            Some((u64::from(u32::from_be_bytes(b) & 0x3fff_ffff), 4))
        }
        _ => {
            let b: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
            Some((u64::from_be_bytes(b) & 0x3fff_ffff_ffff_ffff, 8))
        }
    }
}

impl TryFrom<u64> for VarInt {
    type Error = BoundsExceeded;

    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Self::new(value).ok_or(BoundsExceeded)
    }
}

impl TryFrom<usize> for VarInt {
    type Error = BoundsExceeded;

    fn try_from(value: usize) -> Result<Self, Self::Error> {
        Self::try_from(u64::try_from(value).map_err(|_| BoundsExceeded)?)
    }
}

impl From<u8> for VarInt {
    fn from(value: u8) -> Self {
        Self(u64::from(value))
    }
}

impl From<u16> for VarInt {
    fn from(value: u16) -> Self {
        Self(u64::from(value))
    }
}

impl From<u32> for VarInt {
    fn from(value: u32) -> Self {
        Self::from_u32(value)
    }
}

impl From<VarInt> for u64 {
    fn from(value: VarInt) -> Self {
        value.0
    }
}

impl fmt::Display for VarInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<BoundsExceeded> for EncodeError {
    fn from(_: BoundsExceeded) -> Self {
        Self::BoundsExceeded
    }
}

/// Reads one varint as a `u64` (non-minimal forms accepted).
///
/// # Errors
///
/// [`DecodeError::Short`] when `buf` ends inside the varint.
pub fn decode_varint<B: Buf>(buf: &mut B) -> Result<u64, DecodeError> {
    VarInt::decode(buf).map(VarInt::into_inner)
}

/// Writes `value` as a shortest-form varint.
///
/// # Errors
///
/// [`EncodeError::BoundsExceeded`] when `value` is at or above 2^62; nothing is written then.
pub fn encode_varint<B: BufMut>(buf: &mut B, value: u64) -> Result<(), EncodeError> {
    VarInt::try_from(value)?.encode(buf);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_varint(&mut out, v).unwrap();
        out
    }

    #[test]
    fn spec_examples_encode_shortest() {
        // spec 2.1 examples
        assert_eq!(enc(37), [0x25]);
        assert_eq!(enc(500), [0x41, 0xf4]);
        assert_eq!(enc(5000), [0x53, 0x88]);
        assert_eq!(enc(2_000_000), [0x80, 0x1e, 0x84, 0x80]);
        assert_eq!(enc(VarInt::MAX.into_inner()), [0xff; 8]);
    }

    #[test]
    fn boundaries_have_the_right_size() {
        for (v, n) in [
            (0, 1),
            (63, 1),
            (64, 2),
            (16383, 2),
            (16384, 4),
            ((1 << 30) - 1, 4),
            (1 << 30, 8),
            ((1 << 62) - 1, 8),
        ] {
            assert_eq!(VarInt::size_of(v), n, "{v}");
            assert_eq!(enc(v).len(), n, "{v}");
            let bytes = enc(v);
            assert_eq!(decode_varint(&mut &bytes[..]).unwrap(), v);
        }
    }

    #[test]
    fn non_minimal_forms_decode() {
        assert_eq!(decode_varint(&mut &[0x40u8, 0x05][..]).unwrap(), 5);
        assert_eq!(
            decode_varint(&mut &[0xc0u8, 0, 0, 0, 0, 0, 0, 1][..]).unwrap(),
            1
        );
    }

    #[test]
    fn out_of_range_is_rejected_without_writing() {
        let mut out = Vec::new();
        assert_eq!(
            encode_varint(&mut out, 1 << 62),
            Err(EncodeError::BoundsExceeded)
        );
        assert!(out.is_empty());
        assert_eq!(VarInt::try_from(u64::MAX), Err(BoundsExceeded));
    }

    #[test]
    fn truncated_varint_is_short() {
        for bytes in [
            &[][..],
            &[0x40][..],
            &[0x80, 0, 0][..],
            &[0xc0, 0, 0, 0, 0, 0, 0][..],
        ] {
            assert_eq!(decode_varint(&mut &bytes[..]), Err(DecodeError::Short));
        }
    }

    #[test]
    fn decodes_across_chunks() {
        let mut chained = (&[0x80u8, 0x1e][..]).chain(&[0x84u8, 0x80][..]);
        assert_eq!(decode_varint(&mut chained).unwrap(), 2_000_000);
    }
}
