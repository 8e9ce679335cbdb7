//! [`RelayConfig`]: every option of the relay, from a TOML file, environment variables and
//! command-line flags, in that order of precedence ([`ConfigSources`], the `layers` module).
//! Every field has a default, so no file is needed. Durations and sizes take human units
//! (`"30s"`, `"256MiB"`) or plain numbers (the `units` module). `docs/relay.md` lists them.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use crate::auth::AuthConfig;
use crate::error::RelayError;

mod layers;
#[cfg(test)]
mod layers_tests;
mod units;

pub use layers::{ConfigSources, ENV_CONFIG_FILE, ENV_PREFIX, parse_setting, parse_value};

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
    /// Graceful shutdown: how long sessions get to leave after GOAWAY, in seconds (default 2,
    /// at most 60).
    #[serde(deserialize_with = "units::seconds")]
    pub drain_seconds: f64,
    /// Graceful shutdown: the URL sent in every GOAWAY (another relay to move to); default
    /// none, so clients reconnect here once the relay is back.
    pub goaway_url: Option<String>,
    /// A directory of static files (the built web page, `web/dist`) served over HTTP on every
    /// path no endpoint claims; default none.
    pub web_root: Option<PathBuf>,
    /// The admin listener (`/health`, `/ready`, `/metrics`).
    pub admin: crate::admin::AdminConfig,
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
                public: Some("".into()),
                ..AuthConfig::default()
            },
            cluster: ClusterConfig::default(),
            cache: CacheConfig::default(),
            limits: LimitsConfig::default(),
            drain_seconds: 2.0,
            goaway_url: None,
            web_root: None,
            admin: crate::admin::AdminConfig::default(),
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
    /// How often `cert` and `key` are checked for a change (modification time or size), in
    /// seconds; a change reloads them for new handshakes (established sessions stay). Default
    /// 5; 0 turns the check off (SIGHUP still reloads).
    #[serde(deserialize_with = "units::seconds")]
    pub watch_seconds: f64,
    /// Derive QUIC's stateless-reset key from the certificate's private key (default true),
    /// so a relay restarted with the same key file ends its predecessor's connections at
    /// their next packet: clients and peers reconnect at once instead of after their idle
    /// timeout (a generated certificate is new at each start, so this changes nothing then).
    /// Turn it off when several relays share one certificate and can receive each other's
    /// packets (anycast, a QUIC-aware load balancer): one would reset the others' connections.
    pub stable_reset: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            generate: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            watch_seconds: 5.0,
            stable_reset: true,
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
    /// PEM files of CA certificates to verify peers' server certificates against, instead of
    /// the system's roots (a private CA); the certificate must still name the peer URL's
    /// host. Not together with `peer_fingerprints`.
    pub roots: Vec<PathBuf>,
    /// Skip certificate verification of peers (development only).
    pub insecure: bool,
    /// Appended to each peer URL as `?jwt=…` when the peers require authentication.
    pub token: Option<String>,
    /// PEM certificate chain this relay presents to peers that ask for one (mTLS), with
    /// `client_key`; re-read at each dial, so a renewed file is used from the next
    /// reconnection on.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// PEM files of the CAs that issue cluster peers' client certificates (mTLS): the UDP
    /// port (raw QUIC and WebTransport) asks every client for a certificate, and one these
    /// roots verify makes the session a cluster peer with full access under its path, without
    /// a token, until the certificate expires. Clients without one are served as before. Use
    /// a CA that issues only relay certificates, or restrict with `peer_names`. Read at start.
    pub peer_roots: Vec<PathBuf>,
    /// With `peer_roots`: only certificates naming one of these (DNS subject alternative
    /// name or common name) are peers; others are judged by their token as if they had
    /// presented none. Empty: every verified certificate.
    pub peer_names: Vec<String>,
}

impl ClusterConfig {
    /// Settings that cannot go together, as `(key, message)`.
    fn check(&self) -> Result<(), (String, String)> {
        let fail = |key: &str, message: &str| Err((format!("cluster.{key}"), message.to_string()));
        if self.client_cert.is_some() != self.client_key.is_some() {
            return fail(
                "client_cert",
                "cluster.client_cert and cluster.client_key go together",
            );
        }
        if !self.roots.is_empty() && !self.peer_fingerprints.is_empty() {
            return fail(
                "roots",
                "cluster.roots and cluster.peer_fingerprints both say how to trust peers; keep one",
            );
        }
        if !self.peer_names.is_empty() && self.peer_roots.is_empty() {
            return fail(
                "peer_names",
                "cluster.peer_names restricts cluster.peer_roots, which is empty",
            );
        }
        Ok(())
    }
}

/// Default [`CacheConfig::max_latency_seconds`]: 30 s, six times the reference's default
/// retention window (5 s) and ample for a viewer joining late or a fetch of recent groups,
/// while a publisher asking for hours cannot make the relay keep every group (and an idle
/// track's cache, which lingers as long) for that long.
pub const DEFAULT_CACHE_MAX_LATENCY_SECONDS: f64 = 30.0;

/// The relay's cache policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Ceiling on how long a non-latest group stays cached, in seconds: the relay caches with
    /// `min(upstream publisher max latency, this)` and re-advertises that (spec 11.5).
    /// Default [`DEFAULT_CACHE_MAX_LATENCY_SECONDS`]; absent (`None`) trusts the upstream's
    /// value. At most 86 400 (a day).
    #[serde(deserialize_with = "units::opt_seconds")]
    pub max_latency_seconds: Option<f64>,
    /// The disk tier's directory (the relay's alone: it is emptied at start); default none
    /// (no disk tier). Groups are archived only under a [`disk`](Self::disk) rule.
    pub disk_dir: Option<PathBuf>,
    /// Disk retention per broadcast prefix (`[[cache.disk]]`); the longest prefix wins.
    pub disk: Vec<DiskRuleConfig>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_latency_seconds: Some(DEFAULT_CACHE_MAX_LATENCY_SECONDS),
            disk_dir: None,
            disk: Vec::new(),
        }
    }
}

/// One `[[cache.disk]]` rule: finished groups of broadcasts under `prefix` are kept on disk
/// for `max_age` after they were received, within `max_bytes` for the whole prefix.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskRuleConfig {
    /// Broadcast path prefix, whole segments (`"live/"` covers `live/a`); `""` covers all.
    pub prefix: String,
    /// How long a group is kept, e.g. `"90s"`, `"2h"`, `"7days"` (`humantime` syntax).
    pub max_age: String,
    /// Bytes the prefix's groups may take on disk, e.g. `"512MiB"`, `"20GiB"`.
    pub max_bytes: String,
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
    #[serde(deserialize_with = "units::bytes")]
    pub max_buffered_bytes: usize,
    /// Bytes one session's group and fetch streams may hold in frames not yet complete; the
    /// stream whose read goes over is stopped with 493 (`App(429)`). Default 64 MiB.
    #[serde(deserialize_with = "units::bytes")]
    pub max_receive_buffer_bytes: usize,
    /// Bytes one track's cache holds, counted as payload plus
    /// [`moql_model::FRAME_OVERHEAD`] per frame and [`moql_model::GROUP_OVERHEAD`] per group;
    /// also the most one group may hold (a frame past it cuts the group short with 11,
    /// BoundsExceeded). Default 64 MiB.
    #[serde(deserialize_with = "units::bytes")]
    pub cache_track_bytes: usize,
    /// Bytes all track caches hold together, counted the same way
    /// (`moql_relay_cache_bytes`). Default 1 GiB.
    #[serde(deserialize_with = "units::bytes")]
    pub cache_total_bytes: usize,
    /// Seconds a connection has to finish its QUIC handshake (and, for WebTransport, the
    /// CONNECT request). Default 10.
    #[serde(deserialize_with = "units::seconds")]
    pub handshake_timeout_seconds: f64,
    /// Seconds a client has to send SETUP after the handshake; then closed with 3 (Timeout).
    /// Default 10.
    #[serde(deserialize_with = "units::seconds")]
    pub setup_timeout_seconds: f64,
    /// Seconds without any packet from a peer before its connection is dropped. Default 30.
    #[serde(deserialize_with = "units::seconds")]
    pub idle_timeout_seconds: f64,
    /// Seconds a stream the peer opened has to send its type and header; then it is stopped
    /// with 3 (Timeout). Default 10.
    #[serde(deserialize_with = "units::seconds")]
    pub header_timeout_seconds: f64,
    /// Concurrent TCP connections on the HTTP port (requests, WebSocket upgrades in
    /// progress, TLS handshakes); one more is answered `503` and closed at once. Default
    /// 4096, and at most half the process's open-file limit.
    pub max_http_connections: usize,
    /// Seconds a SUBSCRIBE, FETCH or TRACK for a broadcast not announced yet waits for its
    /// announcement before it fails with 30 (Unroutable), as it does at once with 0; a RESET
    /// of the request ends the wait. Default 5.
    #[serde(deserialize_with = "units::seconds")]
    pub announce_wait_seconds: f64,
    /// Seconds an HTTP connection has to send a request's headers, counted from its first
    /// byte (or, between keep-alive requests, from the end of the last response); then it
    /// is closed. Default 10.
    #[serde(deserialize_with = "units::seconds")]
    pub http_header_timeout_seconds: f64,
    /// Seconds an HTTP response (or WebSocket session) may wait for the client to take
    /// bytes; then the connection is closed. Default 30.
    #[serde(deserialize_with = "units::seconds")]
    pub http_write_timeout_seconds: f64,
    /// Seconds a `GET /fetch` may wait for its broadcast's announcement, its group and (with
    /// `frame=K`) frame `K` before it is answered `504`; then the most a live group's body
    /// waits for each next frame before it is cut. Default 10.
    #[serde(deserialize_with = "units::seconds")]
    pub http_fetch_timeout_seconds: f64,
    /// Seconds a broadcast whose publisher vanished (connection lost, or closed after a
    /// GOAWAY) stays announced, so a publisher that reconnects with the same path resumes it
    /// and its subscribers see no end (docs/relay.md, Linger). 0 turns it off. Default 5.
    #[serde(deserialize_with = "units::seconds")]
    pub linger_seconds: f64,
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
            max_receive_buffer_bytes: moql_session::DEFAULT_MAX_RECEIVE_BUFFER,
            cache_track_bytes: 64 * 1024 * 1024,
            cache_total_bytes: 1024 * 1024 * 1024,
            handshake_timeout_seconds: 10.0,
            setup_timeout_seconds: moql_session::DEFAULT_SETUP_TIMEOUT.as_secs_f64(),
            idle_timeout_seconds: 30.0,
            header_timeout_seconds: moql_session::DEFAULT_HEADER_TIMEOUT.as_secs_f64(),
            max_http_connections: 4096,
            http_header_timeout_seconds: 10.0,
            http_write_timeout_seconds: 30.0,
            announce_wait_seconds: moql_session::DEFAULT_ANNOUNCE_WAIT.as_secs_f64(),
            http_fetch_timeout_seconds: crate::http::DEFAULT_FETCH_TIMEOUT.as_secs_f64(),
            linger_seconds: moql_model::DEFAULT_LINGER.as_secs_f64(),
        }
    }
}

impl LimitsConfig {
    /// The HTTP port's bounds, with the connection cap at most half of `open_files` (the
    /// process's open-file soft limit, if known): each connection holds a descriptor, and
    /// the rest of the relay (UDP sockets, files, the other half of the TCP connections it
    /// accepts before refusing) needs some too. Assumes [`RelayConfig::validate`] passed.
    pub fn http_limits(&self, open_files: Option<u64>) -> crate::http::HttpLimits {
        let ceiling = open_files.map_or(usize::MAX, |n| {
            usize::try_from(n / 2).unwrap_or(usize::MAX).max(1)
        });
        crate::http::HttpLimits {
            max_connections: self.max_http_connections.min(ceiling),
            header_timeout: std::time::Duration::from_secs_f64(self.http_header_timeout_seconds),
            write_timeout: std::time::Duration::from_secs_f64(self.http_write_timeout_seconds),
        }
    }

    /// A number of seconds from the file as a [`Duration`](std::time::Duration).
    ///
    /// # Errors
    ///
    /// [`RelayError::Config`] naming `key` if it is negative, not finite, or over a day.
    pub fn seconds(key: &str, value: f64) -> Result<std::time::Duration, RelayError> {
        seconds_in(&format!("limits.{key}"), value, MAX_LIMIT_SECONDS)
    }
}

/// The longest any `*_seconds` limit (and the cache ceiling) may be: a day.
const MAX_LIMIT_SECONDS: f64 = 86_400.0;

/// The longest graceful drain: sessions get at most a minute to leave after GOAWAY.
const MAX_DRAIN_SECONDS: f64 = 60.0;

/// `value` seconds as a [`Duration`](std::time::Duration) if it is finite and within
/// `0..=max`; otherwise a configuration error naming `key`.
fn seconds_in(key: &str, value: f64, max: f64) -> Result<std::time::Duration, RelayError> {
    if value.is_finite() && (0.0..=max).contains(&value) {
        Ok(std::time::Duration::from_secs_f64(value))
    } else {
        Err(RelayError::Config(format!(
            "{key} must be between 0 and {max} seconds, got {value}"
        )))
    }
}

impl RelayConfig {
    /// Checks every value the relay turns into a `Duration` (and later adds to an `Instant`):
    /// NaN, infinite and negative seconds would panic there, and huge ones overflow.
    /// [`parse`](Self::parse), [`from_sources`](Self::from_sources) and `Relay::bind` call it,
    /// so a config built in code is checked too.
    ///
    /// # Errors
    ///
    /// [`RelayError::Config`] naming the first bad key and its allowed range.
    pub fn validate(&self) -> Result<(), RelayError> {
        self.check()
            .map_err(|(_, message)| RelayError::Config(message))
    }

    /// [`validate`](Self::validate), with the bad key's path apart (`limits.idle_timeout_seconds`)
    /// so the layered loader can name the layer it came from.
    fn check(&self) -> Result<(), (String, String)> {
        let keyed = |key: &str, result: Result<std::time::Duration, RelayError>| {
            result.map(drop).map_err(|err| {
                let message = match err {
                    RelayError::Config(message) => message,
                    other => other.to_string(),
                };
                (key.to_string(), message)
            })
        };
        keyed(
            "drain_seconds",
            seconds_in("drain_seconds", self.drain_seconds, MAX_DRAIN_SECONDS),
        )?;
        keyed(
            "tls.watch_seconds",
            seconds_in(
                "tls.watch_seconds",
                self.tls.watch_seconds,
                MAX_LIMIT_SECONDS,
            ),
        )?;
        if let Some(latency) = self.cache.max_latency_seconds {
            keyed(
                "cache.max_latency_seconds",
                seconds_in("cache.max_latency_seconds", latency, MAX_LIMIT_SECONDS),
            )?;
        }
        crate::archive::Rules::parse(&self.cache.disk)
            .map_err(|err| ("cache.disk".to_string(), err.to_string()))?;
        self.cluster.check()?;
        let limits = &self.limits;
        for (key, value) in [
            (
                "handshake_timeout_seconds",
                limits.handshake_timeout_seconds,
            ),
            ("setup_timeout_seconds", limits.setup_timeout_seconds),
            ("idle_timeout_seconds", limits.idle_timeout_seconds),
            ("header_timeout_seconds", limits.header_timeout_seconds),
            (
                "http_header_timeout_seconds",
                limits.http_header_timeout_seconds,
            ),
            (
                "http_write_timeout_seconds",
                limits.http_write_timeout_seconds,
            ),
            ("announce_wait_seconds", limits.announce_wait_seconds),
            ("linger_seconds", limits.linger_seconds),
            (
                "http_fetch_timeout_seconds",
                limits.http_fetch_timeout_seconds,
            ),
        ] {
            keyed(&format!("limits.{key}"), LimitsConfig::seconds(key, value))?;
        }
        Ok(())
    }

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
    /// [`RelayError::Config`] with the parser's message, or [`validate`](Self::validate)'s.
    pub fn parse(text: &str) -> Result<Self, RelayError> {
        let config: Self =
            toml::from_str(text).map_err(|err| RelayError::Config(err.to_string()))?;
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults() {
        let config = RelayConfig::parse("").unwrap();
        assert_eq!(
            config.cache.max_latency_seconds,
            Some(DEFAULT_CACHE_MAX_LATENCY_SECONDS),
            "the publisher's retention is capped by default"
        );
        assert_eq!(config.bind.port(), 4443);
        assert!(config.http);
        assert!(config.tls.cert.is_none());
    }

    /// The example shipped in the release tarball and the container image
    /// (`dist/relay.toml`) is a valid configuration, uncommented keys and all.
    #[test]
    fn the_shipped_example_config_parses() {
        let text = include_str!("../../../dist/relay.toml");
        let config = RelayConfig::parse(text).unwrap();
        assert_eq!(config.auth.public, Some("anon".into()));
        // Every commented-out key is valid too, once uncommented (placeholders aside).
        let uncommented: String = text
            .lines()
            .map(|line| {
                line.strip_prefix("# ")
                    .filter(|rest| {
                        rest.starts_with("[[")
                            || rest.split_once(" = ").is_some_and(|(key, _)| {
                                key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            })
                    })
                    .unwrap_or(line)
            })
            .map(|line| line.replace('…', "x"))
            .collect::<Vec<_>>()
            .join("\n");
        // Deserialized without validation: the placeholders (a secret that is not 32 bytes
        // of base64, certificate files that do not exist here) are not real values, but every
        // key must be one the relay knows, of the right type.
        let parsed: Result<RelayConfig, _> = toml::from_str(&uncommented);
        let parsed = parsed.unwrap_or_else(|err| panic!("{err}\n{uncommented}"));
        assert_eq!(parsed.cluster.node.as_deref(), Some("relay-1"));
        assert_eq!(parsed.auth.keys.len(), 1);
        assert_eq!(parsed.cache.disk.len(), 1);
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
            announce_wait_seconds = 0.5
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
        assert_eq!(config.limits.announce_wait_seconds, 0.5);
        assert_eq!(config.web_root, Some(PathBuf::from("web/dist")));
    }

    #[test]
    fn cluster_tls_settings_that_cannot_go_together_are_refused() {
        for (text, key) in [
            ("[cluster]\nclient_cert = \"a.pem\"", "client_key"),
            ("[cluster]\nclient_key = \"a.key\"", "client_key"),
            (
                "[cluster]\nroots = [\"ca.pem\"]\npeer_fingerprints = [\"00\"]",
                "peer_fingerprints",
            ),
            ("[cluster]\npeer_names = [\"relay-a\"]", "peer_roots"),
        ] {
            let err = RelayConfig::parse(text).expect_err(text).to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        let config = RelayConfig::parse(
            "[cluster]\nroots = [\"ca.pem\"]\nclient_cert = \"a.pem\"\nclient_key = \"a.key\"\n\
             peer_roots = [\"ca.pem\"]\npeer_names = [\"relay-a\"]",
        )
        .expect("a full mTLS cluster section");
        assert_eq!(config.cluster.roots, [PathBuf::from("ca.pem")]);
        assert_eq!(config.cluster.peer_names, ["relay-a"]);
    }

    #[test]
    fn limit_durations_are_checked() {
        assert!(LimitsConfig::seconds("x", 0.5).is_ok());
        assert!(LimitsConfig::seconds("x", -1.0).is_err());
        assert!(LimitsConfig::seconds("x", f64::NAN).is_err());
    }

    /// Each value the relay turns into a `Duration` (or adds to an `Instant`) must be refused at
    /// load with the key's name, not panic later (`Duration::from_secs_f64(NaN)` panics).
    #[test]
    fn durations_that_would_panic_are_refused_naming_their_key() {
        for (text, key) in [
            ("drain_seconds = nan", "drain_seconds"),
            ("drain_seconds = -1", "drain_seconds"),
            ("drain_seconds = inf", "drain_seconds"),
            (
                "[cache]\nmax_latency_seconds = 1e300",
                "max_latency_seconds",
            ),
            ("[cache]\nmax_latency_seconds = nan", "max_latency_seconds"),
            (
                "[limits]\nidle_timeout_seconds = nan",
                "idle_timeout_seconds",
            ),
            (
                "[limits]\nsetup_timeout_seconds = inf",
                "setup_timeout_seconds",
            ),
            (
                "[limits]\nhandshake_timeout_seconds = -0.5",
                "handshake_timeout_seconds",
            ),
        ] {
            let err = RelayConfig::parse(text).expect_err(text).to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        // Flags are merged after parsing, so `validate` is also what `Relay::bind` runs.
        let config = RelayConfig {
            drain_seconds: f64::NAN,
            ..RelayConfig::default()
        };
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_http_connection_cap_stays_under_half_the_open_file_limit() {
        let limits = LimitsConfig::default();
        assert_eq!(limits.http_limits(None).max_connections, 4096);
        assert_eq!(limits.http_limits(Some(1_048_576)).max_connections, 4096);
        assert_eq!(limits.http_limits(Some(1024)).max_connections, 512);
        assert_eq!(limits.http_limits(Some(0)).max_connections, 1);
        assert_eq!(
            limits.http_limits(None).header_timeout,
            std::time::Duration::from_secs(10)
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(RelayConfig::parse("bnid = \"x\"").is_err());
    }
}
