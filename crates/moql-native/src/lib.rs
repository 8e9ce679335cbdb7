//! Raw QUIC and WebTransport over quinn: the transports a moq-lite session runs on (spec 1).
//!
//! - [`Server`] listens on **one** UDP port for both raw QUIC (ALPNs `moq-lite-05`,
//!   `moq-lite-04`, `moq-lite-03`) and WebTransport (ALPN `h3`, version in
//!   `wt-available-protocols`), and yields each handshaken connection as an [`Incoming`] to
//!   [`accept`](Incoming::accept) or [`reject`](Incoming::reject).
//! - [`Client`] dials a URL: `https://` (WebTransport), `moql://` / `moqt://` (raw QUIC) or
//!   `http://` (development: pin the hash served at `/certificate.sha256`), returning a
//!   [`Connected`].
//! - [`Certificate`] generates (ECDSA P-256, 14 days, spec 1.6) or loads certificates and
//!   computes their SHA-256 [fingerprint](Certificate::fingerprint); [`ClientTls`] says how a
//!   client trusts servers.
//!
//! Both ends hand out a [`Connection`], which implements `web_transport_trait::Session` for
//! raw QUIC ([`RawSession`], directly over quinn) and WebTransport (web-transport-quinn)
//! alike, plus the negotiated [`Version`](moql_wire::Version) and [`TransportKind`].
//! Everything after that (SETUP, including the raw-QUIC SETUP Path from
//! [`Connected::setup_path`]) is the engine's.
//!
//! Raw QUIC has its own binding because of spec 10.2: the reference maps RESET_STREAM and
//! STOP_SENDING codes into the HTTP/3 range even on raw QUIC and reads unmapped ones as a
//! generic transport error, while web-transport-quinn's raw mode sends them unmapped.
//! [`RawSession`] sends mapped stream codes, accepts both forms, and sends session close
//! codes unmapped.
//!
//! With the `websocket` feature, [`ws`] adds QMux over WebSocket (spec 1.5): the [`Client`]
//! dials `ws://` / `wss://` URLs and falls back to WebSocket on the same host and port when an
//! `https://` or `http://` dial gets no QUIC answer within
//! [`ClientConfig::websocket_delay`]; servers hand upgraded connections to
//! [`ws::accept_upgraded`]. The same feature adds plain QMux over TCP (`tcp://` URLs,
//! [`accept_tcp`]; version negotiated in-band, path in SETUP). Both are the
//! [`Connection::Qmux`] variant.
//!
//! TLS is rustls with the ring provider ([`provider`]), TLS 1.3 only.

mod client;
mod connection;
mod error;
mod kind;
mod quinn_config;
mod raw;
mod server;
mod socket;
#[cfg(feature = "websocket")]
mod tcp;
mod tls;
mod url;
#[cfg(feature = "websocket")]
pub mod ws;

#[cfg(test)]
mod tests;

pub use client::{Client, ClientConfig, ClientTls, Connected};
pub use connection::{Connection, ConnectionError, RecvStream, SendStream};
pub use error::TransportError;
pub use kind::TransportKind;
pub use raw::{RawError, RawRecvStream, RawSendStream, RawSession};
pub use server::{Incoming, NO_COMMON_VERSION_STATUS, Server, ServerConfig};
#[cfg(feature = "websocket")]
pub use tcp::accept_tcp;
pub use tls::{
    Certificate, GENERATED_BACKDATE, GENERATED_VALIDITY, client_crypto, fingerprint_of, provider,
    server_crypto,
};
