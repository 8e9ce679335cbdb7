//! [`Writer`]: encodes messages onto a send stream; resets with code 0 if dropped unfinished.

use bytes::{Bytes, BytesMut};
use moql_wire::{Encode, ErrorCode, Version};
use web_transport_trait::SendStream;

use crate::error::{StreamError, from_transport};

/// The sending half of one stream.
///
/// Dropping it without [`finish`](Self::finish) resets the stream with code 0 (Cancel): "no
/// longer needed", which peers treat as routine (spec 3.2).
pub(crate) struct Writer<S: SendStream> {
    stream: S,
    buf: BytesMut,
    done: bool,
}

impl<S: SendStream> Writer<S> {
    pub(crate) fn new(stream: S) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
            done: false,
        }
    }

    /// Encodes `message` and writes it.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`write`](Self::write).
    pub(crate) async fn encode<M: Encode>(
        &mut self,
        message: &M,
        version: Version,
    ) -> Result<(), StreamError> {
        self.buf.clear();
        message.encode(&mut self.buf, version)?;
        let bytes = self.buf.split().freeze();
        self.write(bytes).await
    }

    /// Writes `bytes` in full.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: when the future is dropped a prefix of `bytes` may already be on the
    /// stream, and the rest is lost, so the stream must then be reset, not written on.
    pub(crate) async fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.stream.write_chunk(bytes).await.map_err(from_transport)
    }

    /// Sets the stream's send priority (higher first).
    pub(crate) fn set_priority(&mut self, order: i32) {
        self.stream.set_priority(order);
    }

    /// Finishes the stream gracefully (FIN).
    pub(crate) fn finish(&mut self) -> Result<(), StreamError> {
        self.done = true;
        self.stream.finish().map_err(from_transport)
    }

    /// Resets the stream with `code`.
    pub(crate) fn reset(&mut self, code: ErrorCode) {
        self.done = true;
        self.stream.reset(code.0);
    }

    /// Waits until the stream is closed: FIN acknowledged, reset, or stopped by the peer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes the stream.
    pub(crate) async fn closed(&mut self) -> Result<(), StreamError> {
        self.stream.closed().await.map_err(from_transport)
    }
}

impl<S: SendStream> Drop for Writer<S> {
    fn drop(&mut self) {
        if !self.done {
            self.stream.reset(ErrorCode::CANCEL.0);
        }
    }
}
