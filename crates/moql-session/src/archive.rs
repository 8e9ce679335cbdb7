//! The hooks between a session and its [`Archive`] ([`SessionConfig::archive`]): record what
//! the peer delivers, answer fetches from it. Each hook is one call from the stream handler
//! that needs it, so the handlers stay about the wire.
//!
//! Paths: an archive is keyed by the broadcast's full path in the origin (what every session
//! of a relay shares), so a wire path is joined to the session's root first: the subscribe
//! root for groups the peer sends us, the publish origin's prefix for fetches the peer asks.
//!
//! [`SessionConfig::archive`]: crate::SessionConfig::archive

use std::sync::Arc;

use moql_model::{Archive, Error, FetchRequest, GroupConsumer, GroupProducer, Lookup, Path};

use crate::context::Context;

/// Where the finished groups of one remote track go.
#[derive(Clone, Debug)]
pub(crate) struct Recorder {
    archive: Arc<dyn Archive>,
    broadcast: Path,
    track: Arc<str>,
}

impl Recorder {
    /// A recorder for track `track` of the peer's broadcast `wire`, if the session has an
    /// archive.
    pub(crate) fn new<T>(ctx: &Context<T>, wire: &Path, track: &str) -> Option<Self> {
        let archive = ctx.config.archive.clone()?;
        let broadcast = ctx.config.root.join(wire).ok()?;
        Some(Self {
            archive,
            broadcast,
            track: track.into(),
        })
    }

    /// Hands `group` to the archive (it keeps only finished groups).
    pub(crate) fn record(&self, group: &GroupProducer) {
        self.archive
            .record(&self.broadcast, &self.track, group.consume());
    }
}

/// Records a group read whole from the peer, when there is an archive.
pub(crate) fn record(recorder: Option<&Recorder>, group: &GroupProducer) {
    if let Some(recorder) = recorder {
        recorder.record(group);
    }
}

/// Serves a fetch the local cache could not answer from the archive, before it goes to the
/// peer. Returns the request back when the archive does not hold the group (or there is no
/// archive); `None` when it was answered here.
pub(crate) async fn serve_request<T>(
    ctx: &Context<T>,
    wire: &Path,
    track: &str,
    request: FetchRequest,
) -> Option<FetchRequest> {
    let Some(recorder) = Recorder::new(ctx, wire, track) else {
        return Some(request);
    };
    let load = recorder
        .archive
        .load(&recorder.broadcast, track, request.sequence());
    let archived = tokio::select! {
        found = load => match found {
            Lookup::Found(group) => group,
            Lookup::Expired | Lookup::Missing => return Some(request),
        },
        // Every fetcher gave up meanwhile: nothing to serve.
        () = request.unused() => return None,
    };
    let start = request.frame_start();
    // A copy reached the cache meanwhile, or the track ended: the fetchers have their answer
    // either way.
    let Ok(group) = request.serve() else {
        return None;
    };
    // A cut-short cached copy already holds the first `start` frames.
    for frame in archived.frames().into_iter().skip(start) {
        if group.write_frame(frame).is_err() {
            return None;
        }
    }
    let _ = group.finish();
    tracing::trace!(broadcast = %recorder.broadcast, track, sequence = group.sequence(), "fetch served from the archive");
    None
}

/// Records a group fetched whole from the peer.
pub(crate) fn record_fetched<T>(ctx: &Context<T>, wire: &Path, track: &str, group: &GroupProducer) {
    record(Recorder::new(ctx, wire, track).as_ref(), group);
}

/// Answers a FETCH whose broadcast or track no longer resolves (`err`) from the archive: the
/// publisher may have left long ago while its groups are still kept. A group the archive does
/// not hold keeps `err`, except an expired one, which is 13 (NotFound): it existed here.
///
/// # Errors
///
/// `err` itself when the request was not allowed, there is no archive, or it never held the
/// group; [`Error::NotFound`] for a group that aged out of it.
pub(crate) async fn answer<T>(
    ctx: &Context<T>,
    wire: &Path,
    track: &str,
    sequence: u64,
    err: Error,
) -> Result<GroupConsumer, Error> {
    if err == Error::Unauthorized {
        return Err(err);
    }
    let (Some(archive), Some(origin)) = (&ctx.config.archive, &ctx.config.publish) else {
        return Err(err);
    };
    let Ok(broadcast) = origin.prefix().join(wire) else {
        return Err(err);
    };
    match archive.load(&broadcast, track, sequence).await {
        Lookup::Found(group) => Ok(group),
        Lookup::Expired => {
            tracing::debug!(%broadcast, track, sequence, "fetch of an expired group");
            Err(Error::NotFound)
        }
        Lookup::Missing => Err(err),
    }
}
