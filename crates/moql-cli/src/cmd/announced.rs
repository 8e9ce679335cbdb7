//! `moql announced`: the live list of broadcasts under a prefix, as `+ path` when one starts
//! and `- path` when it ends (with `--json`, one object per event: see [`super::json`]).
//! The relay's current set comes first.
//!
//! moq-lite has no marker for the end of the relay's initial set: the relay sends it as a
//! burst of ANNOUNCEs right after ANNOUNCE_OK. `--once` therefore takes the set as complete
//! once no announcement has arrived for `--settle-ms`.

use std::collections::BTreeSet;
use std::time::Duration;

use clap::Args;
use moql_model::{Announcement, Path};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Closed, interrupted, parse_path};
use crate::Global;
use crate::link::subscriber;
use crate::operands::split;

/// Longest `--once` waits for the initial set, however often announcements keep arriving.
const ONCE_LIMIT: Duration = Duration::from_secs(10);

/// `moql announced <url> [prefix]`.
#[derive(Args, Debug)]
pub(crate) struct AnnouncedArgs {
    /// Relay URL: `https://` (WebTransport), `moql://` or `moqt://` (raw QUIC), `http://` (dev),
    /// `ws://` / `wss://` / `tcp://` (QMux). May be left out when `--url` or MOQL_URL gives it.
    #[arg(value_name = "URL")]
    url: Option<String>,
    /// Only broadcasts under this path prefix (whole segments); default: all.
    #[arg(value_name = "PREFIX")]
    prefix: Option<String>,
    /// Print the current set and exit.
    #[arg(long)]
    once: bool,
    /// With `--once`: the set is complete after this long without an announcement.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    settle_ms: u64,
    /// One JSON object per event and line: event ("announce" or "unannounce"), broadcast,
    /// timestamp (receive time, RFC 3339 UTC) and timestamp_ms (Unix ms).
    #[arg(long)]
    json: bool,
    /// Exit when the connection to the relay is lost, instead of reconnecting (with backoff)
    /// and following a relay's GOAWAY to another relay.
    #[arg(long)]
    no_reconnect: bool,
}

/// Runs `moql announced`.
///
/// # Errors
///
/// A connection failure, or the session closing while listing.
pub(crate) async fn run(global: &Global, args: AnnouncedArgs) -> anyhow::Result<()> {
    let (url, operands) = split(
        global.connect.relay_url.as_deref(),
        [args.url, args.prefix],
        &["PREFIX"],
        0,
    )?;
    let prefix = match operands.first() {
        Some(prefix) => parse_path(prefix)?,
        None => Path::root(),
    };
    let link = subscriber(&global.connect, &url, &prefix, !args.no_reconnect).await?;
    let received = link.origin().clone();
    // Level-triggered: the first announcement is everything active, so nothing announced
    // before this watcher existed is missed.
    let mut watch = received.consume_prefix(&prefix);
    let mut out = tokio::io::stdout();
    let line = if args.json { json_line } else { text_line };

    let result = if args.once {
        let settle = Duration::from_millis(args.settle_ms);
        let settled = async {
            while tokio::time::timeout(settle, watch.announced())
                .await
                .is_ok_and(|a| a.is_some())
            {}
        };
        tokio::select! {
            _ = tokio::time::timeout(ONCE_LIMIT, settled) => match link.close_reason() {
                // A refused session ends the watch too: that is no empty set.
                Some(err) => Err(err.context("listing broadcasts")),
                None => {
                    let paths: BTreeSet<Path> = received.paths(&prefix).into_iter().collect();
                    print_all(&mut out, paths.iter().map(|p| line(true, p))).await
                }
            },
            err = link.closed() => Err(err.context("listing broadcasts")),
        }
    } else {
        tokio::select! {
            result = follow(&mut watch, &mut out, line) => result,
            () = interrupted() => Ok(()),
            err = link.closed() => Err(err.context("listing broadcasts")),
        }
    };
    link.close("done").await;
    result
}

/// Formats one event: whether the broadcast started (`true`) or ended, and its path.
type LineFormat = fn(bool, &Path) -> String;

/// Prints every change, each formatted by `line`, until the origin ends (it does not while
/// the session lives).
async fn follow(
    watch: &mut moql_model::OriginConsumer,
    out: &mut (impl AsyncWrite + Unpin),
    line: LineFormat,
) -> anyhow::Result<()> {
    while let Some(announcement) = watch.announced().await {
        let lines: Vec<String> = match announcement {
            Announcement::Initial(active) => active.iter().map(|a| line(true, &a.path)).collect(),
            Announcement::Active(announced) => vec![line(true, &announced.path)],
            Announcement::Ended(path) => vec![line(false, &path)],
            // The path stays active (a restart or a new route): the list is unchanged.
            Announcement::Replaced(announced) => {
                tracing::debug!(path = %announced.path, "broadcast replaced");
                Vec::new()
            }
        };
        print_all(out, lines.into_iter()).await?;
    }
    Ok(())
}

/// `+ path` or `- path`.
fn text_line(active: bool, path: &Path) -> String {
    let sign = if active { '+' } else { '-' };
    format!("{sign} {path}\n")
}

/// `{"event":"announce","broadcast":"path",…}`.
fn json_line(active: bool, path: &Path) -> String {
    super::json::event_line(active, path.as_ref(), super::json::now_ms())
}

/// Writes `lines` and flushes; a closed pipe ends quietly.
async fn print_all(
    out: &mut (impl AsyncWrite + Unpin),
    lines: impl Iterator<Item = String>,
) -> anyhow::Result<()> {
    let written = async {
        for line in lines {
            out.write_all(line.as_bytes()).await?;
        }
        out.flush().await
    };
    match written.await {
        Ok(()) => Ok(()),
        Err(err) => Closed::from(err).into_result(),
    }
}

#[cfg(test)]
mod tests {
    use moql_model::{BroadcastProducer, OriginProducer};

    use super::*;

    #[tokio::test]
    async fn follow_prints_starts_and_ends() {
        use tokio::io::{AsyncBufReadExt, BufReader};

        let origin = OriginProducer::new();
        let early = BroadcastProducer::new();
        origin
            .publish(&Path::new("a/early").unwrap(), early.consume())
            .unwrap();
        let mut watch = origin.consume_prefix(&Path::new("a").unwrap());
        let (read, mut write) = tokio::io::duplex(4096);
        let following =
            tokio::spawn(async move { follow(&mut watch, &mut write, text_line).await });
        let mut lines = BufReader::new(read).lines();
        let mut next = async || {
            tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
                .await
                .expect("a line in time")
                .unwrap()
        };
        // The initial set (taken at the watcher's first poll), then each change.
        assert_eq!(next().await.as_deref(), Some("+ a/early"));
        let late = BroadcastProducer::new();
        origin
            .publish(&Path::new("a/late").unwrap(), late.consume())
            .unwrap();
        assert_eq!(next().await.as_deref(), Some("+ a/late"));
        origin
            .publish(
                &Path::new("b/other").unwrap(),
                BroadcastProducer::new().consume(),
            )
            .ok();
        early.close().unwrap();
        assert_eq!(next().await.as_deref(), Some("- a/early"));
        drop(origin);
        following.await.unwrap().unwrap();
        assert_eq!(next().await, None, "b/other is outside the prefix");
        drop(late);
    }
}
