//! [`TransportKind`]: which of the four bindings (spec 1.2, 1.3, 1.5) carries a session.

use std::fmt;

/// How a session's QUIC connection carries moq-lite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Raw QUIC: the version is the TLS ALPN, the request path comes in SETUP (spec 1.2).
    Quic,
    /// WebTransport over HTTP/3: the version is the `wt-protocol` token, the request path is
    /// the CONNECT `:path` (spec 1.3).
    WebTransport,
    /// QMux over WebSocket: the version is the `Sec-WebSocket-Protocol` token, the request
    /// path is the upgrade URI (spec 1.5).
    WebSocket,
    /// QMux over plain TCP: the version is negotiated in-band (QMux transport parameters), the
    /// request path comes in SETUP (spec 1.5).
    Tcp,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Quic => "quic",
            Self::WebTransport => "webtransport",
            Self::WebSocket => "websocket",
            Self::Tcp => "tcp",
        })
    }
}
