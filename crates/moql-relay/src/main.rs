//! The `moql-relay` binary: parses flags and the optional config file, then runs the relay
//! until SIGINT/SIGTERM (GOAWAY to every session, drain, exit 0). `moql-relay token …`
//! generates keys and signs tokens.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use moql_relay::{Relay, RelayConfig};

#[derive(Parser, Debug)]
#[command(
    name = "moql-relay",
    version,
    about = "A moq-lite relay over QUIC and WebTransport"
)]
struct Cli {
    /// TOML configuration file; flags override it.
    #[arg(long, short, env = "MOQL_RELAY_CONFIG")]
    config: Option<PathBuf>,
    /// UDP (and TCP for HTTP) address to listen on [default: [::]:4443].
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Log filter, e.g. `info` or `moql_session=debug` [default: info, or RUST_LOG].
    #[arg(long)]
    log: Option<String>,
    /// PEM certificate chain (with --tls-key); otherwise a certificate is generated.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Do not serve the HTTP endpoints on TCP.
    #[arg(long)]
    no_http: bool,
    /// Do not accept WebSocket sessions on the HTTP port.
    #[arg(long)]
    no_websocket: bool,
    /// Also accept plain QMux over TCP (`tcp://`, no TLS) on this address.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<SocketAddr>,
    /// Anonymous access to this path prefix ("" = everything).
    #[arg(long)]
    public: Option<String>,
    /// A peer relay to connect to (repeatable).
    #[arg(long = "peer")]
    peers: Vec<String>,
    /// Trust peers with this certificate fingerprint (repeatable).
    #[arg(long = "peer-fingerprint")]
    peer_fingerprints: Vec<String>,
    /// Do not verify peers' certificates (development only).
    #[arg(long)]
    peer_insecure: bool,
    /// This node's origin (hop) ID.
    #[arg(long)]
    origin_id: Option<u64>,
    /// Ceiling on the cache window, in seconds.
    #[arg(long)]
    cache_max_latency: Option<f64>,
    /// Serve this directory's files over HTTP (e.g. the built web page, `web/dist`).
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
    /// On shutdown, point clients at this relay URL in the GOAWAY (clients that support it
    /// move there before this relay closes); default: no URL, clients come back here.
    #[arg(long, value_name = "URL")]
    goaway_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the relay (the default).
    Serve,
    /// Generate keys and sign tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Print a new key: an HS256 secret (base64), or an ES256 key pair (PEM).
    Key {
        /// `hs256` or `es256`.
        #[arg(long, default_value = "hs256")]
        alg: String,
    },
    /// Sign a token.
    Sign {
        /// `hs256` (with --secret) or `es256` (with --private-key).
        #[arg(long, default_value = "hs256")]
        alg: String,
        /// HS256 secret (base64).
        #[arg(long)]
        secret: Option<String>,
        /// ES256 private key (PKCS#8 PEM file).
        #[arg(long)]
        private_key: Option<PathBuf>,
        /// The root path the session is scoped to.
        #[arg(long, default_value = "")]
        root: String,
        /// A prefix (relative to root) the holder may publish (repeatable; "" = all).
        #[arg(long = "publish")]
        publish: Vec<String>,
        /// A prefix (relative to root) the holder may subscribe to (repeatable; "" = all).
        #[arg(long = "subscribe")]
        subscribe: Vec<String>,
        /// Validity in seconds from now.
        #[arg(long, default_value_t = 86_400)]
        expires_in: u64,
        /// Key ID to put in the header.
        #[arg(long)]
        kid: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Token(command)) => token(command),
        Some(Command::Serve) | None => serve(cli),
    }
}

fn serve(cli: Cli) -> anyhow::Result<()> {
    // Every HTTP/WebSocket connection holds a descriptor: a common soft limit of 1024 would
    // make ~1000 clients exhaust them, so take the hard limit, as production servers do.
    let open_files = rlimit::increase_nofile_limit(u64::MAX);
    let mut config = match &cli.config {
        Some(path) => RelayConfig::load(path)?,
        None => RelayConfig::default(),
    };
    if let Some(bind) = cli.bind {
        config.bind = bind;
    }
    if let Some(log) = cli.log {
        config.log = log;
    }
    if let (Some(cert), Some(key)) = (cli.tls_cert, cli.tls_key) {
        config.tls.cert = Some(cert);
        config.tls.key = Some(key);
    }
    if cli.no_websocket {
        config.websocket = false;
    }
    if cli.tcp.is_some() {
        config.tcp = cli.tcp;
    }
    if cli.no_http {
        config.http = false;
    }
    if let Some(public) = cli.public {
        config.auth.public = Some(public);
    }
    config.cluster.peers.extend(cli.peers);
    config
        .cluster
        .peer_fingerprints
        .extend(cli.peer_fingerprints);
    config.cluster.insecure |= cli.peer_insecure;
    if cli.origin_id.is_some() {
        config.cluster.origin_id = cli.origin_id;
    }
    if cli.cache_max_latency.is_some() {
        config.cache.max_latency_seconds = cli.cache_max_latency;
    }
    if cli.goaway_url.is_some() {
        config.goaway_url = cli.goaway_url;
    }
    if cli.web_root.is_some() {
        config.web_root = cli.web_root;
    }

    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();

    match open_files {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(err) => tracing::warn!(%err, "cannot raise the open-file limit"),
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let generated = config.tls.cert.is_none();
        let http = config.http;
        let relay = Relay::bind(config).await?;
        let shutdown = shutdown_signal();
        let addr = relay.local_addr()?;
        // Printed on stdout so scripts and tests can read where the relay is (first line),
        // then where a person points a client or a browser. One write, errors ignored: a
        // script that read the first line and closed the pipe must not fail the relay.
        let _ = write!(
            std::io::stdout(),
            "listening {addr} fingerprint {}\n{}\n",
            relay.fingerprint(),
            paste_line(addr, http, generated)
        );
        // systemd (Type=notify): every listener is bound, sessions are accepted from now on.
        // Without NOTIFY_SOCKET this does nothing.
        if let Err(err) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
            tracing::warn!(%err, "cannot notify systemd of readiness");
        }
        relay
            .run(async {
                shutdown.await;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
            })
            .await?;
        tracing::info!("relay stopped");
        Ok(())
    })
}

/// What to paste: the URL for `moql` clients (`moql subscribe <url> <broadcast> <track>`), and (with the HTTP port) the web page's. A
/// wildcard bind is reached as `localhost`. A generated certificate is self-signed, so the
/// page is offered over plain HTTP (a secure context on localhost), where it pins the
/// certificate's fingerprint from `/certificate.sha256` instead of tripping a browser warning.
fn paste_line(addr: SocketAddr, http: bool, generated: bool) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() || ip.is_loopback() => "localhost".to_string(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let port = addr.port();
    let clients = format!("https://{host}:{port}/");
    if !http {
        return format!("connect: {clients}");
    }
    let scheme = if generated { "http" } else { "https" };
    format!("connect: {clients} · browser: {scheme}://{host}:{port}/")
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: it is called before READY=1 goes to systemd, so a SIGTERM
/// sent right after readiness starts the drain instead of killing the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let watched = signal(SignalKind::terminate())
            .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)));
        async move {
            match watched {
                Ok((mut term, mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot watch SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn token(command: &TokenCommand) -> anyhow::Result<()> {
    use moql_relay::auth;
    match command {
        TokenCommand::Key { alg } => match alg.as_str() {
            "hs256" => println!("{}", auth::generate_hs256_secret()),
            "es256" => {
                let (private, public) =
                    auth::generate_es256().context("generating an ES256 key")?;
                println!("{private}{public}");
            }
            other => anyhow::bail!("unknown algorithm {other}: use hs256 or es256"),
        },
        TokenCommand::Sign {
            alg,
            secret,
            private_key,
            root,
            publish,
            subscribe,
            expires_in,
            kid,
        } => {
            let key = match alg.as_str() {
                "hs256" => auth::SigningKey::Hs256 {
                    secret: secret.clone().context("--secret is required for hs256")?,
                },
                "es256" => {
                    let path = private_key
                        .as_ref()
                        .context("--private-key is required for es256")?;
                    let pem = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    auth::SigningKey::Es256 { private_pem: pem }
                }
                other => anyhow::bail!("unknown algorithm {other}: use hs256 or es256"),
            };
            let exp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs()
                + expires_in;
            let claims = auth::Claims {
                root: root.clone(),
                publish: publish.clone(),
                subscribe: subscribe.clone(),
                exp,
                ..auth::Claims::default()
            };
            println!("{}", auth::sign(&claims, &key, kid.as_deref())?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::paste_line;

    #[test]
    fn the_paste_line_names_a_reachable_host_and_the_pages_scheme() {
        let any = "[::]:4443".parse().unwrap();
        assert_eq!(
            paste_line(any, true, true),
            "connect: https://localhost:4443/ · browser: http://localhost:4443/"
        );
        let public = "203.0.113.7:443".parse().unwrap();
        assert_eq!(
            paste_line(public, true, false),
            "connect: https://203.0.113.7:443/ · browser: https://203.0.113.7:443/"
        );
        let v6 = "[2001:db8::1]:4443".parse().unwrap();
        assert_eq!(
            paste_line(v6, false, true),
            "connect: https://[2001:db8::1]:4443/"
        );
    }
}
