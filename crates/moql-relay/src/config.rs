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
    /// Accept WebSocket upgrades on the HTTP port: moq-lite over QMux for clients without
    /// QUIC (default true; needs `http`).
    pub websocket: bool,
    /// Listen for plain QMux over TCP (`tcp://` URLs: no TLS, path in SETUP) on this address;
    /// default none (off).
    pub tcp: Option<SocketAddr>,
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
    /// Limits against resource exhaustion.
    pub limits: LimitsConfig,
    /// Graceful shutdown: how long sessions get to leave after GOAWAY, in seconds (default 2).
    pub drain_seconds: f64,
    /// A directory of static files (the built web page, `web/dist`) served over HTTP on every
    /// path no endpoint claims; default none.
    pub web_root: Option<PathBuf>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 4443),
            http: true,
            websocket: true,
            tcp: None,
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
            limits: LimitsConfig::default(),
            drain_seconds: 2.0,
            web_root: None,
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

/// Limits against resource exhaustion: each has a safe default, and hitting one affects only
/// the session that hit it. `docs/relay.md` ("Limits") says what the peer sees for each.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Concurrent client connections (still handshaking SETUP or running); one more is
    /// refused: raw QUIC closed with 567 (`App(503)`), WebTransport answered HTTP 503.
    /// Default 10 000. Cluster peers the relay dials are not counted.
    pub max_sessions: usize,
    /// Concurrent bidirectional, and separately unidirectional, streams a peer may open
    /// (QUIC flow control: more simply wait). Default 1024.
    pub max_streams: u32,
    /// Subscribe streams one session may hold open; one more is reset with 493
    /// (`App(429)`). Default 512.
    pub max_subscriptions: usize,
    /// Broadcasts one session may have announced at once; one more closes that session with
    /// 493 (`App(429)`). Default 10 000.
    pub max_announcements: usize,
    /// Announce streams one session may hold open; one more is reset with 493 (`App(429)`).
    /// Default 64.
    pub max_announce_streams: usize,
    /// Broadcast paths the relay's origin holds, over all sessions; an announcement of one
    /// more path is ignored (subscribers to it get 30, Unroutable) and the session carries on.
    /// Default 100 000.
    pub max_broadcasts: usize,
    /// Payload bytes one subscription may hold in group streams its subscriber has not taken;
    /// beyond it the oldest are reset with 26 (Lagged). Default 16 MiB.
    pub max_buffered_bytes: usize,
    /// Payload bytes one track's cache holds (the latest group is always kept). Default
    /// 64 MiB.
    pub cache_track_bytes: usize,
    /// Payload bytes all track caches hold together (`moql_relay_cache_bytes`). Default 1 GiB.
    pub cache_total_bytes: usize,
    /// Seconds a connection has to finish its QUIC handshake (and, for WebTransport, the
    /// CONNECT request). Default 10.
    pub handshake_timeout_seconds: f64,
    /// Seconds a client has to send SETUP after the handshake; then closed with 3 (Timeout).
    /// Default 10.
    pub setup_timeout_seconds: f64,
    /// Seconds without any packet from a peer before its connection is dropped. Default 30.
    pub idle_timeout_seconds: f64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_sessions: 10_000,
            max_streams: 1024,
            max_subscriptions: moql_session::DEFAULT_MAX_SUBSCRIPTIONS,
            max_announcements: moql_session::DEFAULT_MAX_ANNOUNCEMENTS,
            max_broadcasts: moql_model::DEFAULT_MAX_BROADCASTS,
            max_announce_streams: moql_session::DEFAULT_MAX_ANNOUNCE_STREAMS,
            max_buffered_bytes: moql_session::DEFAULT_MAX_BUFFERED,
            cache_track_bytes: 64 * 1024 * 1024,
            cache_total_bytes: 1024 * 1024 * 1024,
            handshake_timeout_seconds: 10.0,
            setup_timeout_seconds: moql_session::DEFAULT_SETUP_TIMEOUT.as_secs_f64(),
            idle_timeout_seconds: 30.0,
        }
    }
}

impl LimitsConfig {
    /// A number of seconds from the file as a [`Duration`](std::time::Duration).
    ///
    /// # Errors
    ///
    /// [`RelayError::Config`] naming `key` if it is negative, not finite, or over a day.
    pub fn seconds(key: &str, value: f64) -> Result<std::time::Duration, RelayError> {
        if value.is_finite() && (0.0..=86_400.0).contains(&value) {
            Ok(std::time::Duration::from_secs_f64(value))
        } else {
            Err(RelayError::Config(format!(
                "limits.{key} must be between 0 and 86400 seconds, got {value}"
            )))
        }
    }
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
            web_root = "web/dist"
            [tls]
            generate = ["relay.test"]
            [cluster]
            node = "a"
            origin_id = 7
            peers = ["moql://127.0.0.1:5001/"]
            insecure = true
            [cache]
            max_latency_seconds = 3
            [limits]
            max_sessions = 2
            max_streams = 16
            max_subscriptions = 3
            max_announcements = 4
            max_broadcasts = 5
            max_announce_streams = 6
            max_buffered_bytes = 1000
            cache_track_bytes = 2000
            cache_total_bytes = 3000
            handshake_timeout_seconds = 0.5
            setup_timeout_seconds = 0.25
            idle_timeout_seconds = 1
            "#,
        )
        .unwrap();
        assert_eq!(config.bind.port(), 5000);
        assert_eq!(config.cluster.origin_id, Some(7));
        assert_eq!(config.cache.max_latency_seconds, Some(3.0));
        assert_eq!(config.limits.max_sessions, 2);
        assert_eq!(config.limits.max_broadcasts, 5);
        assert_eq!(config.limits.max_announce_streams, 6);
        assert_eq!(config.limits.cache_total_bytes, 3000);
        assert_eq!(config.limits.idle_timeout_seconds, 1.0);
        assert_eq!(config.web_root, Some(PathBuf::from("web/dist")));
    }

    #[test]
    fn limit_durations_are_checked() {
        assert!(LimitsConfig::seconds("x", 0.5).is_ok());
        assert!(LimitsConfig::seconds("x", -1.0).is_err());
        assert!(LimitsConfig::seconds("x", f64::NAN).is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(RelayConfig::parse("bnid = \"x\"").is_err());
    }
}
