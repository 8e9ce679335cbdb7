//! FRAME (spec 5.13): the records after GROUP on a Group stream, and the whole Fetch reply.
//!
//! ```text
//! FRAME {
//!   Timestamp Delta (z)        // lite-05 and later: zigzag, BEFORE the length
//!   Payload Length (i)
//!   Payload (b)
//! }
//! ```
//!
//! Timestamps are delta-coded per stream: "keep a running value `prev`, starting at 0 for
//! every group stream and every fetch response. For each frame, `timestamp = prev +
//! unzigzag(delta)`; then `prev = timestamp`." lite-03/04 frames carry no timestamp.
//!
//! Three levels of API:
//!
//! * [`FrameHeader`]: the stateless wire header (delta, size), for callers that stream large
//!   payloads themselves;
//! * [`FrameEncoder`] / [`FrameDecoder`]: the per-stream state (the running timestamp and the
//!   payload cap) plus whole-frame encode/decode. Decoding returns payloads with
//!   [`Buf::copy_to_bytes`], which is zero-copy for [`Bytes`] and [`BytesMut`](bytes::BytesMut);
//! * [`FrameDecoder::end_of_stream`]: what the stream's FIN means given the unconsumed bytes.

use bytes::{Buf, BufMut, Bytes};

use crate::Version;
use crate::coding::{
    Decode, DecodeError, Encode, EncodeError, VarInt, ZIGZAG_MAX, ZIGZAG_MIN, decode_varint,
    encode_varint, peek_slice, zigzag_decode, zigzag_encode,
};
use crate::limits::{MAX_FRAME_PAYLOAD, MAX_TIMESTAMP};

/// The wire header of one FRAME: timestamp delta and payload size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Signed delta from the previous frame's timestamp, in `[−2^61, 2^61 − 1]`. Always 0
    /// (and not on the wire) before lite-05.
    pub delta: i64,
    /// Payload length in bytes.
    pub size: u64,
}

impl FrameHeader {
    /// Parses a header at the start of `bytes` without consuming; `None` if incomplete.
    fn peek(bytes: &[u8], version: Version) -> Option<(Self, usize)> {
        let mut used = 0;
        let mut delta = 0;
        if version.has_timestamps() {
            let (z, n) = peek_slice(bytes)?;
            delta = zigzag_decode(z);
            used = n;
        }
        let (size, n) = peek_slice(bytes.get(used..)?)?;
        Some((Self { delta, size }, used + n))
    }
}

impl Encode for FrameHeader {
    fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        let size = VarInt::try_from(self.size)?;
        if version.has_timestamps() {
            if !(ZIGZAG_MIN..=ZIGZAG_MAX).contains(&self.delta) {
                return Err(EncodeError::BoundsExceeded);
            }
            encode_varint(buf, zigzag_encode(self.delta))?;
        }
        size.encode(buf);
        Ok(())
    }

    fn encoded_len(&self, version: Version) -> usize {
        let delta = if version.has_timestamps() {
            VarInt::size_of(zigzag_encode(self.delta))
        } else {
            0
        };
        delta + VarInt::size_of(self.size)
    }
}

impl Decode for FrameHeader {
    fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        let delta = if version.has_timestamps() {
            zigzag_decode(decode_varint(buf)?)
        } else {
            0
        };
        Ok(Self {
            delta,
            size: decode_varint(buf)?,
        })
    }
}

/// One decoded frame.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Frame {
    /// Absolute timestamp in the track's timescale (lite-05 and later); 0 and ignored before
    /// lite-05.
    pub timestamp: u64,
    /// The payload.
    pub payload: Bytes,
}

/// The timestamp and size of a frame whose header has been read but whose payload has not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FrameInfo {
    /// Absolute timestamp (lite-05 and later; 0 before lite-05).
    pub timestamp: u64,
    /// Payload bytes that follow.
    pub size: u64,
}

/// Writes the FRAMEs of one Group stream or Fetch reply, tracking the timestamp baseline.
///
/// Use a new encoder (`prev` = 0) for every group stream and every fetch reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameEncoder {
    /// Timestamp of the previous frame on this stream (0 at the start).
    pub prev: u64,
}

impl FrameEncoder {
    /// An encoder at the start of a stream.
    pub const fn new() -> Self {
        Self { prev: 0 }
    }

    /// The header for a frame at `timestamp` with a `size`-byte payload.
    ///
    /// # Errors
    ///
    /// [`EncodeError::BoundsExceeded`] if `size` does not fit a varint, or (lite-05 and later,
    /// [`Version::has_timestamps`]) if `timestamp` is above 2^62 − 1 or more than 2^61 away
    /// from the previous one.
    pub fn header(
        &self,
        timestamp: u64,
        size: u64,
        version: Version,
    ) -> Result<FrameHeader, EncodeError> {
        VarInt::try_from(size)?;
        if !version.has_timestamps() {
            return Ok(FrameHeader { delta: 0, size });
        }
        if timestamp > MAX_TIMESTAMP {
            return Err(EncodeError::BoundsExceeded);
        }
        // Both are below 2^62, so the difference fits an i64.
        let delta = timestamp as i64 - self.prev as i64;
        if !(ZIGZAG_MIN..=ZIGZAG_MAX).contains(&delta) {
            return Err(EncodeError::BoundsExceeded);
        }
        Ok(FrameHeader { delta, size })
    }

    /// Writes only the header; the caller then writes exactly `size` payload bytes.
    ///
    /// # Errors
    ///
    /// See [`FrameEncoder::header`]; nothing is written and the state is unchanged on error.
    pub fn encode_header<B: BufMut>(
        &mut self,
        timestamp: u64,
        size: u64,
        buf: &mut B,
        version: Version,
    ) -> Result<(), EncodeError> {
        let header = self.header(timestamp, size, version)?;
        header.encode(buf, version)?;
        if version.has_timestamps() {
            self.prev = timestamp;
        }
        Ok(())
    }

    /// Writes a whole frame.
    ///
    /// # Errors
    ///
    /// See [`FrameEncoder::header`]; nothing is written and the state is unchanged on error.
    pub fn encode<B: BufMut>(
        &mut self,
        frame: &Frame,
        buf: &mut B,
        version: Version,
    ) -> Result<(), EncodeError> {
        self.encode_header(frame.timestamp, frame.payload.len() as u64, buf, version)?;
        buf.put_slice(&frame.payload);
        Ok(())
    }

    /// Exact bytes [`encode`](Self::encode) writes for `frame` from the current state.
    pub fn encoded_len(&self, frame: &Frame, version: Version) -> usize {
        let size = frame.payload.len() as u64;
        let delta = if version.has_timestamps() {
            VarInt::size_of(zigzag_encode(
                (frame.timestamp as i64).wrapping_sub(self.prev as i64),
            ))
        } else {
            0
        };
        delta + VarInt::size_of(size) + frame.payload.len()
    }
}

/// Reads the FRAMEs of one Group stream or Fetch reply, tracking the timestamp baseline and
/// refusing oversized payloads before reading them.
///
/// Use a new decoder for every group stream and every fetch reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameDecoder {
    /// Timestamp of the previous frame on this stream (0 at the start).
    pub prev: u64,
    /// Largest payload accepted; larger frames fail with [`DecodeError::FrameTooLarge`].
    pub max_payload: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder at the start of a stream with the default 32 MiB payload cap.
    pub const fn new() -> Self {
        Self {
            prev: 0,
            max_payload: MAX_FRAME_PAYLOAD,
        }
    }

    /// Validates a header against the cap and the timestamp range; returns the timestamp.
    fn apply(&self, header: FrameHeader, version: Version) -> Result<u64, DecodeError> {
        // spec 2.10: frame payload above 32 MiB → FrameTooLarge, "refused before reading
        // the payload".
        if header.size > self.max_payload {
            return Err(DecodeError::FrameTooLarge);
        }
        if !version.has_timestamps() {
            return Ok(0);
        }
        // spec 5.13: "The resulting timestamp must stay within 0 … 2^62−1".
        let timestamp = i128::from(self.prev) + i128::from(header.delta);
        if !(0..=i128::from(MAX_TIMESTAMP)).contains(&timestamp) {
            return Err(DecodeError::BoundsExceeded);
        }
        // Lossless: checked to be within 0 ..= 2^62 − 1.
        Ok(timestamp as u64)
    }

    /// Reads one frame header, leaving the payload in `buf` for the caller to stream.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Short`] if the header is incomplete (the state is unchanged; `buf` is
    /// untouched when it is contiguous), [`DecodeError::FrameTooLarge`],
    /// [`DecodeError::BoundsExceeded`].
    pub fn decode_header<B: Buf>(
        &mut self,
        buf: &mut B,
        version: Version,
    ) -> Result<FrameInfo, DecodeError> {
        let header = match FrameHeader::peek(buf.chunk(), version) {
            Some((header, used)) => {
                let timestamp = self.apply(header, version)?;
                buf.advance(used);
                self.prev = timestamp;
                return Ok(FrameInfo {
                    timestamp,
                    size: header.size,
                });
            }
            None if buf.chunk().len() == buf.remaining() => return Err(DecodeError::Short),
            None => FrameHeader::decode(buf, version)?,
        };
        let timestamp = self.apply(header, version)?;
        self.prev = timestamp;
        Ok(FrameInfo {
            timestamp,
            size: header.size,
        })
    }

    /// Reads one whole frame.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Short`] when the frame is incomplete: the state is unchanged and, for a
    /// contiguous `buf` (`Bytes`, `BytesMut`, `&[u8]`), nothing was consumed; call again when
    /// more bytes arrived, or [`end_of_stream`](Self::end_of_stream) at FIN.
    /// [`DecodeError::FrameTooLarge`] and [`DecodeError::BoundsExceeded`] are final.
    pub fn decode<B: Buf>(&mut self, buf: &mut B, version: Version) -> Result<Frame, DecodeError> {
        let chunk = buf.chunk();
        let contiguous = chunk.len() == buf.remaining();
        let (header, used) = match FrameHeader::peek(chunk, version) {
            Some(parsed) => parsed,
            None if contiguous => return Err(DecodeError::Short),
            None => {
                // Header split across chunks: consume it (position unspecified on Short).
                let header = FrameHeader::decode(buf, version)?;
                (header, 0)
            }
        };
        let timestamp = self.apply(header, version)?;
        // Lossless: size <= max_payload, checked above against the bytes we will hold.
        let size = usize::try_from(header.size).map_err(|_| DecodeError::FrameTooLarge)?;
        if buf.remaining() - used < size {
            return Err(DecodeError::Short);
        }
        buf.advance(used);
        let payload = buf.copy_to_bytes(size);
        self.prev = timestamp;
        Ok(Frame { timestamp, payload })
    }

    /// Classifies the end of the stream (FIN) given the bytes left after the last frame that
    /// [`decode`](Self::decode) returned.
    ///
    /// Spec 5.13: "Stream end exactly between two frames is the normal end of the group. (The
    /// Rust reader also treats a FIN right after a timestamp delta, before any length, as the
    /// end; a FIN inside a payload is an error — the group is abandoned as truncated.)"
    ///
    /// # Errors
    ///
    /// * [`DecodeError::WrongSize`]: the stream ended inside a payload;
    /// * [`DecodeError::Short`]: the stream ended inside a varint (final here: no more bytes
    ///   will come; the reference reports it the same way);
    /// * [`DecodeError::FrameTooLarge`] / [`DecodeError::BoundsExceeded`]: as for `decode`;
    /// * [`DecodeError::Trailing`]: `rest` still holds a whole frame (decode it first).
    pub fn end_of_stream(&self, rest: &[u8], version: Version) -> Result<(), DecodeError> {
        if rest.is_empty() {
            return Ok(());
        }
        let mut used = 0;
        let mut delta = 0;
        if version.has_timestamps() {
            let (z, n) = peek_slice(rest).ok_or(DecodeError::Short)?;
            if n == rest.len() {
                // The dangling delta is dropped, as the reference does.
                return Ok(());
            }
            delta = zigzag_decode(z);
            used = n;
        }
        let (size, n) = peek_slice(&rest[used..]).ok_or(DecodeError::Short)?;
        self.apply(FrameHeader { delta, size }, version)?;
        if ((rest.len() - used - n) as u64) < size {
            return Err(DecodeError::WrongSize);
        }
        Err(DecodeError::Trailing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(timestamp: u64, payload: &'static [u8]) -> Frame {
        Frame {
            timestamp,
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn spec_example_group_round_trips() {
        // spec 7.5: frames at 3000 "hi" and 3020 "yo"; a third at 3010 starts with 13.
        let v = Version::Lite05;
        let frames = [frame(3000, b"hi"), frame(3020, b"yo"), frame(3010, b"")];
        let mut enc = FrameEncoder::new();
        let mut out = Vec::new();
        for f in &frames {
            let before = out.len();
            let len = enc.encoded_len(f, v);
            enc.encode(f, &mut out, v).unwrap();
            assert_eq!(out.len() - before, len);
        }
        assert_eq!(
            out,
            [
                0x57, 0x70, 0x02, b'h', b'i', 0x28, 0x02, b'y', b'o', 0x13, 0x00
            ]
        );

        let mut dec = FrameDecoder::new();
        let mut buf = Bytes::from(out);
        for f in &frames {
            assert_eq!(&dec.decode(&mut buf, v).unwrap(), f);
        }
        assert_eq!(dec.decode(&mut buf, v), Err(DecodeError::Short));
        assert_eq!(dec.end_of_stream(&buf, v), Ok(()));
    }

    #[test]
    fn short_leaves_contiguous_input_untouched() {
        let v = Version::Lite05;
        let mut dec = FrameDecoder::new();
        let mut input: &[u8] = &[0x28, 0x05, b'a', b'b'];
        assert_eq!(dec.decode(&mut input, v), Err(DecodeError::Short));
        assert_eq!(input.len(), 4);
        assert_eq!(dec.prev, 0);
        assert_eq!(dec.end_of_stream(input, v), Err(DecodeError::WrongSize));
    }

    #[test]
    fn end_of_stream_rules() {
        let dec = FrameDecoder::new();
        let v = Version::Lite05;
        assert_eq!(dec.end_of_stream(&[0x28], v), Ok(())); // dangling delta dropped
        assert_eq!(dec.end_of_stream(&[0x40], v), Err(DecodeError::Short));
        assert_eq!(dec.end_of_stream(&[0x00, 0x40], v), Err(DecodeError::Short));
        assert_eq!(
            dec.end_of_stream(&[0x00, 0x01, 0x00], v),
            Err(DecodeError::Trailing)
        );
        assert_eq!(
            dec.end_of_stream(&[0x05, b'a'], Version::Lite04),
            Err(DecodeError::WrongSize)
        );
    }

    #[test]
    fn oversized_and_out_of_range_frames_are_refused_from_the_header() {
        let v = Version::Lite05;
        let mut dec = FrameDecoder::new();
        let too_big: &[u8] = &[0x00, 0x82, 0x00, 0x00, 0x01];
        assert_eq!(
            dec.decode(&mut &too_big[..], v),
            Err(DecodeError::FrameTooLarge)
        );
        let negative: &[u8] = &[0x01, 0x00];
        assert_eq!(
            dec.decode(&mut &negative[..], v),
            Err(DecodeError::BoundsExceeded)
        );
        let mut small = FrameDecoder {
            max_payload: 1,
            ..FrameDecoder::new()
        };
        assert_eq!(
            small.decode(&mut &[0x00u8, 0x02, 1, 2][..], v),
            Err(DecodeError::FrameTooLarge)
        );
    }

    #[test]
    fn lite04_frames_have_no_timestamp() {
        let v = Version::Lite04;
        let mut enc = FrameEncoder::new();
        let mut out = Vec::new();
        enc.encode(&frame(99, b"hi"), &mut out, v).unwrap();
        assert_eq!(out, [0x02, b'h', b'i']);
        let f = FrameDecoder::new().decode(&mut &out[..], v).unwrap();
        assert_eq!(f, frame(0, b"hi"));
    }

    #[test]
    fn encoder_refuses_unrepresentable_deltas() {
        let v = Version::Lite05;
        let enc = FrameEncoder::new();
        assert_eq!(
            enc.header(MAX_TIMESTAMP, 0, v),
            Err(EncodeError::BoundsExceeded)
        );
        assert_eq!(
            enc.header(MAX_TIMESTAMP + 1, 0, v),
            Err(EncodeError::BoundsExceeded)
        );
        let near = FrameEncoder {
            prev: MAX_TIMESTAMP - 1,
        };
        assert_eq!(near.header(MAX_TIMESTAMP, 0, v).unwrap().delta, 1);
    }

    #[test]
    fn header_split_across_chunks_decodes() {
        let v = Version::Lite05;
        let mut dec = FrameDecoder::new();
        let mut chained = (&[0x57u8][..]).chain(&[0x70u8, 0x02, b'h', b'i'][..]);
        assert_eq!(dec.decode(&mut chained, v).unwrap(), frame(3000, b"hi"));
    }
}
