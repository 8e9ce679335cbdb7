#![doc = include_str!("../README.md")]

pub mod archive;
pub mod auth;
mod cluster;
pub mod config;
mod error;
pub mod http;
mod relay;
mod tls_reload;

pub use auth::{Auth, AuthConfig, AuthError, Grant};
pub use config::RelayConfig;
pub use error::RelayError;
pub use http::{HttpState, Metrics};
pub use relay::Relay;
pub use tls_reload::TlsReloader;
