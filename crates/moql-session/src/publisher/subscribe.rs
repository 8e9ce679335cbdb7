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
use crate::proto::downstream::{Downstream, Event, Reply, resolved_start, shed};

pub(crate) async fn serve<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    writer: &mut Writer<T::SendStream>,
    reader: &mut Reader<T::RecvStream>,
) -> Result<(), StreamError> {
    let version = ctx.version;
    let request: Subscribe = reader.decode(version).await?;
    ctx.peer_setup().await.map_err(StreamError::transport)?;
    let mut subscription = convert::subscription_from_subscribe(&request);
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
    // While the broadcast is awaited, updates apply and a FIN or reset withdraws the request.
    let cancel = async {
        loop {
            match reader.decode_maybe::<SubscribeUpdate>(version).await {
                Ok(Some(u)) => subscription = convert::subscription_from_update(&u),
                Ok(None) => return StreamError::Reset(ErrorCode::CANCEL),
                Err(err @ StreamError::Reset(_)) => return err,
                Err(err) => return err.after_request(),
            }
        }
    };
    let broadcast = match super::resolve_waiting(ctx, &request.broadcast, cancel).await {
        Ok(broadcast) => broadcast,
        Err(StreamError::Reset(_)) => {
            let _ = writer.finish();
            return Ok(());
        }
        Err(err) => return Err(err),
    };
    let mut track = broadcast.subscribe_track(&request.track, subscription)?;
    // The track may be unknown here and slow (or never) to be answered upstream: updates
    // apply meanwhile, and a subscriber that gives up withdraws the request with it.
    let info = loop {
        tokio::select! {
            info = track.wait_info() => break info?,
            update = reader.decode_maybe::<SubscribeUpdate>(version) => match update {
                Ok(Some(u)) => {
                    subscription = convert::subscription_from_update(&u);
                    track.update(subscription);
                }
                Ok(None) | Err(StreamError::Reset(_)) => {
                    let _ = writer.finish();
                    return Ok(());
                }
                Err(err) => return Err(err.after_request()),
            },
        }
    };
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
    let mut downstream = Downstream::new(version);
    let end_watch = track.clone_unsubscribed();
    // A group the track produced, dispatched once its step is carried out.
    let mut arrived: Option<GroupConsumer> = None;

    // The driver: waits for the next event, lets `Downstream` decide, carries out the step.
    loop {
        let event = tokio::select! {
            update = reader.decode_maybe::<SubscribeUpdate>(version) => match update {
                Ok(Some(u)) => {
                    let sub = convert::subscription_from_update(&u);
                    current_tx.send_replace(sub);
                    track.update(sub);
                    continue;
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
            },
            next = track.next_group(), if downstream.wants_groups() => match next {
                Ok(Some(group)) => {
                    let sequence = group.sequence();
                    arrived = Some(group);
                    Event::Group { sequence }
                }
                Ok(None) => Event::TrackEnded { end: track.end().unwrap_or(0) },
                Err(err) => {
                    groups.shutdown().await;
                    return Err(err.into());
                }
            },
            end = end_of(&end_watch), if downstream.wants_end() => match end {
                Ok(end) => Event::EndKnown { end },
                // The track failed: `next_group` reports it.
                Err(_) => Event::EndLost,
            },
            Some(done) = groups.join_next(), if !groups.is_empty() => {
                if let Ok(sequence) = done {
                    inflight.groups.remove(&sequence);
                }
                Event::GroupDone
            }
        };
        let step = downstream.on(event);
        if let Some(reply) = step.reply {
            let response = match reply {
                Reply::Ok { group } => SubscribeResponse::Ok(SubscribeOk { group }),
                Reply::End { group } => SubscribeResponse::End(SubscribeEnd { group }),
            };
            writer.encode(&response, version).await?;
        }
        // The group goes out after its SUBSCRIBE_OK is written (the order this stream always had).
        if let Some(group) = arrived.take() {
            spawn_group(
                ctx,
                &mut groups,
                &mut inflight,
                &track,
                group,
                &options,
                current_rx.clone(),
            );
            inflight.shed(ctx.config.max_buffered);
        }
        if step.finish {
            writer.finish()?;
            // Keep reading so a late FIN from the subscriber is consumed; then we are done.
            let _ = tokio::time::timeout(Duration::from_secs(1), reader.expect_end()).await;
            return Ok(());
        }
    }
}

/// Counts a served subscription for as long as it lives.
pub(super) struct Serving<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Serving<'a> {
    /// Counts one more stream, or `None` (counting nothing) if `max` are served.
    pub(super) fn new(counter: &'a std::sync::atomic::AtomicUsize, max: usize) -> Option<Self> {
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

impl InFlight {
    /// Keeps the bytes held by in-flight groups (written or waiting to be, not yet
    /// acknowledged) within `max`: the oldest groups [`shed`] picks are reset with 26 (Lagged).
    fn shed(&mut self, max: usize) {
        let held: Vec<usize> = self.groups.values().map(|g| g.group.byte_count()).collect();
        for _ in 0..shed(&held, max) {
            let Some((sequence, oldest)) = self.groups.pop_first() else {
                break;
            };
            tracing::debug!(
                sequence,
                max,
                "subscriber lagging: dropping its oldest group"
            );
            let _ = oldest.lagged.send(());
        }
    }
}
