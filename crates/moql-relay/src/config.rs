//! [`RelayConfig`]: every option of the relay, from a TOML file and/or command-line flags
//! (flags win). Every field has a default, so no file is needed. `docs/relay.md` lists them.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use crate::auth::AuthConfig;
use crate::error::RelayError;

/// The relay's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// UDP address for QUIC and WebTransport; the HTTP endpoints listen on TCP at the same
    /// address and port. Default `[::]:4443`.
    pub bind: SocketAddr,
    /// Serve the HTTP endpoints on TCP (default true).
    pub http: bool,
    /// Log filter (`tracing` env-filter syntax), default `info`.
    pub log: String,
    /// TLS certificate.
    pub tls: TlsConfig,
    /// Who may connect and what they may do.
    pub auth: AuthConfig,
    /// Other relays to peer with.
    pub cluster: ClusterConfig,
    /// Cache policy.
    pub cache: CacheConfig,
    /// Graceful shutdown: how long sessions get to leave after GOAWAY, in seconds (default 2).
    pub drain_seconds: f64,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 4443),
            http: true,
            log: "info".into(),
            tls: TlsConfig::default(),
            // No keys configured: open to everyone, so a relay with no config file works on
            // localhost out of the box (the relay logs a warning).
            auth: AuthConfig {
                public: Some(String::new()),
                ..AuthConfig::default()
            },
            cluster: ClusterConfig::default(),
            cache: CacheConfig::default(),
            drain_seconds: 2.0,
        }
    }
}

/// TLS: a PEM certificate chain and key, or a generated self-signed certificate.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; with `key`. Omit both to generate a certificate.
    pub cert: Option<PathBuf>,
    /// PEM private key; with `cert`.
    pub key: Option<PathBuf>,
    /// Names for a generated certificate (default `localhost`, `127.0.0.1`, `::1`). A generated
    /// certificate is ECDSA P-256, valid 14 days, and its SHA-256 is served at
    /// `/certificate.sha256` so browsers can pin it.
    pub generate: Vec<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            generate: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        }
    }
}

/// Peering with other relays over moq-lite itself.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's name, for logs.
    pub node: Option<String>,
    /// This node's origin (hop) ID; random below 2^53 when absent.
    pub origin_id: Option<u64>,
    /// Relays to connect to (`moql://host:port/`, `https://…`). Each connection publishes
    /// this node's broadcasts to the peer and learns the peer's.
    pub peers: Vec<String>,
    /// SHA-256 fingerprints of peers' certificates to trust (hex).
    pub peer_fingerprints: Vec<String>,
    /// Skip certificate verification of peers (development only).
    pub insecure: bool,
    /// Appended to each peer URL as `?jwt=…` when the peers require authentication.
    pub token: Option<String>,
}

/// The relay's cache policy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Ceiling on how long a non-latest group stays cached, in seconds: the relay caches with
    /// `min(upstream publisher max latency, this)` (spec 11.5). Absent: the upstream's value.
    pub max_latency_seconds: Option<f64>,
}

impl RelayConfig {
    /// Reads a TOML file.
    ///
    /// # Errors
    ///
    /// [`RelayError::Config`] if the file cannot be read or parsed (unknown keys are errors).
    pub fn load(path: &std::path::Path) -> Result<Self, RelayError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| RelayError::Config(format!("reading {}: {err}", path.display())))?;
        Self::parse(&text).map_err(|err| RelayError::Config(format!("{}: {err}", path.display())))
    }

    /// Parses TOML text.
    ///
    /// # Errors
    ///
    /// [`RelayError::Config`] with the parser's message.
    pub fn parse(text: &str) -> Result<Self, RelayError> {
        toml::from_str(text).map_err(|err| RelayError::Config(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults() {
        let config = RelayConfig::parse("").unwrap();
        assert_eq!(config.bind.port(), 4443);
        assert!(config.http);
        assert!(config.tls.cert.is_none());
    }

    #[test]
    fn every_section_parses() {
        let config = RelayConfig::parse(
            r#"
            bind = "127.0.0.1:5000"
            http = false
            log = "debug"
            drain_seconds = 0.5
            [tls]
            generate = ["relay.test"]
            [cluster]
            node = "a"
            origin_id = 7
            peers = ["moql://127.0.0.1:5001/"]
            insecure = true
            [cache]
            max_latency_seconds = 3
            "#,
        )
        .unwrap();
        assert_eq!(config.bind.port(), 5000);
        assert_eq!(config.cluster.origin_id, Some(7));
        assert_eq!(config.cache.max_latency_seconds, Some(3.0));
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(RelayConfig::parse("bnid = \"x\"").is_err());
    }
}
