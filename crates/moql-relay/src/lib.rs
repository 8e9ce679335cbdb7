#![doc = include_str!("../README.md")]

pub mod admin;
pub mod archive;
pub mod auth;
mod cluster;
pub mod config;
mod error;
pub mod http;
mod metrics;
mod relay;
mod tls_reload;

pub use auth::{Auth, AuthConfig, AuthError, Grant};
pub use config::RelayConfig;
pub use error::RelayError;
pub use http::HttpState;
pub use metrics::Metrics;
pub use relay::Relay;
pub use tls_reload::TlsReloader;
