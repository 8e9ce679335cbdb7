//! Our Announce stream to the peer (spec 4.2, 5.2–5.4): learn the peer's broadcasts and
//! mirror each into the subscribe origin as a remote broadcast whose tracks are fetched on
//! demand.

use std::collections::HashMap;
use std::sync::Arc;

use moql_model::{BroadcastProducer, Error, Handoff, OriginProducer, Parked, Path};
use moql_wire::{
    Announce, AnnounceMessage, AnnounceOk, AnnounceRequest, AnnounceStatus, BidiStream, ErrorCode,
    Version,
};
use web_transport_trait::RecvStream;

use super::linger::{Departing, Served, Tracks};
use super::track;
use crate::context::Context;
use crate::error::{SessionError, StreamError, from_transport};
use crate::io::{Reader, Writer};
use crate::proto::announce::{contains, decode_chain, stamp_sender};
use crate::proto::announce_ids::{Change, Received};

/// A broadcast learned from the peer. Dropping it ends the broadcast: with
/// [`Error::Transport`] if the session is going away, cleanly if the peer said `ended`; or,
/// if the session vanished (see [`Departing`]), parks it in the origin with its open tracks
/// for the linger. One taken over by a newer announcement is no longer this session's to end.
struct Remote {
    /// The broadcast and its open tracks (parked with it), unless taken over.
    served: Arc<Served>,
    chain: Vec<u64>,
    /// The origin it is published in, and its full path there.
    origin: OriginProducer,
    full: Path,
    departing: Departing,
}

impl Drop for Remote {
    fn drop(&mut self) {
        let Some(broadcast) = self.served.take() else {
            return;
        };
        let parked = Parked {
            broadcast,
            tracks: self.served.tracks().take(),
        };
        let Err(parked) = self.departing.park(&self.origin, &self.full, parked) else {
            return;
        };
        // The track tasks left their tracks open for a park that cannot happen (no runtime
        // to expire it): end them here.
        if self.departing.lingers() {
            for track in &parked.tracks {
                let _ = track.abort(Error::Transport);
            }
        }
        let _ = parked.broadcast.abort(Error::Transport);
    }
}

/// The longest the announce stream and track tasks wait, after the transport failed under
/// them, for the session's close to be recorded (it is recorded by the same event, so this
/// is only a bound).
pub(super) const SETTLE_CLOSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the announce stream; its failure closes the whole session (spec 4.2: the stream's
/// failure on the subscriber side is fatal).
pub(crate) async fn run<T: web_transport_trait::Session>(ctx: Context<T>) {
    let mut remotes = HashMap::new();
    let result = announce(&ctx, &mut remotes).await;
    if let Err(StreamError::Transport(_)) = &result {
        // Park or end by the session's verdict: wait for it (the close cancels this task,
        // and the remotes decide as they are dropped).
        let departing = departing(&ctx);
        departing.settled(SETTLE_CLOSE).await;
        if departing.lingers() {
            remotes.clear();
        }
    }
    for (_, remote) in remotes.drain() {
        // The stream ended: every broadcast learned on it is gone (spec 4.2).
        if let Some(broadcast) = remote.served.broadcast() {
            let _ = broadcast.close();
        }
    }
    match result {
        Ok(()) => tracing::debug!("announce stream finished by the peer"),
        // The connection itself ended: the close watcher records the peer's code and reason.
        Err(StreamError::Transport(err)) => {
            tracing::debug!(%err, "announce stream ended with the session")
        }
        Err(err) => {
            let code = match &err {
                StreamError::Reset(code) => *code,
                other => other.code(),
            };
            ctx.close(SessionError::Protocol {
                code,
                reason: format!("announce stream: {err}"),
            });
        }
    }
}

/// The session's verdict, as its remote broadcasts and tracks consult it.
pub(super) fn departing<T: web_transport_trait::Session>(ctx: &Context<T>) -> Departing {
    Departing::new(
        ctx.closed.subscribe(),
        ctx.goaway.subscribe(),
        ctx.config.linger,
    )
}

async fn announce<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    remotes: &mut HashMap<Path, Remote>,
) -> Result<(), StreamError> {
    let version = ctx.version;
    let own = ctx.config.origin_id;
    let Some(origin) = ctx.config.subscribe.clone() else {
        return Ok(());
    };
    let prefix = ctx.config.announce_prefix.clone();
    let (send, recv) = ctx.transport.open_bi().await.map_err(from_transport)?;
    let mut writer = Writer::new(send);
    let mut reader = Reader::new(recv);
    writer.encode(&BidiStream::Announce, version).await?;
    writer
        .encode(
            &AnnounceRequest {
                prefix: prefix.clone(),
                exclude_hop: own,
            },
            version,
        )
        .await?;

    let sender = if version.has_announce_ok() {
        let ok: AnnounceOk = reader.decode(version).await?;
        ok.hop_id
    } else {
        0
    };

    let departing = departing(ctx);
    let mut changes = Changes::new(version);
    let mut refused = Refusals::default();
    while let Some(change) = changes.next(&mut reader).await? {
        let (suffix, hops, in_place) = match change {
            Change::Ignored => continue,
            Change::End(suffix) => {
                let path = prefix
                    .join(&suffix)
                    .map_err(|_| StreamError::Decode(moql_wire::DecodeError::BoundsExceeded))?;
                // Spec 5.4 step 6: `ended` for a path that is not active is ignored.
                if let Some(remote) = remotes.remove(&path)
                    && let Some(broadcast) = remote.served.broadcast()
                {
                    let _ = broadcast.close();
                }
                continue;
            }
            // lite-05 restarts with a second `active`; lite-06 with ANNOUNCE_UPDATE.
            Change::Start(suffix, hops) => (suffix, hops, version.has_announce_restart()),
            Change::Update(suffix, hops) => (suffix, hops, true),
        };
        let path = prefix
            .join(&suffix)
            .map_err(|_| StreamError::Decode(moql_wire::DecodeError::BoundsExceeded))?;
        if !crate::config::allowed(ctx.config.allow_publish.as_deref(), &path) {
            if let Some(count) = refused.note(std::time::Instant::now()) {
                tracing::warn!(%path, count, "peer announced broadcasts outside its grants; ignored");
            }
            continue;
        }
        // Steps 2–3: too long a chain, or a loop through us: ignore (and retire a route it
        // would replace).
        let chain = match decode_chain(&hops, sender, version) {
            Some(mut chain) if !contains(&chain, own) => {
                stamp_sender(&mut chain, ctx.stamp);
                chain
            }
            _ => {
                remotes.remove(&path);
                continue;
            }
        };
        let full = ctx
            .config
            .root
            .join(&path)
            .map_err(|_| StreamError::Decode(moql_wire::DecodeError::BoundsExceeded))?;
        if let Some(existing) = remotes.get_mut(&path) {
            if !in_place {
                // lite-03/04: a duplicate `active` is a session error (code 12).
                return Err(StreamError::Model(Error::Duplicate));
            }
            // Step 5: same original publisher → update the route in place (unless a newer
            // announcement took the broadcast over: then this one takes it back below).
            if let Some(broadcast) = existing.served.broadcast()
                && existing
                    .chain
                    .first()
                    .is_some_and(|&id| id != 0 && chain.first() == Some(&id))
            {
                existing.chain = chain.clone();
                let handoff: Arc<dyn Handoff> = existing.served.clone();
                let _ = origin.publish_served(
                    &full,
                    broadcast.consume(),
                    Arc::from(chain),
                    Some(handoff),
                );
                continue;
            }
            remotes.remove(&path);
        }
        if remotes.len() >= ctx.config.max_announcements {
            tracing::warn!(%path, max = ctx.config.max_announcements, "peer announced too many broadcasts");
            return Err(StreamError::Limit(
                ErrorCode::TOO_MANY_REQUESTS,
                "announcement",
            ));
        }
        // A broadcast lingering at this path (its last publisher vanished) is resumed, and
        // one served now by the same route (a publisher that restarted before its old
        // connection was noticed as lost) is taken over: the same broadcast, its route given
        // the new chain in place, its open tracks served again from this session.
        let hops: Arc<[u64]> = Arc::from(chain.clone());
        let tracks = Tracks::default();
        let (served, resumed) = match origin
            .resume(&full)
            .or_else(|| origin.take_over(&full, &chain))
        {
            Some(parked) => {
                let served = Served::new(parked.broadcast.clone(), tracks.clone());
                let handoff: Arc<dyn Handoff> = served.clone();
                if origin
                    .reroute(&full, parked.broadcast.consume(), hops, Some(handoff))
                    .is_err()
                {
                    parked.end(Error::Transport);
                    continue;
                }
                tracing::debug!(%path, tracks = parked.tracks.len(), "peer resumed a broadcast");
                (served, parked.tracks)
            }
            None => {
                let broadcast = BroadcastProducer::new();
                let served = Served::new(broadcast.clone(), tracks.clone());
                let handoff: Arc<dyn Handoff> = served.clone();
                if origin
                    .publish_served(&full, broadcast.consume(), hops, Some(handoff))
                    .is_err()
                {
                    continue;
                }
                tracing::debug!(%path, hops = ?chain, "peer announced a broadcast");
                (served, Vec::new())
            }
        };
        for resumed in resumed {
            tracks.add(resumed.clone());
            let track_ctx = ctx.clone();
            let wire_path = path.clone();
            let superseded = served.superseded();
            ctx.tasks.spawn(async move {
                track::resume(track_ctx, wire_path, resumed, superseded).await
            });
        }
        let serve_ctx = ctx.clone();
        let serve = served.clone();
        let wire_path = path.clone();
        ctx.tasks
            .spawn(async move { serve_broadcast(serve_ctx, wire_path, serve).await });
        remotes.insert(
            path,
            Remote {
                served,
                chain,
                origin: origin.clone(),
                full,
                departing: departing.clone(),
            },
        );
    }
    Ok(())
}

/// How often one announce stream may log the announcements it ignores as outside the peer's
/// grants: a peer can send thousands a second, and each would otherwise be a WARN line.
const REFUSAL_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Counts refused announcements and says when to log them: the first at once, then at most one
/// line per [`REFUSAL_LOG_INTERVAL`] carrying how many were refused since the last line.
#[derive(Default)]
struct Refusals {
    /// When the last line was logged.
    logged: Option<std::time::Instant>,
    /// Refusals since then, this one included.
    count: u64,
}

impl Refusals {
    /// Notes one refusal at `now`; `Some(count)` if a line is due, with the refusals it
    /// covers.
    fn note(&mut self, now: std::time::Instant) -> Option<u64> {
        self.count += 1;
        let due = self
            .logged
            .is_none_or(|at| now.duration_since(at) >= REFUSAL_LOG_INTERVAL);
        due.then(|| {
            self.logged = Some(now);
            std::mem::take(&mut self.count)
        })
    }
}

/// Reads announcements as route changes, whatever the version says them with.
enum Changes {
    /// lite-03/04/05: untyped ANNOUNCEs by path.
    ByPath(Version),
    /// lite-06: typed announcements by Announce ID.
    ById(Version, Received),
}

impl Changes {
    fn new(version: Version) -> Self {
        if version.has_announce_ids() {
            Self::ById(version, Received::default())
        } else {
            Self::ByPath(version)
        }
    }

    /// The next change, or `None` at the publisher's FIN. A lite-06 message that breaks the
    /// Announce ID rules is a protocol violation (the caller closes the session with it).
    async fn next<R: RecvStream>(
        &mut self,
        reader: &mut Reader<R>,
    ) -> Result<Option<Change>, StreamError> {
        match self {
            Self::ByPath(version) => {
                let Some(message) = reader.decode_maybe::<Announce>(*version).await? else {
                    return Ok(None);
                };
                Ok(Some(match message.status {
                    AnnounceStatus::Ended => Change::End(message.suffix),
                    AnnounceStatus::Active => Change::Start(message.suffix, message.hops),
                }))
            }
            Self::ById(version, received) => {
                let Some(message) = reader.decode_maybe::<AnnounceMessage>(*version).await? else {
                    return Ok(None);
                };
                received
                    .apply(message)
                    .map(Some)
                    .map_err(|violation| StreamError::Violation(violation.describe()))
            }
        }
    }
}

/// Answers track requests for one remote broadcast until it ends or is taken over.
async fn serve_broadcast<T: web_transport_trait::Session>(
    ctx: Context<T>,
    path: Path,
    served: Arc<Served>,
) {
    let Some(broadcast) = served.broadcast() else {
        return;
    };
    let superseded = served.superseded();
    loop {
        let request = tokio::select! {
            biased;
            () = superseded.wait() => return,
            request = broadcast.requested_track() => request,
        };
        let Some(request) = request else { return };
        tracing::trace!(%path, track = request.name(), "track requested");
        let track_ctx = ctx.clone();
        let path = path.clone();
        let tracks = served.tracks().clone();
        let superseded = superseded.clone();
        ctx.tasks
            .spawn(async move { track::run(track_ctx, path, request, tracks, superseded).await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_announcements_log_once_per_interval_with_a_count() {
        let start = std::time::Instant::now();
        let mut refused = Refusals::default();
        assert_eq!(refused.note(start), Some(1), "the first is logged at once");
        for _ in 0..10_000 {
            assert_eq!(refused.note(start), None);
        }
        let later = start + REFUSAL_LOG_INTERVAL;
        assert_eq!(refused.note(later), Some(10_001), "one line for the flood");
        assert_eq!(refused.note(later), None);
    }
}
