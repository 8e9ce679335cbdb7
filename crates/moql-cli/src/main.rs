//! `moql`: a command-line moq-lite client and relay load generator.
//!
//! Every subcommand dials a relay URL (`https://` WebTransport, `moql://` / `moqt://` raw
//! QUIC, `http://` development, `ws://` / `wss://` QMux over WebSocket, `tcp://` QMux over
//! TCP; `https://` and `http://` fall back to WebSocket when QUIC does not answer) and speaks
//! moq-lite-05 (or -04/-03) through [`moql_session`]:
//!
//! | command | what it does |
//! |---|---|
//! | `publish` | frames from stdin (lines or length-prefixed), a clock, or a looped file |
//! | `subscribe` | prints a track's frames as they arrive |
//! | `fetch` | prints one past group |
//! | `announced` | the live list of broadcasts (`+ path` / `- path`) |
//! | `bench` | N connections publishing and subscribing; throughput, loss and latency |
//!
//! Exit codes: 0 success, 2 not found (broadcast, track or group), 3 transport or connection
//! failure, 1 anything else (including usage errors, which clap reports with 2 only for
//! unparsable command lines).
//!
//! Layout: [`connect`] turns the global flags into sessions; each subcommand lives in
//! `cmd/`; [`stats`] holds the counters and percentile math shared by progress lines and
//! the bench.

mod cmd;
mod connect;
mod stats;

use std::fmt;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::connect::ConnectArgs;

/// The help heading of the flags every subcommand accepts.
pub(crate) const GLOBAL: &str = "Global options";

/// Command-line client for moq-lite relays.
#[derive(Debug, Parser)]
#[command(name = "moql", version, about, propagate_version = true)]
struct Cli {
    /// How to reach and trust the relay.
    #[command(flatten)]
    connect: ConnectArgs,
    /// No progress or statistics on stderr (errors are still printed).
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    quiet: bool,
    /// Log filter for stderr, tracing-subscriber syntax (e.g. `debug`, `moql_session=trace`);
    /// default `warn`, or RUST_LOG when set.
    #[arg(long, value_name = "FILTER", global = true, help_heading = GLOBAL)]
    log: Option<String>,
    /// The subcommand.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Publish one track from stdin, a clock, or a looped file.
    Publish(cmd::publish::PublishArgs),
    /// Print a track's frames as they arrive.
    Subscribe(cmd::subscribe::SubscribeArgs),
    /// Print one past group of a track.
    Fetch(cmd::fetch::FetchArgs),
    /// List broadcasts as they start (`+ path`) and end (`- path`).
    Announced(cmd::announced::AnnouncedArgs),
    /// Load-test a relay: connections that publish and subscribe, with loss and latency.
    Bench(cmd::bench::BenchArgs),
    /// Measure FETCH through a relay: latency and fetches per second, over the wire or HTTP.
    BenchFetch(cmd::bench_fetch::BenchFetchArgs),
}

/// Options every subcommand receives.
#[derive(Clone, Debug)]
pub(crate) struct Global {
    /// Connection flags.
    pub(crate) connect: ConnectArgs,
    /// `-q`: no progress lines.
    pub(crate) quiet: bool,
}

/// A failure with its own exit code that is not a library error.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The broadcast, track or group does not exist (exit code 2).
    NotFound(String),
    /// The connection failed, closed or timed out (exit code 3).
    Transport(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(what) | Self::Transport(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for Failure {}

/// Exit code: not found.
const EXIT_NOT_FOUND: u8 = 2;
/// Exit code: transport or connection failure.
const EXIT_TRANSPORT: u8 = 3;
/// Exit code: anything else.
const EXIT_OTHER: u8 = 1;

/// The exit code for `err`: the first cause in its chain that we recognise decides.
fn exit_code(err: &anyhow::Error) -> u8 {
    use moql_native::TransportError;
    for cause in err.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return match failure {
                Failure::NotFound(_) => EXIT_NOT_FOUND,
                Failure::Transport(_) => EXIT_TRANSPORT,
            };
        }
        if let Some(model) = cause.downcast_ref::<moql_model::Error>() {
            return match model {
                moql_model::Error::NotFound | moql_model::Error::Unroutable => EXIT_NOT_FOUND,
                moql_model::Error::Transport => EXIT_TRANSPORT,
                _ => EXIT_OTHER,
            };
        }
        if let Some(session) = cause.downcast_ref::<moql_session::SessionError>() {
            return match session {
                moql_session::SessionError::Config(_) => EXIT_OTHER,
                _ => EXIT_TRANSPORT,
            };
        }
        if let Some(transport) = cause.downcast_ref::<TransportError>() {
            return match transport {
                TransportError::InvalidUrl(_)
                | TransportError::UnsupportedScheme(_)
                | TransportError::Certificate(_)
                | TransportError::Config(_) => EXIT_OTHER,
                _ => EXIT_TRANSPORT,
            };
        }
    }
    EXIT_OTHER
}

/// Logs to stderr with `filter`, else RUST_LOG, else `warn`.
fn init_logging(filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match filter {
        Some(filter) => EnvFilter::new(filter),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref());
    let global = Global {
        connect: cli.connect,
        quiet: cli.quiet,
    };
    let result = match cli.command {
        Command::Publish(args) => cmd::publish::run(&global, args).await,
        Command::Subscribe(args) => cmd::subscribe::run(&global, args).await,
        Command::Fetch(args) => cmd::fetch::run(&global, args).await,
        Command::Announced(args) => cmd::announced::run(&global, args).await,
        Command::Bench(args) => cmd::bench::run(&global, args).await,
        Command::BenchFetch(args) => cmd::bench_fetch::run(&global, args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("moql: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_first_recognised_cause() {
        let not_found = anyhow::Error::new(moql_model::Error::NotFound).context("fetching");
        assert_eq!(exit_code(&not_found), EXIT_NOT_FOUND);
        let unroutable = anyhow::Error::new(moql_model::Error::Unroutable);
        assert_eq!(exit_code(&unroutable), EXIT_NOT_FOUND);
        let closed = anyhow::Error::new(moql_session::SessionError::Transport("gone".into()));
        assert_eq!(exit_code(&closed), EXIT_TRANSPORT);
        let timeout = anyhow::Error::new(Failure::Transport("timed out".into()));
        assert_eq!(exit_code(&timeout), EXIT_TRANSPORT);
        assert_eq!(exit_code(&anyhow::anyhow!("bad input")), EXIT_OTHER);
        let dropped = anyhow::Error::new(moql_model::Error::Dropped);
        assert_eq!(exit_code(&dropped), EXIT_OTHER);
    }

    #[test]
    fn the_command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
