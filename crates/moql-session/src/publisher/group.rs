//! Serving one group of a subscription (spec 4.8): a unidirectional stream with GROUP and the
//! frames, or a single datagram for a small one-frame group (spec 4.9).

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use moql_model::{Error, GroupConsumer, GroupStatus, Subscription, TrackConsumer};
use moql_wire::{Datagram, Encode, ErrorCode, Group, UniStream};
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, Sleep};

use crate::context::Context;
use crate::error::{StreamError, from_transport};
use crate::io::{FrameWriter, Writer};
use crate::proto::expiry::{Phase, Verdict, verdict};
use crate::proto::priority::group_priority;

/// A group's place in its subscription's stream-open order: streams are opened in the order
/// the groups were dispatched, so the peer never sees group N+1's stream ahead of group N's
/// (stream IDs in order). The previous generation of released clients ends a subscription
/// when a group arrives after a newer one, and each group is served by its own task, which
/// the runtime may run in any order.
pub(crate) struct Turn {
    /// Resolves (or fails, if that group gave up) once the previous group's stream is open.
    pub(crate) after: Option<oneshot::Receiver<()>>,
    /// Signalled once this group's stream is open; dropped if it never opens one.
    pub(crate) opened: oneshot::Sender<()>,
}

/// What every group of one subscription shares.
#[derive(Clone)]
pub(crate) struct GroupOptions {
    pub(crate) subscribe_id: u64,
    pub(crate) publisher_priority: u8,
    pub(crate) datagram_max: Option<usize>,
    pub(crate) frames: FrameBounds,
}

/// lite-06 frame bounds of a subscription (moq-lite-06.md 6.9): only its first group may
/// start mid-group and only its last may end early; groups between are whole. Taken from
/// the SUBSCRIBE; an update's frame bounds are not applied (the reference's own subscriber
/// never sends them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FrameBounds {
    /// The Group Start group and its first frame.
    start: Option<(u64, u64)>,
    /// The Group End group and its last frame (inclusive).
    end: Option<(u64, u64)>,
}

impl FrameBounds {
    pub(crate) fn of(request: &moql_wire::Subscribe) -> Self {
        Self {
            start: request
                .start
                .filter(|_| request.frame_start > 0)
                .map(|group| (group, request.frame_start)),
            end: request.end.zip(request.frame_end),
        }
    }

    /// The first frame to send of group `sequence` and the last (inclusive), if bounded.
    pub(crate) fn of_group(&self, sequence: u64) -> (u64, Option<u64>) {
        let first = match self.start {
            Some((group, frame)) if group == sequence => frame,
            _ => 0,
        };
        let last = match self.end {
            Some((group, frame)) if group == sequence => Some(frame),
            _ => None,
        };
        (first, last)
    }
}

/// How often an in-flight group that is not the latest checks whether it fell out of the
/// subscriber's max latency; a fraction of the latency, bounded so idle groups cost little.
fn expiry_check(max_latency: Duration) -> Duration {
    (max_latency / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Serves one group until it is delivered, fails, goes stale (see [`crate::proto::expiry`]:
/// skipped, finished early, or reset with Old only while behind), or `lagged` fires (the
/// subscription is over its buffer limit and chose this group to drop): then the stream, if
/// opened, is reset with 26 (Lagged).
pub(crate) async fn serve<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    group: GroupConsumer,
    options: &GroupOptions,
    track: TrackConsumer,
    current: watch::Receiver<Subscription>,
    turn: Turn,
    lagged: oneshot::Receiver<()>,
) -> Result<(), StreamError> {
    let mut stream = None;
    let delivered = tokio::select! {
        result = deliver(ctx, group, options, track, current, turn, &mut stream) => Some(result),
        Ok(()) = lagged => None,
    };
    match delivered {
        Some(result) => result,
        None => {
            if let Some(writer) = stream.as_mut() {
                writer.reset(ErrorCode::LAGGED);
            }
            Err(Error::Lagged.into())
        }
    }
}

async fn deliver<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    mut group: GroupConsumer,
    options: &GroupOptions,
    track: TrackConsumer,
    mut current: watch::Receiver<Subscription>,
    turn: Turn,
    stream: &mut Option<Writer<T::SendStream>>,
) -> Result<(), StreamError> {
    let version = ctx.version;
    let sequence = group.sequence();
    if let Some(after) = turn.after {
        // Ok: the previous group's stream is open; Err: it will never open one.
        let _ = after.await;
    }
    let mut max_latency = current.borrow().max_latency;
    let stale = |max_latency| is_stale(&track, sequence, max_latency);

    if verdict(Phase::Unopened, stale(max_latency)) == Verdict::Skip {
        tracing::trace!(sequence, "stale before its stream opened: skipped");
        return Ok(());
    }
    tracing::trace!(sequence, max = ?options.datagram_max, "serving group");
    if try_datagram(ctx, &group, options)? {
        return Ok(());
    }

    let opened = ctx.transport.open_uni().await.map_err(from_transport)?;
    let _ = turn.opened.send(());
    let writer = stream.insert(Writer::new(opened));
    let sub = *current.borrow();
    writer.set_priority(group_priority(
        sub.priority,
        options.publisher_priority,
        sub.ordered,
        sequence,
    ));

    // The GROUP header goes out with the first frame (or the FIN).
    let bounds = options.frames.of_group(sequence);
    let mut frames = FrameWriter::new(version, bounds).metered(ctx.config.meter.clone());
    UniStream::Group.encode(frames.header(), version)?;
    Group {
        subscribe_id: options.subscribe_id,
        sequence,
        frame_start: bounds.0,
    }
    .encode(frames.header(), version)?;

    let mut updates_open = true;
    // Whether the last expiry check found the group stale with nothing new since (the grace
    // of `proto::expiry`).
    let mut stale_before = false;
    // One timer for the group's life, re-armed after each check, rather than one per frame.
    let expiry = tokio::time::sleep(expiry_check(max_latency));
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            frame = group.next_frame() => match frame {
                Ok(Some(frame)) => {
                    stale_before = false;
                    for chunk in frames.frame(&frame)? {
                        write_unless_behind(writer, chunk, expiry.as_mut(), max_latency, &stale).await?;
                    }
                    if frames.is_done() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    writer.reset(err.code());
                    return Err(err.into());
                }
            },
            // Once the subscription's sender is gone `changed` is ready forever: stop polling
            // it, or the loop would spin until the group ends.
            changed = current.changed(), if updates_open => {
                if changed.is_err() {
                    updates_open = false;
                } else {
                    let sub = *current.borrow();
                    writer.set_priority(group_priority(sub.priority, options.publisher_priority, sub.ordered, sequence));
                    if sub.max_latency != max_latency {
                        max_latency = sub.max_latency;
                        expiry.as_mut().reset(Instant::now() + expiry_check(max_latency));
                    }
                }
            }
            // Caught up with the producer: a stale group ends cleanly (moq-lite-06.md 10.5).
            () = &mut expiry, if max_latency != Duration::MAX => {
                let now_stale = stale(max_latency);
                if verdict(Phase::CaughtUp { stale_before }, now_stale) == Verdict::Finish {
                    tracing::trace!(sequence, "stale and caught up: finished early");
                    if let Some(rest) = frames.rest() {
                        writer.write(rest).await?;
                    }
                    writer.finish()?;
                    return Ok(());
                }
                stale_before = now_stale;
                expiry.as_mut().reset(Instant::now() + expiry_check(max_latency));
            }
        }
    }
    // The group ended (or reached the subscription's last frame): FIN.
    if let Some(rest) = frames.rest() {
        write_unless_behind(writer, rest, expiry.as_mut(), max_latency, &stale).await?;
    }
    writer.finish()?;
    // Hold the stream until the peer has it all (or resets), so the subscription's buffer
    // accounting sees it in flight.
    loop {
        tokio::select! {
            _ = writer.closed() => return Ok(()),
            () = &mut expiry, if max_latency != Duration::MAX => {
                if verdict(Phase::Finishing, stale(max_latency)) == Verdict::Release {
                    return Ok(());
                }
                expiry.as_mut().reset(Instant::now() + expiry_check(max_latency));
            }
        }
    }
}

/// True once group `sequence` is past a subscriber's `max_latency` (never for `MAX`).
fn is_stale(track: &TrackConsumer, sequence: u64, max_latency: Duration) -> bool {
    max_latency != Duration::MAX && !track.is_live_for(sequence, max_latency)
}

/// Writes `chunk`. While the write waits for flow-control credit (the receiver is behind),
/// each expiry tick checks the group: once stale, the stream is reset with Old instead
/// (moq-lite-06.md 10.5). A write that completes is never undone.
async fn write_unless_behind<S: web_transport_trait::SendStream>(
    writer: &mut Writer<S>,
    chunk: Bytes,
    mut expiry: Pin<&mut Sleep>,
    max_latency: Duration,
    stale: &impl Fn(Duration) -> bool,
) -> Result<(), StreamError> {
    if max_latency == Duration::MAX {
        return writer.write(chunk).await;
    }
    {
        let write = writer.write(chunk);
        tokio::pin!(write);
        loop {
            tokio::select! {
                result = &mut write => return result,
                () = expiry.as_mut() => {
                    if verdict(Phase::Blocked, stale(max_latency)) == Verdict::Reset {
                        break;
                    }
                    expiry.as_mut().reset(Instant::now() + expiry_check(max_latency));
                }
            }
        }
    }
    tracing::trace!("stale while blocked on flow control: reset");
    writer.reset(ErrorCode::OLD);
    Err(Error::Old.into())
}

/// Sends a finished one-frame group as a datagram when configured and it fits. Returns true if
/// it was sent.
fn try_datagram<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    group: &GroupConsumer,
    options: &GroupOptions,
) -> Result<bool, StreamError> {
    let Some(max) = options.datagram_max else {
        return Ok(false);
    };
    if !ctx.version.has_datagrams() || group.status() != GroupStatus::Finished {
        tracing::trace!(status = ?group.status(), "group not eligible for a datagram");
        return Ok(false);
    }
    let frames = group.frames();
    let [frame] = frames.as_slice() else {
        return Ok(false);
    };
    let datagram = Datagram {
        subscribe_id: options.subscribe_id,
        sequence: group.sequence(),
        timestamp: frame.timestamp,
        payload: frame.payload.clone(),
    };
    // Spec 4.9: only if the body fits the transport's current limit; 1200 is the
    // interoperable ceiling.
    let limit = max
        .min(ctx.transport.max_datagram_size())
        .min(moql_wire::limits::MAX_DATAGRAM_SIZE);
    if datagram.encoded_len(ctx.version) > limit {
        tracing::trace!(
            size = datagram.encoded_len(ctx.version),
            limit,
            "group too large for a datagram"
        );
        return Ok(false);
    }
    let bytes = datagram.encode_to_bytes(ctx.version)?;
    ctx.transport.send_datagram(bytes).map_err(from_transport)?;
    ctx.datagrams_sent
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Some(meter) = &ctx.config.meter {
        meter.payload_sent(frame.payload.len() as u64);
    }
    Ok(true)
}
