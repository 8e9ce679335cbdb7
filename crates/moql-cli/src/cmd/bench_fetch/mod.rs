//! `moql bench-fetch`: FETCH latency and throughput through any moq-lite relay.
//!
//! Publishes one broadcast whose track `bench` holds `--groups` finished groups of `--frames`
//! frames of `--frame-size` bytes, and keeps it live (a one-frame group every 100 ms, as a
//! stream's live edge would, so relays run their cache upkeep). Every past group is fetched
//! once through the relay, so it holds them; then, after `--settle` seconds, `--concurrency`
//! workers fetch past groups one after another for `--duration` seconds: a random one each
//! time, or each group exactly once in order with `--once` (the disk-tier measurement: every
//! fetch is a first read after the settle).
//!
//! `--mode wire` speaks FETCH by hand on bidirectional streams, one connection per worker,
//! rather than through a local session, whose model would answer repeated fetches from its own
//! cache and measure nothing of the relay. `--mode http` sends `GET /fetch/<broadcast>/bench?
//! group=N` on one keep-alive HTTP/1.1 connection per worker (plain HTTP on the relay's TCP
//! port, which both this stack's relay and the released reference serve).
//!
//! Each fetch is timed from the request to the group's last byte and must carry exactly the
//! published payload bytes (else it counts as an error). Reported on stdout (and as one JSON
//! line with `--output`): fetches per second and latency p50/p90/p99/max.

mod http;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use moql_model::{BroadcastProducer, OriginProducer, Path, TrackInfo, TrackProducer};
use moql_session::SessionConfig;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{AbortOnDrop, refuse_unknown};
use crate::Global;
use crate::connect::Connector;
use crate::exit::Failure;
use crate::operands::split;
use crate::stats::Percentiles;

/// The track every bench-fetch broadcast carries.
const TRACK: &str = "bench";
/// How often the publisher appends a live-edge group.
const LIVE_EDGE: Duration = Duration::from_millis(100);
/// Bound on one fetch: a relay that takes longer is failing, not slow.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// How the workers fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// moq-lite FETCH streams (lite-05 or later).
    Wire,
    /// HTTP `GET /fetch/…` on the relay's TCP port.
    Http,
}

/// `moql bench-fetch <url>`.
#[derive(Args, Debug, Clone, Serialize)]
pub(crate) struct BenchFetchArgs {
    /// Relay URL: `moql://` / `moqt://` (raw QUIC) or `https://` (WebTransport). May be left
    /// out when `--url` or MOQL_URL gives it.
    #[arg(value_name = "URL")]
    url: Option<String>,
    /// How to fetch.
    #[arg(long, value_enum, default_value_t = Mode::Wire)]
    mode: Mode,
    /// Base URL of the relay's HTTP port for `--mode http`; default `http://<host>:<port>`
    /// of the relay URL.
    #[arg(long, value_name = "URL")]
    http_url: Option<String>,
    /// Past groups published (and fetched).
    #[arg(long, default_value_t = 32, value_name = "G",
          value_parser = clap::value_parser!(u64).range(1..))]
    groups: u64,
    /// Frames per group.
    #[arg(long, default_value_t = 4, value_name = "F",
          value_parser = clap::value_parser!(u32).range(1..))]
    frames: u32,
    /// Bytes per frame.
    #[arg(long, default_value_t = 1200, value_name = "BYTES")]
    frame_size: usize,
    /// Workers fetching at once.
    #[arg(long, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Seconds of measured fetching (ignored with `--once`).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    duration: f64,
    /// Seconds to wait after the warm-up before measuring (let groups leave a memory cache).
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    settle: f64,
    /// Fetch each past group exactly once, in order, instead of random ones for `--duration`.
    #[arg(long)]
    once: bool,
    /// Publisher max latency in milliseconds (how long the publisher itself keeps groups).
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    max_latency: u64,
    /// Append the summary as one JSON line to this file.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Retries of the first warm-up fetch, 100 ms apart, while the relay learns the broadcast.
const WARM_UP_RETRIES: u32 = 20;

/// What every worker needs to fetch and check a group.
#[derive(Clone, Debug)]
struct Target {
    broadcast: Path,
    /// Payload bytes of each past group.
    group_bytes: usize,
}

/// The measured outcome.
#[derive(Debug, Serialize)]
struct Summary {
    summary: bool,
    mode: Mode,
    once: bool,
    concurrency: u32,
    fetches: usize,
    errors: usize,
    seconds: f64,
    per_second: f64,
    latency_ms: Percentiles,
    warmup_ms: f64,
}

/// Runs `moql bench-fetch`.
///
/// # Errors
///
/// Bad parameters, a relay that cannot be reached (exit 3), or a warm-up fetch that fails
/// (exit 4 if the relay answered not-found).
pub(crate) async fn run(global: &Global, mut args: BenchFetchArgs) -> anyhow::Result<()> {
    let (url, _) = split(
        global.connect.relay_url.as_deref(),
        [args.url.take()],
        &[],
        0,
    )?;
    args.url = Some(url.clone());
    ensure!(
        args.duration.is_finite() && args.duration > 0.0,
        "--duration must be positive"
    );
    ensure!(
        args.settle.is_finite() && args.settle >= 0.0,
        "--settle must be zero or more"
    );
    let connector = Connector::new(&global.connect, &url)?;
    let broadcast = Path::new(&format!(
        "bench-fetch/{:x}",
        moql_session::random_origin_id()
    ))?;
    let publisher = Publisher::start(&connector, &args, &broadcast).await?;
    let target = Target {
        broadcast,
        group_bytes: args.frames as usize * args.frame_size,
    };
    let fetcher = Fetcher::new(&connector, &args)?;

    // Warm-up: one fetch of every past group, so the relay holds them all.
    let started = Instant::now();
    let mut warm = fetcher.connect().await?;
    for sequence in 0..args.groups {
        // The first fetch may reach the relay before the announcement does: ours waits for
        // it, the reference resets the FETCH at once. Retried for up to 2 s.
        let mut attempt = 0;
        let fetched = loop {
            match warm.fetch(&target, sequence).await {
                Err(_) if sequence == 0 && attempt < WARM_UP_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => break other,
            }
        };
        let bytes =
            fetched.with_context(|| format!("warm-up fetch of group {sequence} through {url}"))?;
        if bytes != target.group_bytes {
            bail!(Failure::NotFound(format!(
                "group {sequence}: {bytes} payload bytes, published {}",
                target.group_bytes
            )));
        }
    }
    drop(warm);
    let warmup = started.elapsed();
    if !global.quiet {
        eprintln!(
            "bench-fetch: {} groups of {} B published and fetched once in {:.0} ms",
            args.groups,
            target.group_bytes,
            warmup.as_secs_f64() * 1000.0
        );
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;

    let (mut samples, errors, seconds) = measure(&fetcher, &target, &args).await?;
    drop(publisher);
    let latency = Percentiles::of(&mut samples);
    let summary = Summary {
        summary: true,
        mode: args.mode,
        once: args.once,
        concurrency: args.concurrency,
        fetches: latency.samples,
        errors,
        seconds,
        per_second: latency.samples as f64 / seconds,
        latency_ms: latency,
        warmup_ms: warmup.as_secs_f64() * 1000.0,
    };
    println!(
        "bench-fetch {:?}: {} fetches in {:.2} s ({:.0}/s), {} errors; {}",
        args.mode, summary.fetches, seconds, summary.per_second, errors, latency
    );
    if let Some(path) = &args.output {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{}", serde_json::to_string(&summary)?)?;
    }
    ensure!(
        summary.fetches > 0,
        Failure::NotFound("no fetch succeeded".into())
    );
    Ok(())
}

/// Runs the workers; returns the latency samples (µs), the error count and the seconds taken.
async fn measure(
    fetcher: &Fetcher,
    target: &Target,
    args: &BenchFetchArgs,
) -> anyhow::Result<(Vec<u64>, usize, f64)> {
    let mut connections = Vec::new();
    for _ in 0..args.concurrency {
        connections.push(fetcher.connect().await?);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for (i, mut connection) in connections.into_iter().enumerate() {
        let (target, next, once, groups) = (target.clone(), next.clone(), args.once, args.groups);
        workers.spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
            let (mut samples, mut errors) = (Vec::new(), 0usize);
            loop {
                let sequence = if once {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= groups {
                        break;
                    }
                    n
                } else {
                    if Instant::now() >= deadline {
                        break;
                    }
                    rng.next() % groups
                };
                let begun = Instant::now();
                match connection.fetch(&target, sequence).await {
                    Ok(bytes) if bytes == target.group_bytes => {
                        samples.push(begun.elapsed().as_micros() as u64);
                    }
                    Ok(bytes) => {
                        tracing::warn!(sequence, bytes, "a fetch returned the wrong size");
                        errors += 1;
                    }
                    Err(err) => {
                        tracing::warn!(sequence, "fetch failed: {err:#}");
                        errors += 1;
                        if errors > 100 {
                            break;
                        }
                    }
                }
            }
            (samples, errors)
        });
    }
    let (mut samples, mut errors) = (Vec::new(), 0);
    while let Some(done) = workers.join_next().await {
        let (s, e) = done.context("a fetch worker failed")?;
        samples.extend(s);
        errors += e;
    }
    Ok((samples, errors, started.elapsed().as_secs_f64()))
}

/// A small xorshift generator: which group to fetch next (no statistical demands).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The session publishing the bench broadcast; dropping it ends the live edge and the session.
struct Publisher {
    _session: moql_session::Session,
    _origin: OriginProducer,
    _broadcast: BroadcastProducer,
    _refusal: AbortOnDrop,
    _live: AbortOnDrop,
}

impl Publisher {
    async fn start(
        connector: &Connector,
        args: &BenchFetchArgs,
        path: &Path,
    ) -> anyhow::Result<Self> {
        let origin = OriginProducer::new();
        let broadcast = BroadcastProducer::new();
        let info = TrackInfo {
            max_latency: Duration::from_millis(args.max_latency),
            ..TrackInfo::DEFAULT
        };
        let track = broadcast.create_track(TRACK, info)?;
        let payload = Bytes::from(vec![0x5a; args.frame_size]);
        for _ in 0..args.groups {
            let group = track.append_group()?;
            for _ in 0..args.frames {
                group.write(0, payload.clone())?;
            }
            group.finish()?;
        }
        origin.publish(path, broadcast.consume())?;
        let refusal = refuse_unknown(&broadcast);
        let session = connector
            .session(SessionConfig::new().with_publish(origin.consume()))
            .await?;
        let live = AbortOnDrop(tokio::spawn(live_edge(track)));
        Ok(Self {
            _session: session,
            _origin: origin,
            _broadcast: broadcast,
            _refusal: refusal,
            _live: live,
        })
    }
}

/// Appends a one-frame group every [`LIVE_EDGE`] for as long as the bench runs.
async fn live_edge(track: TrackProducer) {
    let mut tick = tokio::time::interval(LIVE_EDGE);
    loop {
        tick.tick().await;
        let Ok(group) = track.append_group() else {
            return;
        };
        let _ = group.write(0, Bytes::from_static(b"live"));
        let _ = group.finish();
    }
}

/// Opens worker connections of the chosen mode.
enum Fetcher {
    Wire(Connector),
    Http(http::Endpoint),
}

impl Fetcher {
    fn new(connector: &Connector, args: &BenchFetchArgs) -> anyhow::Result<Self> {
        Ok(match args.mode {
            Mode::Wire => Self::Wire(connector.clone()),
            Mode::Http => Self::Http(http::Endpoint::new(
                args.http_url
                    .as_deref()
                    .or(args.url.as_deref())
                    .unwrap_or_default(),
            )?),
        })
    }

    async fn connect(&self) -> anyhow::Result<Connection> {
        Ok(match self {
            Self::Wire(connector) => Connection::Wire(wire::Fetcher::connect(connector).await?),
            Self::Http(endpoint) => Connection::Http(endpoint.connect().await?),
        })
    }
}

/// One worker's connection.
enum Connection {
    Wire(wire::Fetcher),
    Http(http::Fetcher),
}

impl Connection {
    /// Fetches group `sequence` and returns its payload bytes.
    async fn fetch(&mut self, target: &Target, sequence: u64) -> anyhow::Result<usize> {
        let fetched = async {
            match self {
                Self::Wire(wire) => wire.fetch(&target.broadcast, TRACK, sequence).await,
                Self::Http(http) => http.fetch(&target.broadcast, TRACK, sequence).await,
            }
        };
        tokio::time::timeout(FETCH_TIMEOUT, fetched)
            .await
            .map_err(|_| Failure::Network(format!("fetch of group {sequence} timed out")))?
    }
}
