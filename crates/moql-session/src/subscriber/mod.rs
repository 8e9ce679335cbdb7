//! The subscriber half: mirrors the peer's broadcasts into the subscribe origin and fetches
//! what local consumers ask for (every incoming unidirectional stream is ours, spec 3.1).

mod announce;
mod fetch;
mod group;
mod probe;
mod track;

use moql_wire::{ErrorCode, Setup, UniStream};

use crate::context::Context;
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

async fn accept_uni<T: web_transport_trait::Session>(ctx: Context<T>, mut peer_known: bool) {
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
        let mut reader = Reader::new(stream);
        let kind = match reader.decode::<UniStream>(ctx.version).await {
            Ok(kind) => kind,
            // Spec 3.3: unknown unidirectional type → stop reading (STOP 0); session stays up.
            Err(err) => {
                tracing::debug!(%err, "unknown uni stream type");
                reader.stop(ErrorCode::CANCEL);
                continue;
            }
        };
        match kind {
            UniStream::Group => {
                let group_ctx = ctx.clone();
                ctx.tasks
                    .spawn(async move { group::receive(group_ctx, reader, unrouted).await });
            }
            // Older versions have no Setup stream (STOP 10, older-versions.md).
            UniStream::Setup if !ctx.version.has_setup() => {
                reader.stop(ErrorCode::UNEXPECTED_STREAM)
            }
            UniStream::Setup if peer_known => {
                // Spec 8: a second Setup stream → close the session with a protocol violation.
                ctx.close(SessionError::Protocol {
                    code: ErrorCode::PROTOCOL_VIOLATION,
                    reason: "second SETUP stream".into(),
                });
                return;
            }
            UniStream::Setup => match reader.decode::<Setup>(ctx.version).await {
                Ok(setup) => {
                    peer_known = true;
                    ctx.set_peer_setup(setup);
                }
                Err(err) => {
                    // Spec 4.1: senders must get SETUP right; we close rather than stall.
                    ctx.close(SessionError::Protocol {
                        code: err.code(),
                        reason: format!("peer SETUP: {err}"),
                    });
                    return;
                }
            },
        }
    }
}
