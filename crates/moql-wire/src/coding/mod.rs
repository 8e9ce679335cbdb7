//! The [`Encode`] and [`Decode`] traits and the primitive field codecs they are built from.
//!
//! Every wire type implements both traits with an explicit [`Version`]: the version is fixed
//! by ALPN for the whole session and changes the layout of several messages.

mod error;
mod string;
mod varint;
mod zigzag;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Version;
use crate::limits::MAX_STRING_LEN;
use crate::path::Path;

pub use error::{DecodeError, EncodeError};
pub use string::{
    decode_bytes, decode_string, decode_vec, encode_bytes, encode_string, prefixed_len,
};
pub use varint::{BoundsExceeded, VarInt, decode_varint, encode_varint};
pub use zigzag::{ZIGZAG_MAX, ZIGZAG_MIN, zigzag_decode, zigzag_encode};

pub(crate) use varint::peek_slice;

/// A value with a wire encoding.
///
/// `encode` first checks that the value exists in `version` ([`EncodeError::Version`]) and
/// that every field fits its wire type ([`EncodeError::BoundsExceeded`], …) and only then
/// writes: on error nothing has been written. `encoded_len` is exact for every value that
/// encodes successfully.
pub trait Encode {
    /// Writes the encoding of `self` for `version`.
    ///
    /// # Errors
    ///
    /// See [`EncodeError`]; nothing is written on error.
    fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError>;

    /// Exact number of bytes [`encode`](Self::encode) writes.
    fn encoded_len(&self, version: Version) -> usize;

    /// Encodes into a new `Vec`, sized exactly.
    ///
    /// # Errors
    ///
    /// See [`Encode::encode`].
    fn encode_to_vec(&self, version: Version) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len(version));
        self.encode(&mut out, version)?;
        Ok(out)
    }

    /// Encodes into a new [`Bytes`], sized exactly.
    ///
    /// # Errors
    ///
    /// See [`Encode::encode`].
    fn encode_to_bytes(&self, version: Version) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::with_capacity(self.encoded_len(version));
        self.encode(&mut out, version)?;
        Ok(out.freeze())
    }
}

/// A value that can be read from the wire.
///
/// # Partial input
///
/// [`DecodeError::Short`] means the input ended before the value did. The position of `buf`
/// is then **unspecified**, so decode from a cursor you can throw away and retry from the same
/// start once more bytes have arrived:
///
/// ```
/// use moql_wire::{Decode, DecodeError, Group, Version};
///
/// let mut received: Vec<u8> = vec![0x02, 0x00]; // GROUP, cut short
/// assert_eq!(Group::decode_from(&received, Version::Lite05), Err(DecodeError::Short));
///
/// received.push(0x03); // the rest arrives
/// let (group, used) = Group::decode_from(&received, Version::Lite05)?;
/// assert_eq!((group.sequence, used), (3, 3));
/// # Ok::<(), DecodeError>(())
/// ```
///
/// With [`Bytes`] input, decode from a clone (cheap: a reference count) and keep the clone
/// only on success. Every other error is final.
pub trait Decode: Sized {
    /// Reads one value for `version` from the front of `buf`.
    ///
    /// # Errors
    ///
    /// See [`DecodeError`]; only [`DecodeError::Short`] may succeed later with more bytes.
    fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError>;

    /// Decodes from the front of `bytes` and returns the value and how many bytes it used.
    ///
    /// # Errors
    ///
    /// See [`Decode::decode`]; `bytes` is not consumed, so on `Short` call again with more.
    fn decode_from(bytes: &[u8], version: Version) -> Result<(Self, usize), DecodeError> {
        let mut cursor = bytes;
        let value = Self::decode(&mut cursor, version)?;
        Ok((value, bytes.len() - cursor.len()))
    }

    /// Decodes a value that must use every byte of `bytes`.
    ///
    /// # Errors
    ///
    /// See [`Decode::decode`], plus [`DecodeError::Trailing`] if bytes are left over.
    fn decode_exact(bytes: &[u8], version: Version) -> Result<Self, DecodeError> {
        let (value, used) = Self::decode_from(bytes, version)?;
        if used != bytes.len() {
            return Err(DecodeError::Trailing);
        }
        Ok(value)
    }
}

// ---- field helpers shared by the message codecs ----

/// Reads one byte.
pub(crate) fn read_u8<B: Buf>(buf: &mut B) -> Result<u8, DecodeError> {
    if !buf.has_remaining() {
        return Err(DecodeError::Short);
    }
    Ok(buf.get_u8())
}

/// Reads an Ordered byte. Spec 2.2: "accept non-zero as true".
pub(crate) fn read_bool<B: Buf>(buf: &mut B) -> Result<bool, DecodeError> {
    Ok(read_u8(buf)? != 0)
}

/// Spec 2.2: "Send exactly `00` (false …) or `01` (true …)".
pub(crate) fn put_bool<B: BufMut>(buf: &mut B, value: bool) {
    buf.put_u8(u8::from(value));
}

/// Largest group an optional ("plus one") group field can carry: 2^62 − 2.
pub(crate) const MAX_OPTIONAL_GROUP: u64 = VarInt::MAX.into_inner() - 1;

/// Reads a "plus one" optional group (spec 2.5): `0` = absent, `n + 1` = group `n`.
pub(crate) fn read_group_opt<B: Buf>(buf: &mut B) -> Result<Option<u64>, DecodeError> {
    Ok(decode_varint(buf)?.checked_sub(1))
}

/// Writes a "plus one" optional group (spec 2.5).
pub(crate) fn put_group_opt<B: BufMut>(buf: &mut B, group: Option<u64>) -> Result<(), EncodeError> {
    match group {
        None => encode_varint(buf, 0),
        Some(g) if g <= MAX_OPTIONAL_GROUP => encode_varint(buf, g + 1),
        Some(_) => Err(EncodeError::BoundsExceeded),
    }
}

/// Encoded size of a "plus one" optional group.
pub(crate) const fn group_opt_len(group: Option<u64>) -> usize {
    match group {
        None => 1,
        Some(g) => VarInt::size_of(g.saturating_add(1)),
    }
}

/// Checks that an optional group fits its plus-one encoding.
pub(crate) fn check_group_opt(group: Option<u64>) -> Result<(), EncodeError> {
    match group {
        Some(g) if g > MAX_OPTIONAL_GROUP => Err(EncodeError::BoundsExceeded),
        _ => Ok(()),
    }
}

/// Checks that every value fits a varint.
pub(crate) fn check_varints(values: &[u64]) -> Result<(), EncodeError> {
    if values.iter().all(|&v| v <= VarInt::MAX.into_inner()) {
        Ok(())
    } else {
        Err(EncodeError::BoundsExceeded)
    }
}

/// Reads a string capped at [`MAX_STRING_LEN`].
pub(crate) fn read_string<B: Buf>(buf: &mut B) -> Result<String, DecodeError> {
    decode_string(buf, MAX_STRING_LEN)
}

/// Reads a broadcast path (spec 2.4): a string, normalized, at most 32 segments.
pub(crate) fn read_path<B: Buf>(buf: &mut B) -> Result<Path, DecodeError> {
    let raw = read_string(buf)?;
    // spec 2.4: "a path may contain at most 32 non-empty `/`-separated segments. A longer
    // path is a decode error (reported with code 5, Decode)".
    Path::from_string(raw).map_err(|_| DecodeError::BoundsExceeded)
}

/// Encoded size of a string field.
pub(crate) const fn string_len(s: &str) -> usize {
    prefixed_len(s.len())
}
