//! The moq-lite session engine: one QUIC or WebTransport connection that publishes an origin
//! to the peer and consumes the peer's, speaking moq-lite-05 (and -04/-03) on the wire.
//!
//! - [`Session::connect`] (client) and [`Accepting`] → [`Accepting::accept`] (server) start a
//!   session over any [`web_transport_trait::Session`]: a fork swaps the transport without
//!   touching the engine.
//! - [`SessionConfig`] says what to publish ([`moql_model::OriginConsumer`]) and where the
//!   peer's broadcasts go ([`moql_model::OriginProducer`]).
//! - The engine knows no transport: `moql-native` provides raw QUIC, WebTransport, and QMux
//!   over WebSocket and TCP (a server on one UDP port, a client that dials a URL), each as a
//!   `web_transport_trait::Session`.
//!
//! Inside: the publisher half answers every incoming bidirectional stream (announce, track,
//! subscribe, fetch, probe, goaway) from the publish origin; the subscriber half opens an
//! announce stream, mirrors announced broadcasts into the subscribe origin, and turns local
//! demand (subscriptions, fetches) into Track, Subscribe and Fetch streams. Group streams and
//! datagrams are routed by Subscribe ID. Every per-stream failure resets that stream with the
//! spec's code; only the failures the spec calls fatal close the session.

mod config;
mod context;
mod convert;
mod error;
mod io;
mod proto;
mod publisher;
mod session;
mod subscriber;
mod tasks;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use config::{
    DEFAULT_MAX_ANNOUNCEMENTS, DEFAULT_MAX_BUFFERED, DEFAULT_MAX_SUBSCRIPTIONS,
    DEFAULT_SETUP_TIMEOUT, SessionConfig, random_origin_id,
};
pub use error::SessionError;
pub use session::{Accepting, Session, SessionStats};
