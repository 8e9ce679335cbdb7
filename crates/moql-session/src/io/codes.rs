//! The session's transport with every error code translated at the edge: the engine speaks
//! [`ErrorCode`]'s names (the lite-05 registry), the wire carries the negotiated version's
//! registry ([`ErrorCode::to_wire`] / [`ErrorCode::from_wire`]).
//!
//! Decision (moq-lite-06.md 2, 7): a lite-06 session uses the released reference's two
//! registries, since only a peer of that generation negotiates lite-06; a lite-05, -04 or -03
//! session uses the lite-05 table, since a peer of the current generation would have
//! negotiated lite-06 with us, so the peer reading it is of the previous generation (or the
//! browser library), which reads the old codes.
//!
//! Every reset, stop and close the engine issues, and every code it reads from an error,
//! passes through here, so no other file converts codes. The engine holds codes as
//! [`ErrorCode`]; the trait carries `u32`, so the engine's number (`code.0`) crosses it and is
//! translated here. Application codes (64 + n) and codes
//! the peer's registry does not name pass through unchanged.

use bytes::{Buf, BufMut, Bytes};
use moql_wire::{CodeScope, ErrorCode, Version};
use web_transport_trait::{MaybeSend, Stats};

/// A transport session whose codes are translated for `version`.
#[derive(Clone)]
pub(crate) struct CodeMapped<T> {
    inner: T,
    version: Version,
}

impl<T> CodeMapped<T> {
    pub(crate) fn new(inner: T, version: Version) -> Self {
        Self { inner, version }
    }
}

fn to_wire(code: u32, version: Version, scope: CodeScope) -> u32 {
    ErrorCode(code).to_wire(version, scope)
}

fn from_wire(code: u32, version: Version, scope: CodeScope) -> u32 {
    ErrorCode::from_wire(code, version, scope).0
}

/// A transport error whose session and stream codes read in the engine's names.
#[derive(Debug)]
pub(crate) struct MappedError<E> {
    inner: E,
    version: Version,
}

impl<E: std::fmt::Display> std::fmt::Display for MappedError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for MappedError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner)
    }
}

impl<E: web_transport_trait::Error> web_transport_trait::Error for MappedError<E> {
    fn session_error(&self) -> Option<(u32, String)> {
        self.inner
            .session_error()
            .map(|(code, reason)| (from_wire(code, self.version, CodeScope::Session), reason))
    }

    fn stream_error(&self) -> Option<u32> {
        self.inner
            .stream_error()
            .map(|code| from_wire(code, self.version, CodeScope::Stream))
    }
}

/// Wraps a transport result's error.
fn mapped<V, E>(result: Result<V, E>, version: Version) -> Result<V, MappedError<E>> {
    result.map_err(|inner| MappedError { inner, version })
}

impl<T: web_transport_trait::Session> web_transport_trait::Session for CodeMapped<T> {
    type SendStream = MappedSend<T::SendStream>;
    type RecvStream = MappedRecv<T::RecvStream>;
    type Error = MappedError<T::Error>;

    async fn accept_uni(&self) -> Result<Self::RecvStream, Self::Error> {
        let stream = mapped(self.inner.accept_uni().await, self.version)?;
        Ok(MappedRecv::new(stream, self.version))
    }

    async fn accept_bi(&self) -> Result<(Self::SendStream, Self::RecvStream), Self::Error> {
        let (send, recv) = mapped(self.inner.accept_bi().await, self.version)?;
        Ok((
            MappedSend::new(send, self.version),
            MappedRecv::new(recv, self.version),
        ))
    }

    async fn open_bi(&self) -> Result<(Self::SendStream, Self::RecvStream), Self::Error> {
        let (send, recv) = mapped(self.inner.open_bi().await, self.version)?;
        Ok((
            MappedSend::new(send, self.version),
            MappedRecv::new(recv, self.version),
        ))
    }

    async fn open_uni(&self) -> Result<Self::SendStream, Self::Error> {
        let stream = mapped(self.inner.open_uni().await, self.version)?;
        Ok(MappedSend::new(stream, self.version))
    }

    fn send_datagram(&self, payload: Bytes) -> Result<(), Self::Error> {
        mapped(self.inner.send_datagram(payload), self.version)
    }

    async fn recv_datagram(&self) -> Result<Bytes, Self::Error> {
        mapped(self.inner.recv_datagram().await, self.version)
    }

    fn max_datagram_size(&self) -> usize {
        self.inner.max_datagram_size()
    }

    fn protocol(&self) -> Option<&str> {
        self.inner.protocol()
    }

    fn close(&self, code: u32, reason: &str) {
        self.inner
            .close(to_wire(code, self.version, CodeScope::Session), reason);
    }

    async fn closed(&self) -> Self::Error {
        MappedError {
            inner: self.inner.closed().await,
            version: self.version,
        }
    }

    fn stats(&self) -> impl Stats {
        self.inner.stats()
    }
}

/// A send stream whose reset code is translated.
pub(crate) struct MappedSend<S> {
    inner: S,
    version: Version,
}

impl<S> MappedSend<S> {
    fn new(inner: S, version: Version) -> Self {
        Self { inner, version }
    }
}

impl<S: web_transport_trait::SendStream> web_transport_trait::SendStream for MappedSend<S> {
    type Error = MappedError<S::Error>;

    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        mapped(self.inner.write(buf).await, self.version)
    }

    async fn write_buf<B: Buf + MaybeSend>(&mut self, buf: &mut B) -> Result<usize, Self::Error> {
        mapped(self.inner.write_buf(buf).await, self.version)
    }

    async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), Self::Error> {
        mapped(self.inner.write_chunk(chunk).await, self.version)
    }

    fn set_priority(&mut self, order: i32) {
        self.inner.set_priority(order);
    }

    fn finish(&mut self) -> Result<(), Self::Error> {
        mapped(self.inner.finish(), self.version)
    }

    fn reset(&mut self, code: u32) {
        self.inner
            .reset(to_wire(code, self.version, CodeScope::Stream));
    }

    async fn closed(&mut self) -> Result<(), Self::Error> {
        mapped(self.inner.closed().await, self.version)
    }
}

/// A receive stream whose stop code is translated.
pub(crate) struct MappedRecv<R> {
    inner: R,
    version: Version,
}

impl<R> MappedRecv<R> {
    fn new(inner: R, version: Version) -> Self {
        Self { inner, version }
    }
}

impl<R: web_transport_trait::RecvStream> web_transport_trait::RecvStream for MappedRecv<R> {
    type Error = MappedError<R::Error>;

    async fn read(&mut self, dst: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        mapped(self.inner.read(dst).await, self.version)
    }

    async fn read_buf<B: BufMut + MaybeSend>(
        &mut self,
        buf: &mut B,
    ) -> Result<Option<usize>, Self::Error> {
        mapped(self.inner.read_buf(buf).await, self.version)
    }

    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, Self::Error> {
        mapped(self.inner.read_chunk(max).await, self.version)
    }

    fn stop(&mut self, code: u32) {
        self.inner
            .stop(to_wire(code, self.version, CodeScope::Stream));
    }

    async fn closed(&mut self) -> Result<(), Self::Error> {
        mapped(self.inner.closed().await, self.version)
    }
}
