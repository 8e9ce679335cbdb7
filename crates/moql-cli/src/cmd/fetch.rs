//! `moql fetch`: write one past group of a track to stdout.
//!
//! Exit codes: 0 when the whole group was written; 2 when the broadcast, track or group does
//! not exist (not announced within `--wait-ms`, or refused with NOT_FOUND / UNROUTABLE); 3 when
//! the connection fails or the fetch times out; 1 otherwise.

use std::time::Duration;

use clap::Args;

use super::{FrameOutput, OutputArgs, parse_path};
use crate::connect::{close, subscriber, wait_broadcast};
use crate::{Failure, Global};

/// `moql fetch <url> <broadcast> <track> <group>`.
#[derive(Args, Debug)]
pub(crate) struct FetchArgs {
    /// Relay URL: `https://` (WebTransport), `moql://` or `moqt://` (raw QUIC), `http://` (dev).
    url: String,
    /// Broadcast path, e.g. `demo/clock`.
    broadcast: String,
    /// Track name.
    track: String,
    /// Group sequence number.
    group: u64,
    /// Output format.
    #[command(flatten)]
    output: OutputArgs,
    /// How long to wait for the relay to announce the broadcast before exiting with 2.
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    wait_ms: u64,
    /// Bound on the fetch itself, from request to the group's last frame (exit 3 after it).
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    timeout_ms: u64,
}

/// Runs `moql fetch`.
///
/// # Errors
///
/// See the module doc for how each maps to an exit code.
pub(crate) async fn run(global: &Global, args: FetchArgs) -> anyhow::Result<()> {
    let path = parse_path(&args.broadcast)?;
    let (session, received) = subscriber(&global.connect, &args.url, &path).await?;

    let fetched = async {
        let wait = Duration::from_millis(args.wait_ms);
        let broadcast = wait_broadcast(&session, &received, &path, Some(wait)).await?;
        let track = broadcast.track(&args.track)?;
        let mut group = tokio::time::timeout(Duration::from_millis(args.timeout_ms), async {
            track.fetch(args.group, None)?.await
        })
        .await
        .map_err(|_| {
            Failure::Transport(format!("fetch timed out after {} ms", args.timeout_ms))
        })?
        .map_err(|err| match err {
            // The wire says 13 both for a group that never existed and for one older than
            // every window (memory, then the relay's disk tier): say both.
            moql_model::Error::NotFound => anyhow::Error::new(Failure::NotFound(format!(
                "group {} not found: it never existed, or it expired (older than the                  publisher's and the relay's retention windows; the relay's HTTP /fetch says which)",
                args.group
            ))),
            other => other.into(),
        })?;
        tracing::debug!(sequence = group.sequence(), "fetched");

        let mut output = FrameOutput::new(tokio::io::stdout(), args.output);
        let deadline = Duration::from_millis(args.timeout_ms);
        let written = tokio::time::timeout(deadline, async {
            while let Some(frame) = group.next_frame().await? {
                if let Err(closed) = output.write(&frame.payload).await {
                    return closed.into_result();
                }
            }
            Ok::<_, anyhow::Error>(())
        })
        .await;
        match written {
            Ok(result) => result,
            Err(_) => Err(Failure::Transport("the group did not finish in time".into()).into()),
        }
    };
    let result = tokio::select! {
        result = fetched => result,
        err = session.closed() => Err(anyhow::Error::new(err).context("the session closed")),
    };
    close(&session, "fetch done").await;
    result.map_err(|err| {
        err.context(format!(
            "fetching group {} of {}/{}",
            args.group, args.broadcast, args.track
        ))
    })
}
