//! [`TransportError`]: everything that can fail while binding, dialing or handshaking, before
//! a moq-lite session exists.
//!
//! Errors after the handshake belong to the session and travel as
//! [`ConnectionError`](super::ConnectionError) (and the engine's own error type), not as
//! this one.

use std::io;

/// A failure of the QUIC / WebTransport glue: binding a socket, building TLS, parsing a dial
/// URL, or completing a QUIC, HTTP/3 or version handshake.
///
/// The split by fault: [`InvalidUrl`](Self::InvalidUrl),
/// [`UnsupportedScheme`](Self::UnsupportedScheme), [`Config`](Self::Config) and
/// [`Certificate`](Self::Certificate) are the caller's; [`Rejected`](Self::Rejected),
/// [`NoCommonVersion`](Self::NoCommonVersion) and [`Handshake`](Self::Handshake) are the
/// peer's answer; [`Bind`](Self::Bind), [`Io`](Self::Io), [`Connect`](Self::Connect) and
/// [`Timeout`](Self::Timeout) are the network's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The UDP socket could not be bound (address in use, no such interface, no IPv6 …).
    #[error("cannot bind the UDP socket: {0}")]
    Bind(#[source] io::Error),

    /// A rustls configuration could not be built (bad key for the certificate, no usable
    /// cipher suite, no system roots for [`ClientTls::System`](super::ClientTls::System) …).
    #[error("TLS configuration: {0}")]
    Tls(String),

    /// A certificate or key could not be generated, read or parsed, or a fingerprint is not
    /// 64 hex digits.
    #[error("certificate: {0}")]
    Certificate(String),

    /// A configuration value is out of range (for example an idle timeout quinn cannot
    /// encode, or an empty version list).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The dial URL does not parse or names no host.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),

    /// The dial URL's scheme is none of `https`, `http`, `moql`, `moqt`.
    #[error("unsupported URL scheme {0:?} (expected https, http, moql, moqt, ws, wss or tcp)")]
    UnsupportedScheme(String),

    /// The host could not be resolved, or the QUIC connection attempt could not start or was
    /// refused before TLS finished.
    #[error("connect: {0}")]
    Connect(String),

    /// The QUIC, TLS or HTTP/3 handshake failed after it started (bad certificate, connection
    /// closed, malformed CONNECT …).
    #[error("handshake: {0}")]
    Handshake(String),

    /// The peer supports none of our versions: the TLS handshake ended with the
    /// `no_application_protocol` alert (raw QUIC, spec 1.2), or the WebTransport `200` carried
    /// no `wt-protocol` we offered (spec 1.3).
    #[error("no common moq-lite version (we offered {offered:?})")]
    NoCommonVersion {
        /// The ALPN / WebTransport tokens we offered, in our preference order.
        offered: Vec<String>,
    },

    /// The WebTransport server answered the CONNECT with this non-2xx HTTP status.
    #[error("the server rejected the WebTransport session with HTTP status {0}")]
    Rejected(u16),

    /// A bounded wait ran out; the text says which.
    #[error("timed out: {0}")]
    Timeout(String),

    /// Any other I/O failure (the `http://` certificate fetch, reading PEM files …).
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
}

impl TransportError {
    /// A [`Handshake`](Self::Handshake) error from anything printable.
    pub(crate) fn handshake(err: impl std::fmt::Display) -> Self {
        Self::Handshake(err.to_string())
    }

    /// A [`Tls`](Self::Tls) error from anything printable.
    pub(crate) fn tls(err: impl std::fmt::Display) -> Self {
        Self::Tls(err.to_string())
    }
}
