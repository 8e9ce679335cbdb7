//! QMux over WebSocket (spec 1.5): the same moq-lite bytes on QUIC streams emulated by the
//! `qmux` crate over one WebSocket, for clients that cannot use QUIC (UDP blocked, browsers
//! without WebTransport, Node.js).
//!
//! - Negotiation: the client offers composite `Sec-WebSocket-Protocol` tokens,
//!   `qmux-0N.moq-lite-0M` ([`subprotocols`]); the server picks one ([`choose_subprotocol`]),
//!   which fixes both the QMux draft and the moq-lite version. Bare `qmux-0N` / `webtransport`
//!   tokens carry no application protocol (the reference's legacy SETUP negotiation, which this
//!   implementation does not speak, as on WebTransport) and are never chosen.
//! - No datagrams: the session advertises none and reports a maximum datagram size of 0, so
//!   the engine sends every group on a stream (a track configured for datagrams degrades to
//!   streams).
//! - Stream error codes travel unmapped (raw 32-bit values, not the HTTP/3 mapping).
//! - The request path and query travel in the upgrade URI, as on WebTransport.
//!
//! The server side takes an already-upgraded byte stream ([`accept_upgraded`]): the HTTP server
//! (the relay's axum router) answers the upgrade itself, which lets it read the path and query
//! first. [`accept_key`] computes the `Sec-WebSocket-Accept` value for that answer.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moql_wire::Version;
use qmux::Version as QmuxVersion;
use qmux::ws::tokio_tungstenite::{self, WebSocketStream, tungstenite};
use tokio::io::{AsyncRead, AsyncWrite};
use tungstenite::client::IntoClientRequest;
use tungstenite::http;
use tungstenite::protocol::Role;
use web_transport_trait as wt;

use super::{Connected, Connection, TransportError, TransportKind};

/// The QMux drafts we run on, newest (preferred) first.
const QMUX_DRAFTS: [QmuxVersion; 3] = [
    QmuxVersion::QMux02,
    QmuxVersion::QMux01,
    QmuxVersion::QMux00,
];

/// Connection-level receive window: how many bytes the peer may have in flight across all
/// streams (qmux's default of 1 MiB throttles a relay fan-out over one socket).
const MAX_DATA: u64 = 8 * 1024 * 1024;

/// Per-stream receive window.
const MAX_STREAM_DATA: u64 = 1024 * 1024;

/// Settings of a QMux session (WebSocket or TCP), either side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QmuxConfig {
    /// Concurrent bidirectional, and separately unidirectional, streams the peer may open;
    /// default 1024 (as on QUIC).
    pub max_streams: u32,
    /// Close the session after this long without hearing from the peer; default 30 s. Zero
    /// disables the idle timeout (and the keep-alive).
    pub idle_timeout: Duration,
    /// Send a WebSocket ping after this long; default 5 s. Zero disables keep-alives.
    pub keep_alive: Duration,
}

impl Default for QmuxConfig {
    fn default() -> Self {
        Self {
            max_streams: 1024,
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(5),
        }
    }
}

impl QmuxConfig {
    pub(crate) fn qmux(&self) -> qmux::Config {
        let mut config = qmux::Config::default();
        config.max_streams_bidi = self.max_streams.into();
        config.max_streams_uni = self.max_streams.into();
        config.max_data = MAX_DATA;
        config.max_stream_data_bidi_local = MAX_STREAM_DATA;
        config.max_stream_data_bidi_remote = MAX_STREAM_DATA;
        config.max_stream_data_uni = MAX_STREAM_DATA;
        config.max_idle_timeout = u64::try_from(self.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        // Spec 1.5: no datagrams on QMux bindings.
        config.max_datagram_frame_size = 0;
        config
    }

    fn keep_alive(&self) -> Option<qmux::ws::KeepAlive> {
        (!self.keep_alive.is_zero() && !self.idle_timeout.is_zero())
            .then(|| qmux::ws::KeepAlive::new(self.keep_alive, self.idle_timeout))
    }
}

/// The `Sec-WebSocket-Protocol` tokens a client offers for `versions` (most preferred
/// first): for each version, `qmux-02.`, `qmux-01.` and `qmux-00.` followed by its ALPN.
pub fn subprotocols(versions: &[Version]) -> Vec<String> {
    versions
        .iter()
        .flat_map(|v| {
            QMUX_DRAFTS
                .iter()
                .map(move |q| format!("{}{}", q.prefix(), v.alpn()))
        })
        .collect()
}

/// The QMux draft and moq-lite version of a composite token, `None` for a bare or unknown one.
fn parse_subprotocol(token: &str) -> Option<(QmuxVersion, Version)> {
    QMUX_DRAFTS.iter().find_map(|q| {
        let app = token.strip_prefix(q.prefix())?;
        Some((*q, Version::from_alpn(app.as_bytes())?))
    })
}

/// A `Sec-WebSocket-Protocol` token the server picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subprotocol {
    /// The token, echoed in the `101` response.
    pub token: String,
    /// The moq-lite version it names.
    pub version: Version,
}

/// Picks the token to answer from the client's `offered` ones (each header value may list
/// several, comma-separated): the server's order decides, first by moq-lite version
/// (`versions`, most preferred first), then the newest QMux draft. `None` when no composite
/// token names one of `versions` (bare `qmux-0N` / `webtransport` tokens never match).
pub fn choose_subprotocol<'a>(
    offered: impl IntoIterator<Item = &'a str>,
    versions: &[Version],
) -> Option<Subprotocol> {
    let offered: Vec<(QmuxVersion, Version, &str)> = offered
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter_map(|token| parse_subprotocol(token).map(|(q, v)| (q, v, token)))
        .collect();
    versions.iter().find_map(|version| {
        QMUX_DRAFTS.iter().find_map(|draft| {
            offered
                .iter()
                .find(|(q, v, _)| q == draft && v == version)
                .map(|(_, v, token)| Subprotocol {
                    token: (*token).to_owned(),
                    version: *v,
                })
        })
    })
}

/// The `Sec-WebSocket-Accept` value answering a `Sec-WebSocket-Key` (RFC 6455 section 4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    tungstenite::handshake::derive_accept_key(key)
}

/// Starts the server side of a session on `io`, a connection whose HTTP upgrade to WebSocket
/// was already answered (`101` with `protocol.token`). `remote` is the peer's TCP address.
///
/// Returns at once: the negotiated token fixes the QMux draft, so there is no further
/// handshake. A peer that never speaks is dropped by the idle timeout.
pub async fn accept_upgraded<IO>(
    io: IO,
    protocol: &Subprotocol,
    remote: SocketAddr,
    config: &QmuxConfig,
) -> Connection
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let mut upgraded = qmux::ws::Upgraded::new(ws)
        .with_alpn(&protocol.token)
        .with_session_config(config.qmux());
    if let Some(keep_alive) = config.keep_alive() {
        upgraded = upgraded.with_keep_alive(keep_alive);
    }
    Connection::Qmux(Box::new(QmuxSession::new(
        upgraded.accept(),
        remote,
        TransportKind::WebSocket,
    )))
}

/// Where and how a client dials a WebSocket.
pub(crate) struct WsDial<'a> {
    /// The `ws://` or `wss://` URL (path and query included, no fragment).
    pub(crate) url: &'a url::Url,
    /// The resolved address of the URL's host.
    pub(crate) remote: SocketAddr,
    /// The TLS server name for `wss://`.
    pub(crate) server_name: &'a str,
    /// `Some` for `wss://`.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// The versions to offer, most preferred first.
    pub(crate) versions: &'a [Version],
    /// Session settings.
    pub(crate) config: QmuxConfig,
}

/// Dials `dial.url`: TCP, TLS for `wss://`, the upgrade offering [`subprotocols`], then checks
/// that the server picked one of them.
///
/// # Errors
///
/// [`TransportError::Connect`] if TCP fails, [`TransportError::Handshake`] for TLS or a
/// malformed upgrade, [`TransportError::Rejected`] for a non-`101` answer,
/// [`TransportError::NoCommonVersion`] if the server picked no token we offered (the socket
/// is closed).
pub(crate) async fn connect(dial: WsDial<'_>) -> Result<Connected, TransportError> {
    let offered = subprotocols(dial.versions);
    let mut request = dial
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| TransportError::InvalidUrl(e.to_string()))?;
    let value = http::HeaderValue::from_str(&offered.join(", "))
        .map_err(|e| TransportError::Config(e.to_string()))?;
    request
        .headers_mut()
        .insert(http::header::SEC_WEBSOCKET_PROTOCOL, value);

    let tcp = tokio::net::TcpStream::connect(dial.remote)
        .await
        .map_err(|e| TransportError::Connect(format!("TCP to {}: {e}", dial.remote)))?;
    let _ = tcp.set_nodelay(true);
    let (session, token) = match dial.tls {
        Some(tls) => {
            let name = rustls::pki_types::ServerName::try_from(dial.server_name.to_owned())
                .map_err(TransportError::handshake)?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(TransportError::handshake)?;
            upgrade(request, stream, &dial.config).await?
        }
        None => upgrade(request, tcp, &dial.config).await?,
    };
    let version = token
        .as_deref()
        .and_then(parse_subprotocol)
        .map(|(_, v)| v)
        .filter(|v| dial.versions.contains(v));
    let Some(version) = version else {
        wt::Session::close(&session, 0, "no Sec-WebSocket-Protocol we offered");
        return Err(TransportError::NoCommonVersion { offered });
    };
    Ok(Connected {
        session: Connection::Qmux(Box::new(QmuxSession::new(
            session,
            dial.remote,
            TransportKind::WebSocket,
        ))),
        version,
        kind: TransportKind::WebSocket,
        setup_path: None,
    })
}

/// The client's WebSocket handshake over `stream`; returns the session and the token the
/// server answered.
async fn upgrade<S>(
    request: http::Request<()>,
    stream: S,
    config: &QmuxConfig,
) -> Result<(qmux::Session, Option<String>), TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ws, response) = tokio_tungstenite::client_async_with_config(request, stream, None)
        .await
        .map_err(|err| match err {
            tungstenite::Error::Http(response) => {
                TransportError::Rejected(response.status().as_u16())
            }
            err => TransportError::handshake(err),
        })?;
    let token = response
        .headers()
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let mut upgraded = qmux::ws::Upgraded::new(ws).with_session_config(config.qmux());
    if let Some(token) = &token {
        upgraded = upgraded.with_alpn(token);
    }
    if let Some(keep_alive) = config.keep_alive() {
        upgraded = upgraded.with_keep_alive(keep_alive);
    }
    Ok((upgraded.connect(), token))
}

/// A QMux session over WebSocket or TCP, with the peer's TCP address. Cheap to clone.
///
/// Implements `web_transport_trait::Session` by delegating to `qmux`, except that it has no
/// datagrams: [`max_datagram_size`](wt::Session::max_datagram_size) is 0 and sending one fails.
/// Dropping every clone and stream closes the WebSocket.
#[derive(Clone)]
pub struct QmuxSession {
    inner: qmux::Session,
    remote: SocketAddr,
    kind: TransportKind,
}

impl QmuxSession {
    pub(crate) fn new(inner: qmux::Session, remote: SocketAddr, kind: TransportKind) -> Self {
        Self {
            inner,
            remote,
            kind,
        }
    }

    /// WebSocket or TCP.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The peer's TCP address.
    pub fn remote_address(&self) -> SocketAddr {
        self.remote
    }

    /// The `qmux` session underneath.
    pub fn inner(&self) -> &qmux::Session {
        &self.inner
    }
}

impl fmt::Debug for QmuxSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QmuxSession")
            .field("remote", &self.remote)
            .field("kind", &self.kind)
            .field("protocol", &wt::Session::protocol(&self.inner))
            .finish_non_exhaustive()
    }
}

/// Delegates to `qmux` (cancel safety as documented there), without datagrams.
impl wt::Session for QmuxSession {
    type SendStream = QmuxSendStream;
    type RecvStream = QmuxRecvStream;
    type Error = qmux::Error;

    async fn accept_uni(&self) -> Result<QmuxRecvStream, qmux::Error> {
        Ok(QmuxRecvStream(wt::Session::accept_uni(&self.inner).await?))
    }

    async fn accept_bi(&self) -> Result<(QmuxSendStream, QmuxRecvStream), qmux::Error> {
        let (send, recv) = wt::Session::accept_bi(&self.inner).await?;
        Ok((QmuxSendStream(send), QmuxRecvStream(recv)))
    }

    async fn open_bi(&self) -> Result<(QmuxSendStream, QmuxRecvStream), qmux::Error> {
        let (send, recv) = wt::Session::open_bi(&self.inner).await?;
        Ok((QmuxSendStream(send), QmuxRecvStream(recv)))
    }

    async fn open_uni(&self) -> Result<QmuxSendStream, qmux::Error> {
        Ok(QmuxSendStream(wt::Session::open_uni(&self.inner).await?))
    }

    /// Always fails: QMux bindings carry no datagrams (spec 1.5).
    fn send_datagram(&self, _payload: Bytes) -> Result<(), qmux::Error> {
        Err(qmux::Error::DatagramsUnsupported)
    }

    /// Never yields a datagram (none are advertised); fails when the session ends.
    async fn recv_datagram(&self) -> Result<Bytes, qmux::Error> {
        wt::Session::recv_datagram(&self.inner).await
    }

    fn max_datagram_size(&self) -> usize {
        0
    }

    /// The negotiated moq-lite ALPN (the composite token without its `qmux-0N.` prefix).
    fn protocol(&self) -> Option<&str> {
        wt::Session::protocol(&self.inner)
    }

    fn close(&self, code: u32, reason: &str) {
        wt::Session::close(&self.inner, code, reason);
    }

    async fn closed(&self) -> qmux::Error {
        wt::Session::closed(&self.inner).await
    }

    fn stats(&self) -> impl wt::Stats {
        wt::Session::stats(&self.inner)
    }
}

/// The sending half of a [`QmuxSession`] stream. Reset codes travel unmapped.
pub struct QmuxSendStream(qmux::SendStream);

impl fmt::Debug for QmuxSendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QmuxSendStream").finish_non_exhaustive()
    }
}

/// Delegates to `qmux`.
impl wt::SendStream for QmuxSendStream {
    type Error = qmux::Error;

    async fn write(&mut self, buf: &[u8]) -> Result<usize, qmux::Error> {
        wt::SendStream::write(&mut self.0, buf).await
    }

    async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), qmux::Error> {
        wt::SendStream::write_chunk(&mut self.0, chunk).await
    }

    fn set_priority(&mut self, order: i32) {
        wt::SendStream::set_priority(&mut self.0, order);
    }

    fn finish(&mut self) -> Result<(), qmux::Error> {
        wt::SendStream::finish(&mut self.0)
    }

    fn reset(&mut self, code: u32) {
        wt::SendStream::reset(&mut self.0, code);
    }

    async fn closed(&mut self) -> Result<(), qmux::Error> {
        wt::SendStream::closed(&mut self.0).await
    }
}

/// The receiving half of a [`QmuxSession`] stream. Stop codes travel unmapped.
pub struct QmuxRecvStream(qmux::RecvStream);

impl fmt::Debug for QmuxRecvStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QmuxRecvStream").finish_non_exhaustive()
    }
}

/// Delegates to `qmux`.
impl wt::RecvStream for QmuxRecvStream {
    type Error = qmux::Error;

    async fn read(&mut self, dst: &mut [u8]) -> Result<Option<usize>, qmux::Error> {
        wt::RecvStream::read(&mut self.0, dst).await
    }

    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, qmux::Error> {
        wt::RecvStream::read_chunk(&mut self.0, max).await
    }

    fn stop(&mut self, code: u32) {
        wt::RecvStream::stop(&mut self.0, code);
    }

    async fn closed(&mut self) -> Result<(), qmux::Error> {
        wt::RecvStream::closed(&mut self.0).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_every_draft_per_version() {
        assert_eq!(
            subprotocols(&[Version::Lite05]),
            [
                "qmux-02.moq-lite-05",
                "qmux-01.moq-lite-05",
                "qmux-00.moq-lite-05"
            ]
        );
        assert_eq!(subprotocols(&Version::ALL).len(), 3 * Version::ALL.len());
    }

    #[test]
    fn picks_the_servers_preferred_version_then_the_newest_draft() {
        // What @moq/net 0.3.4 offers (connection/connect.js).
        let browser = "qmux-01.moq-lite-04, qmux-00.moq-lite-05, qmux-01.moq-lite-05, qmux-02, qmux-01, webtransport";
        let chosen = choose_subprotocol([browser], &Version::ALL).expect("a match");
        assert_eq!(chosen.token, "qmux-01.moq-lite-05");
        // Our preferred lite-06 is not offered: the newest the browser speaks.
        assert_eq!(chosen.version, Version::Lite05);

        let older = &[Version::Lite04, Version::Lite03];
        let chosen = choose_subprotocol([browser], older).expect("a match");
        assert_eq!(chosen.token, "qmux-01.moq-lite-04");
    }

    #[test]
    fn bare_and_unknown_tokens_never_match() {
        for offered in [
            "qmux-02, qmux-01, qmux-00, webtransport",
            "qmux-02.moq-lite-99",
            "",
            "qmux-03.moq-lite-05",
        ] {
            assert_eq!(
                choose_subprotocol([offered], &Version::ALL),
                None,
                "{offered}"
            );
        }
        // Several header values are as good as one comma-separated list.
        let chosen = choose_subprotocol(["qmux-02", "qmux-00.moq-lite-03"], &Version::ALL);
        assert_eq!(
            chosen.map(|c| c.token).as_deref(),
            Some("qmux-00.moq-lite-03")
        );
    }

    #[test]
    fn accept_key_matches_rfc_6455() {
        // The example of RFC 6455 section 1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
