//! Serving Track (spec 4.3) and Fetch (spec 4.5) streams.

use moql_model::Error;
use moql_wire::{Fetch, Track};

use crate::archive;
use crate::context::Context;
use crate::convert;
use crate::error::StreamError;
use crate::io::{FrameWriter, Reader, Writer};
use crate::proto::priority::group_priority;

/// TRACK → TRACK_INFO + FIN, or a reset with the failure's code (30 Unroutable, 13 NotFound,
/// 24 Dropped, or the producer's own code).
pub(crate) async fn serve_track<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    writer: &mut Writer<T::SendStream>,
    reader: &mut Reader<T::RecvStream>,
) -> Result<(), StreamError> {
    let version = ctx.version;
    let request: Track = reader.decode(version).await?;
    tracing::trace!(broadcast = %request.broadcast, track = %request.track, "track info requested");
    ctx.peer_setup().await.map_err(StreamError::transport)?;
    let broadcast =
        super::resolve_waiting(ctx, &request.broadcast, super::cancelled(reader)).await?;
    let track = broadcast.track(&request.track)?;
    // A peer that gives up (RESET) withdraws the request: the consumer is dropped, so a
    // request nobody answers does not outlive its asker.
    let info = tokio::select! {
        info = track.wait_info() => info?,
        err = super::cancelled(reader) => return Err(err),
    };
    let reply = convert::track_info_to_wire(&info);
    writer.encode(&reply, version).await?;
    writer.finish()?;
    Ok(())
}

/// FETCH → the group's FRAMEs (timestamps delta-coded from 0) + FIN, or a reset.
pub(crate) async fn serve_fetch<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    writer: &mut Writer<T::SendStream>,
    reader: &mut Reader<T::RecvStream>,
) -> Result<(), StreamError> {
    let version = ctx.version;
    let request: Fetch = reader.decode(version).await?;
    let started = tokio::time::Instant::now();
    if let Some(meter) = &ctx.config.meter {
        meter.fetch_received();
    }
    ctx.peer_setup().await.map_err(StreamError::transport)?;
    tracing::debug!(broadcast = %request.broadcast, track = %request.track, group = request.group, "fetch");
    let (wire, name) = (&request.broadcast, &request.track);
    // The publisher may have left long ago while the archive still keeps its groups: with no
    // route now, ask the archive before waiting for an announcement that may never come.
    if !super::routed(ctx, wire)? {
        match archive::answer(ctx, wire, name, request.group, Error::Unroutable).await {
            Ok(group) => return serve_archived(ctx, writer, &request, group, started).await,
            // Not archived: wait for the announcement as any request does.
            Err(Error::Unroutable) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let broadcast = super::resolve_waiting(ctx, wire, super::cancelled(reader)).await?;
    let track = match broadcast.track(name) {
        Ok(track) => track,
        Err(err) => {
            let group = archive::answer(ctx, wire, name, request.group, err).await?;
            return serve_archived(ctx, writer, &request, group, started).await;
        }
    };
    // No TRACK round trip first: a fetch needs no track info, as moq-net 0.3.x's `FetchServe`
    // fetches the group at once (`broadcast.track(..)?.fetch_group(..)`). The publisher's
    // priority joins in if the info is already known, else 0.
    let publisher_priority = track.info().map_or(0, |info| info.priority);
    writer.set_priority(group_priority(
        request.priority,
        publisher_priority,
        false,
        request.group,
    ));

    let pending = track.fetch(request.group, convert::fetch_options(&request))?;
    // Spec 4.5: "A publisher should expect nothing after FETCH and must ignore that reset."
    let group = tokio::select! {
        group = pending => group?,
        _ = reader.expect_end() => return Ok(()),
    };
    send_group(ctx, writer, &request, group, started).await
}

/// Serves a group the archive answered (its publisher's priority is unknown: 0).
async fn serve_archived<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    writer: &mut Writer<T::SendStream>,
    request: &Fetch,
    group: moql_model::GroupConsumer,
    started: tokio::time::Instant,
) -> Result<(), StreamError> {
    writer.set_priority(group_priority(request.priority, 0, false, request.group));
    send_group(ctx, writer, request, group, started).await
}

/// Writes `group`'s frames within the request's bounds, then FIN; the group was found
/// `started.elapsed()` after the FETCH arrived.
async fn send_group<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    writer: &mut Writer<T::SendStream>,
    request: &Fetch,
    mut group: moql_model::GroupConsumer,
    started: tokio::time::Instant,
) -> Result<(), StreamError> {
    let version = ctx.version;
    if let Some(meter) = &ctx.config.meter {
        meter.fetch_answered(started.elapsed());
    }
    // lite-06 frame bounds (moq-lite-06.md 6.13): from Frame Start through Frame End. Every
    // frame of a held group is held, so the response always begins exactly at Frame Start.
    let mut frames = FrameWriter::new(version, (request.frame_start, request.frame_end))
        .metered(ctx.config.meter.clone());
    while let Some(frame) = group.next_frame().await? {
        for chunk in frames.frame(&frame)? {
            writer.write(chunk).await?;
        }
        if frames.is_done() {
            break;
        }
    }
    writer.finish()?;
    let _ = writer.closed().await;
    Ok(())
}
