//! The session engine over the in-memory transport (`moql_session::testing::mem`), on a paused
//! clock: no sockets, no wall-clock waits. Tests that need QUIC itself (TLS, ALPN, WebTransport,
//! datagrams on the wire, addresses) stay in the workspace's `tests/` package.

mod announce_wait;
mod delivery;
mod fetch;
mod fuzz;
mod hostile;
mod lifecycle;
mod raw;
mod support;
mod tracks;
