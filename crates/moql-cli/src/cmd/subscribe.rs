//! `moql subscribe`: print a track's frames as they arrive, in group order, until the track
//! ends.
//!
//! Groups travel on separate streams, so they can arrive out of order, and a relay may skip
//! some (a live subscription never goes back below the first group it delivered). Frames
//! are printed one group at a time in sequence order ([`InOrder`]): a missing group is
//! fetched (FETCH) while later ones wait, and skipped if that fails or takes longer than
//! `--group-timeout-ms`; a group that stalls while a newer one waits is skipped after the
//! same time. Output never goes backwards.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use moql_model::{Error, Frame, GroupConsumer, Subscription, TrackConsumer};
use tokio::io::AsyncWrite;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{FrameOutput, OutputArgs, interrupted, parse_path};
use crate::Global;
use crate::connect::wait_broadcast;
use crate::link::subscriber;
use crate::operands::split;
use crate::stats::{Meter, spawn_progress};

/// `moql subscribe <url> <broadcast> <track>`.
#[derive(Args, Debug)]
pub(crate) struct SubscribeArgs {
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
    /// Start at this group (cached groups from it on are delivered first); default: the latest.
    #[arg(long, value_name = "N")]
    start_group: Option<u64>,
    /// Output format.
    #[command(flatten)]
    output: OutputArgs,
    /// Give up (exit 4) if the broadcast is not announced within this many milliseconds;
    /// default: wait as long as the session lives.
    #[arg(long, value_name = "MS")]
    wait_ms: Option<u64>,
    /// When a newer group is waiting, skip the current group after this long without a frame.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    group_timeout_ms: u64,
    /// Exit when the connection to the relay is lost, instead of reconnecting (with backoff)
    /// and following a relay's GOAWAY to another relay.
    #[arg(long)]
    no_reconnect: bool,
}

/// Runs `moql subscribe`.
///
/// # Errors
///
/// A connection failure, the broadcast not announced in time, or the track's error.
pub(crate) async fn run(global: &Global, args: SubscribeArgs) -> anyhow::Result<()> {
    let (url, operands) = split(
        global.connect.relay_url.as_deref(),
        [args.url, args.broadcast, args.track],
        &["BROADCAST", "TRACK"],
        2,
    )?;
    let [broadcast_name, track_name] = [&operands[0], &operands[1]];
    let path = parse_path(broadcast_name)?;
    let link = subscriber(&global.connect, &url, &path, !args.no_reconnect).await?;
    let received = link.origin().clone();

    let wait = args.wait_ms.map(Duration::from_millis);
    let broadcast = tokio::select! {
        found = wait_broadcast(link.closed(), &received, &path, wait) => found?,
        () = interrupted() => {
            link.close("interrupted").await;
            return Ok(());
        }
    };
    let subscription = Subscription {
        ordered: true,
        start: args.start_group,
        ..Subscription::DEFAULT
    };
    let track = broadcast
        .subscribe_track(track_name, subscription)
        .map_err(|err| {
            anyhow::Error::new(err).context(format!("subscribing to {path}/{track_name}"))
        })?;

    let meter = Arc::new(Meter::default());
    let _progress = spawn_progress("subscribe", meter.clone(), global.quiet);
    let output = FrameOutput::new(tokio::io::stdout(), args.output, broadcast_name, track_name);
    let stall = Duration::from_millis(args.group_timeout_ms);
    let reader = InOrder::new(track, args.start_group, stall);
    let result = tokio::select! {
        result = reader.print(output, &meter) => {
            result.map_err(|err| err.context(format!("reading {path}/{track_name}")))
        }
        () = interrupted() => Ok(()),
        err = link.closed() => Err(err.context(format!("subscribing to {path}/{track_name}"))),
    };
    link.close("subscriber done").await;
    result
}

/// Most groups of one gap fetched at once; an older part of a larger gap is skipped (a live
/// reader wants the recent past, and each fetch is a stream on the session).
const MAX_BACKFILL: u64 = 32;

/// How long a gap may last before its groups are fetched. A group whose stream is merely
/// overtaken by the next one lands within a few milliseconds on loopback and within about an
/// RTT elsewhere; fetching it at once would send it twice.
const FETCH_DELAY: Duration = Duration::from_millis(100);

/// Reads a live track one group at a time, in sequence order, filling gaps by FETCH.
///
/// A gap is a run of missing sequences below the first queued group, or, once the live
/// subscription has ended, below the track's end (SUBSCRIBE_END can overtake the last
/// groups' streams, and a live subscription never reports them after it ended).
pub(crate) struct InOrder {
    track: TrackConsumer,
    /// How long to wait for a missing group, or for a stalled one while newer ones wait.
    stall: Duration,
    /// The group being read.
    current: Option<GroupConsumer>,
    /// The index in `current` of its next frame.
    index: u64,
    /// Groups that arrived (or were fetched) ahead of their turn.
    pending: BTreeMap<u64, GroupConsumer>,
    /// The sequence to print next; `None` until the first group (without `--start-group`).
    next: Option<u64>,
    /// Sequences requested by FETCH, and those known to be unavailable.
    requested: BTreeSet<u64>,
    unavailable: BTreeSet<u64>,
    fetches: JoinSet<(u64, Result<GroupConsumer, Error>)>,
    /// The live subscription has no more groups.
    ended: bool,
    /// When the current group last made progress.
    since: Instant,
    /// When the current gap was noticed.
    gap_since: Option<Instant>,
}

impl InOrder {
    /// Reads `track` from group `start` (or from the first group that arrives), waiting at
    /// most `stall` for a missing or stalled group.
    pub(crate) fn new(track: TrackConsumer, start: Option<u64>, stall: Duration) -> Self {
        Self {
            track,
            stall,
            current: None,
            index: 0,
            pending: BTreeMap::new(),
            next: start,
            requested: BTreeSet::new(),
            unavailable: BTreeSet::new(),
            fetches: JoinSet::new(),
            ended: false,
            since: Instant::now(),
            gap_since: None,
        }
    }

    /// Writes every frame to `output` until the track ends (or stdout is closed).
    ///
    /// # Errors
    ///
    /// The track's error (not found, transport …), or a write error other than a closed pipe.
    async fn print<W: AsyncWrite + Unpin>(
        mut self,
        mut output: FrameOutput<W>,
        meter: &Meter,
    ) -> anyhow::Result<()> {
        while let Some(delivered) = self.next_frame(meter).await? {
            meter.frame(delivered.frame.len());
            let Delivered {
                group,
                index,
                frame,
            } = delivered;
            if let Err(closed) = output.write(group, index, &frame).await {
                return closed.into_result();
            }
        }
        Ok(())
    }

    /// The next frame in group order, with its place; `None` once the track ended and every
    /// group was read or given up on.
    ///
    /// # Errors
    ///
    /// The track's error.
    pub(crate) async fn next_frame(&mut self, meter: &Meter) -> anyhow::Result<Option<Delivered>> {
        loop {
            if self.current.is_none() {
                self.advance(meter);
            }
            let gap = self.gap();
            if self.current.is_none() && gap.is_none() && self.ended && self.pending.is_empty() {
                return Ok(None);
            }
            // What the timer is for: fetching a gap, giving up on it, or on a stalled group.
            let now = Instant::now();
            let (deadline, give_up) = match gap {
                Some((next, upper)) => {
                    let noticed = *self.gap_since.get_or_insert(now);
                    let fetch_at = noticed + FETCH_DELAY.min(self.stall);
                    if self.ended || now >= fetch_at {
                        self.request(next, upper);
                        (Some(noticed + self.stall), true)
                    } else {
                        (Some(fetch_at), false)
                    }
                }
                None if self.current.is_some() && !self.pending.is_empty() => {
                    (Some(self.since + self.stall), true)
                }
                None => (None, false),
            };
            tokio::select! {
                // Take in every group that has arrived before reading on, so an older group
                // that arrived just after a newer one is still printed first.
                biased;
                group = self.track.next_group(), if !self.ended => match group? {
                    Some(group) => self.admit(group),
                    None => self.ended = true,
                },
                Some(fetched) = self.fetches.join_next(), if !self.fetches.is_empty() => {
                    match fetched {
                        Ok((_, Ok(group))) => self.admit(group),
                        Ok((sequence, Err(err))) => {
                            tracing::debug!(sequence, %err, "a missing group cannot be fetched");
                            self.unavailable.insert(sequence);
                        }
                        Err(err) => tracing::warn!(%err, "a fetch task failed"),
                    }
                }
                frame = next_in(&mut self.current) => match frame {
                    Ok(Some(frame)) => {
                        self.since = Instant::now();
                        let group = self.current.as_ref().map_or(0, GroupConsumer::sequence);
                        let index = self.index;
                        self.index += 1;
                        return Ok(Some(Delivered { group, index, frame }));
                    }
                    Ok(None) => self.pass(),
                    Err(err) => {
                        tracing::warn!(%err, "group ended early");
                        self.pass();
                    }
                },
                () = sleep_until(deadline), if deadline.is_some() => {
                    if give_up {
                        match gap {
                            Some((next, upper)) => {
                                tracing::warn!(next, upper, "skipping groups that did not arrive in time");
                                self.jump(upper);
                            }
                            None => {
                                tracing::warn!("skipping a stalled group: a newer one is waiting");
                                self.pass();
                            }
                        }
                    }
                }
            }
        }
    }

    /// With no group being read: starts the next one if it is here, passing over sequences
    /// known to be unavailable.
    fn advance(&mut self, meter: &Meter) {
        if self.next.is_none() {
            self.next = self.pending.first_key_value().map(|(&first, _)| first);
        }
        let Some(mut next) = self.next else {
            return;
        };
        while !self.pending.contains_key(&next) && self.unavailable.remove(&next) {
            tracing::warn!(sequence = next, "skipping a group that cannot be fetched");
            next += 1;
        }
        self.jump(next);
        if let Some(group) = self.pending.remove(&next) {
            meter.group();
            self.since = Instant::now();
            self.index = 0;
            self.current = Some(group);
        }
    }

    /// The missing sequences `[next, upper)` we are waiting for, if any: below the first
    /// queued group, or below the track's end once the live subscription ended.
    fn gap(&self) -> Option<(u64, u64)> {
        if self.current.is_some() {
            return None;
        }
        let next = self.next?;
        let upper = match self.pending.first_key_value() {
            Some((&first, _)) => first,
            None if self.ended => self.track.end()?,
            None => return None,
        };
        (next < upper).then_some((next, upper))
    }

    /// Fetches the gap `[next, upper)`: its newest [`MAX_BACKFILL`] sequences not requested
    /// yet (older ones are skipped).
    fn request(&mut self, next: u64, upper: u64) {
        let from = next.max(upper.saturating_sub(MAX_BACKFILL));
        self.jump(from);
        for sequence in from..upper {
            if !self.requested.insert(sequence) {
                continue;
            }
            match self.track.fetch(sequence, None) {
                Ok(pending) => {
                    self.fetches.spawn(async move { (sequence, pending.await) });
                }
                Err(_) => {
                    self.unavailable.insert(sequence);
                }
            }
        }
    }

    /// Moves the next sequence forward to `to` (a new gap, if any, starts its clock).
    fn jump(&mut self, to: u64) {
        if self.next.is_none_or(|next| next < to) {
            self.next = Some(to);
            self.gap_since = None;
        }
    }

    /// Queues a group that arrived live or by fetch, unless its turn has passed.
    fn admit(&mut self, group: GroupConsumer) {
        let sequence = group.sequence();
        tracing::debug!(sequence, "group arrived");
        let current = self.current.as_ref().map(GroupConsumer::sequence);
        if self.next.is_some_and(|next| sequence < next) || current == Some(sequence) {
            tracing::debug!(sequence, "dropping a group whose turn has passed");
            return;
        }
        self.pending.entry(sequence).or_insert(group);
    }

    /// Done with the current group (read to its end, failed or skipped).
    fn pass(&mut self) {
        if let Some(group) = self.current.take() {
            self.jump(group.sequence() + 1);
            self.since = Instant::now();
        }
    }
}

/// A frame and its place in the track.
#[derive(Debug)]
pub(crate) struct Delivered {
    /// The group's sequence number.
    pub(crate) group: u64,
    /// The frame's index in its group, from 0.
    pub(crate) index: u64,
    /// The frame.
    pub(crate) frame: Frame,
}

/// Sleeps until `deadline`; never resolves without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next frame of `current`; never resolves when there is none.
async fn next_in(current: &mut Option<GroupConsumer>) -> Result<Option<Frame>, Error> {
    match current {
        Some(group) => group.next_frame().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use moql_model::{TrackInfo, TrackProducer};

    use super::*;

    fn payloads(frames: &[Delivered]) -> Vec<&[u8]> {
        frames.iter().map(|f| &f.frame.payload[..]).collect()
    }

    async fn read_all(reader: &mut InOrder) -> Vec<Delivered> {
        let meter = Meter::default();
        let mut frames = Vec::new();
        while let Some(frame) = reader.next_frame(&meter).await.unwrap() {
            frames.push(frame);
        }
        frames
    }

    fn write_groups(track: &TrackProducer, groups: &[(u64, &'static str)]) {
        for &(sequence, payload) in groups {
            let group = track.create_group(sequence).unwrap();
            group.write(0, payload).unwrap();
            group.finish().unwrap();
        }
    }

    fn from(start: u64) -> Subscription {
        Subscription {
            start: Some(start),
            ..Subscription::DEFAULT
        }
    }

    #[tokio::test]
    async fn groups_arriving_out_of_order_print_in_order() {
        let track = TrackProducer::new("t", TrackInfo::DEFAULT).unwrap();
        let mut reader = InOrder::new(track.subscribe(from(0)), Some(0), Duration::from_secs(5));
        write_groups(&track, &[(0, "a"), (2, "c"), (1, "b")]);
        let two = track.create_group(3).unwrap();
        two.write(0, "d0").unwrap();
        two.write(1, "d1").unwrap();
        two.finish().unwrap();
        track.finish().unwrap();
        let frames = read_all(&mut reader).await;
        assert_eq!(payloads(&frames), [&b"a"[..], b"b", b"c", b"d0", b"d1"]);
        let places: Vec<(u64, u64)> = frames.iter().map(|f| (f.group, f.index)).collect();
        assert_eq!(places, [(0, 0), (1, 0), (2, 0), (3, 0), (3, 1)]);
    }

    #[tokio::test]
    async fn a_group_the_subscription_skipped_is_fetched() {
        let track = TrackProducer::new("t", TrackInfo::DEFAULT).unwrap();
        let mut reader = InOrder::new(track.subscribe(from(0)), Some(0), Duration::from_secs(5));
        // The live subscription delivers 1 first and so never delivers 0.
        write_groups(&track, &[(1, "b"), (0, "a"), (2, "c")]);
        track.finish().unwrap();
        assert_eq!(payloads(&read_all(&mut reader).await), [b"a", b"b", b"c"]);
    }

    #[tokio::test]
    async fn groups_still_in_flight_when_the_track_ends_are_fetched() {
        let track = TrackProducer::new("t", TrackInfo::DEFAULT).unwrap();
        // As a session's remote track: misses go to the peer instead of failing at once.
        track.accept_fetches();
        let mut reader = InOrder::new(track.subscribe(from(0)), Some(0), Duration::from_secs(5));
        write_groups(&track, &[(0, "a")]);
        track.finish_at(3).unwrap();
        let late = tokio::spawn(async move {
            // After the reader saw the end: the live subscription no longer reports these.
            tokio::time::sleep(Duration::from_millis(50)).await;
            write_groups(&track, &[(2, "c"), (1, "b")]);
            track
        });
        assert_eq!(payloads(&read_all(&mut reader).await), [b"a", b"b", b"c"]);
        drop(late.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_nobody_fills_is_skipped_after_the_timeout() {
        let track = TrackProducer::new("t", TrackInfo::DEFAULT).unwrap();
        track.accept_fetches();
        let mut reader = InOrder::new(track.subscribe(from(0)), None, Duration::from_secs(1));
        write_groups(&track, &[(0, "a"), (2, "c")]);
        track.finish_at(3).unwrap();
        assert_eq!(payloads(&read_all(&mut reader).await), [b"a", b"c"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_group_is_skipped_once_a_newer_one_waits() {
        let track = TrackProducer::new("t", TrackInfo::DEFAULT).unwrap();
        let mut reader = InOrder::new(
            track.subscribe(Subscription::DEFAULT),
            None,
            Duration::from_secs(1),
        );
        let stalled = track.append_group().unwrap();
        stalled.write(0, "a").unwrap();
        write_groups(&track, &[(1, "b")]);
        track.finish().unwrap();
        assert_eq!(payloads(&read_all(&mut reader).await), [b"a", b"b"]);
        drop(stalled);
    }
}
