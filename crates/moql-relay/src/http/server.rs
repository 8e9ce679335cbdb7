//! The HTTP port's server loop: one task per TCP connection, and every connection bounded.
//!
//! - **Count**: at most [`HttpLimits::max_connections`] at once (requests, TLS handshakes,
//!   and upgraded WebSocket sessions for their whole life: each holds a descriptor). One
//!   more is answered `503` with a single non-blocking write and closed at once, so refusing
//!   costs no task, no wait and no descriptor beyond the accept.
//! - **Headers**: the first byte (and TLS handshake), then each request's headers, including
//!   the wait for the next request on a kept-alive connection, must arrive within
//!   [`HttpLimits::header_timeout`] (hyper's header-read timeout, which only runs with a
//!   timer: `axum::serve` sets none).
//! - **Writes**: a response (or WebSocket session) whose client takes no bytes for
//!   [`HttpLimits::write_timeout`] is dropped ([`Guarded`]).
//!
//! A connection's slot is released before its socket closes, so a client that saw the close
//! can connect again at once.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::rustls::ServerConfig;

use super::listener::{Guarded, MaybeTls, classify};

/// What an over-the-cap connection reads before it is closed (plain HTTP; a TLS client sees
/// the connection close).
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 38\r\nConnection: close\r\n\r\ntoo many connections: try again later\n";

/// After shutdown, how long in-flight requests get to finish (a `/fetch` waits at most its
/// [`fetch_timeout`](super::HttpState::fetch_timeout) per frame; longer ones are cut).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The bounds on every connection of the HTTP port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served at once; one more is answered `503` and closed. Default 4096.
    pub max_connections: usize,
    /// How long a connection has to send its first byte (and finish TLS), and each request's
    /// headers (also between kept-alive requests); then it is closed. Zero disables. Default
    /// 10 s.
    pub header_timeout: Duration,
    /// How long a write may wait for the client to take bytes; then the connection is
    /// closed. Zero disables. Default 30 s.
    pub write_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// `limits`' HTTP bounds under this process's open-file soft limit (logged when it lowers
/// the connection cap).
pub(crate) fn port_limits(limits: &crate::config::LimitsConfig) -> HttpLimits {
    let open_files = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft);
    let bounds = limits.http_limits(open_files);
    if bounds.max_connections < limits.max_http_connections {
        tracing::warn!(
            max = bounds.max_connections,
            ?open_files,
            "max_http_connections lowered to half the open-file limit"
        );
    }
    bounds
}

/// Accepts on `listener` until `shutdown` resolves, serving each connection with `router`
/// under `limits`; then tells every connection to finish its request and waits for them (at
/// most [`SHUTDOWN_GRACE`]).
pub(super) async fn run(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(&stream, remote, limits.max_connections);
            continue;
        };
        let connection = Connection {
            router: router.clone(),
            acceptor: acceptor.clone(),
            limits,
            remote,
            stop: stop_rx.clone(),
        };
        tokio::spawn(connection.serve(stream, slot));
    }
    let _ = stop_tx.send(true);
    // Every slot back means every connection has ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
    Ok(())
}

/// Answers `503` without waiting (what does not fit in the socket buffer is dropped) and
/// closes.
fn refuse(stream: &TcpStream, remote: SocketAddr, max: usize) {
    tracing::debug!(%remote, max, "at the HTTP connection limit; refusing");
    let _ = stream.try_write(BUSY);
}

/// One accepted connection and what serving it needs.
struct Connection {
    router: Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    limits: HttpLimits,
    remote: SocketAddr,
    stop: watch::Receiver<bool>,
}

impl Connection {
    /// Classifies (TLS or not), then serves HTTP/1.1 with upgrades until the client leaves,
    /// a bound is hit, or the server stops (the current request finishes first).
    async fn serve(mut self, stream: TcpStream, slot: OwnedSemaphorePermit) {
        let remote = self.remote;
        let classified = classify(stream, self.acceptor.take());
        let io = match bounded(self.limits.header_timeout, classified).await {
            Some(Ok(io)) => io,
            Some(Err(err)) => {
                tracing::debug!(%remote, %err, "HTTP connection dropped");
                return;
            }
            None => {
                tracing::debug!(%remote, "HTTP first byte or TLS handshake timed out");
                return;
            }
        };
        let io: Guarded<MaybeTls> = Guarded::new(io, slot, self.limits.write_timeout);
        let router = self.router;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // WebSocket sessions log the client's address.
            request.extensions_mut().insert(ConnectInfo(remote));
            tower::ServiceExt::oneshot(router.clone(), request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new());
        // With a timer, hyper defaults to 30 s: zero has to say "none".
        let header_timeout = self.limits.header_timeout;
        builder.header_read_timeout((!header_timeout.is_zero()).then_some(header_timeout));
        let conn = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        let mut stop = self.stop;
        let stopping = async move {
            // A dropped sender also means stop.
            let _ = stop.wait_for(|stop| *stop).await;
        };
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = stopping => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(err) = result {
            tracing::debug!(%remote, %err, "HTTP connection ended");
        }
    }
}

/// `future`'s output, or `None` if `limit` (non-zero) passes first.
async fn bounded<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    if limit.is_zero() {
        Some(future.await)
    } else {
        tokio::time::timeout(limit, future).await.ok()
    }
}

/// The next TCP connection. A failed accept (out of descriptors and the like) is logged and
/// retried after a pause instead of spinning.
///
/// # Cancel safety
///
/// Cancel safe: `TcpListener::accept` is, and a cancelled pause loses nothing.
pub(crate) async fn accept(
    listener: &TcpListener,
) -> (tokio::net::TcpStream, std::net::SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(err) => {
                tracing::warn!(%err, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
