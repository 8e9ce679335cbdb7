//! `moql bench`: a load generator for any moq-lite relay.
//!
//! Opens `--connections` sessions. The first `--publishers` (default: all) each publish
//! `--broadcasts` broadcasts of one track (`bench`), at `--fps` frames of `--frame-size` bytes
//! in groups of `--group-frames`. Every connection subscribes to up to `--subscribe`
//! broadcasts of other connections as the relay announces them, picked round-robin so the
//! load spreads (a 1 → N fan-out is `--connections N+1 --publishers 1 --subscribe 1`).
//! Only standard moq-lite is used (ANNOUNCE, SUBSCRIBE, group streams), so any relay works.
//!
//! Measured, every `--interval` (stderr, silenced by `-q`) and at the end (stdout), and as
//! JSON lines in `--output`:
//! - send and receive throughput (groups, frames, bytes);
//! - groups received and lost ([`Loss`](crate::stats::Loss): skipped once a newer group
//!   arrived, unless it shows up late);
//! - end-to-end latency p50/p90/p99/max: each group's first frame starts with the sender's
//!   wall clock in microseconds (8 bytes, big-endian), compared with the receiver's clock on
//!   arrival. Sender and receiver are this process, so the clocks agree.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::{BufMut, Bytes, BytesMut};
use clap::Args;
use moql_model::{
    BroadcastProducer, GroupProducer, OriginProducer, Path, Subscription, TrackInfo, TrackProducer,
};
use moql_session::{Session, SessionConfig};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use self::report::{Report, human_interval, human_summary, write_json};
use super::{AbortOnDrop, interrupted, parse_path, refuse_unknown};
use crate::Global;
use crate::connect::Connector;
use crate::exit::Failure;
use crate::operands::split;
use crate::stats::{Meter, Percentiles, now_micros};

mod report;
mod subscribe;

/// The track every bench broadcast carries.
const TRACK: &str = "bench";
/// Bytes of the sender's timestamp at the start of each group's first frame.
const STAMP: usize = 8;
/// Handshakes in flight at once while connecting: enough to connect hundreds of sessions in
/// a few seconds without a burst of simultaneous handshakes skewing the first interval.
const CONNECT_PARALLEL: usize = 16;
/// After publishing stops, how long subscribers get to receive what is in flight.
const DRAIN: Duration = Duration::from_secs(2);

/// `moql bench <url>`.
#[derive(Args, Debug, Clone, Serialize)]
pub(crate) struct BenchArgs {
    /// Relay URL: `https://` (WebTransport), `moql://` or `moqt://` (raw QUIC), `http://` (dev).
    /// May be left out when `--url` or MOQL_URL gives it.
    #[arg(value_name = "URL")]
    url: Option<String>,
    /// Sessions to open.
    #[arg(long, default_value_t = 2, value_name = "N")]
    connections: usize,
    /// How many of the connections publish (the first ones); default: all.
    #[arg(long, value_name = "P")]
    publishers: Option<usize>,
    /// Broadcasts each publishing connection publishes (one track each).
    #[arg(long, default_value_t = 1, value_name = "B")]
    broadcasts: usize,
    /// Frames per second per broadcast.
    #[arg(long, default_value_t = 30.0, value_name = "FPS")]
    fps: f64,
    /// Bytes per frame (at least 8: the first frame of a group carries a timestamp).
    #[arg(long, default_value_t = 1200, value_name = "BYTES")]
    frame_size: usize,
    /// Frames per group.
    #[arg(long, default_value_t = 30, value_name = "G",
          value_parser = clap::value_parser!(u32).range(1..))]
    group_frames: u32,
    /// Broadcasts each connection subscribes to, among other connections' (a relay does not
    /// announce a session's own broadcasts back); fewer where fewer are published.
    #[arg(long, default_value_t = 1, value_name = "C")]
    subscribe: usize,
    /// Seconds to publish for.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    duration: f64,
    /// Seconds between interval reports.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    interval: f64,
    /// Append JSON lines (each interval and the summary) to this file.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Broadcast path prefix; default `bench/<random>`, so runs never collide.
    #[arg(long)]
    prefix: Option<String>,
    /// Seconds to wait for every subscription's broadcast to be announced before starting.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    setup_timeout: f64,
    /// Subscribe to the broadcasts of the first P connections of another `moql bench` run
    /// with the same `--prefix` and `--broadcasts` (to spread the subscribers of one load over
    /// several processes or machines). Needs `--publishers 0` and `--prefix`.
    #[arg(long, value_name = "P")]
    external_publishers: Option<usize>,
    /// Subscriber max latency in milliseconds (default: none). The previous generation of
    /// released clients subscribes with 0.
    #[arg(long, value_name = "MS")]
    max_latency: Option<u64>,
    /// Read as the previous generation of released clients does: a group that fails (is
    /// reset) or arrives after a newer one ends that whole subscription (counted as failed).
    #[arg(long)]
    strict: bool,
}

/// Counters every task of the run writes to.
#[derive(Debug, Default)]
struct Shared {
    sent: Meter,
    received: Meter,
    lost: AtomicU64,
    /// Latency samples (µs) since the last interval report.
    interval_latency: Mutex<Vec<u64>>,
    /// Every latency sample (µs) of the run.
    latency: Mutex<Vec<u64>>,
    /// Subscriptions made.
    subscribed: AtomicUsize,
    /// Subscriptions that ended with an error.
    failed: AtomicUsize,
}

impl Shared {
    fn record_latency(&self, micros: u64) {
        for samples in [&self.interval_latency, &self.latency] {
            samples
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(micros);
        }
    }

    fn take_interval_latency(&self) -> Vec<u64> {
        std::mem::take(
            &mut *self
                .interval_latency
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

/// One open session and what it publishes.
struct Connection {
    session: Session,
    tracks: Vec<TrackProducer>,
    /// Keeps the published origin (its announcements end when it drops), the broadcasts and
    /// their refusal tasks alive.
    _origin: OriginProducer,
    _broadcasts: Vec<BroadcastProducer>,
    _refusals: Vec<AbortOnDrop>,
    subscriptions: JoinSet<()>,
}

/// Runs `moql bench`.
///
/// # Errors
///
/// Invalid parameters, a connection that cannot be made (exit 3), a session that closes
/// during the run (exit 3, after the summary), or no group received at all.
pub(crate) async fn run(global: &Global, mut args: BenchArgs) -> anyhow::Result<()> {
    let (url, _) = split(
        global.connect.relay_url.as_deref(),
        [args.url.take()],
        &[],
        0,
    )?;
    args.url = Some(url.clone());
    let publishers = check(&args)?;
    let prefix = match &args.prefix {
        Some(prefix) => parse_path(prefix)?,
        None => Path::new(&format!("bench/{:x}", moql_session::random_origin_id()))?,
    };
    let shared = Arc::new(Shared::default());
    let connector = Connector::new(&global.connect, &url)?;

    let started = Instant::now();
    let mut connections = connect_all(&connector, &args, publishers, &prefix, &shared).await?;
    let wanted: usize = (0..args.connections)
        .map(|i| subscriptions(&args, i, publishers).len())
        .sum();
    let setup = Duration::from_secs_f64(args.setup_timeout);
    while shared.subscribed.load(Relaxed) < wanted && started.elapsed() < setup {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if !global.quiet {
        eprintln!(
            "bench: {} connections up, {}/{wanted} subscriptions in {:.2} s; publishing under {prefix} for {} s",
            connections.len(),
            shared.subscribed.load(Relaxed),
            started.elapsed().as_secs_f64(),
            args.duration
        );
    }

    let mut output = match &args.output {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?,
        ),
        None => None,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let mut publishing = JoinSet::new();
    for connection in &connections {
        if !connection.tracks.is_empty() {
            let tracks = connection.tracks.clone();
            publishing.spawn(publish(tracks, args.clone(), shared.clone(), stop.clone()));
        }
    }

    let begin = Instant::now();
    let stopped_early = measure(&args, &shared, begin, output.as_mut(), global.quiet).await?;
    let elapsed = begin.elapsed();
    stop.store(true, Relaxed);
    while publishing.join_next().await.is_some() {}

    // Let subscribers take what is in flight: their tracks end once they have everything.
    if !stopped_early {
        let drained = async {
            for connection in &mut connections {
                while connection.subscriptions.join_next().await.is_some() {}
            }
        };
        let _ = tokio::time::timeout(DRAIN, drained).await;
    }
    let closed = connections
        .iter()
        .filter(|c| c.session.close_reason().is_some())
        .count();

    let mut samples = std::mem::take(
        &mut *shared
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let totals = (shared.sent.snapshot(), shared.received.snapshot());
    let latency = Percentiles::of(&mut samples);
    let mut summary = Report::new("summary", elapsed, totals, elapsed, latency, &shared);
    summary.config = Some(&args);
    println!("{}", human_summary(&summary, &args, publishers));
    write_json(output.as_mut(), &summary)?;

    for connection in &connections {
        connection
            .session
            .close(moql_wire::ErrorCode::CANCEL, "bench done");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    if closed > 0 {
        return Err(Failure::Network(format!("{closed} sessions closed during the run")).into());
    }
    if wanted > 0 && summary.received.groups == 0 {
        bail!("no groups were received");
    }
    Ok(())
}

/// Reports every `--interval` until `--duration` has passed; returns true on Ctrl-C.
async fn measure(
    args: &BenchArgs,
    shared: &Shared,
    begin: Instant,
    mut output: Option<&mut std::fs::File>,
    quiet: bool,
) -> anyhow::Result<bool> {
    let run_for = Duration::from_secs_f64(args.duration);
    let interval = Duration::from_secs_f64(args.interval);
    let mut ticker = tokio::time::interval_at(begin + interval, interval);
    let mut last = (begin, shared.sent.snapshot(), shared.received.snapshot());
    loop {
        tokio::select! {
            at = ticker.tick() => {
                let (sent, received) = (shared.sent.snapshot(), shared.received.snapshot());
                let mut samples = shared.take_interval_latency();
                let report = Report::new(
                    "interval",
                    at.duration_since(begin),
                    (sent.since(last.1), received.since(last.2)),
                    at.duration_since(last.0),
                    Percentiles::of(&mut samples),
                    shared,
                );
                last = (at, sent, received);
                if !quiet {
                    eprintln!("{}", human_interval(&report));
                }
                write_json(output.as_deref_mut(), &report)?;
                if at.duration_since(begin) + interval / 2 >= run_for {
                    return Ok(false);
                }
            }
            () = interrupted() => return Ok(true),
        }
    }
}

/// Validates the parameters; returns the number of publishing connections.
///
/// # Errors
///
/// A value out of range, or `--subscribe` with no broadcast any connection could see.
fn check(args: &BenchArgs) -> anyhow::Result<usize> {
    let publishers = args.publishers.unwrap_or(args.connections);
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if publishers > args.connections {
        bail!("--publishers cannot exceed --connections");
    }
    if args.frame_size < STAMP {
        bail!("--frame-size must be at least {STAMP} (the timestamp)");
    }
    for (name, value) in [
        ("--fps", args.fps),
        ("--duration", args.duration),
        ("--interval", args.interval),
    ] {
        if !(value.is_finite() && value > 0.0 && value < 1e6) {
            bail!("{name} must be a positive number");
        }
    }
    if !(args.setup_timeout.is_finite() && args.setup_timeout >= 0.0) {
        bail!("--setup-timeout must not be negative");
    }
    if let Some(external) = args.external_publishers {
        if publishers != 0 || args.prefix.is_none() {
            bail!("--external-publishers needs --publishers 0 and the other run's --prefix");
        }
        if args.subscribe > 0 && external * args.broadcasts == 0 {
            bail!("--external-publishers 0 leaves nothing to subscribe to");
        }
        return Ok(publishers);
    }
    // Each connection subscribes to as many as it can see, up to --subscribe; the most any
    // sees is all published broadcasts (a subscriber-only connection) or all but its own.
    let seen_by_best = if publishers < args.connections {
        publishers
    } else {
        publishers - 1
    };
    let visible = seen_by_best * args.broadcasts;
    if args.subscribe > 0 && visible == 0 {
        bail!(
            "no connection can see another's broadcasts ({} connections, {publishers} \
             publishing): a relay does not announce a session's own broadcasts back",
            args.connections
        );
    }
    Ok(publishers)
}

/// The broadcasts (publisher, index) connection `i` of this run subscribes to: another run's
/// publishers with `--external-publishers`, else this run's own.
fn subscriptions(args: &BenchArgs, i: usize, publishers: usize) -> Vec<(usize, usize)> {
    match args.external_publishers {
        // No connection of this run publishes, so none has a broadcast of its own to skip:
        // index `i` past every publisher.
        Some(external) => targets(external + i, external, args.broadcasts, args.subscribe),
        None => targets(i, publishers, args.broadcasts, args.subscribe),
    }
}

/// The broadcasts (publisher, index) connection `i` subscribes to: round-robin from the
/// next publisher on, skipping its own.
fn targets(i: usize, publishers: usize, broadcasts: usize, count: usize) -> Vec<(usize, usize)> {
    if publishers == 0 {
        return Vec::new();
    }
    let start = if i < publishers {
        (i + 1) % publishers
    } else {
        i % publishers
    };
    let mut all: Vec<(usize, usize)> = (0..publishers)
        .filter(|&j| j != i)
        .flat_map(|j| (0..broadcasts).map(move |k| (j, k)))
        .collect();
    all.sort_by_key(|&(j, k)| ((j + publishers - start) % publishers, k));
    all.truncate(count);
    all
}

/// The path of broadcast `k` of connection `j`.
fn broadcast_path(prefix: &Path, j: usize, k: usize) -> anyhow::Result<Path> {
    Ok(prefix.join(&Path::new(&format!("{j}/{k}"))?)?)
}

/// Opens every connection, at most [`CONNECT_PARALLEL`] handshakes at a time.
async fn connect_all(
    connector: &Connector,
    args: &BenchArgs,
    publishers: usize,
    prefix: &Path,
    shared: &Arc<Shared>,
) -> anyhow::Result<Vec<Connection>> {
    let mut pending = JoinSet::new();
    let mut connections: Vec<Option<Connection>> = (0..args.connections).map(|_| None).collect();
    for i in 0..args.connections {
        if pending.len() >= CONNECT_PARALLEL
            && let Some(done) = pending.join_next().await
        {
            let (at, connection) = done.context("a connect task failed")??;
            connections[at] = Some(connection);
        }
        let (connector, args, prefix, shared) = (
            connector.fresh()?,
            args.clone(),
            prefix.clone(),
            shared.clone(),
        );
        pending.spawn(async move {
            let connection = connect(&connector, &args, i, publishers, &prefix, &shared)
                .await
                .with_context(|| format!("connection {i}"))?;
            Ok::<_, anyhow::Error>((i, connection))
        });
    }
    while let Some(done) = pending.join_next().await {
        let (at, connection) = done.context("a connect task failed")??;
        connections[at] = Some(connection);
    }
    Ok(connections.into_iter().flatten().collect())
}

/// Opens connection `i`: its broadcasts (if it publishes) and its subscriptions.
async fn connect(
    connector: &Connector,
    args: &BenchArgs,
    i: usize,
    publishers: usize,
    prefix: &Path,
    shared: &Arc<Shared>,
) -> anyhow::Result<Connection> {
    let origin = OriginProducer::new();
    let (mut tracks, mut broadcasts, mut refusals) = (Vec::new(), Vec::new(), Vec::new());
    if i < publishers {
        let info = TrackInfo {
            timescale: 1000,
            ..TrackInfo::DEFAULT
        };
        for k in 0..args.broadcasts {
            let broadcast = BroadcastProducer::new();
            let track = broadcast.create_track(TRACK, info)?;
            origin.publish(&broadcast_path(prefix, i, k)?, broadcast.consume())?;
            refusals.push(refuse_unknown(&broadcast));
            tracks.push(track);
            broadcasts.push(broadcast);
        }
    }
    let wanted = subscriptions(args, i, publishers)
        .into_iter()
        .map(|(j, k)| broadcast_path(prefix, j, k))
        .collect::<anyhow::Result<Vec<Path>>>()?;

    let mut config = SessionConfig::new();
    if !tracks.is_empty() {
        config = config.with_publish(origin.consume());
    }
    let received = OriginProducer::new();
    let watch = received.consume_prefix(prefix);
    if !wanted.is_empty() {
        config = config.with_subscribe(received.clone());
        config.announce_prefix = prefix.clone();
    }
    let session = connector.session(config).await?;
    let mut subscriptions = JoinSet::new();
    if !wanted.is_empty() {
        let reader = subscribe::Reader {
            subscription: Subscription {
                max_latency: args
                    .max_latency
                    .map_or(Duration::MAX, Duration::from_millis),
                ..Subscription::DEFAULT
            },
            strict: args.strict,
        };
        subscriptions.spawn(subscribe::subscribe_all(
            watch,
            received,
            wanted,
            reader,
            shared.clone(),
        ));
    }
    Ok(Connection {
        session,
        tracks,
        _origin: origin,
        _broadcasts: broadcasts,
        _refusals: refusals,
        subscriptions,
    })
}

/// Publishes to `tracks` until `stop`: one frame per track per tick, a new group every
/// `group_frames` frames; then finishes the groups and the tracks.
async fn publish(
    tracks: Vec<TrackProducer>,
    args: BenchArgs,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) {
    let filler = Bytes::from(vec![0u8; args.frame_size]);
    let mut groups: Vec<Option<GroupProducer>> = tracks.iter().map(|_| None).collect();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.fps));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let epoch = Instant::now();
    let mut index: u64 = 0;
    while !stop.load(Relaxed) {
        ticker.tick().await;
        let new_group = index.is_multiple_of(u64::from(args.group_frames));
        let timestamp = epoch.elapsed().as_millis() as u64;
        for (track, group) in tracks.iter().zip(groups.iter_mut()) {
            let payload = if new_group {
                if let Some(old) = group.take() {
                    let _ = old.finish();
                }
                match track.append_group() {
                    Ok(created) => {
                        shared.sent.group();
                        *group = Some(created);
                    }
                    Err(err) => {
                        tracing::warn!(%err, "cannot create a group");
                        continue;
                    }
                }
                let mut first = BytesMut::with_capacity(args.frame_size);
                first.put_u64(now_micros());
                first.put_bytes(0, args.frame_size - STAMP);
                first.freeze()
            } else {
                filler.clone()
            };
            if let Some(open) = group {
                let len = payload.len();
                if open.write(timestamp, payload).is_ok() {
                    shared.sent.frame(len);
                }
            }
        }
        index += 1;
    }
    for (track, group) in tracks.iter().zip(groups) {
        if let Some(group) = group {
            let _ = group.finish();
        }
        let _ = track.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_go_round_robin_and_skip_the_own_connection() {
        assert_eq!(targets(0, 3, 2, 3), [(1, 0), (1, 1), (2, 0)]);
        assert_eq!(targets(2, 3, 1, 2), [(0, 0), (1, 0)]);
        // Subscriber-only connections spread over the publishers.
        assert_eq!(targets(4, 2, 1, 1), [(0, 0)]);
        assert_eq!(targets(5, 2, 1, 1), [(1, 0)]);
        assert!(targets(0, 1, 1, 1).is_empty(), "nobody else publishes");
    }

    fn args(line: &[&str]) -> BenchArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let mut full = vec!["bench", "moql://127.0.0.1:1/"];
        full.extend_from_slice(line);
        <Cli as clap::Parser>::parse_from(full).bench
    }

    #[test]
    fn external_publishers_are_subscribed_without_skipping_a_connection() {
        let a = args(&[
            "--publishers",
            "0",
            "--prefix",
            "x",
            "--external-publishers",
            "1",
        ]);
        assert_eq!(check(&a).unwrap(), 0);
        // Connection 0 of this run is not publisher 0 of the other run.
        assert_eq!(subscriptions(&a, 0, 0), [(0, 0)]);
        assert_eq!(subscriptions(&a, 7, 0), [(0, 0)]);
        let no_prefix = args(&["--publishers", "0", "--external-publishers", "1"]);
        assert!(check(&no_prefix).is_err());
        let publishing = args(&["--prefix", "x", "--external-publishers", "1"]);
        assert!(check(&publishing).is_err());
    }
}
