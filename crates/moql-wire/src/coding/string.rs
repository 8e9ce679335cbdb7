//! Length-prefixed strings and byte strings (spec section 2.3).
//!
//! `Length (i)` followed by exactly `Length` bytes. Decoding checks the declared length against
//! a cap and against the bytes actually available **before** allocating, so a hostile length
//! can never make us reserve memory the peer has not sent.

use bytes::{Buf, BufMut, Bytes};

use super::error::{DecodeError, EncodeError};
use super::varint::{VarInt, decode_varint, encode_varint};

/// Reads the length prefix and checks it against `max` and the bytes available.
fn decode_len<B: Buf>(buf: &mut B, max: usize) -> Result<usize, DecodeError> {
    let len = decode_varint(buf)?;
    let len = usize::try_from(len).map_err(|_| DecodeError::TooLarge)?;
    if len > max {
        return Err(DecodeError::TooLarge);
    }
    if len > buf.remaining() {
        return Err(DecodeError::Short);
    }
    Ok(len)
}

/// Reads a length-prefixed UTF-8 string of at most `max` bytes.
///
/// # Errors
///
/// [`DecodeError::TooLarge`] when the declared length is above `max`,
/// [`DecodeError::Short`] when fewer bytes are available than declared,
/// [`DecodeError::InvalidString`] when the bytes are not UTF-8.
pub fn decode_string<B: Buf>(buf: &mut B, max: usize) -> Result<String, DecodeError> {
    let bytes = decode_vec(buf, max)?;
    String::from_utf8(bytes).map_err(|_| DecodeError::InvalidString)
}

/// Reads a length-prefixed byte string of at most `max` bytes into a `Vec`.
///
/// # Errors
///
/// As [`decode_string`], minus the UTF-8 check.
pub fn decode_vec<B: Buf>(buf: &mut B, max: usize) -> Result<Vec<u8>, DecodeError> {
    let len = decode_len(buf, max)?;
    // `len` is at most `max` and at most what the peer actually sent.
    let mut out = vec![0; len];
    buf.copy_to_slice(&mut out);
    Ok(out)
}

/// Reads a length-prefixed byte string of at most `max` bytes.
///
/// Zero-copy when `buf` is a [`Bytes`] (or a `Take` of one).
///
/// # Errors
///
/// As [`decode_vec`].
pub fn decode_bytes<B: Buf>(buf: &mut B, max: usize) -> Result<Bytes, DecodeError> {
    let len = decode_len(buf, max)?;
    Ok(buf.copy_to_bytes(len))
}

/// Writes `bytes` with a varint length prefix.
///
/// # Errors
///
/// [`EncodeError::BoundsExceeded`] if the length does not fit a varint (never in practice).
pub fn encode_bytes<B: BufMut>(buf: &mut B, bytes: &[u8]) -> Result<(), EncodeError> {
    encode_varint(buf, bytes.len() as u64)?;
    buf.put_slice(bytes);
    Ok(())
}

/// Writes a string with a varint length prefix.
///
/// # Errors
///
/// As [`encode_bytes`].
pub fn encode_string<B: BufMut>(buf: &mut B, s: &str) -> Result<(), EncodeError> {
    encode_bytes(buf, s.as_bytes())
}

/// Encoded size of a length-prefixed byte string of `len` bytes.
pub const fn prefixed_len(len: usize) -> usize {
    VarInt::size_of(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut out = Vec::new();
        encode_string(&mut out, "demo").unwrap();
        assert_eq!(out, b"\x04demo");
        assert_eq!(prefixed_len(4), out.len());
        assert_eq!(decode_string(&mut &out[..], 100).unwrap(), "demo");
    }

    #[test]
    fn hostile_length_is_refused_before_allocating() {
        // Declares 2^62 - 1 bytes but carries none.
        let bytes = [0xff; 8];
        assert_eq!(
            decode_string(&mut &bytes[..], 1 << 20),
            Err(DecodeError::TooLarge)
        );
        // Declares 10 bytes (under the cap) but carries 2.
        let bytes = [10, b'a', b'b'];
        assert_eq!(decode_string(&mut &bytes[..], 100), Err(DecodeError::Short));
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let bytes = [2, 0xff, 0xfe];
        assert_eq!(
            decode_string(&mut &bytes[..], 100),
            Err(DecodeError::InvalidString)
        );
    }
}
