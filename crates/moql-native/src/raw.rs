//! [`RawSession`]: moq-lite's raw QUIC binding, a `web_transport_trait::Session` directly over
//! a `quinn::Connection` that carries error codes the way the reference does (spec 10.2).
//!
//! Spec 10.2: "the reference's QUIC stream layer applies **the same WebTransport mapping to
//! RESET_STREAM and STOP_SENDING codes even on raw QUIC sessions**. A new implementation that
//! wants the reference to understand its stream codes must send the mapped value […] and must
//! map received codes back. […] **Session** close codes on raw QUIC are sent **unmapped** as
//! the QUIC application error code of CONNECTION_CLOSE".
//!
//! [`RawSession`]'s docs give the resulting table of what is sent and accepted.
//!
//! `web_transport_quinn::Session::raw` (0.13.5) sends stream codes unmapped and does not expose
//! its quinn streams, which is why this binding exists instead of a wrapper around it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use moql_wire::ErrorCode;

use super::quinn_config::negotiated_alpn;

#[cfg(test)]
mod tests;

/// The QUIC code of a RESET_STREAM or STOP_SENDING carrying moq-lite `code`: the spec 10.2
/// (HTTP/3 WebTransport) mapping.
fn stream_code_to_wire(code: u32) -> quinn::VarInt {
    // The mapped range ends at 0x52e5ac983162, far below the varint limit 2^62, so the
    // fallback is never taken.
    quinn::VarInt::from_u64(ErrorCode(code).to_http3()).unwrap_or(quinn::VarInt::MAX)
}

/// The moq-lite code in a received QUIC application error code: the spec 10.2 mapping undone
/// if the value is in the HTTP/3 range, else the raw value if it fits 32 bits. `Err` carries
/// a value that is neither.
fn code_from_wire(wire: quinn::VarInt) -> Result<u32, u64> {
    let wire = wire.into_inner();
    match ErrorCode::from_http3(wire) {
        Some(code) => Ok(code.0),
        None => u32::try_from(wire).map_err(|_| wire),
    }
}

/// A failure of a [`RawSession`] or one of its streams.
///
/// The split by fault: [`Closed`](Self::Closed), [`Reset`](Self::Reset),
/// [`Stopped`](Self::Stopped) and [`UnknownCode`](Self::UnknownCode) are the peer's;
/// [`ClosedStream`](Self::ClosedStream) and [`Datagram`](Self::Datagram) the caller's;
/// [`Connection`](Self::Connection) the network's (or our own close).
///
/// As a `web_transport_trait::Error`, `session_error()` is `Some((code, reason))` only for
/// [`Closed`](Self::Closed), and `stream_error()` is `Some(code)` only for
/// [`Reset`](Self::Reset) and [`Stopped`](Self::Stopped), with codes already mapped back.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RawError {
    /// The peer closed the session: CONNECTION_CLOSE (type `0x1d`) with this moq-lite code and
    /// reason.
    #[error("session closed by the peer with code {code}: {reason}")]
    Closed {
        /// The moq-lite code (spec 10.1).
        code: u32,
        /// The reason text, decoded lossily as UTF-8.
        reason: String,
    },

    /// The peer reset the stream (RESET_STREAM) with this moq-lite code.
    #[error("stream reset by the peer with code {0}")]
    Reset(u32),

    /// The peer stopped reading the stream (STOP_SENDING) with this moq-lite code.
    #[error("stream stopped by the peer with code {0}")]
    Stopped(u32),

    /// The peer reset or stopped the stream with a code that is neither in the HTTP/3 range
    /// nor a 32-bit value (the reference reads such codes as a generic transport error too).
    #[error("stream aborted by the peer with code {0:#x}, not a moq-lite code")]
    UnknownCode(u64),

    /// The stream was already finished, reset or stopped on our side.
    #[error("stream already closed")]
    ClosedStream,

    /// A datagram could not be sent: larger than
    /// [`max_datagram_size`](web_transport_trait::Session::max_datagram_size), or datagrams
    /// are not supported by the peer or disabled. Never `ConnectionLost` (that is
    /// [`Connection`](Self::Connection) or [`Closed`](Self::Closed)).
    #[error("datagram not sent: {0}")]
    Datagram(#[source] quinn::SendDatagramError),

    /// The connection is gone for any other reason: idle timeout, a QUIC transport error,
    /// a stateless reset, our own [`close`](web_transport_trait::Session::close)
    /// (`LocallyClosed`), or an application close whose code is not a moq-lite code.
    #[error("connection: {0}")]
    Connection(#[source] quinn::ConnectionError),
}

impl From<quinn::ConnectionError> for RawError {
    fn from(err: quinn::ConnectionError) -> Self {
        if let quinn::ConnectionError::ApplicationClosed(close) = &err
            && let Ok(code) = code_from_wire(close.error_code)
        {
            return Self::Closed {
                code,
                reason: String::from_utf8_lossy(&close.reason).into_owned(),
            };
        }
        Self::Connection(err)
    }
}

impl RawError {
    fn reset(wire: quinn::VarInt) -> Self {
        code_from_wire(wire).map_or_else(Self::UnknownCode, Self::Reset)
    }

    fn stopped(wire: quinn::VarInt) -> Self {
        code_from_wire(wire).map_or_else(Self::UnknownCode, Self::Stopped)
    }

    fn from_write(err: quinn::WriteError) -> Self {
        match err {
            quinn::WriteError::Stopped(code) => Self::stopped(code),
            quinn::WriteError::ConnectionLost(err) => err.into(),
            // Our endpoints never use 0-RTT; a rejected 0-RTT stream would be gone anyway.
            quinn::WriteError::ClosedStream | quinn::WriteError::ZeroRttRejected => {
                Self::ClosedStream
            }
        }
    }

    fn from_read(err: quinn::ReadError) -> Self {
        match err {
            quinn::ReadError::Reset(code) => Self::reset(code),
            quinn::ReadError::ConnectionLost(err) => err.into(),
            // Unordered reads and 0-RTT are never used here, so neither can happen; both
            // leave the stream unusable.
            quinn::ReadError::ClosedStream
            | quinn::ReadError::IllegalOrderedRead
            | quinn::ReadError::ZeroRttRejected => Self::ClosedStream,
        }
    }

    fn from_datagram(err: quinn::SendDatagramError) -> Self {
        match err {
            quinn::SendDatagramError::ConnectionLost(err) => err.into(),
            other => Self::Datagram(other),
        }
    }
}

impl web_transport_trait::Error for RawError {
    fn session_error(&self) -> Option<(u32, String)> {
        match self {
            Self::Closed { code, reason } => Some((*code, reason.clone())),
            _ => None,
        }
    }

    fn stream_error(&self) -> Option<u32> {
        match self {
            Self::Reset(code) | Self::Stopped(code) => Some(*code),
            _ => None,
        }
    }
}

/// A moq-lite session over raw QUIC: a `web_transport_trait::Session` directly over a
/// `quinn::Connection`, carrying error codes the way the reference does (spec 10.2):
///
/// | code | we send | we accept |
/// |---|---|---|
/// | RESET_STREAM, STOP_SENDING | mapped, `0x52e4a40fa8db + code + floor(code / 0x1e)` | mapped, or a raw value that fits `u32` |
/// | CONNECTION_CLOSE (application) | unmapped | unmapped (`u32`), or mapped |
///
/// Accepting both forms is unambiguous: the mapped range starts above `u32::MAX`.
///
/// Cheap to clone; clones share the connection. [`close`](web_transport_trait::Session::close)
/// closes it for every clone and stream. Dropping the last handle to the connection (sessions
/// and streams alike) makes quinn close it with code 0.
#[derive(Clone)]
pub struct RawSession {
    conn: quinn::Connection,
    /// The negotiated ALPN, latched on the first successful read.
    alpn: OnceLock<String>,
}

impl RawSession {
    /// Wrap a connection. Build it once the handshake is done; before that
    /// [`protocol`](web_transport_trait::Session::protocol) is `None`.
    pub fn new(conn: quinn::Connection) -> Self {
        Self {
            conn,
            alpn: OnceLock::new(),
        }
    }

    /// The underlying QUIC connection (statistics, peer identity, close reason).
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }

    /// The peer's current UDP address.
    pub fn remote_address(&self) -> SocketAddr {
        self.conn.remote_address()
    }
}

impl fmt::Debug for RawSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawSession")
            .field("id", &self.conn.stable_id())
            .field("remote", &self.conn.remote_address())
            .field("alpn", &self.alpn.get())
            .finish()
    }
}

/// Cancel safety of the stream and datagram futures is quinn's: accepting, opening and
/// receiving lose nothing when dropped before they resolve.
impl web_transport_trait::Session for RawSession {
    type SendStream = RawSendStream;
    type RecvStream = RawRecvStream;
    type Error = RawError;

    async fn accept_uni(&self) -> Result<RawRecvStream, RawError> {
        Ok(RawRecvStream::new(self.conn.accept_uni().await?))
    }

    async fn accept_bi(&self) -> Result<(RawSendStream, RawRecvStream), RawError> {
        let (send, recv) = self.conn.accept_bi().await?;
        Ok((RawSendStream::new(send), RawRecvStream::new(recv)))
    }

    async fn open_bi(&self) -> Result<(RawSendStream, RawRecvStream), RawError> {
        let (send, recv) = self.conn.open_bi().await?;
        Ok((RawSendStream::new(send), RawRecvStream::new(recv)))
    }

    async fn open_uni(&self) -> Result<RawSendStream, RawError> {
        Ok(RawSendStream::new(self.conn.open_uni().await?))
    }

    fn send_datagram(&self, payload: Bytes) -> Result<(), RawError> {
        self.conn
            .send_datagram(payload)
            .map_err(RawError::from_datagram)
    }

    async fn recv_datagram(&self) -> Result<Bytes, RawError> {
        Ok(self.conn.read_datagram().await?)
    }

    /// quinn's current limit for the path, or 0 if the peer does not accept datagrams.
    fn max_datagram_size(&self) -> usize {
        self.conn.max_datagram_size().unwrap_or(0)
    }

    /// The negotiated ALPN (`moq-lite-05` …), `None` while handshaking or if not UTF-8.
    fn protocol(&self) -> Option<&str> {
        if let Some(alpn) = self.alpn.get() {
            return Some(alpn);
        }
        // Latch only a successful read, so a call made while the connection is still
        // handshaking cannot pin `None` for the life of the session.
        let alpn = String::from_utf8(negotiated_alpn(&self.conn)?).ok()?;
        Some(self.alpn.get_or_init(|| alpn))
    }

    /// Close the connection now with `code` **unmapped** as the QUIC application error code
    /// and `reason` as its reason (spec 10.2). Unsent stream data is abandoned; later
    /// operations fail with `Connection(LocallyClosed)`.
    fn close(&self, code: u32, reason: &str) {
        self.conn
            .close(quinn::VarInt::from_u32(code), reason.as_bytes());
    }

    /// Resolves once the connection is closed: [`RawError::Closed`] for the peer's
    /// application close, [`RawError::Connection`] otherwise (including our own close).
    async fn closed(&self) -> RawError {
        self.conn.closed().await.into()
    }

    fn stats(&self) -> impl web_transport_trait::Stats {
        QuicStats::of(&self.conn)
    }
}

/// A snapshot of a quinn connection's statistics, for both raw QUIC and WebTransport (the
/// numbers are per connection either way).
pub(crate) struct QuicStats {
    stats: quinn::ConnectionStats,
    rtt: Duration,
    pacing_rate: Option<u64>,
}

impl QuicStats {
    /// Sample `conn` now.
    pub(crate) fn of(conn: &quinn::Connection) -> Self {
        Self {
            stats: conn.stats(),
            rtt: conn.rtt(),
            pacing_rate: conn.congestion_state().metrics().pacing_rate,
        }
    }
}

impl web_transport_trait::Stats for QuicStats {
    fn bytes_sent(&self) -> Option<u64> {
        Some(self.stats.udp_tx.bytes)
    }

    fn bytes_received(&self) -> Option<u64> {
        Some(self.stats.udp_rx.bytes)
    }

    fn bytes_lost(&self) -> Option<u64> {
        Some(self.stats.path.lost_bytes)
    }

    fn packets_sent(&self) -> Option<u64> {
        Some(self.stats.udp_tx.datagrams)
    }

    fn packets_received(&self) -> Option<u64> {
        Some(self.stats.udp_rx.datagrams)
    }

    fn packets_lost(&self) -> Option<u64> {
        Some(self.stats.path.lost_packets)
    }

    fn rtt(&self) -> Option<Duration> {
        Some(self.rtt)
    }

    /// The controller's pacing rate when it has one (BBR, after its first sample), else one
    /// congestion window per RTT: `cwnd * 8 / rtt` bits per second. The same formula
    /// web-transport-quinn uses, so both transports report alike in PROBE.
    fn estimated_send_rate(&self) -> Option<u64> {
        if let Some(rate) = self.pacing_rate.filter(|rate| *rate > 0) {
            return Some(rate);
        }
        let rtt = self.rtt.as_secs_f64();
        (self.stats.path.cwnd > 0 && rtt > 0.0)
            .then(|| (self.stats.path.cwnd as f64 * 8.0 / rtt) as u64)
    }
}

/// The sending half of a raw QUIC stream.
///
/// [`reset`](web_transport_trait::SendStream::reset) sends the spec 10.2 mapped code; a
/// STOP_SENDING from the peer surfaces as [`RawError::Stopped`] with the code mapped back.
///
/// Dropping it without [`finish`](web_transport_trait::SendStream::finish) or
/// [`reset`](web_transport_trait::SendStream::reset) **finishes** the stream (quinn's
/// behaviour, kept on purpose): what was written so far reaches the peer as a complete
/// stream. The engine resets explicitly when it abandons a stream. If the peer had already
/// stopped the stream, quinn resets it with the peer's own STOP_SENDING code.
#[derive(Debug)]
pub struct RawSendStream {
    inner: quinn::SendStream,
}

impl RawSendStream {
    fn new(inner: quinn::SendStream) -> Self {
        Self { inner }
    }
}

impl web_transport_trait::SendStream for RawSendStream {
    type Error = RawError;

    /// Write a prefix of `buf`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (quinn's `write`): if the future is dropped, nothing was written. The
    /// default `write_buf` builds on this and advances `buf` only by accepted bytes.
    async fn write(&mut self, buf: &[u8]) -> Result<usize, RawError> {
        self.inner.write(buf).await.map_err(RawError::from_write)
    }

    /// Write all of `chunk` without copying.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a prefix of the chunk may have been written when the future is
    /// dropped (the caller gave the chunk away, so there is no position to keep in sync).
    async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), RawError> {
        self.inner
            .write_chunk(chunk)
            .await
            .map_err(RawError::from_write)
    }

    /// quinn's send priority: higher values are sent first. Ignored once the stream is closed.
    fn set_priority(&mut self, order: i32) {
        let _ = self.inner.set_priority(order);
    }

    /// Send FIN after the written data.
    ///
    /// # Errors
    ///
    /// [`RawError::ClosedStream`] if the stream was already finished or reset.
    fn finish(&mut self) -> Result<(), RawError> {
        self.inner.finish().map_err(|_| RawError::ClosedStream)
    }

    /// RESET_STREAM with `code` mapped per spec 10.2 (13 goes out as `0x52e4a40fa8e8`).
    /// Ignored if the stream was already finished or reset.
    fn reset(&mut self, code: u32) {
        let _ = self.inner.reset(stream_code_to_wire(code));
    }

    /// Resolves `Ok` once the peer has acknowledged all data after
    /// [`finish`](web_transport_trait::SendStream::finish) (or after a local reset), and
    /// `Err(`[`RawError::Stopped`]`)` if the peer sends STOP_SENDING first.
    async fn closed(&mut self) -> Result<(), RawError> {
        match self.inner.stopped().await {
            Ok(None) => Ok(()),
            Ok(Some(code)) => Err(RawError::stopped(code)),
            Err(quinn::StoppedError::ConnectionLost(err)) => Err(err.into()),
            Err(quinn::StoppedError::ZeroRttRejected) => Err(RawError::ClosedStream),
        }
    }
}

/// The receiving half of a raw QUIC stream.
///
/// [`stop`](web_transport_trait::RecvStream::stop) sends the spec 10.2 mapped code; a
/// RESET_STREAM from the peer surfaces as [`RawError::Reset`] with the code mapped back.
///
/// Dropping it before the end of the stream sends STOP_SENDING with the **mapped** code 0
/// (`Cancel`), not quinn's raw 0, which the reference would read as a generic transport
/// error (spec 10.2).
#[derive(Debug)]
pub struct RawRecvStream {
    inner: quinn::RecvStream,
    /// FIN read, reset or failed, or stopped by us: nothing left to stop on drop.
    done: bool,
}

impl RawRecvStream {
    fn new(inner: quinn::RecvStream) -> Self {
        Self { inner, done: false }
    }

    fn track<T>(
        &mut self,
        result: Result<Option<T>, quinn::ReadError>,
    ) -> Result<Option<T>, RawError> {
        match result {
            Ok(Some(value)) => Ok(Some(value)),
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(err) => {
                self.done = true;
                Err(RawError::from_read(err))
            }
        }
    }
}

impl web_transport_trait::RecvStream for RawRecvStream {
    type Error = RawError;

    /// Read into `dst`; `None` at the end of the stream, `Some(0)` for an empty `dst`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (quinn's `read`).
    async fn read(&mut self, dst: &mut [u8]) -> Result<Option<usize>, RawError> {
        if dst.is_empty() {
            return Ok(Some(0));
        }
        let result = self.inner.read(dst).await;
        self.track(result)
    }

    /// The next in-order chunk of at most `max` bytes, without copying; `None` at the end of
    /// the stream, an empty chunk for `max == 0`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (quinn's `read_chunk`).
    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, RawError> {
        if max == 0 {
            return Ok(Some(Bytes::new()));
        }
        let result = self.inner.read_chunk(max, true).await;
        Ok(self.track(result)?.map(|chunk| chunk.bytes))
    }

    /// STOP_SENDING with `code` mapped per spec 10.2; unread data is discarded. Ignored if
    /// the stream already ended.
    fn stop(&mut self, code: u32) {
        self.done = true;
        let _ = self.inner.stop(stream_code_to_wire(code));
    }

    /// Resolves `Ok` once the stream is finished and read, or stopped by us, and
    /// `Err(`[`RawError::Reset`]`)` if the peer resets it.
    async fn closed(&mut self) -> Result<(), RawError> {
        match self.inner.received_reset().await {
            Ok(None) => Ok(()),
            Ok(Some(code)) => Err(RawError::reset(code)),
            Err(quinn::ResetError::ConnectionLost(err)) => Err(err.into()),
            Err(quinn::ResetError::ZeroRttRejected) => Err(RawError::ClosedStream),
        }
    }
}

impl Drop for RawRecvStream {
    fn drop(&mut self) {
        if !self.done {
            // quinn's own drop would send a raw 0; stopping first makes it skip that.
            let _ = self.inner.stop(stream_code_to_wire(ErrorCode::CANCEL.0));
        }
    }
}
