//! DATAGRAM body (spec 5.14): one QUIC datagram = one single-frame group. lite-05 and
//! later.
//!
//! ```text
//! DATAGRAM {
//!   Subscribe ID (i)
//!   Group Sequence (i)
//!   Timestamp (i)              // ABSOLUTE (not delta, not zigzag), track timescale
//!   Payload (b)                // everything up to the end of the datagram
//! }
//! ```
//!
//! There is no length prefix: decode one whole datagram. Running out of bytes is
//! [`DecodeError::Underflow`], never `Short` — a datagram never grows.

use bytes::{Buf, BufMut, Bytes};

use crate::Version;
use crate::coding::{
    Decode, DecodeError, Encode, EncodeError, VarInt, check_varints, decode_varint, encode_varint,
};

/// A one-frame group carried in a QUIC datagram.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Datagram {
    /// The SUBSCRIBE's id.
    pub subscribe_id: u64,
    /// The group's absolute sequence (shared with stream-delivered groups).
    pub sequence: u64,
    /// Absolute timestamp in the track's timescale.
    pub timestamp: u64,
    /// The frame payload. Keep the whole body at or below
    /// [`MAX_DATAGRAM_SIZE`](crate::limits::MAX_DATAGRAM_SIZE) when sending.
    pub payload: Bytes,
}

impl Encode for Datagram {
    fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        if !version.has_datagrams() {
            return Err(EncodeError::Version);
        }
        check_varints(&[self.subscribe_id, self.sequence, self.timestamp])?;
        encode_varint(buf, self.subscribe_id)?;
        encode_varint(buf, self.sequence)?;
        encode_varint(buf, self.timestamp)?;
        buf.put_slice(&self.payload);
        Ok(())
    }

    fn encoded_len(&self, _: Version) -> usize {
        VarInt::size_of(self.subscribe_id)
            + VarInt::size_of(self.sequence)
            + VarInt::size_of(self.timestamp)
            + self.payload.len()
    }
}

impl Decode for Datagram {
    /// Decodes a whole datagram: the payload is everything left in `buf` (zero-copy for
    /// [`Bytes`]).
    fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        if !version.has_datagrams() {
            return Err(DecodeError::Version);
        }
        let header = |buf: &mut B| -> Result<_, DecodeError> {
            Ok((
                decode_varint(buf)?,
                decode_varint(buf)?,
                decode_varint(buf)?,
            ))
        };
        let (subscribe_id, sequence, timestamp) = header(buf).map_err(|e| match e {
            DecodeError::Short => DecodeError::Underflow,
            other => other,
        })?;
        let payload = buf.copy_to_bytes(buf.remaining());
        Ok(Self {
            subscribe_id,
            sequence,
            timestamp,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_round_trips() {
        // spec 7.9: "00 07 4d ac 68 69"
        let dgram = Datagram {
            subscribe_id: 0,
            sequence: 7,
            timestamp: 3500,
            payload: Bytes::from_static(b"hi"),
        };
        let bytes = dgram.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(bytes, [0x00, 0x07, 0x4d, 0xac, 0x68, 0x69]);
        assert_eq!(
            Datagram::decode_exact(&bytes, Version::Lite05).unwrap(),
            dgram
        );
    }

    #[test]
    fn truncated_header_is_underflow_and_old_versions_refuse() {
        assert_eq!(
            Datagram::decode_exact(&[], Version::Lite05),
            Err(DecodeError::Underflow)
        );
        assert_eq!(
            Datagram::decode_exact(&[5, 6], Version::Lite05),
            Err(DecodeError::Underflow)
        );
        assert_eq!(
            Datagram::decode_exact(&[1, 2, 3], Version::Lite04),
            Err(DecodeError::Version)
        );
        assert_eq!(
            Datagram::default().encode_to_vec(Version::Lite03),
            Err(EncodeError::Version)
        );
    }
}
