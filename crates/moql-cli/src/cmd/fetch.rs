//! `moql fetch`: write one past group of a track to stdout.
//!
//! Exit codes (see [`crate::exit`]): 0 when the whole group was written; 4 when the broadcast,
//! track or group does not exist (not announced within `--wait-ms`, or refused with
//! NOT_FOUND / UNROUTABLE); 5 when the relay refuses the token; 3 when the connection fails
//! or the fetch times out; 2 for a bad command line; 1 otherwise.

use std::time::Duration;

use clap::Args;

use super::{FrameOutput, OutputArgs, parse_path};
use crate::Global;
use crate::connect::{close, subscriber, wait_broadcast};
use crate::exit::Failure;
use crate::operands::split;

/// `moql fetch <url> <broadcast> <track> <group>`.
#[derive(Args, Debug)]
pub(crate) struct FetchArgs {
    /// Relay URL: `https://` (WebTransport), `moql://` or `moqt://` (raw QUIC), `http://` (dev),
    /// `ws://` / `wss://` / `tcp://` (QMux). May be left out when `--url` or MOQL_URL gives it.
    #[arg(value_name = "URL")]
    url: Option<String>,
    /// Broadcast path, e.g. `demo/clock`.
    #[arg(value_name = "BROADCAST")]
    broadcast: Option<String>,
    /// Track name.
    #[arg(value_name = "TRACK")]
    track: Option<String>,
    /// Group sequence number.
    #[arg(value_name = "GROUP")]
    group: Option<String>,
    /// Output format.
    #[command(flatten)]
    output: OutputArgs,
    /// How long to wait for the relay to announce the broadcast before exiting with 4 (not found).
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
    let (url, operands) = split(
        global.connect.relay_url.as_deref(),
        [args.url, args.broadcast, args.track, args.group],
        &["BROADCAST", "TRACK", "GROUP"],
        3,
    )?;
    let [broadcast_name, track_name] = [&operands[0], &operands[1]];
    let sequence: u64 = operands[2].parse().map_err(|_| {
        Failure::Usage(format!(
            "invalid GROUP {:?}: expected a group sequence number",
            operands[2]
        ))
    })?;
    let path = parse_path(broadcast_name)?;
    let (session, received) = subscriber(&global.connect, &url, &path).await?;

    let fetched = async {
        let wait = Duration::from_millis(args.wait_ms);
        let broadcast = wait_broadcast(
            async { anyhow::Error::new(session.closed().await) },
            &received,
            &path,
            Some(wait),
        )
        .await?;
        let track = broadcast.track(track_name)?;
        let mut group = tokio::time::timeout(Duration::from_millis(args.timeout_ms), async {
            track.fetch(sequence, None)?.await
        })
        .await
        .map_err(|_| {
            Failure::Network(format!("fetch timed out after {} ms", args.timeout_ms))
        })?
        .map_err(|err| match err {
            // The wire says 13 both for a group that never existed and for one older than
            // every window (memory, then the relay's disk tier): say both.
            moql_model::Error::NotFound => anyhow::Error::new(Failure::NotFound(format!(
                "group {} not found: it never existed, or it expired (older than the \
                 publisher's and the relay's retention windows; the relay's HTTP /fetch says which)",
                sequence
            ))),
            other => other.into(),
        })?;
        tracing::debug!(sequence = group.sequence(), "fetched");

        let mut output =
            FrameOutput::new(tokio::io::stdout(), args.output, broadcast_name, track_name);
        let deadline = Duration::from_millis(args.timeout_ms);
        let written = tokio::time::timeout(deadline, async {
            let mut index = 0;
            while let Some(frame) = group.next_frame().await? {
                if let Err(closed) = output.write(sequence, index, &frame).await {
                    return closed.into_result();
                }
                index += 1;
            }
            Ok::<_, anyhow::Error>(())
        })
        .await;
        match written {
            Ok(result) => result,
            Err(_) => Err(Failure::Network("the group did not finish in time".into()).into()),
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
            sequence, broadcast_name, track_name
        ))
    })
}
