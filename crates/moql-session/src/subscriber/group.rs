//! Receiving groups: Group streams (spec 4.8) and datagrams (spec 4.9), routed to the
//! subscription by Subscribe ID.

use moql_model::{Error, Frame, GroupProducer};
use moql_wire::{Datagram, Decode, ErrorCode, FrameDecoder, Group};

use crate::archive;
use crate::context::{Context, Counted};
use crate::error::StreamError;
use crate::io::Reader;

/// Reads one Group stream into the subscription's track. `unrouted` counts the stream
/// until it is counted in its subscription's `inflight` (or refused).
pub(crate) async fn receive<T: web_transport_trait::Session>(
    ctx: Context<T>,
    mut reader: Reader<T::RecvStream>,
    unrouted: Counted,
) {
    let version = ctx.version;
    let header = tokio::time::timeout(ctx.config.header_timeout, reader.decode::<Group>(version));
    let header = match header.await {
        Ok(Ok(header)) => header,
        Ok(Err(err)) => {
            // Spec 4.8: "a GROUP header that does not decode with STOP code 5".
            tracing::debug!(%err, "group header did not decode");
            reader.stop(ErrorCode::DECODE);
            return;
        }
        Err(_) => {
            tracing::debug!("group header did not arrive in time");
            reader.stop(ErrorCode::TIMEOUT);
            return;
        }
    };
    if header.frame_start > 0 {
        // lite-06: a group stream may start mid-group only if the subscription asked for it
        // (moq-lite-06.md 6.14); ours never do, and a partial group would look whole here.
        tracing::debug!(
            sequence = header.sequence,
            frame_start = header.frame_start,
            "unrequested mid-group start"
        );
        reader.stop(ErrorCode::DECODE);
        return;
    }
    let Some(subscribed) = ctx.subscription(header.subscribe_id) else {
        // Spec 4.8: unknown Subscribe ID → STOP 0.
        reader.stop(ErrorCode::CANCEL);
        return;
    };
    let _inflight = subscribed.inflight.enter();
    drop(unrouted);
    if subscribed.superseded.is_set() {
        // The broadcast moved to a newer announcement: this publisher's groups are no
        // longer the track's.
        reader.stop(ErrorCode::CANCEL);
        return;
    }
    let track = subscribed.track;
    let recorder = subscribed.recorder;
    let sequence = subscribed
        .shift
        .decide(header.sequence)
        .down(header.sequence);
    let group = match track.create_group(sequence) {
        Ok(group) => group,
        Err(Error::Duplicate) => {
            // Spec 4.8: "a second stream for a group sequence the subscription already holds
            // with STOP code 12 (Duplicate)".
            reader.stop(ErrorCode::DUPLICATE);
            return;
        }
        Err(err) => {
            tracing::debug!(%err, sequence = header.sequence, "group refused");
            reader.stop(err.code());
            return;
        }
    };
    let mut decoder = FrameDecoder::new();
    match read_frames(&ctx, &mut reader, &group, &mut decoder, None, 0).await {
        Ok(()) => archive::record(recorder.as_ref(), &group),
        Err(err) => {
            // Frame-level problems abandon this group locally; the session goes on.
            tracing::debug!(%err, sequence = header.sequence, "group abandoned");
            if !matches!(err, StreamError::Reset(_) | StreamError::Transport(_)) {
                reader.stop(err.code());
            }
            let _ = group.abort(err.to_model());
        }
    }
}

/// Copies frames from a group or fetch stream into `group` until FIN, then finishes it,
/// starting with `first` if one was already read. The first `skip` frames read are dropped:
/// a resumed fetch already holds them where the wire FETCH cannot start mid-group.
pub(crate) async fn read_frames<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    reader: &mut Reader<T::RecvStream>,
    group: &GroupProducer,
    decoder: &mut FrameDecoder,
    mut first: Option<moql_wire::Frame>,
    mut skip: usize,
) -> Result<(), StreamError> {
    let version = ctx.version;
    loop {
        let frame = match first.take() {
            Some(frame) => frame,
            None => match reader.frame(decoder, version).await? {
                Some(frame) => frame,
                None => break,
            },
        };
        if skip > 0 {
            skip -= 1;
            continue;
        }
        let timestamp = if version.has_timestamps() {
            frame.timestamp
        } else {
            ctx.receive_timestamp()
        };
        let len = frame.payload.len() as u64;
        group.write_frame(Frame::new(timestamp, frame.payload))?;
        if let Some(meter) = &ctx.config.meter {
            meter.payload_received(len);
        }
    }
    group.finish()?;
    Ok(())
}

/// Receives datagrams: each is a complete one-frame group (spec 5.14). Undecodable ones and
/// unknown Subscribe IDs are dropped silently (spec 4.9); a group already held by stream is
/// kept once.
pub(crate) async fn receive_datagrams<T: web_transport_trait::Session>(ctx: Context<T>) {
    loop {
        let bytes = match ctx.transport.recv_datagram().await {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::debug!(%err, "datagrams ended");
                return;
            }
        };
        let Ok((datagram, _)) = Datagram::decode_from(&bytes, ctx.version) else {
            tracing::trace!("undecodable datagram dropped");
            continue;
        };
        let Some(subscribed) = ctx.subscription(datagram.subscribe_id) else {
            continue;
        };
        if subscribed.superseded.is_set() {
            continue;
        }
        let track = subscribed.track;
        let sequence = subscribed
            .shift
            .decide(datagram.sequence)
            .down(datagram.sequence);
        let Ok(group) = track.create_group(sequence) else {
            continue;
        };
        let len = datagram.payload.len() as u64;
        if group
            .write_frame(Frame::new(datagram.timestamp, datagram.payload))
            .is_ok()
        {
            if let Some(meter) = &ctx.config.meter {
                meter.payload_received(len);
            }
            let _ = group.finish();
            archive::record(subscribed.recorder.as_ref(), &group);
            ctx.datagrams_received
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
