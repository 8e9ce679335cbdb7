//! Connection options shared by every subcommand, and turning them into a moq-lite
//! [`Session`]: TLS trust (`--tls-fingerprint`, `--tls-root`, `--tls-disable-verify`), a
//! client certificate (`--tls-cert`/`--tls-key`), the `--jwt` query parameter, and waiting for
//! a broadcast the relay announces.

use std::time::Duration;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use moql_model::{BroadcastConsumer, OriginProducer, Path};
use moql_native::{Certificate, Client, ClientConfig, ClientTls};
use moql_session::{Session, SessionConfig};
use moql_wire::Version;

use crate::GLOBAL;
use crate::exit::Failure;

/// How to reach and trust the relay; global flags, accepted before or after the subcommand.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct ConnectArgs {
    /// The relay URL, for commands whose first argument is not one (a URL argument wins).
    #[arg(
        long = "url",
        value_name = "URL",
        env = "MOQL_URL",
        hide_env_values = true,
        global = true,
        help_heading = GLOBAL
    )]
    pub(crate) relay_url: Option<String>,
    /// Trust a server certificate by its SHA-256 (64 hex digits); repeatable, or
    /// comma-separated. For self-signed relays (`moql-relay` prints its fingerprint and serves
    /// it at /certificate.sha256).
    #[arg(
        long = "tls-fingerprint",
        value_name = "HEX",
        env = "MOQL_TLS_FINGERPRINT",
        value_delimiter = ',',
        global = true,
        help_heading = GLOBAL
    )]
    pub(crate) tls_fingerprint: Vec<String>,
    /// Trust servers whose chain leads to a CA certificate in this PEM file, instead of the
    /// system's roots (a private CA); repeatable, or comma-separated. The certificate must
    /// still name the URL's host. `--tls-fingerprint` wins when both are given.
    #[arg(
        long = "tls-root",
        value_name = "FILE",
        env = "MOQL_TLS_ROOT",
        value_delimiter = ',',
        global = true,
        help_heading = GLOBAL
    )]
    pub(crate) tls_root: Vec<PathBuf>,
    /// A client certificate chain (PEM) to present when the relay asks for one (mTLS, e.g. a
    /// relay's `[cluster] peer_roots`); with `--tls-key`.
    #[arg(
        long = "tls-cert",
        value_name = "FILE",
        env = "MOQL_TLS_CERT",
        requires = "tls_key",
        global = true,
        help_heading = GLOBAL
    )]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(
        long = "tls-key",
        value_name = "FILE",
        env = "MOQL_TLS_KEY",
        requires = "tls_cert",
        global = true,
        help_heading = GLOBAL
    )]
    pub(crate) tls_key: Option<PathBuf>,
    /// Accept any certificate (any `--tls-fingerprint` or MOQL_TLS_FINGERPRINT is ignored).
    /// No authentication at all: local development only.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub(crate) tls_disable_verify: bool,
    /// A token for the relay, sent as the `jwt` query parameter of the URL. Prefer MOQL_JWT:
    /// a command line is visible to every user in `ps`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MOQL_JWT",
        hide_env_values = true,
        global = true,
        help_heading = GLOBAL
    )]
    pub(crate) jwt: Option<String>,
    /// How long an https:// or http:// dial waits for QUIC before also trying WebSocket on the
    /// same host and port (ws:// and wss:// URLs use WebSocket only).
    #[arg(long, value_name = "MS", default_value_t = 500, global = true, help_heading = GLOBAL)]
    pub(crate) websocket_delay: u64,
    /// Never fall back to WebSocket.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub(crate) no_websocket: bool,
    /// Offer only this moq-lite version (its ALPN token, e.g. `moq-lite-05`); repeatable, most
    /// preferred first. Default: every version this build speaks, newest first.
    #[arg(
        long = "moq-version",
        value_name = "VERSION",
        value_parser = parse_version,
        global = true,
        help_heading = GLOBAL
    )]
    pub(crate) moq_version: Vec<Version>,
}

/// A `--moq-version` value: one of [`Version::ALL`] by its ALPN token.
fn parse_version(token: &str) -> Result<Version, String> {
    Version::from_alpn(token.as_bytes()).ok_or_else(|| {
        let known: Vec<&str> = Version::ALL.iter().map(|v| v.alpn()).collect();
        format!(
            "unknown version {token:?}; this build speaks {}",
            known.join(", ")
        )
    })
}

impl ConnectArgs {
    /// The TLS policy the flags ask for: no verification, pinned fingerprints, custom roots
    /// (read from their files), or the operating system's verifier, in that order.
    fn tls(&self) -> anyhow::Result<ClientTls> {
        ClientTls::from_options(
            self.tls_disable_verify,
            &self.tls_fingerprint,
            &self.tls_root,
        )
        .context("--tls-root")
    }

    /// The client certificate of `--tls-cert`/`--tls-key`, read from their files.
    fn identity(&self) -> anyhow::Result<Option<Certificate>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Certificate::load_pem(cert, key)
                .map(Some)
                .with_context(|| format!("--tls-cert {}", cert.display())),
            // clap's `requires` makes one without the other a usage error.
            _ => Ok(None),
        }
    }
}

/// A client bound to one relay URL; [`session`](Self::session) opens one moq-lite session
/// per call, all sharing the client's UDP socket.
#[derive(Clone, Debug)]
pub(crate) struct Connector {
    client: Client,
    /// Shared: it carries the client certificate, and `fresh` copies it per connection.
    config: std::sync::Arc<ClientConfig>,
    url: String,
}

impl Connector {
    /// Builds the QUIC client for `url` with the trust and token from `args`.
    ///
    /// # Errors
    ///
    /// A malformed fingerprint, an unreadable root or client certificate file, no system
    /// roots, or no socket.
    pub(crate) fn new(args: &ConnectArgs, url: &str) -> anyhow::Result<Self> {
        let mut config = ClientConfig {
            websocket_delay: (!args.no_websocket)
                .then(|| Duration::from_millis(args.websocket_delay)),
            identity: args.identity()?,
            ..ClientConfig::new(args.tls()?)
        };
        if !args.moq_version.is_empty() {
            config.versions.clone_from(&args.moq_version);
        }
        let client = Client::new(config.clone()).context("creating the client")?;
        let url = match &args.jwt {
            Some(token) => with_query(url, "jwt", token),
            None => url.to_string(),
        };
        Ok(Self {
            client,
            config: std::sync::Arc::new(config),
            url,
        })
    }

    /// The same relay and trust on a client of its own (its own UDP socket and QUIC
    /// endpoint), as a separate user would have. `moql bench` gives each connection one:
    /// with one shared endpoint, a single task receives every connection's packets, which
    /// measured as the load generator's own latency tail (1 → 100 fan-out p99 34 ms from
    /// one endpoint, 9 ms over four).
    ///
    /// # Errors
    ///
    /// No socket.
    pub(crate) fn fresh(&self) -> anyhow::Result<Self> {
        Ok(Self {
            client: Client::new((*self.config).clone()).context("creating a client")?,
            config: self.config.clone(),
            url: self.url.clone(),
        })
    }

    /// Dials the relay and returns the bare connection, for speaking the wire by hand
    /// (`bench-fetch`).
    ///
    /// # Errors
    ///
    /// The dial or handshake failure ([`moql_native::TransportError`], exit code 3).
    pub(crate) async fn raw(&self) -> anyhow::Result<moql_native::Connected> {
        self.client
            .connect(&self.url)
            .await
            .with_context(|| format!("connecting to {}", redact(&self.url)))
    }

    /// Dials the relay and starts a session with `config` (its SETUP path is filled in for
    /// raw QUIC).
    ///
    /// # Errors
    ///
    /// The dial or handshake failure ([`moql_native::TransportError`]) or the session's
    /// ([`moql_session::SessionError`]); both map to exit code 3.
    pub(crate) async fn session(&self, config: SessionConfig) -> anyhow::Result<Session> {
        self.session_to(&self.url, config).await
    }

    /// The relay URL, with the token in its query.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// [`session`](Self::session) on another `url` with the same trust (a relay's GOAWAY
    /// target); the token goes along unless the URL carries one.
    ///
    /// # Errors
    ///
    /// As [`session`](Self::session).
    pub(crate) async fn session_to(
        &self,
        url: &str,
        mut config: SessionConfig,
    ) -> anyhow::Result<Session> {
        let url = match self.url.split_once("jwt=") {
            Some((_, token)) if url != self.url && !url.contains("jwt=") => {
                let (base, fragment) = url.split_once('#').map_or((url, ""), |(b, f)| (b, f));
                let separator = if base.contains('?') { '&' } else { '?' };
                let token = token.split(['&', '#']).next().unwrap_or(token);
                let hash = if fragment.is_empty() { "" } else { "#" };
                format!("{base}{separator}jwt={token}{hash}{fragment}")
            }
            _ => url.to_string(),
        };
        let connected = self
            .client
            .connect(&url)
            .await
            .with_context(|| format!("connecting to {}", redact(&url)))?;
        tracing::debug!(version = %connected.version, kind = %connected.kind, "connected");
        config.setup_path = connected.setup_path.clone();
        Session::connect(connected.session, connected.version, config)
            .await
            .context("starting the moq-lite session")
    }
}

/// A subscribe-only session to `url` that asks the relay for the broadcasts under `prefix`;
/// they arrive in the returned origin. What `subscribe`, `fetch` and `announced` start with.
///
/// # Errors
///
/// As [`Connector::session`].
pub(crate) async fn subscriber(
    args: &ConnectArgs,
    url: &str,
    prefix: &Path,
) -> anyhow::Result<(Session, OriginProducer)> {
    let received = OriginProducer::new();
    let mut config = SessionConfig::new().with_subscribe(received.clone());
    config.announce_prefix = prefix.clone();
    let session = Connector::new(args, url)?.session(config).await?;
    Ok((session, received))
}

/// Closes `session` normally and gives the QUIC driver a moment to send the close, so the
/// relay withdraws our broadcasts at once instead of after its idle timeout.
///
/// The client does not expose quinn's `Endpoint::wait_idle`; the CONNECTION_CLOSE goes out on
/// the endpoint driver's next turn, which 50 ms covers with a wide margin on any host.
pub(crate) async fn close(session: &Session, reason: &str) {
    session.close(moql_wire::ErrorCode::CANCEL, reason);
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Waits until the relay announces the broadcast at `path` into `received` and returns it.
///
/// `received` must be the session's subscribe origin; `ended` resolves when the session is gone. `timeout` of `None` waits as long as
/// the session lives.
///
/// # Errors
///
/// [`Failure::NotFound`] after `timeout`; [`Failure::Network`] if the session closes first.
///
/// # Cancel safety
///
/// Cancel safe: it only watches `received`, and a later call sees a broadcast announced
/// meanwhile. (A retried call starts a new `timeout`.)
pub(crate) async fn wait_broadcast(
    ended: impl std::future::Future<Output = anyhow::Error>,
    received: &OriginProducer,
    path: &Path,
    timeout: Option<Duration>,
) -> anyhow::Result<BroadcastConsumer> {
    let mut watch = received.consume_prefix(path);
    tokio::pin!(ended);
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        if let Some(broadcast) = received.broadcast(path) {
            return Ok(broadcast);
        }
        let expired = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            announced = watch.announced() => {
                if announced.is_none() {
                    return Err(Failure::Network("the session ended".into()).into());
                }
            }
            err = &mut ended => return Err(err.context(format!("waiting for {path}"))),
            () = expired => {
                return Err(Failure::NotFound(format!(
                    "broadcast \"{path}\" was not announced within {} ms",
                    timeout.unwrap_or_default().as_millis()
                ))
                .into());
            }
        }
    }
}

/// `url` with `key=value` added to its query (before any fragment), the value
/// percent-encoded except for RFC 3986 unreserved characters.
pub(crate) fn with_query(url: &str, key: &str, value: &str) -> String {
    let (base, fragment) = match url.find('#') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{base}{separator}{key}={encoded}{fragment}")
}

/// `url` without its query, so tokens never reach error messages or logs.
pub(crate) fn redact(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_goes_into_the_query_encoded_and_before_the_fragment() {
        assert_eq!(
            with_query("moql://h:1/room", "jwt", "a.b-c_d"),
            "moql://h:1/room?jwt=a.b-c_d"
        );
        assert_eq!(
            with_query("https://h/x?a=1#frag", "jwt", "t+/="),
            "https://h/x?a=1&jwt=t%2B%2F%3D#frag"
        );
    }

    #[test]
    fn moq_version_takes_alpn_tokens() {
        for version in Version::ALL {
            assert_eq!(parse_version(version.alpn()), Ok(version));
        }
        assert!(parse_version("moq-lite-06-wip").is_err());
    }

    #[test]
    fn redact_drops_the_query() {
        assert_eq!(redact("https://h/x?jwt=secret"), "https://h/x");
        assert_eq!(redact("moql://h:1"), "moql://h:1");
    }
}
