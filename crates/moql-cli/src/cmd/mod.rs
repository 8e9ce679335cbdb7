//! The subcommands, one module each, and what they share: how frames are written to stdout
//! ([`FrameOutput`]), Ctrl-C and SIGTERM ([`interrupted`]), parsing broadcast paths, and
//! refusing requests for tracks a publisher does not have ([`refuse_unknown`]).

pub(crate) mod announced;
pub(crate) mod bench;
pub(crate) mod bench_fetch;
pub(crate) mod fetch;
pub(crate) mod json;
pub(crate) mod publish;
pub(crate) mod subscribe;

use std::io::ErrorKind;

use clap::Args;
use moql_model::{BroadcastProducer, Error, Frame, Path};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::exit::Failure;

/// How frames read from a track are written to stdout (subscribe and fetch).
#[derive(Args, Clone, Copy, Debug, Default)]
pub(crate) struct OutputArgs {
    /// Write each payload's bytes as they are, with nothing between frames.
    #[arg(long, conflicts_with_all = ["length_prefixed", "json"])]
    pub(crate) raw: bool,
    /// Write each frame as a 4-byte big-endian length and the payload (what
    /// `moql publish --length-prefixed` reads).
    #[arg(long, conflicts_with = "json")]
    pub(crate) length_prefixed: bool,
    /// Write one JSON object per frame and line: broadcast, track, group, frame (index in
    /// the group), pts, timestamp (receive time, RFC 3339 UTC) and timestamp_ms (Unix ms),
    /// size, encoding ("text" for UTF-8, else "base64") and payload.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Writes frames to an output in the format [`OutputArgs`] chose: one per line by default.
pub(crate) struct FrameOutput<W> {
    out: W,
    format: OutputArgs,
    /// The broadcast path and track name, for `--json`.
    broadcast: String,
    track: String,
}

impl<W: AsyncWrite + Unpin> FrameOutput<W> {
    /// Writes the frames of `broadcast`/`track` to `out`.
    pub(crate) fn new(out: W, format: OutputArgs, broadcast: &str, track: &str) -> Self {
        Self {
            out,
            format,
            broadcast: broadcast.to_string(),
            track: track.to_string(),
        }
    }

    /// Writes frame `index` of group `group` and flushes, so a reader sees each frame as it
    /// arrives.
    ///
    /// # Errors
    ///
    /// The write's I/O error; a closed pipe is [`Closed::Pipe`] so callers can stop quietly.
    pub(crate) async fn write(
        &mut self,
        group: u64,
        index: u64,
        frame: &Frame,
    ) -> Result<(), Closed> {
        let payload = &frame.payload[..];
        if self.format.json {
            let line = json::frame_line(
                &self.broadcast,
                &self.track,
                group,
                index,
                frame,
                json::now_ms(),
            );
            self.out.write_all(line.as_bytes()).await?;
            self.out.flush().await?;
            return Ok(());
        }
        if self.format.length_prefixed {
            let len = u32::try_from(payload.len()).map_err(|_| {
                Closed::Io(std::io::Error::new(
                    ErrorKind::InvalidData,
                    "a frame longer than 4 GiB has no 4-byte length prefix",
                ))
            })?;
            self.out.write_all(&len.to_be_bytes()).await?;
        }
        self.out.write_all(payload).await?;
        if !self.format.raw && !self.format.length_prefixed {
            self.out.write_all(b"\n").await?;
        }
        self.out.flush().await?;
        Ok(())
    }
}

/// Why writing to stdout stopped.
#[derive(Debug)]
pub(crate) enum Closed {
    /// The reader went away (`moql subscribe … | head`): stop quietly, exit 0.
    Pipe,
    /// Any other I/O error.
    Io(std::io::Error),
}

impl From<std::io::Error> for Closed {
    fn from(err: std::io::Error) -> Self {
        if err.kind() == ErrorKind::BrokenPipe {
            Self::Pipe
        } else {
            Self::Io(err)
        }
    }
}

impl Closed {
    /// `Ok(())` for a closed pipe, else the error.
    pub(crate) fn into_result(self) -> anyhow::Result<()> {
        match self {
            Self::Pipe => Ok(()),
            Self::Io(err) => Err(anyhow::Error::new(err).context("writing to stdout")),
        }
    }
}

/// Parses a broadcast path argument.
///
/// # Errors
///
/// [`Failure::Usage`] for more than 32 segments.
pub(crate) fn parse_path(text: &str) -> Result<Path, Failure> {
    Path::new(text).map_err(|err| Failure::Usage(format!("invalid broadcast path {text:?}: {err}")))
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM, so `kill` and service managers also
/// get a clean end (the track finished, the session closed) rather than a relay that keeps
/// the broadcast until its idle timeout. Never resolves if no handler can be installed.
///
/// # Cancel safety
///
/// Dropping it loses no data, but a signal that arrives while no `interrupted()` future is
/// polled is not seen by a later one (tokio's handler, once installed, replaces the default
/// action and only wakes listeners that exist): keep one future alive across a loop.
pub(crate) async fn interrupted() {
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Refuses requests for tracks `broadcast` does not have ([`Error::NotFound`]), until it
/// closes; without this a consumer asking for another track would wait for an answer forever.
/// (Fetches of groups no longer cached fail with NOT_FOUND in the model itself, since the
/// publisher never asks for fetch requests.)
///
/// The returned task stops when dropped.
pub(crate) fn refuse_unknown(broadcast: &BroadcastProducer) -> AbortOnDrop {
    let requests = broadcast.clone();
    AbortOnDrop(tokio::spawn(async move {
        while let Some(request) = requests.requested_track().await {
            tracing::debug!(
                track = request.name(),
                "refusing a request for an unknown track"
            );
            request.reject(Error::NotFound);
        }
    }))
}

/// A task that is aborted when this handle drops.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn written(format: OutputArgs, frames: &[&[u8]]) -> Vec<u8> {
        let mut out = FrameOutput::new(Vec::new(), format, "b", "t");
        for (index, frame) in frames.iter().enumerate() {
            let frame = Frame::new(0, frame.to_vec());
            out.write(0, index as u64, &frame)
                .await
                .expect("write to a Vec");
        }
        out.out
    }

    #[tokio::test]
    async fn frames_are_written_as_lines_raw_or_length_prefixed() {
        let frames: &[&[u8]] = &[b"ab", b"", b"c"];
        assert_eq!(written(OutputArgs::default(), frames).await, b"ab\n\nc\n");
        let raw = OutputArgs {
            raw: true,
            ..OutputArgs::default()
        };
        assert_eq!(written(raw, frames).await, b"abc");
        let prefixed = OutputArgs {
            length_prefixed: true,
            ..OutputArgs::default()
        };
        assert_eq!(
            written(prefixed, frames).await,
            b"\0\0\0\x02ab\0\0\0\0\0\0\0\x01c"
        );
    }
}
