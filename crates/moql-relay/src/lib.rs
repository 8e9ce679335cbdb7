//! The moq-lite relay: a fan-out server that carries broadcasts from any publisher to any
//! number of subscribers over QUIC and WebTransport (and WebSocket, QMux, on the HTTP port),
//! with caching, upstream FETCH, HTTP endpoints, JWT authorization and clustering.
//!
//! - [`Relay`]: bind with a [`RelayConfig`], then [`Relay::run`] until a shutdown signal.
//! - [`config`]: every option, from TOML and flags (see `docs/relay.md`).
//! - [`auth`]: JWT (HS256/ES256) grants: a root, publish and subscribe prefixes, expiry.
//! - [`http`]: `/certificate.sha256`, `/announced/<prefix>`, `/fetch/<broadcast>/<track>`,
//!   `/metrics` over TCP on the same port number, and WebSocket upgrades (QMux sessions).
//!
//! ```no_run
//! # async fn run() -> Result<(), moql_relay::RelayError> {
//! let relay = moql_relay::Relay::bind(moql_relay::RelayConfig::default()).await?;
//! relay.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod auth;
mod cluster;
pub mod config;
mod error;
pub mod http;
mod relay;

pub use auth::{Auth, AuthConfig, AuthError, Grant};
pub use config::RelayConfig;
pub use error::RelayError;
pub use http::{HttpState, Metrics};
pub use relay::Relay;
