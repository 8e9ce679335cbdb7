//! [`Reader`]: decodes messages from a receive stream, reading more bytes only when the codec
//! says the input is `Short`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use moql_wire::{Decode, DecodeError, ErrorCode, Frame, FrameDecoder, Version};
use web_transport_trait::RecvStream;

use crate::error::{StreamError, from_transport};

/// How many bytes one read may add to the buffer.
const READ_CHUNK: usize = 64 * 1024;

/// Frame payloads shorter than this are copied out of the read buffer instead of sharing it,
/// so a cached frame pins at most four times its own size.
const COPY_BELOW: usize = READ_CHUNK / 4;

/// A buffered reader of one stream.
///
/// Dropping it drops the transport stream, which sends STOP_SENDING if the peer has not
/// finished (spec 3.2: harmless termination noise).
pub(crate) struct Reader<R> {
    stream: R,
    buf: BytesMut,
    fin: bool,
}

impl<R: RecvStream> Reader<R> {
    pub(crate) fn new(stream: R) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
            fin: false,
        }
    }

    /// Reads more bytes into the buffer; returns false at FIN.
    async fn fill(&mut self) -> Result<bool, StreamError> {
        if self.fin {
            return Ok(false);
        }
        self.buf.reserve(READ_CHUNK);
        let mut limited = (&mut self.buf).limit(READ_CHUNK);
        match self.stream.read_buf(&mut limited).await {
            Ok(Some(_)) => Ok(true),
            Ok(None) => {
                self.fin = true;
                Ok(false)
            }
            Err(err) => Err(from_transport(err)),
        }
    }

    /// Decodes the next message, or `None` on a clean FIN before any byte of it.
    ///
    /// A FIN inside a message is [`StreamError::UnexpectedEnd`]; every other decode error is
    /// final.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe if the stream's `read_buf` is (quinn's and `testing::mem`'s are): bytes
    /// already read stay in the buffer, and a message is removed from it only when returned,
    /// so the next call resumes where this one stopped.
    pub(crate) async fn decode_maybe<M: Decode>(
        &mut self,
        version: Version,
    ) -> Result<Option<M>, StreamError> {
        loop {
            if !self.buf.is_empty() {
                match M::decode_from(&self.buf, version) {
                    Ok((message, used)) => {
                        self.buf.advance(used);
                        return Ok(Some(message));
                    }
                    Err(DecodeError::Short) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(StreamError::UnexpectedEnd)
                };
            }
        }
    }

    /// Decodes the next message; a FIN first is [`StreamError::UnexpectedEnd`].
    pub(crate) async fn decode<M: Decode>(&mut self, version: Version) -> Result<M, StreamError> {
        self.decode_maybe(version)
            .await?
            .ok_or(StreamError::UnexpectedEnd)
    }

    /// Decodes the next frame of a group or fetch stream, or `None` at the stream's end.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`decode_maybe`](Self::decode_maybe): bytes read stay buffered and
    /// `decoder` only advances past a frame it returns.
    pub(crate) async fn frame(
        &mut self,
        decoder: &mut FrameDecoder,
        version: Version,
    ) -> Result<Option<Frame>, StreamError> {
        loop {
            if !self.buf.is_empty() {
                match decoder.decode(&mut self.buf, version) {
                    Ok(mut frame) => {
                        own_small_payload(&mut frame);
                        return Ok(Some(frame));
                    }
                    Err(DecodeError::Short) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            if !self.fill().await? {
                decoder.end_of_stream(&self.buf, version)?;
                return Ok(None);
            }
        }
    }

    /// Waits for the peer to finish its side, failing if it sends anything first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`decode_maybe`](Self::decode_maybe): a byte read stays buffered (and
    /// fails the next call).
    pub(crate) async fn expect_end(&mut self) -> Result<(), StreamError> {
        loop {
            if !self.buf.is_empty() {
                return Err(StreamError::UnexpectedData);
            }
            if !self.fill().await? {
                return Ok(());
            }
        }
    }

    /// Stops reading with `code` (STOP_SENDING).
    pub(crate) fn stop(&mut self, code: ErrorCode) {
        self.stream.stop(code.0);
    }
}

/// The payload is a slice of the reader's (up to 64 KiB) buffer. Cached frames live for the
/// track's window, so a small one would pin the whole buffer (found by the soak test: 8 KiB of
/// resident memory per cached one-line group): copy small payloads out, share large ones.
fn own_small_payload(frame: &mut Frame) {
    if frame.payload.len() < COPY_BELOW {
        frame.payload = Bytes::copy_from_slice(&frame.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_in(buffer: &mut BytesMut, len: usize) -> Frame {
        buffer.resize(READ_CHUNK, 7);
        Frame {
            timestamp: 0,
            payload: buffer.split_to(len).freeze(),
        }
    }

    fn inside(payload: &Bytes, start: usize, len: usize) -> bool {
        let at = payload.as_ptr() as usize;
        at >= start && at < start + len
    }

    #[test]
    fn small_payloads_stop_sharing_the_read_buffer_and_large_ones_keep_it() {
        let mut buffer = BytesMut::with_capacity(READ_CHUNK);
        let start = buffer.as_ptr() as usize;
        let mut small = frame_in(&mut buffer, 10);
        assert!(inside(&small.payload, start, READ_CHUNK));
        own_small_payload(&mut small);
        assert!(!inside(&small.payload, start, READ_CHUNK));
        assert_eq!(&small.payload[..], &[7; 10]);

        let mut buffer = BytesMut::with_capacity(READ_CHUNK);
        let start = buffer.as_ptr() as usize;
        let mut large = frame_in(&mut buffer, COPY_BELOW);
        own_small_payload(&mut large);
        assert!(
            inside(&large.payload, start, READ_CHUNK),
            "large frames stay zero-copy"
        );
    }
}
