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
//! Scripts can rely on the exit code (0 ok, 1 other, 2 usage, 3 network, 4 not found,
//! 5 auth refused: [`exit`]), on `MOQL_URL` / `MOQL_JWT` / `MOQL_TLS_FINGERPRINT` in place of
//! flags, and on `--json` lines from `subscribe`, `fetch` and `announced` ([`cmd::json`]).
//! Errors are printed as `error: <what>: <cause>: …`.
//!
//! Layout: [`connect`] turns the global flags into sessions and [`operands`] finds the
//! relay URL among the arguments; each subcommand lives in `cmd/`; [`exit`] maps errors to
//! exit codes; [`stats`] holds the counters and percentile math shared by progress lines and
//! the bench.

mod cmd;
mod connect;
mod exit;
mod link;
mod operands;
mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::connect::ConnectArgs;

/// The help heading of the flags every subcommand accepts.
pub(crate) const GLOBAL: &str = "Global options";

/// Command-line client for moq-lite relays.
#[derive(Debug, Parser)]
#[command(
    name = "moql",
    version,
    about,
    propagate_version = true,
    after_help = exit::HELP
)]
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
    #[command(override_usage = "moql publish [OPTIONS] [URL] <BROADCAST>")]
    Publish(cmd::publish::PublishArgs),
    /// Print a track's frames as they arrive.
    #[command(override_usage = "moql subscribe [OPTIONS] [URL] <BROADCAST> <TRACK>")]
    Subscribe(cmd::subscribe::SubscribeArgs),
    /// Print one past group of a track.
    #[command(override_usage = "moql fetch [OPTIONS] [URL] <BROADCAST> <TRACK> <GROUP>")]
    Fetch(cmd::fetch::FetchArgs),
    /// List broadcasts as they start (`+ path`) and end (`- path`).
    #[command(override_usage = "moql announced [OPTIONS] [URL] [PREFIX]")]
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

/// Logs to stderr with `filter`, else RUST_LOG, else `warn`; in colour only when stderr is a
/// terminal and `NO_COLOR` is unset or empty (the no-color.org convention, as `moql-relay`).
fn init_logging(filter: Option<&str>) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let filter = match filter {
        Some(filter) => EnvFilter::new(filter),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
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
        Ok(()) => ExitCode::from(exit::Exit::Ok as u8),
        Err(err) => {
            eprintln!("error: {}", exit::report(&err));
            ExitCode::from(exit::classify(&err) as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
