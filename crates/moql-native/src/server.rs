//! [`Server`]: one UDP port serving raw QUIC (moq-lite ALPNs) and WebTransport (ALPN `h3`),
//! yielding [`Incoming`] connections whose handshakes are done, for the application to accept
//! or reject.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use moql_wire::{ErrorCode, Version};
use tokio::sync::mpsc;
use web_transport_quinn::http::StatusCode;
use web_transport_quinn::proto::ConnectResponse;

use super::quinn_config::{
    H3_ALPN, check_versions, negotiated_alpn, server_name, transport_config, version_tokens,
};
use super::{CertStore, Certificate, Connection, RawSession, TransportError, TransportKind};

/// Completed handshakes waiting for [`Server::accept`]. Beyond this, handshake tasks wait
/// (holding their connections) until the application catches up.
const ACCEPT_BACKLOG: usize = 64;

/// HTTP status for a WebTransport CONNECT that offers no `wt-available-protocols` token we
/// support. The reference answers `200` without `wt-protocol` and falls back to the legacy
/// `moql` SETUP negotiation (spec 1.3), which this implementation does not speak; `406 Not
/// Acceptable` is HTTP's "none of the representations you accept are available".
pub const NO_COMMON_VERSION_STATUS: u16 = 406;

/// HTTP/3 `H3_NO_ERROR`: how the server closes the connection after answering a rejected
/// CONNECT (the request itself was answered).
const H3_NO_ERROR: u32 = 0x100;

/// How long a WebTransport rejection waits for the client to read the status and close, as a
/// multiple of the RTT, clamped between `REJECT_LINGER_MIN` and `REJECT_LINGER_MAX`.
const REJECT_LINGER_RTTS: u32 = 3;
const REJECT_LINGER_MIN: Duration = Duration::from_millis(100);
const REJECT_LINGER_MAX: Duration = Duration::from_secs(1);

/// Configuration of a [`Server`].
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The UDP address to listen on. An IPv6 wildcard (`[::]:port`) is made dual-stack where
    /// the OS allows it, so one port serves IPv4 and IPv6.
    pub bind: SocketAddr,
    /// The certificate to serve (and whose fingerprint [`Server::fingerprint`] reports).
    pub certificate: Certificate,
    /// The versions to accept, most preferred first; default [`Version::ALL`]. On raw QUIC the
    /// server's order decides (spec 1.2); on WebTransport the client's (spec 1.3).
    pub versions: Vec<Version>,
    /// Close a connection after this long without any packet; default 30 s. Zero disables.
    pub idle_timeout: Duration,
    /// Send a keep-alive after this long without sending; default 5 s. Zero disables.
    pub keep_alive: Duration,
    /// Concurrent bidirectional, and separately unidirectional, streams a client may open;
    /// default 1024 (spec 1.2, reference defaults).
    pub max_streams: u32,
    /// Bound on one connection's QUIC handshake plus, for WebTransport, the HTTP/3 SETTINGS
    /// exchange and the CONNECT request; default 10 s. A connection that takes longer is
    /// dropped.
    pub handshake_timeout: Duration,
    /// Trust anchors for client certificates (mTLS); default empty: no client certificate is
    /// asked for. When set, the server asks every client for one but still accepts clients
    /// without (they authenticate otherwise, e.g. with a token); a client that presents a
    /// certificate these roots do not verify fails the handshake. A verified chain is
    /// reported by [`Incoming::peer_certificates`].
    pub client_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Seed of the stateless-reset key (RFC 9000 10.3); default `None`: random per process.
    /// With the same seed in the next process on this address (e.g.
    /// [`Certificate::reset_seed`] of the same key file), a restarted server answers its
    /// predecessor's clients' next packet with a reset they accept, so they notice the restart
    /// at once instead of at their idle timeout. Never share a seed between servers that can
    /// receive each other's packets (anycast, a QUIC load balancer): one would reset the
    /// other's connections.
    pub reset_seed: Option<[u8; 32]>,
}

impl ServerConfig {
    /// Defaults for everything but the address and the certificate.
    pub fn new(bind: SocketAddr, certificate: Certificate) -> Self {
        Self {
            bind,
            certificate,
            versions: Version::ALL.to_vec(),
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(5),
            max_streams: 1024,
            handshake_timeout: Duration::from_secs(10),
            client_roots: Vec::new(),
            reset_seed: None,
        }
    }
}

/// A listening endpoint for raw QUIC and WebTransport on one UDP port.
///
/// The server's ALPN list is the configured versions' tokens in preference order plus `h3`
/// last (spec 1.2). Each new connection's handshake runs in its own tokio task, so a slow or
/// hostile client never delays the others; failed or timed-out handshakes are logged at
/// `debug` and skipped.
///
/// Dropping the server stops accepting: new connections are refused, connections still
/// handshaking or waiting in the backlog are closed, and sessions already handed out through
/// [`Incoming::accept`] keep running (they keep the socket alive until they end).
#[derive(Debug)]
pub struct Server {
    endpoint: quinn::Endpoint,
    incoming: mpsc::Receiver<Incoming>,
    /// What new handshakes are served; replaceable through [`Server::certificates`].
    certificates: CertStore,
    closed: AtomicBool,
}

impl Server {
    /// Bind the UDP socket and start accepting connections in the background (a tokio task
    /// that ends when the server is closed or dropped).
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`TransportError::Bind`] if the socket cannot be bound or there is no tokio runtime;
    /// [`TransportError::Certificate`] or [`TransportError::Tls`] for an unusable certificate;
    /// [`TransportError::Config`] for an empty version list or an out-of-range timeout.
    pub fn bind(config: ServerConfig) -> Result<Self, TransportError> {
        check_versions(&config.versions)?;
        let mut alpn: Vec<Vec<u8>> = version_tokens(&config.versions)
            .into_iter()
            .map(String::into_bytes)
            .collect();
        alpn.push(H3_ALPN.to_vec());

        let certificates = CertStore::new(&config.certificate)?;
        let crypto = super::server_crypto_from(&certificates, &config.client_roots, alpn)?;
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(crypto)
            .map_err(TransportError::tls)?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server_config.transport_config(transport_config(
            config.idle_timeout,
            config.keep_alive,
            config.max_streams,
        )?);

        // Our own socket (dual-stack IPv6 wildcard, large buffers: see `socket`); installing a
        // server config turns the endpoint into a server.
        let endpoint = super::socket::endpoint(config.bind, config.reset_seed.as_ref())
            .map_err(TransportError::Bind)?;
        endpoint.set_server_config(Some(server_config));

        let (tx, rx) = mpsc::channel(ACCEPT_BACKLOG);
        let versions: Arc<[Version]> = config.versions.into();
        tokio::spawn(run_accept(
            endpoint.clone(),
            tx,
            versions,
            config.handshake_timeout,
        ));

        Ok(Self {
            endpoint,
            incoming: rx,
            certificates,
            closed: AtomicBool::new(false),
        })
    }

    /// The bound address (with the actual port when bound to port 0).
    ///
    /// # Errors
    ///
    /// [`TransportError::Io`] if the socket cannot report it.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        Ok(self.endpoint.local_addr()?)
    }

    /// The lowercase hex SHA-256 of the serving leaf certificate: what to serve at
    /// `/certificate.sha256` (spec 1.6) and what clients pin.
    pub fn fingerprint(&self) -> String {
        self.certificates.fingerprint()
    }

    /// The store the endpoint takes its certificate from at each handshake. Replacing the
    /// certificate in it (or in a clone) changes what new connections are served; established
    /// ones are not touched. Give it to [`server_crypto_from`](super::server_crypto_from) to
    /// serve the same certificate on another port.
    pub fn certificates(&self) -> CertStore {
        self.certificates.clone()
    }

    /// The next connection whose QUIC handshake (and, for WebTransport, HTTP/3 CONNECT) is
    /// complete, in completion order. `None` once the server is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection is only removed from the queue when it is returned.
    pub async fn accept(&mut self) -> Option<Incoming> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        self.incoming.recv().await
    }

    /// Close every connection of this endpoint immediately with `code` (its number sent
    /// unmapped as the QUIC application error code: an endpoint spans versions) and `reason`, and stop accepting. Later [`accept`]
    /// calls return `None`.
    ///
    /// This is abrupt: WebTransport peers get no CLOSE_WEBTRANSPORT_SESSION capsule. For a
    /// graceful shutdown close each session first.
    ///
    /// [`accept`]: Self::accept
    pub fn close(&self, code: ErrorCode, reason: &str) {
        self.closed.store(true, Ordering::Release);
        self.endpoint
            .close(quinn::VarInt::from_u32(code.0), reason.as_bytes());
    }

    /// Waits until every connection of this endpoint has finished closing (QUIC's draining
    /// period, about three round-trip timeouts), so that once the [`Server`] is dropped the
    /// UDP port is free to bind again (a restart in place). Call it after [`close`]; without
    /// a close it waits for the peers to leave.
    ///
    /// [`close`]: Self::close
    pub async fn wait_idle(&self) {
        self.endpoint.wait_idle().await;
    }

    /// Closes the server once the sessions closed with
    /// `moql_session::Session::close` have finished closing: waits (at most
    /// `grace`) until no connection is open, so WebTransport peers receive the
    /// CLOSE_WEBTRANSPORT_SESSION capsule with their session's code and reason (a spawned
    /// task writes it), then [`close`](Self::close)s whatever is left with `code` and
    /// `reason`. Closing the endpoint at once instead cuts the capsules off: peers see the
    /// endpoint's code. Follow with [`wait_idle`](Self::wait_idle) before exiting so the
    /// final frames are sent.
    pub async fn close_gracefully(&self, code: ErrorCode, reason: &str, grace: Duration) {
        /// How often the open connections are counted while waiting.
        const POLL: Duration = Duration::from_millis(10);
        let deadline = tokio::time::Instant::now() + grace;
        while self.endpoint.open_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        self.close(code, reason);
    }
}

/// Accept loop: one handshake task per new connection, until the endpoint closes or the
/// [`Server`] is dropped.
async fn run_accept(
    endpoint: quinn::Endpoint,
    tx: mpsc::Sender<Incoming>,
    versions: Arc<[Version]>,
    handshake_timeout: Duration,
) {
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => return, // closed
            },
            () = tx.closed() => break, // Server dropped
        };
        let tx = tx.clone();
        let versions = versions.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            match tokio::time::timeout(handshake_timeout, handshake(incoming, &versions)).await {
                Ok(Ok(incoming)) => {
                    if tx.send(incoming).await.is_err() {
                        tracing::debug!(%remote, "server dropped before accepting; closing");
                    }
                }
                Ok(Err(err)) => tracing::debug!(%remote, %err, "handshake failed"),
                Err(_) => tracing::debug!(%remote, ?handshake_timeout, "handshake timed out"),
            }
        });
    }
    // The server was dropped: refuse new connections rather than leave them unanswered.
    endpoint.set_server_config(None);
}

/// Drive one connection through TLS and, for `h3`, the HTTP/3 SETTINGS and CONNECT.
async fn handshake(
    incoming: quinn::Incoming,
    versions: &[Version],
) -> Result<Incoming, TransportError> {
    let remote = incoming.remote_address();
    let conn = incoming
        .accept()
        .map_err(TransportError::handshake)?
        .await
        .map_err(TransportError::handshake)?;
    let alpn = negotiated_alpn(&conn).unwrap_or_default();

    if alpn == H3_ALPN {
        let request = web_transport_quinn::Request::accept(conn)
            .await
            .map_err(TransportError::handshake)?;
        // Spec 1.3: "the reference server walks the *client's* list in order and chooses the
        // first token it supports".
        let Some(version) = request
            .protocols
            .iter()
            .filter_map(|token| Version::from_alpn(token.as_bytes()))
            .find(|v| versions.contains(v))
        else {
            let offered = request.protocols.clone();
            reject_webtransport(request, NO_COMMON_VERSION_STATUS).await;
            return Err(TransportError::Handshake(format!(
                "WebTransport client offered {offered:?}, none supported; answered {NO_COMMON_VERSION_STATUS}"
            )));
        };
        let path = match request.url.query() {
            Some(query) => format!("{}?{query}", request.url.path()),
            None => request.url.path().to_owned(),
        };
        return Ok(Incoming {
            kind: TransportKind::WebTransport,
            version,
            remote,
            request_path: Some(path),
            inner: Inner::WebTransport(Box::new(request)),
        });
    }

    // Spec 1.2: "A lite-05 implementation should simply accept whatever token the TLS stack
    // negotiated and speak that version." rustls only picks from our list, so this cannot
    // miss unless the list changes under us.
    match Version::from_alpn(&alpn).filter(|v| versions.contains(v)) {
        Some(version) => Ok(Incoming {
            kind: TransportKind::Quic,
            version,
            remote,
            request_path: None,
            inner: Inner::Quic(conn),
        }),
        None => {
            conn.close(
                quinn::VarInt::from_u32(ErrorCode::UNKNOWN_ALPN.0),
                b"no supported ALPN",
            );
            Err(TransportError::Handshake(format!(
                "unexpected ALPN {:?}",
                String::from_utf8_lossy(&alpn)
            )))
        }
    }
}

/// A connection whose QUIC handshake (and, for WebTransport, HTTP/3 CONNECT) is done,
/// waiting for the application to [`accept`](Self::accept) or [`reject`](Self::reject) it,
/// typically after checking [`request_path`](Self::request_path).
///
/// Dropping it without deciding closes the connection with code 0 (a WebTransport client
/// sees its CONNECT fail without a status).
pub struct Incoming {
    kind: TransportKind,
    version: Version,
    remote: SocketAddr,
    request_path: Option<String>,
    inner: Inner,
}

enum Inner {
    Quic(quinn::Connection),
    // Boxed: a request holds several streams and is much larger than a connection handle.
    WebTransport(Box<web_transport_quinn::Request>),
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("remote", &self.remote)
            .field("request_path", &self.request_path)
            .finish_non_exhaustive()
    }
}

impl Incoming {
    /// Raw QUIC or WebTransport.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The negotiated version: on raw QUIC the ALPN rustls picked (server's preference order,
    /// spec 1.2); on WebTransport the first token of the client's `wt-available-protocols` we
    /// support (client's order, spec 1.3).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The client's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// WebTransport: the CONNECT `:path` including `?query` (e.g. `/room?x=1`). Raw QUIC:
    /// `None`, the path arrives in the SETUP Path parameter instead (spec 5.1.2).
    pub fn request_path(&self) -> Option<String> {
        self.request_path.clone()
    }

    /// The TLS SNI the client sent, if any (for virtual hosting).
    pub fn server_name(&self) -> Option<String> {
        server_name(self.connection())
    }

    /// The client's certificate chain (leaf first), verified against
    /// [`ServerConfig::client_roots`] during the handshake; `None` when the client presented
    /// none (or no roots are configured).
    pub fn peer_certificates(&self) -> Option<Vec<rustls::pki_types::CertificateDer<'static>>> {
        let identity = self.connection().peer_identity()?;
        identity
            .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
            .ok()
            .map(|chain| *chain)
            .filter(|chain| !chain.is_empty())
    }

    /// The underlying QUIC connection (statistics, RTT, peer identity).
    pub fn connection(&self) -> &quinn::Connection {
        match &self.inner {
            Inner::Quic(conn) => conn,
            Inner::WebTransport(request) => request.conn(),
        }
    }

    /// Accept the session. WebTransport: answer the CONNECT `200` with
    /// `wt-protocol: "<version token>"`; raw QUIC: wrap the connection in a [`RawSession`].
    /// Either way the [`Connection`] implements `web_transport_trait::Session`.
    ///
    /// # Errors
    ///
    /// [`TransportError::Handshake`] if the client went away before the response was sent.
    pub async fn accept(self) -> Result<Connection, TransportError> {
        match self.inner {
            Inner::Quic(conn) => Ok(Connection::Quic(RawSession::new(conn))),
            Inner::WebTransport(request) => {
                let response =
                    ConnectResponse::new(StatusCode::OK).with_protocol(self.version.alpn());
                request
                    .respond(response)
                    .await
                    .map(Connection::from)
                    .map_err(TransportError::handshake)
            }
        }
    }

    /// Refuse the session.
    ///
    /// WebTransport: answer the CONNECT with HTTP `status` (a value outside 300–599 becomes
    /// 500), then wait briefly (3 RTT, 100 ms to 1 s) for the client to read it and close.
    /// Raw QUIC has no status line, so the connection is closed with the moq-lite code the
    /// reference relay uses (spec 1.4): 6 (`Unauthorized`) for 401 and 403, `64 + status`
    /// otherwise.
    ///
    /// Failures (the client already gone) are logged, not returned: the connection ends
    /// either way.
    pub async fn reject(self, status: u16) {
        match self.inner {
            Inner::Quic(conn) => {
                let code = match status {
                    401 | 403 => ErrorCode::UNAUTHORIZED,
                    _ => ErrorCode::app(status),
                };
                let reason = StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("rejected");
                conn.close(quinn::VarInt::from_u32(code.0), reason.as_bytes());
            }
            Inner::WebTransport(request) => reject_webtransport(*request, status).await,
        }
    }
}

/// Answer a CONNECT with `status`, give the client a moment to read it, then close.
async fn reject_webtransport(request: web_transport_quinn::Request, status: u16) {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| (300..600).contains(&s.as_u16()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let conn = request.conn().clone();
    if let Err(err) = request.reject(status).await {
        tracing::debug!(remote = %conn.remote_address(), %err, "failed to send the rejection");
    }
    let linger = (conn.rtt() * REJECT_LINGER_RTTS).clamp(REJECT_LINGER_MIN, REJECT_LINGER_MAX);
    let _ = tokio::time::timeout(linger, conn.closed()).await;
    conn.close(quinn::VarInt::from_u32(H3_NO_ERROR), b"rejected");
}
