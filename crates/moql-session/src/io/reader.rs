//! [`Reader`]: decodes messages from a receive stream, reading more bytes only when the codec
//! says the input is `Short`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use moql_wire::{Decode, DecodeError, ErrorCode, Frame, FrameDecoder, Version};
use web_transport_trait::RecvStream;

use crate::error::{StreamError, from_transport};

/// How many bytes one read may add to the buffer.
const READ_CHUNK: usize = 64 * 1024;

/// Frame payloads shorter than this are copied out of the read buffer instead of sharing it,
/// so a cached frame pins at most four times its own size.
const COPY_BELOW: usize = READ_CHUNK / 4;

/// The bytes one session's readers hold in frames not yet complete, against a limit
/// ([`SessionConfig::max_receive_buffer`](crate::SessionConfig::max_receive_buffer)).
///
/// A frame may declare up to 32 MiB and arrive slowly, and each stream's is buffered whole
/// until it completes; without a session-wide bound a peer could hold that on every stream it
/// may open. Each reader holds its first read chunk (64 KiB) uncharged, which the stream limit
/// already bounds; only what a reader holds beyond it is charged.
#[derive(Debug)]
pub(crate) struct ReceiveBudget {
    held: AtomicUsize,
    limit: usize,
}

impl ReceiveBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            held: AtomicUsize::new(0),
            limit,
        })
    }

    /// Bytes charged now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

/// One reader's share of a [`ReceiveBudget`].
struct Charge {
    budget: Arc<ReceiveBudget>,
    held: usize,
}

impl Charge {
    /// Moves this reader's charge to `wanted` bytes; fails (charging nothing more) if that
    /// takes the session over its limit.
    fn set(&mut self, wanted: usize) -> Result<(), StreamError> {
        if wanted <= self.held {
            self.budget
                .held
                .fetch_sub(self.held - wanted, Ordering::Relaxed);
            self.held = wanted;
            return Ok(());
        }
        let more = wanted - self.held;
        let before = self.budget.held.fetch_add(more, Ordering::Relaxed);
        if before + more > self.budget.limit {
            self.budget.held.fetch_sub(more, Ordering::Relaxed);
            return Err(StreamError::Limit(
                ErrorCode::TOO_MANY_REQUESTS,
                "bytes buffered in incomplete frames",
            ));
        }
        self.held = wanted;
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.held, Ordering::Relaxed);
    }
}

/// A buffered reader of one stream.
///
/// Dropping it drops the transport stream, which sends STOP_SENDING if the peer has not
/// finished (spec 3.2: harmless termination noise).
pub(crate) struct Reader<R> {
    stream: R,
    buf: BytesMut,
    fin: bool,
    charge: Option<Charge>,
}

impl<R: RecvStream> Reader<R> {
    pub(crate) fn new(stream: R) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
            fin: false,
            charge: None,
        }
    }

    /// A reader whose buffered bytes beyond one read chunk count against `budget`: a read
    /// that would take the session over it fails with
    /// [`StreamError::Limit`] (493), for the caller to stop the stream with.
    pub(crate) fn charged(stream: R, budget: Arc<ReceiveBudget>) -> Self {
        let mut reader = Self::new(stream);
        reader.charge = Some(Charge { budget, held: 0 });
        reader
    }

    /// Reads more bytes into the buffer; returns false at FIN.
    async fn fill(&mut self) -> Result<bool, StreamError> {
        if self.fin {
            return Ok(false);
        }
        if let Some(charge) = &mut self.charge {
            // Release what earlier messages took out of the buffer.
            charge.set(self.buf.len().saturating_sub(READ_CHUNK))?;
        }
        self.buf.reserve(READ_CHUNK);
        let mut limited = (&mut self.buf).limit(READ_CHUNK);
        match self.stream.read_buf(&mut limited).await {
            Ok(Some(_)) => {
                if let Some(charge) = &mut self.charge {
                    charge.set(self.buf.len().saturating_sub(READ_CHUNK))?;
                }
                Ok(true)
            }
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
    use crate::testing::mem;
    use web_transport_trait::{SendStream as _, Session as _};

    /// A lite-05 frame (timestamp delta 0) declaring `size` bytes, of which `sent` are
    /// written; the stream stays open.
    async fn partial_frame(client: &mem::MemSession, size: u32, sent: usize) -> mem::MemSend {
        let mut send = client.open_uni().await.unwrap();
        let mut bytes = vec![0x00];
        bytes.extend((0x8000_0000u32 | size).to_be_bytes());
        bytes.resize(5 + sent, 7);
        send.write_all(&bytes).await.unwrap();
        send
    }

    #[tokio::test(start_paused = true)]
    async fn incomplete_frames_are_charged_to_the_session_and_released_on_drop() {
        let (client, server) = mem::pair_with(mem::Config {
            window: 1 << 20,
            ..mem::Config::version(Version::Lite05)
        });
        // (Room for the frame headers.)
        let budget = ReceiveBudget::new(3 * READ_CHUNK + 64);
        let mut readers = Vec::new();
        let mut sends = Vec::new();
        // Two streams of 2.5 read chunks each: 1.5 chunks charged each, 3 in all: the limit.
        for _ in 0..2 {
            sends.push(partial_frame(&client, 1 << 20, 5 * READ_CHUNK / 2).await);
            let mut reader = Reader::charged(server.accept_uni().await.unwrap(), budget.clone());
            let mut decoder = FrameDecoder::new();
            let pending = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                reader.frame(&mut decoder, Version::Lite05),
            );
            let result = pending.await;
            assert!(result.is_err(), "the frame is incomplete: {result:?}");
            readers.push(reader);
        }
        let held = budget.held();
        assert!(
            (3 * READ_CHUNK..=3 * READ_CHUNK + 64).contains(&held),
            "{held}"
        );
        // A third goes over: its read fails with 493, and it is charged nothing.
        sends.push(partial_frame(&client, 1 << 20, READ_CHUNK + 1000).await);
        let mut third = Reader::charged(server.accept_uni().await.unwrap(), budget.clone());
        let mut decoder = FrameDecoder::new();
        let refused = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            third.frame(&mut decoder, Version::Lite05),
        );
        let err = refused.await.expect("refused at once").unwrap_err();
        assert_eq!(err.code(), ErrorCode::TOO_MANY_REQUESTS);
        assert_eq!(budget.held(), held);
        drop(readers);
        assert_eq!(
            budget.held(),
            0,
            "dropping the readers releases their charge"
        );
        drop(sends);
    }

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
