//! [`Connection`]: the one session type [`Server`](super::Server) and [`Client`](super::Client)
//! hand out, raw QUIC ([`RawSession`]) or WebTransport (`web_transport_quinn::Session`),
//! implementing `web_transport_trait::Session` by delegating to whichever it holds.
//!
//! Its streams are [`SendStream`] / [`RecvStream`], and every failure after
//! the handshake (session, send or receive) is a [`ConnectionError`], which keeps the
//! underlying error so its `session_error()` / `stream_error()` codes come through unchanged.

use std::net::SocketAddr;

use bytes::Bytes;
use web_transport_trait as wt;

use super::TransportKind;
use super::raw::{QuicStats, RawError, RawRecvStream, RawSendStream, RawSession};

/// An established moq-lite session over quinn: raw QUIC or WebTransport.
///
/// Cheap to clone; clones share the connection. Implements `web_transport_trait::Session`,
/// so it goes straight into `moql_session::Session::connect` or
/// `moql_session::Accepting::new`.
///
/// Stream codes travel per spec 10.2 on both: mapped into the HTTP/3 range (raw QUIC through
/// [`RawSession`], WebTransport through web-transport-quinn). `close(code, reason)` sends the
/// code unmapped on raw QUIC and in the CLOSE_WEBTRANSPORT_SESSION capsule on WebTransport.
/// Dropping every clone and stream closes the connection with code 0.
#[derive(Clone, Debug)]
pub enum Connection {
    /// Raw QUIC: version from the ALPN, request path in SETUP (spec 1.2).
    Quic(RawSession),
    /// WebTransport over HTTP/3: version from `wt-protocol`, path in the CONNECT (spec 1.3).
    /// Boxed: a web-transport-quinn session is about 780 bytes, a raw one 40.
    WebTransport(Box<web_transport_quinn::Session>),
    /// QMux (spec 1.5) over WebSocket (version from the `Sec-WebSocket-Protocol` token, path
    /// in the upgrade URI) or plain TCP (version negotiated in-band, path in SETUP): no
    /// datagrams, stream codes unmapped.
    /// Boxed: a qmux session is about 380 bytes.
    #[cfg(feature = "websocket")]
    Qmux(Box<super::ws::QmuxSession>),
}

impl Connection {
    /// Raw QUIC or WebTransport.
    pub fn kind(&self) -> TransportKind {
        match self {
            Self::Quic(_) => TransportKind::Quic,
            Self::WebTransport(_) => TransportKind::WebTransport,
            #[cfg(feature = "websocket")]
            Self::Qmux(session) => session.kind(),
        }
    }

    /// The peer's current address: UDP for QUIC and WebTransport, TCP for QMux.
    pub fn remote_address(&self) -> SocketAddr {
        match self {
            #[cfg(feature = "websocket")]
            Self::Qmux(session) => session.remote_address(),
            _ => self.connection().map_or(
                SocketAddr::from(([0, 0, 0, 0], 0)),
                quinn::Connection::remote_address,
            ),
        }
    }

    /// The underlying QUIC connection (statistics, peer identity, close reason). For
    /// WebTransport it also carries the HTTP/3 control streams. `None` on QMux.
    pub fn connection(&self) -> Option<&quinn::Connection> {
        match self {
            Self::Quic(session) => Some(session.connection()),
            Self::WebTransport(session) => Some(session.as_ref()),
            #[cfg(feature = "websocket")]
            Self::Qmux(_) => None,
        }
    }
}

impl From<RawSession> for Connection {
    fn from(session: RawSession) -> Self {
        Self::Quic(session)
    }
}

impl From<web_transport_quinn::Session> for Connection {
    fn from(session: web_transport_quinn::Session) -> Self {
        Self::WebTransport(Box::new(session))
    }
}

/// A failure of a [`Connection`] or one of its streams after the handshake, wrapping the
/// transport's own error. (Failures before a session exists are
/// [`TransportError`](super::TransportError).)
///
/// Its `web_transport_trait::Error` methods delegate, so `session_error()` gives the peer's
/// close code and reason and `stream_error()` the peer's RESET_STREAM / STOP_SENDING code,
/// mapped back to moq-lite codes on both transports.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// Raw QUIC: any session or stream failure.
    #[error(transparent)]
    Quic(#[from] RawError),
    /// WebTransport: a session failure (accepting, opening, datagrams, close).
    #[error(transparent)]
    Session(#[from] web_transport_quinn::SessionError),
    /// WebTransport: a send-stream failure.
    #[error(transparent)]
    Write(#[from] web_transport_quinn::WriteError),
    /// WebTransport: a receive-stream failure.
    #[error(transparent)]
    Read(#[from] web_transport_quinn::ReadError),
    /// QMux (WebSocket or TCP): any session or stream failure; codes are carried unmapped.
    #[cfg(feature = "websocket")]
    #[error(transparent)]
    Qmux(#[from] qmux::Error),
}

impl wt::Error for ConnectionError {
    fn session_error(&self) -> Option<(u32, String)> {
        match self {
            Self::Quic(err) => err.session_error(),
            Self::Session(err) => err.session_error(),
            Self::Write(err) => err.session_error(),
            Self::Read(err) => err.session_error(),
            #[cfg(feature = "websocket")]
            Self::Qmux(err) => err.session_error(),
        }
    }

    fn stream_error(&self) -> Option<u32> {
        match self {
            Self::Quic(err) => err.stream_error(),
            Self::Session(err) => err.stream_error(),
            Self::Write(err) => err.stream_error(),
            Self::Read(err) => err.stream_error(),
            #[cfg(feature = "websocket")]
            Self::Qmux(err) => err.stream_error(),
        }
    }
}

/// Delegates to the held session; the futures' cancel safety is the inner transport's.
impl wt::Session for Connection {
    type SendStream = SendStream;
    type RecvStream = RecvStream;
    type Error = ConnectionError;

    async fn accept_uni(&self) -> Result<RecvStream, ConnectionError> {
        Ok(match self {
            Self::Quic(s) => RecvStream::Quic(wt::Session::accept_uni(s).await?),
            Self::WebTransport(s) => RecvStream::WebTransport(wt::Session::accept_uni(&**s).await?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => RecvStream::Qmux(wt::Session::accept_uni(&**s).await?),
        })
    }

    async fn accept_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        Ok(match self {
            Self::Quic(s) => {
                let (send, recv) = wt::Session::accept_bi(s).await?;
                (SendStream::Quic(send), RecvStream::Quic(recv))
            }
            Self::WebTransport(s) => {
                let (send, recv) = wt::Session::accept_bi(&**s).await?;
                (
                    SendStream::WebTransport(send),
                    RecvStream::WebTransport(recv),
                )
            }
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => {
                let (send, recv) = wt::Session::accept_bi(&**s).await?;
                (SendStream::Qmux(send), RecvStream::Qmux(recv))
            }
        })
    }

    async fn open_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        Ok(match self {
            Self::Quic(s) => {
                let (send, recv) = wt::Session::open_bi(s).await?;
                (SendStream::Quic(send), RecvStream::Quic(recv))
            }
            Self::WebTransport(s) => {
                let (send, recv) = wt::Session::open_bi(&**s).await?;
                (
                    SendStream::WebTransport(send),
                    RecvStream::WebTransport(recv),
                )
            }
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => {
                let (send, recv) = wt::Session::open_bi(&**s).await?;
                (SendStream::Qmux(send), RecvStream::Qmux(recv))
            }
        })
    }

    async fn open_uni(&self) -> Result<SendStream, ConnectionError> {
        Ok(match self {
            Self::Quic(s) => SendStream::Quic(wt::Session::open_uni(s).await?),
            Self::WebTransport(s) => SendStream::WebTransport(wt::Session::open_uni(&**s).await?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => SendStream::Qmux(wt::Session::open_uni(&**s).await?),
        })
    }

    fn send_datagram(&self, payload: Bytes) -> Result<(), ConnectionError> {
        match self {
            Self::Quic(s) => Ok(wt::Session::send_datagram(s, payload)?),
            Self::WebTransport(s) => Ok(wt::Session::send_datagram(&**s, payload)?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => Ok(wt::Session::send_datagram(&**s, payload)?),
        }
    }

    async fn recv_datagram(&self) -> Result<Bytes, ConnectionError> {
        match self {
            Self::Quic(s) => Ok(wt::Session::recv_datagram(s).await?),
            Self::WebTransport(s) => Ok(wt::Session::recv_datagram(&**s).await?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => Ok(wt::Session::recv_datagram(&**s).await?),
        }
    }

    fn max_datagram_size(&self) -> usize {
        match self {
            Self::Quic(s) => wt::Session::max_datagram_size(s),
            Self::WebTransport(s) => wt::Session::max_datagram_size(&**s),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => wt::Session::max_datagram_size(&**s),
        }
    }

    /// The negotiated ALPN (raw QUIC) or `wt-protocol` token (WebTransport).
    fn protocol(&self) -> Option<&str> {
        match self {
            Self::Quic(s) => wt::Session::protocol(s),
            Self::WebTransport(s) => wt::Session::protocol(&**s),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => wt::Session::protocol(&**s),
        }
    }

    /// Raw QUIC: CONNECTION_CLOSE with `code` unmapped. WebTransport: the
    /// CLOSE_WEBTRANSPORT_SESSION capsule, then the connection close (asynchronously).
    fn close(&self, code: u32, reason: &str) {
        match self {
            Self::Quic(s) => wt::Session::close(s, code, reason),
            Self::WebTransport(s) => wt::Session::close(&**s, code, reason),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => wt::Session::close(&**s, code, reason),
        }
    }

    async fn closed(&self) -> ConnectionError {
        match self {
            Self::Quic(s) => wt::Session::closed(s).await.into(),
            Self::WebTransport(s) => wt::Session::closed(&**s).await.into(),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => wt::Session::closed(&**s).await.into(),
        }
    }

    /// The connection's statistics: the QUIC connection's (the same numbers for raw QUIC and
    /// WebTransport), or the QMux session's.
    fn stats(&self) -> impl wt::Stats {
        match self {
            Self::Quic(s) => StatsSnapshot::of(&QuicStats::of(s.connection())),
            Self::WebTransport(s) => StatsSnapshot::of(&QuicStats::of(s.as_ref())),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => StatsSnapshot::of(&wt::Session::stats(&**s)),
        }
    }
}

/// The sending half of a [`Connection`] stream.
///
/// Dropping it without `finish` or `reset` finishes the stream on both transports (quinn's
/// behaviour); reset explicitly to abandon one.
#[derive(Debug)]
pub enum SendStream {
    /// A raw QUIC stream.
    Quic(RawSendStream),
    /// A WebTransport stream.
    WebTransport(web_transport_quinn::SendStream),
    /// A QMux stream (WebSocket or TCP).
    #[cfg(feature = "websocket")]
    Qmux(super::ws::QmuxSendStream),
}

/// Delegates; cancel safety as documented on the inner streams (`write` is cancel safe,
/// `write_chunk` is not).
impl wt::SendStream for SendStream {
    type Error = ConnectionError;

    async fn write(&mut self, buf: &[u8]) -> Result<usize, ConnectionError> {
        match self {
            Self::Quic(s) => Ok(wt::SendStream::write(s, buf).await?),
            Self::WebTransport(s) => Ok(wt::SendStream::write(s, buf).await?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => Ok(wt::SendStream::write(s, buf).await?),
        }
    }

    async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), ConnectionError> {
        match self {
            Self::Quic(s) => Ok(wt::SendStream::write_chunk(s, chunk).await?),
            Self::WebTransport(s) => Ok(wt::SendStream::write_chunk(s, chunk).await?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => Ok(wt::SendStream::write_chunk(s, chunk).await?),
        }
    }

    fn set_priority(&mut self, order: i32) {
        match self {
            Self::Quic(s) => wt::SendStream::set_priority(s, order),
            Self::WebTransport(s) => wt::SendStream::set_priority(s, order),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => wt::SendStream::set_priority(s, order),
        }
    }

    fn finish(&mut self) -> Result<(), ConnectionError> {
        match self {
            Self::Quic(s) => Ok(wt::SendStream::finish(s)?),
            Self::WebTransport(s) => Ok(wt::SendStream::finish(s)?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => Ok(wt::SendStream::finish(s)?),
        }
    }

    fn reset(&mut self, code: u32) {
        match self {
            Self::Quic(s) => wt::SendStream::reset(s, code),
            Self::WebTransport(s) => wt::SendStream::reset(s, code),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => wt::SendStream::reset(s, code),
        }
    }

    async fn closed(&mut self) -> Result<(), ConnectionError> {
        match self {
            Self::Quic(s) => Ok(wt::SendStream::closed(s).await?),
            Self::WebTransport(s) => Ok(wt::SendStream::closed(s).await?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => Ok(wt::SendStream::closed(s).await?),
        }
    }
}

/// The receiving half of a [`Connection`] stream.
///
/// Dropping it before the end of the stream sends STOP_SENDING with code 0 (`Cancel`),
/// mapped per spec 10.2 on raw QUIC; web-transport-quinn's WebTransport stream leaves that to
/// quinn, which sends a raw 0.
#[derive(Debug)]
pub enum RecvStream {
    /// A raw QUIC stream.
    Quic(RawRecvStream),
    /// A WebTransport stream.
    WebTransport(web_transport_quinn::RecvStream),
    /// A QMux stream (WebSocket or TCP).
    #[cfg(feature = "websocket")]
    Qmux(super::ws::QmuxRecvStream),
}

/// Delegates; `read` and `read_chunk` are cancel safe on both transports.
impl wt::RecvStream for RecvStream {
    type Error = ConnectionError;

    async fn read(&mut self, dst: &mut [u8]) -> Result<Option<usize>, ConnectionError> {
        match self {
            Self::Quic(s) => Ok(wt::RecvStream::read(s, dst).await?),
            Self::WebTransport(s) => Ok(wt::RecvStream::read(s, dst).await?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => Ok(wt::RecvStream::read(s, dst).await?),
        }
    }

    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, ConnectionError> {
        match self {
            Self::Quic(s) => Ok(wt::RecvStream::read_chunk(s, max).await?),
            Self::WebTransport(s) => Ok(wt::RecvStream::read_chunk(s, max).await?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => Ok(wt::RecvStream::read_chunk(s, max).await?),
        }
    }

    fn stop(&mut self, code: u32) {
        match self {
            Self::Quic(s) => wt::RecvStream::stop(s, code),
            Self::WebTransport(s) => wt::RecvStream::stop(s, code),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => wt::RecvStream::stop(s, code),
        }
    }

    async fn closed(&mut self) -> Result<(), ConnectionError> {
        match self {
            Self::Quic(s) => Ok(wt::RecvStream::closed(s).await?),
            Self::WebTransport(s) => Ok(wt::RecvStream::closed(s).await?),
            #[cfg(feature = "websocket")]
            Self::Qmux(s) => Ok(wt::RecvStream::closed(s).await?),
        }
    }
}

/// A copy of a transport's statistics, so [`Connection`] returns one type whatever it holds.
#[derive(Clone, Copy, Debug, Default)]
struct StatsSnapshot {
    streams: Option<wt::Streams>,
    bytes_sent: Option<u64>,
    bytes_received: Option<u64>,
    bytes_lost: Option<u64>,
    packets_sent: Option<u64>,
    packets_received: Option<u64>,
    packets_lost: Option<u64>,
    rtt: Option<std::time::Duration>,
    estimated_send_rate: Option<u64>,
}

impl StatsSnapshot {
    fn of(stats: &impl wt::Stats) -> Self {
        Self {
            streams: stats.streams(),
            bytes_sent: stats.bytes_sent(),
            bytes_received: stats.bytes_received(),
            bytes_lost: stats.bytes_lost(),
            packets_sent: stats.packets_sent(),
            packets_received: stats.packets_received(),
            packets_lost: stats.packets_lost(),
            rtt: stats.rtt(),
            estimated_send_rate: stats.estimated_send_rate(),
        }
    }
}

impl wt::Stats for StatsSnapshot {
    fn streams(&self) -> Option<wt::Streams> {
        self.streams
    }

    fn bytes_sent(&self) -> Option<u64> {
        self.bytes_sent
    }

    fn bytes_received(&self) -> Option<u64> {
        self.bytes_received
    }

    fn bytes_lost(&self) -> Option<u64> {
        self.bytes_lost
    }

    fn packets_sent(&self) -> Option<u64> {
        self.packets_sent
    }

    fn packets_received(&self) -> Option<u64> {
        self.packets_received
    }

    fn packets_lost(&self) -> Option<u64> {
        self.packets_lost
    }

    fn rtt(&self) -> Option<std::time::Duration> {
        self.rtt
    }

    fn estimated_send_rate(&self) -> Option<u64> {
        self.estimated_send_rate
    }
}
