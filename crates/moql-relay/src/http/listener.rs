//! The HTTP port's listener: plain HTTP and HTTPS on one TCP port, told apart by the first
//! byte of each connection (a TLS handshake record starts with `0x16`, an HTTP/1.1 request
//! with a method's letter). HTTPS is what `wss://` clients, and `https://` dials falling back
//! to WebSocket, need; plain HTTP is what `http://` development clients need for
//! `/certificate.sha256`.
//!
//! Each connection is classified (and its TLS handshake run) in its own task, bounded by
//! [`HANDSHAKE_TIMEOUT`], so a slow client never delays the others.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;

/// Bound on reading a connection's first byte and, for TLS, the handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS handshake record (RFC 8446 section 5.1, `ContentType.handshake`).
const TLS_HANDSHAKE: u8 = 0x16;

/// Classified connections waiting for the HTTP server.
const BACKLOG: usize = 64;

/// A TCP connection, with TLS if it started with a TLS handshake.
#[derive(Debug)]
pub(crate) enum MaybeTls {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS; boxed, a rustls connection is large.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Accepts TCP connections and yields them as plain or TLS (when `tls` is set) streams.
/// Dropping it stops the accept task.
pub(crate) struct DualListener {
    ready: mpsc::Receiver<(MaybeTls, SocketAddr)>,
    local: io::Result<SocketAddr>,
}

impl DualListener {
    /// Starts accepting on `listener`; with `tls`, connections that open with a TLS handshake
    /// are served over TLS, the others in the clear. Must be called inside a tokio runtime.
    pub(crate) fn new(listener: TcpListener, tls: Option<Arc<ServerConfig>>) -> Self {
        let local = listener.local_addr();
        let (tx, ready) = mpsc::channel(BACKLOG);
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = tx.closed() => return,
                };
                match accepted {
                    Ok((stream, remote)) => {
                        let (tx, acceptor) = (tx.clone(), acceptor.clone());
                        tokio::spawn(async move {
                            let classified =
                                tokio::time::timeout(HANDSHAKE_TIMEOUT, classify(stream, acceptor))
                                    .await;
                            match classified {
                                Ok(Ok(io)) => {
                                    let _ = tx.send((io, remote)).await;
                                }
                                Ok(Err(err)) => {
                                    tracing::debug!(%remote, %err, "HTTP connection dropped");
                                }
                                Err(_) => tracing::debug!(%remote, "HTTP handshake timed out"),
                            }
                        });
                    }
                    Err(err) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(%err, "TCP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Self { ready, local }
    }
}

/// Peeks at the first byte; runs the TLS handshake if it opens one and TLS is on.
async fn classify(
    stream: TcpStream,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) -> io::Result<MaybeTls> {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    let n = stream.peek(&mut first).await?;
    match acceptor {
        Some(acceptor) if n == 1 && first[0] == TLS_HANDSHAKE => {
            Ok(MaybeTls::Tls(Box::new(acceptor.accept(stream).await?)))
        }
        _ => Ok(MaybeTls::Plain(stream)),
    }
}

impl axum::serve::Listener for DualListener {
    type Io = MaybeTls;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (MaybeTls, SocketAddr) {
        match self.ready.recv().await {
            Some(next) => next,
            // The accept task ended (it never does while the listener lives): no more
            // connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.local {
            Ok(addr) => Ok(*addr),
            Err(err) => Err(io::Error::new(err.kind(), err.to_string())),
        }
    }
}
