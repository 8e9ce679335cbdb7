//! [`Client`]: dial a moq-lite URL (`https://`, `http://`, `moql://`, `moqt://`, and with the
//! `websocket` feature `ws://`, `wss://`, `tcp://`) and get a [`Connected`] session with its negotiated
//! version.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moql_wire::{ErrorCode, Version};
use web_transport_quinn::proto::ConnectRequest;

use super::quinn_config::{
    H3_ALPN, check_versions, is_alpn_mismatch, negotiated_alpn, transport_config, version_tokens,
};
use super::url::{Scheme, Target, fetch_fingerprint};
use super::{Connection, RawSession, TransportError, TransportKind, tls};

/// How a [`Client`] decides to trust a server's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientTls {
    /// The operating system's verifier and roots (via `rustls-platform-verifier`), checking
    /// the chain and that the certificate names the URL's host. The default.
    System,
    /// Trust exactly the leaf certificates whose SHA-256 is one of these (64 hex digits,
    /// either case, `:` separators allowed), whatever their issuer or names: what browsers
    /// call `serverCertificateHashes`. For self-signed servers.
    Fingerprints(Vec<String>),
    /// Verify the chain against exactly these trust anchors (DER, e.g. from
    /// [`Certificate::load_roots`](super::Certificate::load_roots)) instead of the system's,
    /// and that the certificate names the URL's host: for a private CA.
    Roots(Vec<rustls::pki_types::CertificateDer<'static>>),
    /// Accept any certificate. **No authentication at all**: anyone on the path can
    /// impersonate the server. Local development only.
    DisableVerify,
}

impl ClientTls {
    /// The trust a client's options ask for, the first that applies: `disable_verify`, else
    /// pinned `fingerprints`, else the CA certificates in the `roots` files, else the system's.
    /// What `moql`'s `--tls-*` flags and a relay's `[cluster]` trust settings mean alike.
    ///
    /// Reads the root files: call it at startup or from `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// As [`Certificate::load_roots`](super::Certificate::load_roots).
    pub fn from_options<P: AsRef<std::path::Path>>(
        disable_verify: bool,
        fingerprints: &[String],
        roots: &[P],
    ) -> Result<Self, TransportError> {
        Ok(if disable_verify {
            Self::DisableVerify
        } else if !fingerprints.is_empty() {
            Self::Fingerprints(fingerprints.to_vec())
        } else if !roots.is_empty() {
            Self::Roots(super::Certificate::load_roots(roots)?)
        } else {
            Self::System
        })
    }
}

/// Configuration of a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Local UDP address; default `[::]:0`. When it is a wildcard with port 0, a target of the
    /// other address family gets its own wildcard socket (`0.0.0.0:0` for IPv4 targets), so
    /// IPv4 works even where dual-stack sockets do not.
    pub bind: SocketAddr,
    /// How to trust servers; default [`ClientTls::System`]. `http://` URLs ignore it and pin
    /// the fingerprint they fetch.
    pub tls: ClientTls,
    /// The certificate chain and key presented when a server asks for a client certificate
    /// (mTLS: a relay's cluster peers, see `ServerConfig::client_roots`); default none.
    pub identity: Option<super::Certificate>,
    /// The versions to offer, most preferred first; default [`Version::ALL`].
    pub versions: Vec<Version>,
    /// Close a connection after this long without any packet; default 30 s. Zero disables.
    pub idle_timeout: Duration,
    /// Send a keep-alive after this long without sending; default 1 s (one small packet a
    /// second, only while nothing else is sent). Zero disables. Short because a connection
    /// that stopped receiving learns of a server restarted with the same key file only from
    /// the reset answering its next packet (`ServerConfig::reset_seed`): 1 s bounds that wait.
    pub keep_alive: Duration,
    /// Concurrent bidirectional, and separately unidirectional, streams the server may open;
    /// default 1024.
    pub max_streams: u32,
    /// Bound on one [`Client::connect`]: resolution, certificate fetch, QUIC handshake and
    /// WebTransport CONNECT; default 10 s.
    pub connect_timeout: Duration,
    /// `websocket` feature: how long an `https://` or `http://` dial waits for QUIC before
    /// also trying WebSocket (`wss://` / `ws://`, same host, port, path and query; the first to
    /// connect wins); default 500 ms, as browser clients do. `None` never falls back.
    /// Without the feature it is ignored.
    pub websocket_delay: Option<Duration>,
}

impl ClientConfig {
    /// Defaults for everything but how to trust servers.
    pub fn new(tls: ClientTls) -> Self {
        Self {
            tls,
            ..Self::default()
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
            tls: ClientTls::System,
            identity: None,
            versions: Version::ALL.to_vec(),
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(1),
            max_streams: 1024,
            connect_timeout: Duration::from_secs(10),
            websocket_delay: Some(Duration::from_millis(500)),
        }
    }
}

/// A successfully dialed session.
#[derive(Debug)]
pub struct Connected {
    /// The session; implements `web_transport_trait::Session`. Dropping every clone (and
    /// every stream) closes the connection with code 0.
    pub session: Connection,
    /// The negotiated version: the ALPN (raw QUIC) or the `wt-protocol` token (WebTransport).
    pub version: Version,
    /// Raw QUIC or WebTransport.
    pub kind: TransportKind,
    /// Raw QUIC only: the value for the SETUP Path parameter, `None` to omit it (spec 5.1.2).
    /// Always `None` on WebTransport, whose path travelled in the CONNECT.
    pub setup_path: Option<String>,
}

/// Dials moq-lite servers. Cheap to clone; clones share sockets.
///
/// | URL | transport |
/// |---|---|
/// | `https://host[:443]/path?query` | WebTransport; the path and query go in the CONNECT |
/// | `http://host[:80]/path` | development: fetch `/certificate.sha256` over TCP, then WebTransport pinning it |
/// | `moql://host[:443]/path?query`, `moqt://…` | raw QUIC; the path and query come back in [`Connected::setup_path`] |
///
/// Sockets stay open while the client or any session dialed through it is alive.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    bind: SocketAddr,
    /// The socket bound to `bind`.
    primary: quinn::Endpoint,
    /// A wildcard socket of the other family, bound on first use (see [`ClientConfig::bind`]).
    secondary: Mutex<Option<quinn::Endpoint>>,
    /// Raw QUIC: ALPN = our version tokens.
    quic: quinn::ClientConfig,
    /// WebTransport: ALPN = `h3`.
    h3: quinn::ClientConfig,
    transport: Arc<quinn::TransportConfig>,
    versions: Vec<Version>,
    tokens: Vec<String>,
    connect_timeout: Duration,
    /// Presented on `http://` dials too, whose TLS config is built per dial.
    identity: Option<super::Certificate>,
    /// WebSocket: the fallback delay, TLS for `wss://` (ALPN `http/1.1`) and session settings.
    #[cfg(feature = "websocket")]
    websocket: WebSocketDial,
}

#[cfg(feature = "websocket")]
#[derive(Debug)]
struct WebSocketDial {
    delay: Option<Duration>,
    tls: Arc<rustls::ClientConfig>,
    config: super::ws::QmuxConfig,
}

impl Client {
    /// Build the TLS configurations and bind the local socket.
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`TransportError::Bind`] if the socket cannot be bound or there is no tokio runtime;
    /// [`TransportError::Certificate`] for a malformed fingerprint or an empty
    /// [`ClientTls::Fingerprints`] list; [`TransportError::Tls`] if
    /// [`ClientTls::System`] finds no roots; [`TransportError::Config`] for an empty version
    /// list or an out-of-range timeout.
    pub fn new(config: ClientConfig) -> Result<Self, TransportError> {
        check_versions(&config.versions)?;
        let tokens = version_tokens(&config.versions);
        let transport =
            transport_config(config.idle_timeout, config.keep_alive, config.max_streams)?;
        let quic_alpn = tokens.iter().map(|t| t.clone().into_bytes()).collect();
        let identity = config.identity.as_ref();
        let quic = quinn_config(&config.tls, identity, quic_alpn, &transport)?;
        let h3 = quinn_config(&config.tls, identity, vec![H3_ALPN.to_vec()], &transport)?;
        let primary = super::socket::endpoint(config.bind, None).map_err(TransportError::Bind)?;
        #[cfg(feature = "websocket")]
        let websocket = WebSocketDial {
            delay: config.websocket_delay,
            tls: Arc::new(tls::client_crypto(
                &config.tls,
                identity,
                vec![b"http/1.1".to_vec()],
            )?),
            config: super::ws::QmuxConfig {
                max_streams: config.max_streams,
                idle_timeout: config.idle_timeout,
                keep_alive: config.keep_alive,
            },
        };
        Ok(Self {
            inner: Arc::new(ClientInner {
                bind: config.bind,
                primary,
                secondary: Mutex::new(None),
                quic,
                h3,
                transport,
                versions: config.versions,
                tokens,
                connect_timeout: config.connect_timeout,
                identity: config.identity,
                #[cfg(feature = "websocket")]
                websocket,
            }),
        })
    }

    /// Dial `url` and complete the handshake (QUIC, and for WebTransport the HTTP/3 CONNECT
    /// and version check).
    ///
    /// # Errors
    ///
    /// - [`TransportError::InvalidUrl`] / [`TransportError::UnsupportedScheme`] for a bad URL;
    /// - [`TransportError::Connect`] if the host does not resolve or the dial cannot start;
    /// - `http://` only: [`TransportError::Certificate`] if `/certificate.sha256` answers 404
    ///   or not a fingerprint, [`TransportError::Connect`] for another status,
    ///   [`TransportError::Io`] if its TCP connection fails;
    /// - [`TransportError::NoCommonVersion`] if the server speaks none of our versions: TLS
    ///   `no_application_protocol` on raw QUIC, or a WebTransport `200` without a
    ///   `wt-protocol` we offered (spec 1.3: "A lite-05 client must therefore check that the
    ///   response carries wt-protocol"); the connection is then closed with code 21;
    /// - [`TransportError::Rejected`] if the WebTransport server answered a non-2xx status
    ///   (our [`Server`](super::Server) answers 406 when no version matches);
    /// - [`TransportError::Handshake`] for any other handshake failure (wrong certificate …);
    /// - [`TransportError::Timeout`] after [`ClientConfig::connect_timeout`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt; the half-open connection is closed.
    pub async fn connect(&self, url: &str) -> Result<Connected, TransportError> {
        let target = Target::parse(url)?;
        tokio::time::timeout(self.inner.connect_timeout, self.connect_target(&target))
            .await
            .map_err(|_| TransportError::Timeout(format!("connecting to {url}")))?
    }

    #[cfg(not(feature = "websocket"))]
    async fn connect_target(&self, target: &Target) -> Result<Connected, TransportError> {
        self.connect_udp(target).await
    }

    /// WebSocket URLs directly; `https://` and `http://` race QUIC against a WebSocket started
    /// after the fallback delay (or as soon as QUIC fails). If both fail, the QUIC error wins
    /// unless it is a timeout.
    #[cfg(feature = "websocket")]
    async fn connect_target(&self, target: &Target) -> Result<Connected, TransportError> {
        let delay = match target.scheme {
            Scheme::WebSocket => return self.connect_ws(target).await,
            Scheme::Tcp => {
                let remote = target.resolve().await?;
                let config = &self.inner.websocket.config;
                let path = target.setup_path.clone();
                return super::tcp::connect(remote, &self.inner.versions, config, path).await;
            }
            Scheme::Quic => return self.connect_udp(target).await,
            Scheme::WebTransport | Scheme::DevHttp => match self.inner.websocket.delay {
                Some(delay) => delay,
                None => return self.connect_udp(target).await,
            },
        };
        let quic = self.connect_udp(target);
        tokio::pin!(quic);
        let quic_error = tokio::select! {
            result = &mut quic => match result {
                Ok(connected) => return Ok(connected),
                Err(err) => Some(err),
            },
            () = tokio::time::sleep(delay) => None,
        };
        tracing::debug!(error = ?quic_error, "no QUIC answer yet; trying WebSocket");
        let ws = self.connect_ws(target);
        tokio::pin!(ws);
        let (quic_error, ws_error) = match quic_error {
            Some(quic_error) => (quic_error, ws.await.err()),
            None => tokio::select! {
                result = &mut quic => match result {
                    Ok(connected) => return Ok(connected),
                    Err(err) => (err, ws.await.err()),
                },
                result = &mut ws => match result {
                    Ok(connected) => return Ok(connected),
                    // The server answered over TCP: that is its answer for this URL.
                    Err(err @ (TransportError::Rejected(_) | TransportError::NoCommonVersion { .. })) => {
                        return Err(err);
                    }
                    Err(ws_error) => match quic.await {
                        Ok(connected) => return Ok(connected),
                        Err(quic_error) => (quic_error, Some(ws_error)),
                    },
                },
            },
        };
        match (quic_error, ws_error) {
            (TransportError::Timeout(_), Some(ws_error)) => Err(ws_error),
            (quic_error, ws_error) => {
                if let Some(ws_error) = ws_error {
                    tracing::debug!(%ws_error, "the WebSocket fallback failed too");
                }
                Err(quic_error)
            }
        }
    }

    #[cfg(feature = "websocket")]
    async fn connect_ws(&self, target: &Target) -> Result<Connected, TransportError> {
        let url = target
            .ws_url
            .as_ref()
            .ok_or_else(|| TransportError::InvalidUrl("no WebSocket URL".into()))?;
        let remote = target.resolve().await?;
        let dial = &self.inner.websocket;
        tracing::debug!(%remote, %url, "dialing WebSocket");
        super::ws::connect(super::ws::WsDial {
            url,
            remote,
            server_name: &target.host.to_string(),
            tls: (url.scheme() == "wss").then(|| dial.tls.clone()),
            versions: &self.inner.versions,
            config: dial.config,
        })
        .await
    }

    async fn connect_udp(&self, target: &Target) -> Result<Connected, TransportError> {
        let remote = target.resolve().await?;
        let endpoint = self.endpoint_for(remote)?;
        let sni = target.host.to_string();
        tracing::debug!(%remote, scheme = ?target.scheme, "dialing");
        match target.scheme {
            Scheme::Quic => self.connect_quic(&endpoint, remote, &sni, target).await,
            Scheme::WebTransport => {
                self.connect_webtransport(&endpoint, self.inner.h3.clone(), remote, &sni, target)
                    .await
            }
            // Dialed before reaching here (connect_target); only without the feature, where
            // URL parsing already refuses them.
            Scheme::WebSocket | Scheme::Tcp => Err(TransportError::UnsupportedScheme(
                "ws, wss and tcp need the websocket feature".to_owned(),
            )),
            Scheme::DevHttp => {
                let fingerprint = fetch_fingerprint(remote, &target.authority()).await?;
                tracing::debug!(%remote, %fingerprint, "pinning the served certificate hash");
                let config = quinn_config(
                    &ClientTls::Fingerprints(vec![fingerprint]),
                    self.inner.identity.as_ref(),
                    vec![H3_ALPN.to_vec()],
                    &self.inner.transport,
                )?;
                self.connect_webtransport(&endpoint, config, remote, &sni, target)
                    .await
            }
        }
    }

    async fn connect_quic(
        &self,
        endpoint: &quinn::Endpoint,
        remote: SocketAddr,
        sni: &str,
        target: &Target,
    ) -> Result<Connected, TransportError> {
        let conn = endpoint
            .connect_with(self.inner.quic.clone(), remote, sni)
            .map_err(|e| TransportError::Connect(e.to_string()))?
            .await
            .map_err(|e| {
                if is_alpn_mismatch(&e) {
                    self.no_common_version()
                } else {
                    TransportError::handshake(e)
                }
            })?;
        let version = negotiated_alpn(&conn)
            .and_then(|alpn| Version::from_alpn(&alpn))
            .filter(|v| self.inner.versions.contains(v));
        let Some(version) = version else {
            conn.close(
                quinn::VarInt::from_u32(ErrorCode::UNKNOWN_ALPN.0),
                b"no supported ALPN",
            );
            return Err(self.no_common_version());
        };
        Ok(Connected {
            session: Connection::Quic(RawSession::new(conn)),
            version,
            kind: TransportKind::Quic,
            setup_path: target.setup_path.clone(),
        })
    }

    async fn connect_webtransport(
        &self,
        endpoint: &quinn::Endpoint,
        config: quinn::ClientConfig,
        remote: SocketAddr,
        sni: &str,
        target: &Target,
    ) -> Result<Connected, TransportError> {
        let url = target
            .connect_url
            .clone()
            .ok_or_else(|| TransportError::InvalidUrl("no WebTransport URL".into()))?;
        let conn = endpoint
            .connect_with(config, remote, sni)
            .map_err(|e| TransportError::Connect(e.to_string()))?
            .await
            .map_err(TransportError::handshake)?;
        let request = ConnectRequest::new(url).with_protocols(self.inner.tokens.clone());
        let session = web_transport_quinn::Session::connect(conn, request)
            .await
            .map_err(client_error)?;

        // Spec 1.3: a 200 without wt-protocol means the legacy `moql` SETUP negotiation,
        // which can never yield lite-05 — treat it as no common version.
        let version = session
            .response()
            .and_then(|response| response.protocol.as_deref())
            .and_then(|token| Version::from_alpn(token.as_bytes()))
            .filter(|v| self.inner.versions.contains(v));
        let Some(version) = version else {
            session.close(ErrorCode::UNKNOWN_ALPN.0, b"no wt-protocol we offered");
            return Err(self.no_common_version());
        };
        Ok(Connected {
            session: Connection::from(session),
            version,
            kind: TransportKind::WebTransport,
            setup_path: None,
        })
    }

    fn no_common_version(&self) -> TransportError {
        TransportError::NoCommonVersion {
            offered: self.inner.tokens.clone(),
        }
    }

    /// The socket to reach `remote` from (see [`ClientConfig::bind`]).
    fn endpoint_for(&self, remote: SocketAddr) -> Result<quinn::Endpoint, TransportError> {
        let bind = self.inner.bind;
        if remote.is_ipv4() == bind.is_ipv4() {
            return Ok(self.inner.primary.clone());
        }
        if bind.ip().is_unspecified() && bind.port() == 0 {
            let mut secondary = self
                .inner
                .secondary
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(endpoint) = secondary.as_ref() {
                return Ok(endpoint.clone());
            }
            let wildcard = match remote {
                SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            let endpoint = super::socket::endpoint(SocketAddr::new(wildcard, 0), None)
                .map_err(TransportError::Bind)?;
            *secondary = Some(endpoint.clone());
            return Ok(endpoint);
        }
        if bind.is_ipv6() {
            // A specific IPv6 bind: rely on the dual-stack socket (quinn maps the address).
            return Ok(self.inner.primary.clone());
        }
        Err(TransportError::Connect(format!(
            "cannot reach {remote} from the IPv4 socket {bind}"
        )))
    }
}

/// A quinn client config: rustls per `tls` presenting `identity`, offering `alpn`, with our
/// transport parameters.
fn quinn_config(
    tls: &ClientTls,
    identity: Option<&super::Certificate>,
    alpn: Vec<Vec<u8>>,
    transport: &Arc<quinn::TransportConfig>,
) -> Result<quinn::ClientConfig, TransportError> {
    let crypto = tls::client_crypto(tls, identity, alpn)?;
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(crypto).map_err(TransportError::tls)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport.clone());
    Ok(config)
}

/// Map a WebTransport dial failure, keeping the HTTP status of a rejection.
fn client_error(err: web_transport_quinn::ClientError) -> TransportError {
    use web_transport_quinn::{ClientError, ConnectError, proto};
    match &err {
        ClientError::HttpError(ConnectError::ErrorStatus(status))
        | ClientError::HttpError(ConnectError::ProtoError(proto::ConnectError::WrongStatus(
            Some(status),
        ))) => TransportError::Rejected(status.as_u16()),
        _ => TransportError::handshake(err),
    }
}
