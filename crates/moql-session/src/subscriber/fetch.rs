//! Our Fetch streams (spec 4.5): one per fetch the local cache could not answer.

use moql_model::{Error, FetchRequest, Path};
use moql_wire::{BidiStream, FrameDecoder};

use super::group::read_frames;
use super::linger::Shift;
use crate::archive;
use crate::context::Context;
use crate::convert;
use crate::error::{StreamError, from_transport};
use crate::io::{Reader, Writer};
use crate::proto::priority::group_priority;

/// Sends FETCH and fills the served group.
///
/// A reset before any frame becomes the fetch's typed error (e.g. [`Error::NotFound`] for 13);
/// after frames arrived, the group is aborted with it. If every local fetcher gives up before
/// the first frame, the stream is cancelled (RESET 0).
pub(crate) async fn run<T: web_transport_trait::Session>(
    ctx: Context<T>,
    broadcast: Path,
    track: String,
    request: FetchRequest,
    shift: Shift,
) {
    let sequence = request.sequence();
    let Some(request) = archive::serve_request(&ctx, &broadcast, &track, request).await else {
        return;
    };
    // A group from before a resume: the new publisher never had it, and the cache and the
    // archive did not either.
    let Some(upstream) = shift.up(sequence) else {
        request.reject(Error::NotFound);
        return;
    };
    if let Err(err) = fetch(&ctx, &broadcast, &track, request, upstream).await {
        tracing::debug!(sequence, %err, "fetch failed");
    }
}

async fn fetch<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    broadcast: &Path,
    track: &str,
    request: FetchRequest,
    upstream: u64,
) -> Result<(), StreamError> {
    let version = ctx.version;
    if !version.has_fetch() {
        request.reject(Error::NotFound);
        return Ok(());
    }
    let opened = async {
        let (send, recv) = ctx.transport.open_bi().await.map_err(from_transport)?;
        let mut writer = Writer::new(send);
        let mut reader = Reader::charged(recv, ctx.receive_budget.clone());
        writer.set_priority(group_priority(
            request.priority(),
            0,
            false,
            request.sequence(),
        ));
        writer.encode(&BidiStream::Fetch, version).await?;
        let mut message = convert::fetch(broadcast, track, request.priority(), upstream);
        if version.has_frame_bounds() {
            // Resume of a cut-short copy: ask only for the missing tail (moq-lite-06.md 6.13
            // FETCH Frame Start); older versions fetch the whole group (see `skip` below).
            message.frame_start = request.frame_start() as u64;
        }
        writer.encode(&message, version).await?;
        // Wait for the first frame (or the end) before serving, so a refusal reaches the
        // fetchers as an error on the fetch itself rather than as an aborted group.
        let mut decoder = FrameDecoder::new();
        let first = reader.frame(&mut decoder, version).await?;
        Ok::<_, StreamError>((writer, reader, decoder, first))
    };
    let (writer, mut reader, mut decoder, first) = tokio::select! {
        opened = opened => match opened {
            Ok(parts) => parts,
            Err(err) => {
                request.reject(err.to_model());
                return Err(err);
            }
        },
        () = request.unused() => {
            tracing::trace!(sequence = request.sequence(), "fetch withdrawn");
            return Ok(());
        }
    };
    let group = match request.serve() {
        Ok(group) => group,
        // A copy reached the cache meanwhile: the fetchers already have it.
        Err(Error::Duplicate) => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    // The frames a resumed group already holds arrive again where FETCH cannot start
    // mid-group: skipped by count.
    let skip = if version.has_frame_bounds() {
        0
    } else {
        group.frame_count()
    };
    if let Err(err) = read_frames(ctx, &mut reader, &group, &mut decoder, first, skip).await {
        let _ = group.abort(err.to_model());
        return Err(err);
    }
    archive::record_fetched(ctx, broadcast, track, &group);
    // Spec 4.5: the reference subscriber never FINs its request side; it resets it (code 0)
    // once the reply is complete. Dropping the writer does exactly that.
    drop(writer);
    Ok(())
}
