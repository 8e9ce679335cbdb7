//! Serving a Subscribe stream (spec 4.4): resolve the track, then deliver each group on its
//! own stream, report the first group (SUBSCRIBE_OK) and the end (SUBSCRIBE_END), apply
//! updates, and finish once everything is out.

use std::collections::BTreeMap;
use std::time::Duration;

use moql_model::{GroupConsumer, Subscription, TrackConsumer};
use moql_wire::{
    ErrorCode, Subscribe, SubscribeEnd, SubscribeOk, SubscribeOkLegacy, SubscribeResponse,
    SubscribeUpdate,
};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::group::{self, FrameBounds, GroupOptions, Turn};
use crate::context::Context;
use crate::convert;
use crate::error::StreamError;
use crate::io::{Reader, Writer};

pub(crate) async fn serve<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    writer: &mut Writer<T::SendStream>,
    reader: &mut Reader<T::RecvStream>,
) -> Result<(), StreamError> {
    let version = ctx.version;
    let request: Subscribe = reader.decode(version).await?;
    ctx.peer_setup().await.map_err(StreamError::transport)?;
    let subscription = convert::subscription_from_subscribe(&request);
    tracing::debug!(id = request.id, broadcast = %request.broadcast, track = %request.track, "subscribe");

    let Some(_serving) = Serving::new(&ctx.serving, ctx.config.max_subscriptions) else {
        tracing::debug!(
            id = request.id,
            max = ctx.config.max_subscriptions,
            "too many subscriptions"
        );
        return Err(StreamError::Limit(
            ErrorCode::TOO_MANY_REQUESTS,
            "subscription",
        ));
    };
    let broadcast = super::resolve(ctx, &request.broadcast)?;
    let mut track = broadcast.subscribe_track(&request.track, subscription)?;
    let info = track.wait_info().await?;
    if version.resolves_start() {
        // lite-06: Group Start is only a floor; the max latency picks the first group among
        // what is cached (moq-lite-06.md 6.9).
        let floor = request.start.unwrap_or(0);
        let oldest = track.oldest_live(floor, subscription.max_latency);
        if let Some(start) = resolved_start(request.start, oldest, track.latest()) {
            track.subscribe(Subscription {
                start: Some(start),
                ..subscription
            });
        }
    }

    // lite-03/04: SUBSCRIBE_OK at once, filled as the reference does (older-versions.md).
    if !version.has_subscribe_start() {
        let ok = SubscribeOkLegacy {
            priority: request.priority,
            ordered: false,
            max_latency: 0,
            start: None,
            end: None,
        };
        writer
            .encode(&SubscribeResponse::OkLegacy(ok), version)
            .await?;
    }

    let (current_tx, current_rx) = watch::channel(subscription);
    let options = GroupOptions {
        subscribe_id: request.id,
        publisher_priority: info.priority,
        datagram_max: ctx.config.datagram_max,
        frames: FrameBounds::of(&request),
    };
    let mut groups: JoinSet<u64> = JoinSet::new();
    let mut inflight = InFlight::default();
    let mut started = false;
    let mut end_sent = false;
    let mut track_done = false;
    let end_watch = track.clone_unsubscribed();

    loop {
        tokio::select! {
            update = reader.decode_maybe::<SubscribeUpdate>(version) => {
                match update {
                    Ok(Some(u)) => {
                        let sub = convert::subscription_from_update(&u);
                        current_tx.send_replace(sub);
                        track.update(sub);
                    }
                    // Spec 4.4: "Unsubscribe = FIN"; a reset also cancels. In-flight groups are
                    // abandoned (RESET 0) and we FIN our side.
                    Ok(None) | Err(StreamError::Reset(_)) => {
                        groups.shutdown().await;
                        let _ = writer.finish();
                        return Ok(());
                    }
                    Err(err) => {
                        groups.shutdown().await;
                        return Err(err.after_request());
                    }
                }
            }
            next = track.next_group(), if !track_done => {
                match next {
                    Ok(Some(group)) => {
                        if !started && version.has_subscribe_start() {
                            started = true;
                            writer.encode(&SubscribeResponse::Ok(SubscribeOk { group: group.sequence() }), version).await?;
                        }
                        spawn_group(ctx, &mut groups, &mut inflight, &track, group, &options, current_rx.clone());
                        shed(&mut inflight.groups, ctx.config.max_buffered);
                    }
                    Ok(None) => {
                        track_done = true;
                        if version.has_subscribe_end() && !end_sent {
                            end_sent = true;
                            let end = track.end().unwrap_or(0);
                            writer.encode(&SubscribeResponse::End(SubscribeEnd { group: end }), version).await?;
                        }
                    }
                    Err(err) => {
                        groups.shutdown().await;
                        return Err(err.into());
                    }
                }
            }
            end = end_of(&end_watch), if !end_sent && version.has_subscribe_end() => {
                if let Ok(end) = end {
                    end_sent = true;
                    writer.encode(&SubscribeResponse::End(SubscribeEnd { group: end }), version).await?;
                }
            }
            Some(done) = groups.join_next(), if !groups.is_empty() => {
                if let Ok(sequence) = done {
                    inflight.groups.remove(&sequence);
                }
            }
        }
        // Spec 4.4: FIN "only after the track is finished and every Group stream it opened for
        // this subscription has completed".
        if track_done && groups.is_empty() {
            writer.finish()?;
            // Keep reading so a late FIN from the subscriber is consumed; then we are done.
            let _ = tokio::time::timeout(Duration::from_secs(1), reader.expect_end()).await;
            return Ok(());
        }
    }
}

/// Where a lite-06 subscription starts, if not at the next group to arrive: the oldest cached
/// group the max latency still accepts at or above the floor (`oldest`), unless that is the
/// latest (already where a subscription without a start begins); with nothing cached at or
/// above a named floor, the floor itself.
fn resolved_start(floor: Option<u64>, oldest: Option<u64>, latest: Option<u64>) -> Option<u64> {
    match oldest {
        Some(oldest) if Some(oldest) == latest && floor.is_none() => None,
        Some(oldest) => Some(oldest),
        None => floor,
    }
}

/// Counts a served subscription for as long as it lives.
struct Serving<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Serving<'a> {
    /// Counts one more subscription, or `None` (counting nothing) if `max` are served.
    fn new(counter: &'a std::sync::atomic::AtomicUsize, max: usize) -> Option<Self> {
        let before = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let serving = Self(counter);
        (before < max).then_some(serving)
    }
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

async fn end_of(track: &TrackConsumer) -> Result<u64, moql_model::Error> {
    moql_sync::poll_fn(|waiter| track.poll_end(waiter)).await
}

/// A group stream being served: its group (to measure what it holds) and how to drop it.
struct InFlightGroup {
    group: GroupConsumer,
    lagged: oneshot::Sender<()>,
}

/// The groups a subscription is serving.
#[derive(Default)]
struct InFlight {
    groups: BTreeMap<u64, InFlightGroup>,
    /// The open signal of the last dispatched group: the next one opens its stream after it.
    last_opened: Option<oneshot::Receiver<()>>,
}

fn spawn_group<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    groups: &mut JoinSet<u64>,
    inflight: &mut InFlight,
    track: &TrackConsumer,
    group: GroupConsumer,
    options: &GroupOptions,
    current: watch::Receiver<Subscription>,
) {
    let ctx = ctx.clone();
    let options = options.clone();
    let track = track.clone_unsubscribed();
    let sequence = group.sequence();
    let (lagged, lagged_rx) = oneshot::channel();
    let (opened, opened_rx) = oneshot::channel();
    let turn = Turn {
        after: inflight.last_opened.replace(opened_rx),
        opened,
    };
    inflight.groups.insert(
        sequence,
        InFlightGroup {
            group: group.clone(),
            lagged,
        },
    );
    groups.spawn(async move {
        if let Err(err) = group::serve(&ctx, group, &options, track, current, turn, lagged_rx).await
        {
            tracing::debug!(%err, "group stream failed");
        }
        sequence
    });
}

/// Keeps the bytes held by in-flight groups (written or waiting to be, not yet acknowledged)
/// within `max`: while over, the oldest group is reset with 26 (Lagged). The newest group is
/// always kept, so a subscriber that reads again resumes with fresh data.
fn shed(inflight: &mut BTreeMap<u64, InFlightGroup>, max: usize) {
    let mut held: usize = inflight.values().map(|g| g.group.byte_count()).sum();
    while held > max && inflight.len() > 1 {
        let Some((sequence, oldest)) = inflight.pop_first() else {
            break;
        };
        held = held.saturating_sub(oldest.group.byte_count());
        tracing::debug!(
            sequence,
            held,
            max,
            "subscriber lagging: dropping its oldest group"
        );
        let _ = oldest.lagged.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::resolved_start;

    #[test]
    fn a_lite06_start_is_the_oldest_fresh_group_at_or_above_the_floor() {
        // Max latency reaches back to group 3 of 0..=9.
        assert_eq!(resolved_start(None, Some(3), Some(9)), Some(3));
        assert_eq!(resolved_start(Some(5), Some(5), Some(9)), Some(5));
        // Only the latest is fresh (max latency 0): as any subscription without a start.
        assert_eq!(resolved_start(None, Some(9), Some(9)), None);
        // A named floor above everything cached waits for that group.
        assert_eq!(resolved_start(Some(12), None, Some(9)), Some(12));
        assert_eq!(resolved_start(None, None, None), None);
    }
}
