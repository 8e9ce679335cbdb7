//! The subscriber half: mirrors the peer's broadcasts into the subscribe origin and fetches
//! what local consumers ask for (every incoming unidirectional stream is ours, spec 3.1).

mod announce;
mod fetch;
mod group;
mod linger;
mod probe;
mod track;

use std::sync::Arc;

pub(crate) use linger::{Shifting, Superseded};
use std::sync::atomic::{AtomicBool, Ordering};

use moql_wire::{ErrorCode, Setup, UniStream};

use crate::context::{Context, Counted};
use crate::error::SessionError;
use crate::io::Reader;

/// Spawns the uni-stream and datagram loops, the announce stream, and the probe stream.
///
/// `peer_known`: the peer's SETUP is already recorded (server side, or versions without
/// SETUP), so a Setup stream arriving now is a second one.
pub(crate) fn start<T: web_transport_trait::Session>(ctx: &Context<T>, peer_known: bool) {
    let uni = ctx.clone();
    ctx.tasks
        .spawn(async move { accept_uni(uni, peer_known).await });

    if ctx.version.has_datagrams() {
        let datagrams = ctx.clone();
        ctx.tasks
            .spawn(async move { group::receive_datagrams(datagrams).await });
    }
    if ctx.config.subscribe.is_some() {
        let announce = ctx.clone();
        ctx.tasks
            .spawn(async move { announce::run(announce).await });
    }
    if ctx.config.probe {
        let probe = ctx.clone();
        ctx.tasks.spawn(async move { probe::run(probe).await });
    }
}

/// Accepts the peer's unidirectional streams and routes each on its own task, so a stream
/// whose header never arrives holds up no other; the header is bounded by
/// [`SessionConfig::header_timeout`](crate::SessionConfig::header_timeout).
async fn accept_uni<T: web_transport_trait::Session>(ctx: Context<T>, peer_known: bool) {
    let setup_seen = Arc::new(AtomicBool::new(peer_known));
    loop {
        let stream = match ctx.transport.accept_uni().await {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(%err, "accept_uni ended");
                return;
            }
        };
        // Counted before anything is read, so `track::settle` never sees a group stream
        // between its accept and its subscription's count.
        let unrouted = ctx.unrouted.enter();
        let stream_ctx = ctx.clone();
        let setup_seen = setup_seen.clone();
        ctx.tasks.spawn(async move {
            let reader = Reader::charged(stream, stream_ctx.receive_budget.clone());
            route_uni(stream_ctx, reader, unrouted, &setup_seen).await
        });
    }
}

/// Reads one unidirectional stream's type and hands it to its handler.
async fn route_uni<T: web_transport_trait::Session>(
    ctx: Context<T>,
    mut reader: Reader<T::RecvStream>,
    unrouted: Counted,
    setup_seen: &AtomicBool,
) {
    let version = ctx.version;
    let kind = match tokio::time::timeout(
        ctx.config.header_timeout,
        reader.decode::<UniStream>(version),
    )
    .await
    {
        Ok(Ok(kind)) => kind,
        // Spec 3.3: unknown unidirectional type → stop reading (STOP 0); session stays up.
        Ok(Err(err)) => {
            tracing::debug!(%err, "unknown uni stream type");
            reader.stop(ErrorCode::CANCEL);
            return;
        }
        // A stream the peer opened and left without a type: give its slot back.
        Err(_) => {
            tracing::debug!("uni stream type did not arrive in time");
            reader.stop(ErrorCode::TIMEOUT);
            return;
        }
    };
    match kind {
        UniStream::Group => group::receive(ctx, reader, unrouted).await,
        // Older versions have no Setup stream (STOP 10, older-versions.md).
        UniStream::Setup if !version.has_setup() => reader.stop(ErrorCode::UNEXPECTED_STREAM),
        // Spec 8: a second Setup stream → close the session with a protocol violation.
        UniStream::Setup if setup_seen.swap(true, Ordering::AcqRel) => {
            ctx.close(SessionError::Protocol {
                code: ErrorCode::PROTOCOL_VIOLATION,
                reason: "second SETUP stream".into(),
            });
        }
        UniStream::Setup => {
            let setup =
                tokio::time::timeout(ctx.config.header_timeout, reader.decode::<Setup>(version))
                    .await;
            match setup {
                Ok(Ok(setup)) => ctx.set_peer_setup(setup),
                // Spec 4.1: senders must get SETUP right; we close rather than stall.
                Ok(Err(err)) => ctx.close(SessionError::Protocol {
                    code: err.code(),
                    reason: format!("peer SETUP: {err}"),
                }),
                Err(_) => ctx.close(SessionError::Protocol {
                    code: ErrorCode::TIMEOUT,
                    reason: "peer SETUP did not arrive in time".into(),
                }),
            }
        }
    }
}
