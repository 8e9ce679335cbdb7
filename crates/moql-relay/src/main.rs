//! The `moql-relay` binary: parses flags and the optional config file, then runs the relay
//! until SIGINT/SIGTERM (GOAWAY to every session, drain, exit 0). `moql-relay token …`
//! generates keys, signs and verifies tokens ([`token_cli`]).

mod token_cli;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use moql_relay::{Relay, RelayConfig, config};

/// How settings combine, shown by `--help` (docs/relay.md says the same at length).
const SETTINGS_HELP: &str = "\
Settings, lowest precedence first: built-in defaults, the --config file, MOQL_RELAY_* \
environment variables, flags (a later flag wins; --set after the typed flags).
Every key of the file is also a variable and a flag: `[cache] max_latency_seconds` is \
MOQL_RELAY_CACHE__MAX_LATENCY_SECONDS=10s and --set cache.max_latency_seconds=10s \
(`__` between a section and its key; values are TOML values, or plain strings).
Durations take seconds or units (\"30s\", \"500ms\", \"2h\"); sizes bytes or units (\"256MiB\").
Logging: --log, else RUST_LOG, else the config's `log`, else info. Colour only on a terminal \
and never with NO_COLOR set.";

#[derive(Parser, Debug)]
#[command(
    name = "moql-relay",
    version,
    about = "A moq-lite relay over QUIC and WebTransport",
    after_help = SETTINGS_HELP
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The relay's flags, accepted both before and after `serve`. Each sets one key of the
/// configuration (named in its help) over the file and the environment.
#[derive(Args, Debug, Default)]
struct ServeArgs {
    /// TOML configuration file; variables and flags override it.
    #[arg(long, short, env = "MOQL_RELAY_CONFIG")]
    config: Option<PathBuf>,
    /// `bind`: UDP (and TCP for HTTP) address to listen on [default: [::]:4443].
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// `log`: log filter, e.g. `info` or `moql_session=debug`; beats RUST_LOG [default: info].
    #[arg(long)]
    log: Option<String>,
    /// `tls.cert`: PEM certificate chain (with --tls-key); otherwise one is generated.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// `tls.key`: PEM private key (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// `http = false`: do not serve the HTTP endpoints on TCP.
    #[arg(long)]
    no_http: bool,
    /// `websocket = false`: do not accept WebSocket sessions on the HTTP port.
    #[arg(long)]
    no_websocket: bool,
    /// `tcp`: also accept plain QMux over TCP (`tcp://`, no TLS) on this address.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<SocketAddr>,
    /// `auth.public`: anonymous publish and subscribe under this path prefix ("" =
    /// everything); with the two below, all three together replace `[auth.public]`.
    #[arg(long)]
    public: Option<String>,
    /// `auth.public.subscribe`: anonymous subscribe under this prefix (repeatable).
    #[arg(long = "public-subscribe", value_name = "PREFIX")]
    public_subscribe: Vec<String>,
    /// `auth.public.publish`: anonymous publish under this prefix (repeatable).
    #[arg(long = "public-publish", value_name = "PREFIX")]
    public_publish: Vec<String>,
    /// `cluster.peers`: a peer relay to connect to (repeatable; replaces the file's list).
    #[arg(long = "peer")]
    peers: Vec<String>,
    /// `cluster.peer_fingerprints`: trust peers with this certificate fingerprint (repeatable).
    #[arg(long = "peer-fingerprint")]
    peer_fingerprints: Vec<String>,
    /// `cluster.insecure = true`: do not verify peers' certificates (development only).
    #[arg(long)]
    peer_insecure: bool,
    /// `cluster.origin_id`: this node's origin (hop) ID.
    #[arg(long)]
    origin_id: Option<u64>,
    /// `cache.max_latency_seconds`: ceiling on the cache window (`30`, `"10s"`).
    #[arg(long, value_name = "DURATION")]
    cache_max_latency: Option<String>,
    /// `web_root`: serve this directory's files over HTTP (e.g. the built web page).
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
    /// `admin.bind`: serve /health, /ready and /metrics on this address [default: 127.0.0.1
    /// at the public port + 1].
    #[arg(long, value_name = "ADDR")]
    admin_bind: Option<SocketAddr>,
    /// `admin.enabled = false`: do not start the admin listener.
    #[arg(long, conflicts_with = "admin_bind")]
    no_admin: bool,
    /// `goaway_url`: on shutdown, point clients at this relay URL in the GOAWAY (clients that
    /// support it move there before this relay closes); default: no URL, clients come back
    /// here.
    #[arg(long, value_name = "URL")]
    goaway_url: Option<String>,
    /// Any key: `--set limits.max_sessions=100`, `--set 'cluster.peers=["moql://b:4443/"]'`
    /// (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

impl ServeArgs {
    /// The flags as `(key path, value)` settings, typed flags first, then `--set`.
    fn settings(&self) -> anyhow::Result<Vec<(String, toml::Value)>> {
        use toml::Value;
        let text = |path: &PathBuf| Value::String(path.to_string_lossy().into_owned());
        let list =
            |items: &[String]| Value::Array(items.iter().cloned().map(Value::String).collect());
        let mut settings: Vec<(&str, Value)> = Vec::new();
        if let Some(bind) = self.bind {
            settings.push(("bind", Value::String(bind.to_string())));
        }
        if let Some(log) = &self.log {
            settings.push(("log", Value::String(log.clone())));
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            settings.push(("tls.cert", text(cert)));
            settings.push(("tls.key", text(key)));
        }
        if self.no_http {
            settings.push(("http", Value::Boolean(false)));
        }
        if self.no_websocket {
            settings.push(("websocket", Value::Boolean(false)));
        }
        if let Some(tcp) = self.tcp {
            settings.push(("tcp", Value::String(tcp.to_string())));
        }
        if self.public_subscribe.is_empty() && self.public_publish.is_empty() {
            if let Some(public) = &self.public {
                settings.push(("auth.public", Value::String(public.clone())));
            }
        } else {
            // The three flags together replace the configured anonymous access.
            let both = self.public.iter().cloned();
            let subscribe: Vec<String> = self
                .public_subscribe
                .iter()
                .cloned()
                .chain(both.clone())
                .collect();
            let publish: Vec<String> = self.public_publish.iter().cloned().chain(both).collect();
            let rules = toml::map::Map::from_iter([
                ("subscribe".to_string(), list(&subscribe)),
                ("publish".to_string(), list(&publish)),
            ]);
            settings.push(("auth.public", Value::Table(rules)));
        }
        if let Some(url) = &self.goaway_url {
            settings.push(("goaway_url", Value::String(url.clone())));
        }
        if let Some(admin) = self.admin_bind {
            settings.push(("admin.bind", Value::String(admin.to_string())));
            settings.push(("admin.enabled", Value::Boolean(true)));
        }
        if self.no_admin {
            settings.push(("admin.enabled", Value::Boolean(false)));
        }
        if !self.peers.is_empty() {
            settings.push(("cluster.peers", list(&self.peers)));
        }
        if !self.peer_fingerprints.is_empty() {
            settings.push(("cluster.peer_fingerprints", list(&self.peer_fingerprints)));
        }
        if self.peer_insecure {
            settings.push(("cluster.insecure", Value::Boolean(true)));
        }
        if let Some(id) = self.origin_id {
            let id = i64::try_from(id).context("--origin-id is above 2^63")?;
            settings.push(("cluster.origin_id", Value::Integer(id)));
        }
        if let Some(latency) = &self.cache_max_latency {
            settings.push(("cache.max_latency_seconds", config::parse_value(latency)));
        }
        if let Some(root) = &self.web_root {
            settings.push(("web_root", text(root)));
        }
        let mut settings: Vec<(String, Value)> = settings
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect();
        for set in &self.set {
            settings.push(config::parse_setting(set)?);
        }
        Ok(settings)
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the relay (the default); takes the same flags as the top level.
    #[command(after_help = SETTINGS_HELP)]
    Serve(Box<ServeArgs>),
    /// Generate keys, sign and verify tokens.
    #[command(subcommand)]
    Token(token_cli::TokenCommand),
}

/// Exit 1 with the error on one line (its causes joined by `: `), whatever RUST_BACKTRACE
/// says: an operator's mistake is not a crash, and scripts read the first line.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    match cli.command.take() {
        Some(Command::Token(command)) => token_cli::run(command),
        Some(Command::Serve(after)) => serve(&cli.serve, &after),
        None => serve(&cli.serve, &ServeArgs::default()),
    }
}

/// Runs the relay with the flags given before (`top`) and after (`after`) `serve`; the
/// later ones win.
fn serve(top: &ServeArgs, after: &ServeArgs) -> anyhow::Result<()> {
    // Every HTTP/WebSocket connection holds a descriptor: a common soft limit of 1024 would
    // make ~1000 clients exhaust them, so take the hard limit, as production servers do.
    let open_files = rlimit::increase_nofile_limit(u64::MAX);
    let mut flags = top.settings()?;
    flags.extend(after.settings()?);
    let sources = config::ConfigSources {
        file: after.config.clone().or_else(|| top.config.clone()),
        flags,
        ..config::ConfigSources::default()
    }
    .with_process_env();
    let config = RelayConfig::from_sources(&sources)?;

    // A flag is typed for this run, RUST_LOG is the ecosystem's usual override of a
    // configured level, and the config's `log` is the standing choice.
    let log_flag = sources.flags.iter().any(|(key, _)| key == "log");
    let rust_log = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty());
    let (filter, from) = match rust_log {
        Some(filter) if !log_flag => (filter, "RUST_LOG"),
        _ => (config.log.clone(), "log"),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|err| anyhow::anyhow!("{from}: bad log filter {filter:?}: {err}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(&std::io::stderr()))
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
        reload_on_hangup(relay.tls());
        let addr = relay.local_addr()?;
        // Printed on stdout so scripts and tests can read where the relay is (first line:
        // `listening ADDR fingerprint HEX`, then `admin ADDR` when the admin listener is on),
        // then where a person points a client or a browser. One write, errors ignored: a
        // script that read the first line and closed the pipe must not fail the relay.
        let admin = relay
            .admin_addr()
            .map_or_else(String::new, |admin| format!(" admin {admin}"));
        let _ = write!(
            std::io::stdout(),
            "listening {addr} fingerprint {}{admin}\n{}\n",
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

/// Whether to colour log lines: only on a terminal, and never with `NO_COLOR` set to
/// anything non-empty (no-color.org), so piped and journald output carries no escape codes.
fn colour(stream: &impl std::io::IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
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

/// On each SIGHUP, reload the certificate files (or renew a generated certificate) for new
/// handshakes; established sessions stay. The outcome is logged by the reloader (ERROR and
/// the old certificate kept when the new pair is unusable). Installed before READY=1, like
/// the shutdown handlers, so a SIGHUP right after readiness is not fatal.
fn reload_on_hangup(tls: moql_relay::TlsReloader) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hangup) => {
                tokio::spawn(async move {
                    while hangup.recv().await.is_some() {
                        tracing::info!("SIGHUP: reloading the tls certificate");
                        let _ = tls.reload().await;
                    }
                });
            }
            Err(err) => tracing::warn!(%err, "cannot watch SIGHUP"),
        }
    }
    #[cfg(not(unix))]
    drop(tls);
}

#[cfg(test)]
mod tests {
    use super::{ServeArgs, paste_line};
    use moql_relay::RelayConfig;
    use moql_relay::auth::{PublicAccess, PublicRules};
    use moql_relay::config::ConfigSources;

    /// The anonymous access `flags` give over a file's `[auth.public]` table.
    fn public_from_flags(flags: &ServeArgs) -> Option<PublicAccess> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("relay.toml");
        std::fs::write(
            &file,
            "[auth.public]\nsubscribe = [\"live\"]\npublish = [\"cams\"]\n",
        )
        .unwrap();
        let sources = ConfigSources {
            file: Some(file),
            env: Vec::new(),
            flags: flags.settings().unwrap(),
        };
        RelayConfig::from_sources(&sources).unwrap().auth.public
    }

    #[test]
    fn the_public_flags_together_replace_the_files_public_table() {
        let rules = |subscribe: &[&str], publish: &[&str]| {
            Some(PublicAccess::Rules(PublicRules {
                subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
                publish: publish.iter().map(|s| s.to_string()).collect(),
            }))
        };
        assert_eq!(
            public_from_flags(&ServeArgs::default()),
            rules(&["live"], &["cams"])
        );
        let watch_tv = ServeArgs {
            public_subscribe: vec!["tv".into()],
            ..ServeArgs::default()
        };
        assert_eq!(public_from_flags(&watch_tv), rules(&["tv"], &[]));
        let both = ServeArgs {
            public: Some("anon".into()),
            public_publish: vec!["cams".into()],
            ..ServeArgs::default()
        };
        assert_eq!(
            public_from_flags(&both),
            rules(&["anon"], &["cams", "anon"])
        );
        let shorthand = ServeArgs {
            public: Some(String::new()),
            ..ServeArgs::default()
        };
        assert_eq!(public_from_flags(&shorthand), Some("".into()));
    }

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
