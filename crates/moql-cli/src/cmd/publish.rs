//! `moql publish`: publish one track of one broadcast, fed from stdin (one frame per line, or
//! length-prefixed), a built-in clock, or a file looped as fixed-size frames.
//!
//! Frame timestamps are milliseconds since the publisher started (timescale 1000). The track
//! is delivered oldest group first, so a reader of stdin frames sees them in input order.
//! At stdin EOF (or Ctrl-C) the open group and the track are finished, and the session stays
//! up until the relay has taken everything (no consumer left) or `--linger-ms` passes.

use std::io::{BufRead, ErrorKind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::{Bytes, BytesMut};
use clap::Args;
use moql_model::{BroadcastProducer, GroupProducer, OriginProducer, TrackInfo, TrackProducer};
use moql_session::SessionConfig;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::{interrupted, parse_path, refuse_unknown};
use crate::Global;
use crate::link::Link;
use crate::operands::split;
use crate::stats::{Meter, format_utc, now_micros, spawn_progress};

/// Largest frame `--length-prefixed` input may announce: a guard against reading garbage as a
/// length and allocating gigabytes. Far above any media frame.
const MAX_INPUT_FRAME: usize = 64 << 20;

/// How long the session stays up after the relay let go of the track. Its QUIC stack has
/// acknowledged our last group streams by then, but its application may not have read them,
/// and closing the connection discards unread stream data. Reading takes microseconds to a
/// few milliseconds; 200 ms covers a busy relay and is barely noticeable at exit.
const CLOSE_GRACE: Duration = Duration::from_millis(200);

/// Frames buffered between the stdin reader thread and the publisher: enough to absorb a
/// burst of input without letting a fast producer run ahead unboundedly.
const STDIN_QUEUE: usize = 64;

/// `moql publish <url> <broadcast>`.
#[derive(Args, Debug)]
pub(crate) struct PublishArgs {
    /// Relay URL: `https://` (WebTransport), `moql://` or `moqt://` (raw QUIC), `http://` (dev),
    /// `ws://` / `wss://` / `tcp://` (QMux). May be left out when `--url` or MOQL_URL gives it.
    #[arg(value_name = "URL")]
    url: Option<String>,
    /// Broadcast path, e.g. `demo/clock`.
    #[arg(value_name = "BROADCAST")]
    broadcast: Option<String>,
    /// Track name.
    #[arg(long, default_value = "data")]
    track: String,
    /// Read stdin as frames of a 4-byte big-endian length and the payload (default: one frame
    /// per line, without its newline).
    #[arg(long, conflicts_with_all = ["clock", "file"])]
    length_prefixed: bool,
    /// Publish a clock instead of stdin: one group per wall-clock second, one frame per tick
    /// with the current UTC time as text.
    #[arg(long, conflicts_with = "file")]
    clock: bool,
    /// Clock tick in milliseconds (1..=1000).
    #[arg(long, default_value_t = 100, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    tick_ms: u64,
    /// Publish this file instead of stdin, looped forever as `--frame-size` frames at `--rate`.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// With `--file`: bytes per frame.
    #[arg(long, default_value_t = 1200, value_name = "BYTES")]
    frame_size: usize,
    /// With `--file`: frames per second.
    #[arg(long, default_value_t = 30.0, value_name = "FPS")]
    rate: f64,
    /// Frames per group: default 1 for stdin (each frame is its own group), `--rate` (one
    /// group per second) for `--file`. Not used by `--clock`.
    #[arg(long, value_name = "G", value_parser = clap::value_parser!(u32).range(1..))]
    group_frames: Option<u32>,
    /// How long groups that are no longer the latest stay fetchable, in milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    max_latency_ms: u64,
    /// After the input ends, keep the session up at most this long for subscribers to
    /// receive the last groups.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    linger_ms: u64,
    /// Exit when the connection to the relay is lost, instead of reconnecting (with backoff)
    /// and following a relay's GOAWAY to another relay.
    #[arg(long)]
    no_reconnect: bool,
}

/// Where frames come from.
enum Source {
    /// stdin, split into lines or length-prefixed frames by a reader thread.
    Stdin { length_prefixed: bool },
    /// A clock ticking every `tick_ms`.
    Clock { tick_ms: u64 },
    /// A file looped as fixed-size frames.
    File {
        data: Bytes,
        frame_size: usize,
        rate: f64,
    },
}

/// Runs `moql publish`.
///
/// # Errors
///
/// Invalid arguments, an unreadable file or stdin, or a connection failure.
pub(crate) async fn run(global: &Global, args: PublishArgs) -> anyhow::Result<()> {
    let (url, operands) = split(
        global.connect.relay_url.as_deref(),
        [args.url.clone(), args.broadcast.clone()],
        &["BROADCAST"],
        1,
    )?;
    let path = parse_path(&operands[0])?;
    let (source, group_frames) = source(&args)?;

    let origin = OriginProducer::new();
    let broadcast = BroadcastProducer::new();
    let info = TrackInfo {
        timescale: 1000,
        priority: 0,
        ordered: true,
        max_latency: Duration::from_millis(args.max_latency_ms),
    };
    let track = broadcast.create_track(&args.track, info)?;
    origin.publish(&path, broadcast.consume())?;
    let _refusals = refuse_unknown(&broadcast);

    let published = origin.clone();
    let link = Link::connect(&global.connect, &url, !args.no_reconnect, move |received| {
        // Every session (after a reconnect too) announces the same broadcast.
        SessionConfig::new()
            .with_publish(published.consume())
            .with_subscribe(received)
    })
    .await?;
    if !global.quiet {
        let version = link.session().map(|s| s.version().to_string());
        eprintln!(
            "moql: publishing {path} (track {:?}) on {}",
            args.track,
            version.unwrap_or_default()
        );
    }

    let meter = Arc::new(Meter::default());
    let _progress = spawn_progress("publish", meter.clone(), global.quiet);
    let mut groups = Grouper::new(track.clone(), group_frames, meter);
    let produced = tokio::select! {
        result = produce(source, &mut groups) => result,
        () = interrupted() => Ok(()),
        err = link.closed() => Err(err.context("publishing")),
    };
    groups.cut();
    let _ = track.finish();

    if produced.is_ok() && link.close_reason().is_none() {
        // The relay holds the track until its last group streams are acknowledged; then it
        // still has to read them, and closing the connection would discard what is unread.
        let linger = Duration::from_millis(args.linger_ms);
        let drained = async {
            let _ = tokio::time::timeout(linger, track.unused()).await;
            tokio::time::sleep(CLOSE_GRACE).await;
        };
        tokio::select! {
            () = drained => {}
            _ = link.closed() => {}
        }
    }
    // The relay may refuse the session (e.g. no token: code 6) after a short input already
    // ended; that is a failure to publish, not a clean end.
    let refused = link.close_reason();
    link.close("publisher done").await;
    match (produced, refused) {
        (Ok(()), Some(err)) => Err(err.context("publishing")),
        (produced, _) => produced,
    }
}

/// Checks the arguments and picks the source and the frames per group.
fn source(args: &PublishArgs) -> anyhow::Result<(Source, Option<u32>)> {
    if args.clock {
        return Ok((
            Source::Clock {
                tick_ms: args.tick_ms,
            },
            None,
        ));
    }
    if let Some(file) = &args.file {
        if args.frame_size == 0 {
            bail!("--frame-size must be at least 1");
        }
        if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 1e6) {
            bail!("--rate must be a frame rate between 0 and 1,000,000");
        }
        let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        if data.is_empty() {
            bail!("{} is empty", file.display());
        }
        let per_second = args.rate.round().max(1.0) as u32;
        return Ok((
            Source::File {
                data: Bytes::from(data),
                frame_size: args.frame_size,
                rate: args.rate,
            },
            Some(args.group_frames.unwrap_or(per_second)),
        ));
    }
    Ok((
        Source::Stdin {
            length_prefixed: args.length_prefixed,
        },
        Some(args.group_frames.unwrap_or(1)),
    ))
}

/// Publishes frames from `source` until it ends (stdin EOF); the clock and the file never do.
async fn produce(source: Source, groups: &mut Grouper) -> anyhow::Result<()> {
    match source {
        Source::Stdin { length_prefixed } => {
            let mut frames = spawn_stdin_reader(length_prefixed);
            while let Some(frame) = frames.recv().await {
                let frame = frame.context("reading stdin")?;
                groups.write(Bytes::from(frame))?;
            }
            Ok(())
        }
        Source::Clock { tick_ms } => clock(tick_ms, groups).await,
        Source::File {
            data,
            frame_size,
            rate,
        } => {
            let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut offset = 0;
            loop {
                ticker.tick().await;
                let (frame, next) = slice_looped(&data, offset, frame_size);
                offset = next;
                groups.write(frame)?;
            }
        }
    }
}

/// Ticks aligned to multiples of `tick_ms` of wall-clock time; a new group starts at each
/// whole second. Each tick's frame is its nominal time, so the text never jitters.
async fn clock(tick_ms: u64, groups: &mut Grouper) -> anyhow::Result<()> {
    let now_ms = now_micros() / 1000;
    let first_ms = (now_ms / tick_ms + 1) * tick_ms;
    let start = Instant::now() + Duration::from_millis(first_ms - now_ms);
    let mut ticker = tokio::time::interval_at(start, Duration::from_millis(tick_ms));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut second = None;
    loop {
        let at = ticker.tick().await;
        let ticks = (at.duration_since(start).as_millis() as u64 + tick_ms / 2) / tick_ms;
        let wall_ms = first_ms + ticks * tick_ms;
        if second != Some(wall_ms / 1000) {
            groups.cut();
            second = Some(wall_ms / 1000);
        }
        groups.write(Bytes::from(format_utc(wall_ms)))?;
    }
}

/// `frame_size` bytes of `data` from `offset`, wrapping around its end; and the next offset.
/// Zero-copy when the frame does not wrap.
fn slice_looped(data: &Bytes, offset: usize, frame_size: usize) -> (Bytes, usize) {
    if offset + frame_size <= data.len() {
        return (
            data.slice(offset..offset + frame_size),
            (offset + frame_size) % data.len(),
        );
    }
    let mut frame = BytesMut::with_capacity(frame_size);
    let mut at = offset;
    while frame.len() < frame_size {
        let take = (frame_size - frame.len()).min(data.len() - at);
        frame.extend_from_slice(&data[at..at + take]);
        at = (at + take) % data.len();
    }
    (frame.freeze(), at)
}

/// Cuts frames into groups: a new group per `group_frames` frames, or when told to
/// ([`cut`](Self::cut)). Timestamps are milliseconds since the grouper was made.
struct Grouper {
    track: TrackProducer,
    group_frames: Option<u32>,
    current: Option<(GroupProducer, u32)>,
    epoch: Instant,
    meter: Arc<Meter>,
}

impl Grouper {
    fn new(track: TrackProducer, group_frames: Option<u32>, meter: Arc<Meter>) -> Self {
        Self {
            track,
            group_frames,
            current: None,
            epoch: Instant::now(),
            meter,
        }
    }

    /// Appends a frame to the open group, opening one first if needed.
    fn write(&mut self, payload: Bytes) -> anyhow::Result<()> {
        let (group, count) = match &mut self.current {
            Some(open) => open,
            None => {
                let group = self.track.append_group().context("creating a group")?;
                self.meter.group();
                self.current.insert((group, 0))
            }
        };
        let timestamp = self.epoch.elapsed().as_millis() as u64;
        self.meter.frame(payload.len());
        group.write(timestamp, payload).context("writing a frame")?;
        *count += 1;
        if self.group_frames.is_some_and(|max| *count >= max) {
            self.cut();
        }
        Ok(())
    }

    /// Finishes the open group, if any.
    fn cut(&mut self) {
        if let Some((group, _)) = self.current.take() {
            let _ = group.finish();
        }
    }
}

/// Reads stdin on its own thread (a blocking read cannot be cancelled, and a runtime thread
/// stuck in one would hold up exit after Ctrl-C) and sends each frame over a bounded channel.
fn spawn_stdin_reader(length_prefixed: bool) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(STDIN_QUEUE);
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut input = std::io::stdin().lock();
            loop {
                let frame = if length_prefixed {
                    read_prefixed(&mut input)
                } else {
                    read_line(&mut input)
                };
                let stop = !matches!(frame, Ok(Some(_)));
                if let Some(frame) = frame.transpose()
                    && tx.blocking_send(frame).is_err()
                {
                    return;
                }
                if stop {
                    return;
                }
            }
        });
    if let Err(err) = spawned {
        // No thread: report it as the first (and last) read.
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Err(err));
        return rx;
    }
    rx
}

/// The next line without its `\n` (a final line without one counts); `None` at EOF.
fn read_line(input: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    if input.read_until(b'\n', &mut line)? == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(Some(line))
}

/// The next length-prefixed frame; `None` at EOF on a frame boundary.
///
/// # Errors
///
/// EOF inside a frame, or a length above [`MAX_INPUT_FRAME`].
fn read_prefixed(input: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    if input.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let mut len = [0; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_INPUT_FRAME {
        return Err(std::io::Error::new(
            ErrorKind::InvalidData,
            format!("frame length {len} is above the {MAX_INPUT_FRAME}-byte limit"),
        ));
    }
    let mut frame = vec![0; len];
    input.read_exact(&mut frame)?;
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_only_their_newline() {
        let mut input: &[u8] = b"a b\r\n\nlast";
        assert_eq!(read_line(&mut input).unwrap(), Some(b"a b\r".to_vec()));
        assert_eq!(read_line(&mut input).unwrap(), Some(Vec::new()));
        assert_eq!(read_line(&mut input).unwrap(), Some(b"last".to_vec()));
        assert_eq!(read_line(&mut input).unwrap(), None);
    }

    #[test]
    fn length_prefixed_frames_end_cleanly_only_on_a_boundary() {
        let mut input: &[u8] = b"\0\0\0\x02hi\0\0\0\0";
        assert_eq!(read_prefixed(&mut input).unwrap(), Some(b"hi".to_vec()));
        assert_eq!(read_prefixed(&mut input).unwrap(), Some(Vec::new()));
        assert_eq!(read_prefixed(&mut input).unwrap(), None);
        let mut cut: &[u8] = b"\0\0\0\x05abc";
        assert_eq!(
            read_prefixed(&mut cut).unwrap_err().kind(),
            ErrorKind::UnexpectedEof
        );
        let mut huge: &[u8] = b"\xff\xff\xff\xff";
        assert_eq!(
            read_prefixed(&mut huge).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
    }

    #[test]
    fn looped_frames_wrap_around_the_file() {
        let data = Bytes::from_static(b"abcde");
        let (frame, next) = slice_looped(&data, 0, 2);
        assert_eq!((&frame[..], next), (&b"ab"[..], 2));
        let (frame, next) = slice_looped(&data, 4, 3);
        assert_eq!((&frame[..], next), (&b"eab"[..], 2));
        let (frame, next) = slice_looped(&data, 1, 12);
        assert_eq!((&frame[..], next), (&b"bcdeabcdeabc"[..], 3));
        let (_, next) = slice_looped(&data, 3, 2);
        assert_eq!(next, 0);
    }

    #[test]
    fn stdin_groups_one_frame_each_unless_told() {
        let track = TrackProducer::new("t", TrackInfo::DEFAULT).unwrap();
        let meter = Arc::new(Meter::default());
        let mut groups = Grouper::new(track.clone(), Some(2), meter.clone());
        for line in ["a", "b", "c"] {
            groups.write(Bytes::from(line)).unwrap();
        }
        groups.cut();
        assert_eq!(track.latest(), Some(1));
        let totals = meter.snapshot();
        assert_eq!((totals.groups, totals.frames, totals.bytes), (2, 3, 3));
    }
}
