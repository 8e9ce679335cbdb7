//! The subscribing side of `moql bench`: subscribe to each wanted broadcast as it is
//! announced, then read every group, counting groups, loss and latency.
//!
//! `--strict` reads as the previous generation of released clients does: any group that fails
//! (a reset) or that arrives after a newer group ends the whole subscription. A relay that
//! resets flowing groups, or opens them out of order, loses such viewers; the summary's
//! "failed" count shows how many.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use moql_model::{Announcement, GroupConsumer, OriginProducer, Path, Subscription, TrackConsumer};
use tokio::task::JoinSet;

use super::{STAMP, Shared, TRACK};
use crate::stats::{Loss, now_micros};

/// How each subscription is made and read.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reader {
    pub(super) subscription: Subscription,
    /// A failed or out-of-order group ends the subscription.
    pub(super) strict: bool,
}

/// Subscribes to each wanted broadcast as it is announced, then reads them all until they
/// end.
pub(super) async fn subscribe_all(
    mut watch: moql_model::OriginConsumer,
    received: OriginProducer,
    mut wanted: Vec<Path>,
    reader: Reader,
    shared: Arc<Shared>,
) {
    let mut readers = JoinSet::new();
    while !wanted.is_empty() {
        let Some(announcement) = watch.announced().await else {
            break;
        };
        let paths = match announcement {
            Announcement::Initial(active) => active.into_iter().map(|a| a.path).collect(),
            Announcement::Active(announced) => vec![announced.path],
            _ => Vec::new(),
        };
        for path in paths {
            let Some(at) = wanted.iter().position(|w| *w == path) else {
                continue;
            };
            wanted.swap_remove(at);
            let Some(broadcast) = received.broadcast(&path) else {
                continue;
            };
            match broadcast.subscribe_track(TRACK, reader.subscription) {
                Ok(track) => {
                    shared.subscribed.fetch_add(1, Relaxed);
                    readers.spawn(read_track(track, reader.strict, shared.clone()));
                }
                Err(err) => {
                    tracing::warn!(%path, %err, "subscribe failed");
                    shared.failed.fetch_add(1, Relaxed);
                }
            }
        }
    }
    drop(watch);
    while readers.join_next().await.is_some() {}
}

/// Reads one track until it ends: counts groups and loss, and reads each group on its own
/// task (groups overlap in time). With `strict`, the first failed or out-of-order group ends
/// the subscription (counted as failed).
async fn read_track(mut track: TrackConsumer, strict: bool, shared: Arc<Shared>) {
    let mut loss = Loss::default();
    let mut groups = JoinSet::new();
    let mut newest = None;
    loop {
        tokio::select! {
            group = track.next_group() => match group {
                Ok(Some(group)) => {
                    let sequence = group.sequence();
                    if strict && newest.is_some_and(|newest| sequence < newest) {
                        tracing::warn!(track = track.name(), sequence, ?newest, "group older than one already started: subscription ended (strict)");
                        shared.failed.fetch_add(1, Relaxed);
                        break;
                    }
                    newest = newest.max(Some(sequence));
                    shared.received.group();
                    let change = loss.arrived(sequence);
                    if change >= 0 {
                        shared.lost.fetch_add(change as u64, Relaxed);
                    } else {
                        shared.lost.fetch_sub(change.unsigned_abs(), Relaxed);
                    }
                    groups.spawn(read_group(group, shared.clone()));
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(track = track.name(), %err, "subscription failed");
                    shared.failed.fetch_add(1, Relaxed);
                    break;
                }
            },
            Some(done) = groups.join_next(), if !groups.is_empty() => {
                if strict && let Ok(Err((sequence, err))) = done {
                    tracing::warn!(track = track.name(), sequence, %err, "group failed: subscription ended (strict)");
                    shared.failed.fetch_add(1, Relaxed);
                    break;
                }
            }
        }
    }
    groups.abort_all();
    while groups.join_next().await.is_some() {}
}

/// Reads one group: its first frame's timestamp gives the latency sample. Returns the
/// group's error, if it failed.
async fn read_group(
    mut group: GroupConsumer,
    shared: Arc<Shared>,
) -> Result<(), (u64, moql_model::Error)> {
    let mut first = true;
    loop {
        match group.next_frame().await {
            Ok(Some(frame)) => {
                if first && let Some(stamp) = frame.payload.get(..STAMP) {
                    let sent = u64::from_be_bytes(stamp.try_into().expect("STAMP bytes"));
                    shared.record_latency(now_micros().saturating_sub(sent));
                }
                first = false;
                shared.received.frame(frame.len());
            }
            Ok(None) => return Ok(()),
            Err(err) => return Err((group.sequence(), err)),
        }
    }
}
