//! [`FrameWriter`]: the FRAMEs of one group or fetch stream, as the chunks to write.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use moql_model::Frame;
use moql_wire::{EncodeError, FrameEncoder, Version};

use crate::meter::Meter;

/// Frames smaller than this are copied next to their header and written as one chunk; larger
/// ones are written as their own (zero-copy) chunk.
const COALESCE_BELOW: usize = 16 * 1024;

/// Encodes the FRAMEs of one stream: timestamps delta-coded from 0 on the first frame sent,
/// lite-06 frame bounds applied (moq-lite-06.md 6.9, 6.13: from the first frame through the
/// last, inclusive), and each small frame's header and payload in one chunk, so the
/// connection sends one packet per frame rather than a header packet and a payload packet.
///
/// How the chunks are written is the caller's: a subscription's group stream is reset with
/// Old when it goes stale while blocked (moq-lite-06.md 10.5); a fetch has no max latency.
pub(crate) struct FrameWriter {
    encoder: FrameEncoder,
    version: Version,
    /// Bytes not yet handed out: a stream header waiting for the first frame, or nothing.
    buf: BytesMut,
    /// Frames seen so far, sent or skipped.
    index: u64,
    /// Frames to skip before the first one sent.
    first: u64,
    /// The last frame to send (0-based, inclusive), if bounded.
    last: Option<u64>,
    /// Set once a frame at or past `last` was sent.
    done: bool,
    /// Told each sent frame's payload length.
    meter: Option<Arc<dyn Meter>>,
}

/// The one or two chunks of one frame.
pub(crate) type Chunks = std::iter::Flatten<std::array::IntoIter<Option<Bytes>, 2>>;

impl FrameWriter {
    /// A writer for frames `first` through `last` (inclusive; `None` = to the end).
    pub(crate) fn new(version: Version, (first, last): (u64, Option<u64>)) -> Self {
        Self {
            encoder: FrameEncoder::new(),
            version,
            buf: BytesMut::new(),
            index: 0,
            first,
            last,
            done: false,
            meter: None,
        }
    }

    /// Reports each sent frame's payload length to `meter` (the session's, if any).
    pub(crate) fn metered(mut self, meter: Option<Arc<dyn Meter>>) -> Self {
        self.meter = meter;
        self
    }

    /// Bytes that go out ahead of the first frame, in its chunk (e.g. the GROUP header).
    pub(crate) fn header(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The chunks that send the stream's next frame: none for a frame before the first bound.
    /// Stop once [`is_done`](Self::is_done).
    pub(crate) fn frame(&mut self, frame: &Frame) -> Result<Chunks, EncodeError> {
        self.index += 1;
        if self.index <= self.first {
            return Ok([None, None].into_iter().flatten());
        }
        if let Some(meter) = &self.meter {
            meter.payload_sent(frame.payload.len() as u64);
        }
        self.encoder.encode_header(
            frame.timestamp,
            frame.payload.len() as u64,
            &mut self.buf,
            self.version,
        )?;
        let chunks = if frame.payload.len() < COALESCE_BELOW {
            self.buf.extend_from_slice(&frame.payload);
            [Some(self.buf.split().freeze()), None]
        } else {
            [Some(self.buf.split().freeze()), Some(frame.payload.clone())]
        };
        self.done = self.last.is_some_and(|last| self.index > last);
        Ok(chunks.into_iter().flatten())
    }

    /// True once the last bounded frame was sent: nothing more goes on this stream.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// What is left to send before the FIN (a header no frame carried), if anything.
    pub(crate) fn rest(&mut self) -> Option<Bytes> {
        (!self.buf.is_empty()).then(|| self.buf.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use moql_wire::FrameDecoder;

    use super::*;

    const V: Version = Version::Lite06;

    fn frames(n: u64, len: usize) -> Vec<Frame> {
        (0..n)
            .map(|i| Frame::new(100 + i * 10, vec![i as u8; len]))
            .collect()
    }

    /// Runs every frame through `writer` and returns the chunks, stopping when it is done.
    fn write(writer: &mut FrameWriter, frames: &[Frame]) -> Vec<Bytes> {
        let mut chunks = Vec::new();
        for frame in frames {
            chunks.extend(writer.frame(frame).unwrap());
            if writer.is_done() {
                break;
            }
        }
        chunks.extend(writer.rest());
        chunks
    }

    fn decode(chunks: &[Bytes]) -> Vec<(u64, Vec<u8>)> {
        let mut bytes: &[u8] = &chunks.concat();
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let header = decoder.decode_header(&mut bytes, V).unwrap();
            let (payload, rest) = bytes.split_at(header.size as usize);
            out.push((header.timestamp, payload.to_vec()));
            bytes = rest;
        }
        out
    }

    #[test]
    fn small_frames_go_out_as_one_chunk_with_their_header() {
        let mut writer = FrameWriter::new(V, (0, None));
        writer.header().extend_from_slice(b"HDR");
        let chunks = write(&mut writer, &frames(3, 10));
        assert_eq!(chunks.len(), 3);
        assert!(chunks[0].starts_with(b"HDR"));
        let got = decode(&[chunks[0].slice(3..), chunks[1].clone(), chunks[2].clone()]);
        assert_eq!(
            got,
            frames(3, 10)
                .iter()
                .map(|f| (f.timestamp, f.payload.to_vec()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_large_frame_is_its_own_chunk() {
        let mut writer = FrameWriter::new(V, (0, None));
        let big = frames(1, COALESCE_BELOW);
        let chunks = write(&mut writer, &big);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1], big[0].payload);
    }

    #[test]
    fn bounds_skip_the_first_frames_and_stop_after_the_last() {
        // Frames 1 through 2 of 0..5: the delta chain starts at 0 on frame 1.
        let mut writer = FrameWriter::new(V, (1, Some(2)));
        let all = frames(5, 4);
        let got = decode(&write(&mut writer, &all));
        assert_eq!(
            got.iter().map(|(ts, _)| *ts).collect::<Vec<_>>(),
            [110, 120]
        );
        assert!(writer.is_done());
    }

    #[test]
    fn a_header_without_frames_is_left_for_the_fin() {
        let mut writer = FrameWriter::new(V, (0, None));
        writer.header().extend_from_slice(b"HDR");
        assert_eq!(write(&mut writer, &[]), [Bytes::from_static(b"HDR")]);
        assert_eq!(writer.rest(), None);
    }
}
