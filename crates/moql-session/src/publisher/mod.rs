//! The publisher half: answers the peer's requests (every incoming bidirectional stream,
//! spec 3.1) from the session's publish origin.

mod announce;
mod fetch;
mod group;
mod probe;
mod subscribe;

use moql_model::{BroadcastConsumer, Error, Path};
use moql_wire::{BidiStream, ErrorCode};

use crate::context::Context;
use crate::error::StreamError;
use crate::io::{Reader, Writer};

/// Spawns the loop that accepts the peer's bidirectional streams.
pub(crate) fn start<T: web_transport_trait::Session>(ctx: &Context<T>) {
    let ctx = ctx.clone();
    let tasks = ctx.tasks.clone();
    tasks.spawn(async move {
        loop {
            let (send, recv) = match ctx.transport.accept_bi().await {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::debug!(%err, "accept_bi ended");
                    return;
                }
            };
            let stream_ctx = ctx.clone();
            ctx.tasks.spawn(async move {
                serve(stream_ctx, Writer::new(send), Reader::new(recv)).await;
            });
        }
    });
}

/// Reads the stream type and runs its handler; failures reset this stream only.
async fn serve<T: web_transport_trait::Session>(
    ctx: Context<T>,
    mut writer: Writer<T::SendStream>,
    mut reader: Reader<T::RecvStream>,
) {
    let version = ctx.version;
    let kind = tokio::time::timeout(
        ctx.config.header_timeout,
        reader.decode::<BidiStream>(version),
    );
    // A stream the peer opened and left without a type: give its slot back.
    let Ok(kind) = kind.await else {
        tracing::debug!("bidi stream type did not arrive in time");
        reader.stop(ErrorCode::TIMEOUT);
        writer.reset(ErrorCode::TIMEOUT);
        return;
    };
    let kind = match kind {
        Ok(kind) if kind.allowed_in(version) => kind,
        // Spec 3.3: an unknown bidirectional type, or one not valid in this version, is
        // dropped: RESET 0 on our side (and STOP 0 on theirs).
        Ok(kind) => {
            tracing::debug!(?kind, %version, "stream type not valid in this version");
            reader.stop(ErrorCode::CANCEL);
            return;
        }
        Err(err) => {
            tracing::debug!(%err, "unknown or unreadable stream type");
            reader.stop(ErrorCode::CANCEL);
            return;
        }
    };
    let result = match kind {
        BidiStream::Announce => announce::serve(&ctx, &mut writer, &mut reader).await,
        BidiStream::Subscribe => subscribe::serve(&ctx, &mut writer, &mut reader).await,
        BidiStream::Track => fetch::serve_track(&ctx, &mut writer, &mut reader).await,
        BidiStream::Fetch => fetch::serve_fetch(&ctx, &mut writer, &mut reader).await,
        BidiStream::Probe => probe::serve(&ctx, &mut writer, &mut reader).await,
        BidiStream::Goaway => receive_goaway(&ctx, &mut reader).await,
        BidiStream::Session => Ok(()),
    };
    match result {
        Ok(()) => {}
        // Spec 3.3: a request that does not decode (or ends early) is dropped (RESET 0), like
        // an unknown type.
        Err(err @ (StreamError::Decode(_) | StreamError::UnexpectedEnd)) => {
            tracing::debug!(?kind, %err, "request did not decode");
            reader.stop(ErrorCode::CANCEL);
        }
        Err(StreamError::Reset(code)) => {
            tracing::trace!(?kind, code = code.0, "peer cancelled the stream");
        }
        Err(err) => {
            tracing::debug!(?kind, %err, code = %err.code(), "stream failed");
            writer.reset(err.code());
        }
    }
}

/// Spec 4.7: on receipt log the GOAWAY and remember it; the stream is then dropped.
async fn receive_goaway<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    reader: &mut Reader<T::RecvStream>,
) -> Result<(), StreamError> {
    let goaway: moql_wire::Goaway = reader.decode(ctx.version).await?;
    tracing::info!(uri = %goaway.uri, "peer sent GOAWAY");
    ctx.goaway.send_replace(Some(goaway.uri));
    Ok(())
}

/// Resolves with the error once the peer resets its side of a request stream (it no longer
/// wants the answer) or sends something where nothing is expected. A FIN is not a cancel (a
/// peer may half-close right after its request), so after one this waits forever: use it in a
/// `select!` against the answer.
///
/// # Cancel safety
///
/// Cancel safe, as [`Reader::expect_end`].
pub(crate) async fn cancelled<S: web_transport_trait::RecvStream>(
    reader: &mut Reader<S>,
) -> StreamError {
    match reader.expect_end().await {
        Err(err) => err,
        Ok(()) => std::future::pending().await,
    }
}

/// Resolves a wire broadcast path against the publish origin (paths are relative to the
/// session's root, spec 1.4), never by a route through the peer itself.
///
/// Spec 9: "A publisher never serves subscriptions, fetches or track requests from a route
/// whose hop chain contains the peer's Origin (from the peer's SETUP); if no other route
/// exists the request fails with 30 Unroutable." A peer whose SETUP has not arrived yet (or
/// names no Origin) excludes nothing.
fn resolve_at<T>(ctx: &Context<T>, path: &Path) -> Result<BroadcastConsumer, Wait> {
    if !crate::config::allowed(ctx.config.allow_subscribe.as_deref(), path) {
        return Err(Error::Unauthorized.into());
    }
    let origin = ctx.config.publish.as_ref().ok_or(Error::Unroutable)?;
    let full = origin.prefix().join(path).map_err(|_| Error::NotFound)?;
    let peer = ctx
        .peer_setup_rx
        .read()
        .as_ref()
        .and_then(moql_wire::Setup::hop)
        .unwrap_or(0);
    match origin.broadcast_avoiding(&full, peer) {
        Some(broadcast) => Ok(broadcast),
        None => Err(Wait::For(full, peer)),
    }
}

/// Resolves as [`resolve_at`] does, but a broadcast with no route yet is waited for, up to
/// [`SessionConfig::announce_wait`](crate::SessionConfig::announce_wait), so a viewer that
/// asks a moment before its stream is announced is served (issue #17). After the wait it
/// fails as it would at once (30 Unroutable). `cancel` resolving (the peer's RESET of
/// the request) ends the wait with its error.
///
/// Every waiting request holds one origin watcher; a peer's requests are bounded by its
/// stream limit (and, for SUBSCRIBE, by `max_subscriptions`).
///
/// # Cancel safety
///
/// Cancel safe: the wait only observes the origin.
pub(crate) async fn resolve_waiting<T>(
    ctx: &Context<T>,
    path: &Path,
    cancel: impl std::future::Future<Output = StreamError>,
) -> Result<BroadcastConsumer, StreamError> {
    let (full, peer) = match resolve_at(ctx, path) {
        Ok(broadcast) => return Ok(broadcast),
        Err(Wait::No(err)) => return Err(err.into()),
        Err(Wait::For(full, peer)) => (full, peer),
    };
    let wait = ctx.config.announce_wait;
    let Some(origin) = ctx.config.publish.as_ref().filter(|_| !wait.is_zero()) else {
        return Err(Error::Unroutable.into());
    };
    tracing::debug!(broadcast = %full, ?wait, "waiting for the broadcast to be announced");
    tokio::select! {
        found = tokio::time::timeout(wait, origin.wait_broadcast(&full, peer)) => match found {
            Ok(Some(broadcast)) => Ok(broadcast),
            Ok(None) | Err(_) => Err(Error::Unroutable.into()),
        },
        err = cancel => Err(err),
    }
}

/// Whether `path` has a route now (`false`: one may yet be announced), or the refusal (e.g.
/// 6 Unauthorized) any request for it gets.
pub(crate) fn routed<T>(ctx: &Context<T>, path: &Path) -> Result<bool, StreamError> {
    match resolve_at(ctx, path) {
        Ok(_) => Ok(true),
        Err(Wait::For(..)) => Ok(false),
        Err(Wait::No(err)) => Err(err.into()),
    }
}

/// Why [`resolve_at`] found nothing: a refusal, or a missing route worth waiting for (the
/// full path and the hop to avoid).
enum Wait {
    No(Error),
    For(Path, u64),
}

impl From<Error> for Wait {
    fn from(err: Error) -> Self {
        Self::No(err)
    }
}
