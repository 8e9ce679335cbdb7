//! [`RelayError`]: why the relay could not start or stopped.

/// Why the relay failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The QUIC listener or TLS setup failed.
    #[error("transport: {0}")]
    Transport(#[from] moql_native::TransportError),
    /// The TCP (HTTP) listener failed.
    #[error("http listener: {0}")]
    Http(#[from] std::io::Error),
    /// The authorization setup is invalid.
    #[error("auth: {0}")]
    Auth(#[from] crate::auth::AuthError),
}
