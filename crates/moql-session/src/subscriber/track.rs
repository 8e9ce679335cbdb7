//! One remote track (spec 4.3, 4.4): turn fetches the cache cannot answer into Fetch streams
//! at once; once a consumer wants its info, learn its TRACK_INFO, then keep one Subscribe
//! stream open while local consumers subscribe (updating it as their combined preferences
//! change).

use std::task::Poll;
use std::time::Duration;

use moql_model::{Error, FetchRequest, Path, Subscription, TrackInfo, TrackProducer, TrackRequest};
use moql_sync::Waiter;
use moql_wire::{BidiStream, SubscribeResponse, Track};

use super::announce;
use super::fetch;
use super::linger::{Departing, Shift, Shifting, Superseded, Tracks};
use crate::context::{Context, Subscribed};
use crate::convert;
use crate::error::{StreamError, from_transport};
use crate::io::{Reader, Writer};
use crate::proto::upstream::{self, Action, Ending, Event, Upstream};

/// Ends the track if the task ends without a verdict (the session closed under it), as
/// [`Upstream::ending`] decides: with [`Error::Transport`], so consumers get a clear error
/// rather than a bare drop; or, if the publisher had already FINned the Subscribe stream,
/// cleanly at its declared end. The FIN comes only after every group stream completed
/// (spec 4.4), so a publisher that closes its session right after ending a track (as the
/// released CLI does at the end of its input) still ends it cleanly downstream.
///
/// If the session vanished (its broadcasts linger, see [`Departing`]), the track is left
/// open instead: its broadcast's park holds it until a resume or the linger's end. So is a
/// track whose broadcast a newer announcement took over: it is the new session's now.
struct Guard {
    track: TrackProducer,
    ending: std::sync::Mutex<Ending>,
    departing: Departing,
    superseded: Superseded,
}

impl Guard {
    fn new(track: TrackProducer, departing: Departing, superseded: Superseded) -> Self {
        Self {
            track,
            ending: std::sync::Mutex::new(Ending::Abort),
            departing,
            superseded,
        }
    }

    /// Records how the track ends if its task stops now.
    fn set(&self, ending: Ending) {
        if let Ok(mut current) = self.ending.lock() {
            *current = ending;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.superseded.is_set() {
            return;
        }
        if self.departing.lingers() && self.track.end().is_none() {
            return;
        }
        // A no-op if the task already ended the track itself.
        let ending = self.ending.lock().map_or(Ending::Abort, |e| *e);
        if self.track.end().is_none() {
            let _ = match ending {
                Ending::FinishAt(end) => self.track.finish_at(end),
                Ending::Finish => self.track.finish(),
                Ending::Abort => Ok(()),
            };
        }
        let _ = self.track.abort(Error::Transport);
    }
}

/// How long a track nobody consumes is kept (with its cache) before it is closed: at least
/// its cache window, so a fetch right after the last consumer left is still served here.
fn linger(info: &TrackInfo) -> Duration {
    info.max_latency.max(Duration::from_secs(5))
}

/// How long a fetch-only track (one nobody asked the info of) is kept after its last
/// consumer left, so back-to-back fetches of one track reuse it and its cache.
const FETCH_LINGER: Duration = Duration::from_secs(5);

/// Resolves once the track has had no consumer for `linger` in a row (`poll_unused` is the
/// track's or its request's).
async fn idle(poll_unused: impl Fn(&Waiter) -> Poll<()>, linger: Duration) {
    loop {
        moql_sync::poll_fn(|waiter| poll_unused(waiter)).await;
        tokio::time::sleep(linger).await;
        if poll_unused(&Waiter::noop()).is_ready() {
            return;
        }
    }
}

/// Sends `request` upstream as a FETCH on its own task (its sequence mapped back through
/// `shift`).
fn forward<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    broadcast: &Path,
    name: &str,
    request: FetchRequest,
    shift: Shift,
) {
    let fetch_ctx = ctx.clone();
    let (broadcast, name) = (broadcast.clone(), name.to_string());
    ctx.tasks
        .spawn(async move { fetch::run(fetch_ctx, broadcast, name, request, shift).await });
}

/// Serves a requested track: fetches go upstream at once, with no TRACK round trip (a FETCH
/// needs no track info, issue #17); TRACK is sent only once a consumer wants the info or
/// subscribes, and then the track is accepted and served (see [`serve`]).
pub(crate) async fn run<T: web_transport_trait::Session>(
    ctx: Context<T>,
    broadcast: Path,
    request: TrackRequest,
    tracks: Tracks,
    superseded: Superseded,
) {
    let name = request.name().to_string();
    if ctx.config.cache_limits.is_limited() {
        request.set_cache_limits(ctx.config.cache_limits.clone());
    }
    // Fetch-only until the info is wanted; idle for FETCH_LINGER, it is closed (consumers that
    // come later ask again).
    loop {
        tokio::select! {
            () = request.info_wanted() => break,
            fetch = request.requested_fetch() => match fetch {
                Some(fetch) => forward(&ctx, &broadcast, &name, fetch, Shift(0)),
                None => return,
            },
            () = idle(|w| request.poll_unused(w), FETCH_LINGER) => {
                tracing::trace!(%broadcast, track = %name, "fetch-only track idle");
                request.reject(Error::Cancel);
                return;
            }
        }
    }
    // Every consumer may leave before the upstream answers (or the upstream may never
    // answer): then the request is dropped, which resets the upstream Track stream with 0 and
    // closes the track, so nothing here outlives the askers. Fetches still go out meanwhile.
    let answer = track_info(&ctx, &broadcast, &name);
    tokio::pin!(answer);
    let answered = loop {
        tokio::select! {
            answered = &mut answer => break answered,
            fetch = request.requested_fetch() => match fetch {
                Some(fetch) => forward(&ctx, &broadcast, &name, fetch, Shift(0)),
                None => return,
            },
            () = request.unused() => {
                tracing::debug!(%broadcast, track = %name, "track request abandoned");
                return;
            }
        }
    };
    let info = match answered {
        Ok(info) => info,
        Err(err) => {
            tracing::debug!(%broadcast, track = %name, %err, "track request failed");
            request.reject(err.to_model());
            return;
        }
    };
    let track = match request.accept(info) {
        Ok(track) => track,
        Err(err) => {
            tracing::debug!(%err, "track accept failed");
            return;
        }
    };
    tracks.add(track.clone());
    if superseded.is_set() {
        // Accepted here while a newer announcement took the broadcast over: the handover
        // missed it, so nobody would feed it. End it; its consumers ask again.
        let _ = track.abort(Error::Transport);
        return;
    }
    let guard = Guard::new(track.clone(), announce::departing(&ctx), superseded);
    let result = serve(
        &ctx,
        &broadcast,
        &name,
        &guard,
        linger(&info),
        Shifting::none(),
    )
    .await;
    end(&guard, result).await;
}

/// Serves `track` again after its broadcast was resumed or taken over by this session (issue
/// #18): the same track producer, so its consumers go on; its subscription, if it has one, is
/// issued to the new publisher, whose groups are shifted past the track's last one unless
/// they already continue it ([`Shifting`]). The
/// track keeps the info it had (no TRACK round trip: the new publisher is the same
/// broadcast to every consumer).
pub(crate) async fn resume<T: web_transport_trait::Session>(
    ctx: Context<T>,
    broadcast: Path,
    track: TrackProducer,
    superseded: Superseded,
) {
    let name = track.name().to_string();
    let info = track.info().unwrap_or(TrackInfo::DEFAULT);
    let shift = Shifting::after(&track);
    tracing::debug!(%broadcast, track = %name, "track resumed");
    let guard = Guard::new(track, announce::departing(&ctx), superseded);
    let result = serve(&ctx, &broadcast, &name, &guard, linger(&info), shift).await;
    end(&guard, result).await;
}

/// Ends a served track by how its service ended. Idle long enough: closed (cleanly for
/// consumers that come later — they ask again). The transport failed: left open if the
/// session's broadcasts linger (the guard decides once the close is recorded).
async fn end(guard: &Guard, result: Result<(), StreamError>) {
    if guard.superseded.is_set() {
        return;
    }
    if let Err(StreamError::Transport(_)) = &result {
        guard.departing.settled(announce::SETTLE_CLOSE).await;
        if guard.departing.lingers() {
            return;
        }
    }
    let err = result.err().map_or(Error::Cancel, |err| err.to_model());
    let _ = guard.track.abort(err);
}

/// TRACK → TRACK_INFO on lite-05; older versions have no TRACK stream and get the reference's
/// defaults (older-versions.md: "retention window default 5 s, timescale 1000").
async fn track_info<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    broadcast: &Path,
    name: &str,
) -> Result<TrackInfo, StreamError> {
    let version = ctx.version;
    if !version.has_track() {
        return Ok(TrackInfo::DEFAULT);
    }
    let (send, recv) = ctx.transport.open_bi().await.map_err(from_transport)?;
    let mut writer = Writer::new(send);
    let mut reader = Reader::new(recv);
    writer.encode(&BidiStream::Track, version).await?;
    writer
        .encode(
            &Track {
                broadcast: broadcast.clone(),
                track: name.to_string(),
            },
            version,
        )
        .await?;
    let info: moql_wire::TrackInfo = reader.decode(version).await?;
    // Spec 4.3: the reference FINs after TRACK_INFO has arrived.
    let _ = writer.finish();
    let mut info = convert::track_info_from_wire(&info);
    if let Some(ceiling) = ctx.config.cache_ceiling {
        info.max_latency = info.max_latency.min(ceiling);
    }
    info.validate()?;
    Ok(info)
}

/// An open Subscribe stream.
struct Active<S: web_transport_trait::SendStream> {
    id: u64,
    writer: Writer<S>,
}

/// The driver: waits for the next [`Event`] (or a fetch to forward, which needs no
/// decision), lets [`Upstream`] decide, and carries out its [`Action`].
async fn serve<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    broadcast: &Path,
    name: &str,
    guard: &Guard,
    linger: Duration,
    shift: Shifting,
) -> Result<(), StreamError> {
    let track = &guard.track;
    let version = ctx.version;
    let mut upstream = Upstream::default();
    let mut active: Option<Active<T::SendStream>> = None;
    let mut responses: Option<Reader<T::RecvStream>> = None;
    // The combined subscription last acted on; compared against, so a change is seen once
    // even when there is nothing to do about it (e.g. the track already finished).
    let mut seen: Option<Subscription> = None;
    loop {
        let event = tokio::select! {
            () = guard.superseded.wait() => {
                // Taken over: the new session serves the track from now on. The old
                // publisher is told (it may be alive), and its late groups are refused.
                if let Some(mut a) = active.take() {
                    let _ = a.writer.finish();
                    ctx.unroute(a.id);
                }
                return Ok(());
            }
            changed = track.subscription_changed(seen) => {
                seen = changed?;
                Event::Demand(seen)
            }
            response = next_response(&mut responses, version) => match response {
                Ok(Some(SubscribeResponse::End(end))) => Event::Ended { group: shift.decide(end.group).down(end.group) },
                Ok(Some(SubscribeResponse::Ok(ok))) => {
                    tracing::trace!(group = ok.group, "subscription started");
                    continue;
                }
                Ok(Some(SubscribeResponse::OkLegacy(_))) => {
                    tracing::trace!("subscription accepted");
                    continue;
                }
                Ok(Some(SubscribeResponse::Drop(drop))) => {
                    tracing::debug!(start = drop.start, end = drop.end, code = drop.error_code, "SUBSCRIBE_DROP");
                    continue;
                }
                Ok(None) => Event::Finished,
                Err(err) => {
                    if let Some(a) = active.take() {
                        ctx.unroute(a.id);
                    }
                    return Err(upstream::failure(err));
                }
            },
            request = track.requested_fetch() => {
                let Some(request) = request else { return Ok(()) };
                forward(ctx, broadcast, name, request, shift.current());
                continue;
            }
            () = idle(|w| track.poll_unused(w), linger) => Event::Idle,
        };
        match upstream.on(event) {
            Action::None => {}
            Action::Open(sub) => {
                let upstream_sub = shift.current().subscription(sub);
                let routed = Subscribed::new(
                    track.clone(),
                    crate::archive::Recorder::new(ctx, broadcast, name),
                    shift.clone(),
                    guard.superseded.clone(),
                );
                let (a, r) = subscribe(ctx, broadcast, name, routed, upstream_sub).await?;
                active = Some(a);
                responses = Some(r);
            }
            Action::Update(sub) => {
                if let Some(a) = active.as_mut() {
                    a.writer
                        .encode(
                            &convert::subscribe_update(&shift.current().subscription(sub)),
                            version,
                        )
                        .await?;
                }
            }
            Action::Unsubscribe => {
                if let Some(mut a) = active.take() {
                    let _ = a.writer.finish();
                    ctx.unroute(a.id);
                }
                responses = None;
            }
            Action::End { declared_end } => {
                responses = None;
                guard.set(upstream.ending());
                if let Some(a) = active.take() {
                    settle(ctx, a.id).await;
                    ctx.unroute(a.id);
                }
                if track.end().is_none() {
                    let result = match declared_end {
                        Some(end) => track.finish_at(end),
                        None => track.finish(),
                    };
                    if let Err(err) = result {
                        tracing::debug!(%err, "track end not applied");
                    }
                }
            }
            Action::Close => {
                if let Some(mut a) = active.take() {
                    let _ = a.writer.finish();
                    ctx.unroute(a.id);
                }
                return Ok(());
            }
        }
    }
}

async fn subscribe<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    broadcast: &Path,
    name: &str,
    routed: Subscribed,
    sub: Subscription,
) -> Result<(Active<T::SendStream>, Reader<T::RecvStream>), StreamError> {
    let version = ctx.version;
    let id = ctx.next_subscribe_id();
    // Route before the request leaves: group streams may arrive before SUBSCRIBE_OK (spec 4.4).
    ctx.route(id, routed);
    let (send, recv) = ctx.transport.open_bi().await.map_err(from_transport)?;
    let mut writer = Writer::new(send);
    writer.encode(&BidiStream::Subscribe, version).await?;
    let request = convert::subscribe(id, broadcast, name, &sub);
    writer.encode(&request, version).await?;
    tracing::debug!(id, %broadcast, track = name, "subscribed");
    Ok((Active { id, writer }, Reader::new(recv)))
}

/// The longest [`settle`] waits: a peer can FIN the Subscribe stream while it keeps a group
/// stream open (or sends no header on one), and the track's end must not wait on it forever.
const SETTLE_BOUND: Duration = Duration::from_secs(1);

/// Waits until no group stream of subscription `id` is being read (at most
/// [`SETTLE_BOUND`]): QUIC delivered them before the FIN, but their reader tasks may not have
/// run yet.
///
/// A uni stream is counted in `unrouted` from its accept until its group header has counted
/// it in the subscription's `inflight`, so zero in `unrouted` then zero in `inflight` means
/// every accepted stream of `id` has landed. A stream the transport delivered but the accept
/// loop has not taken yet is in no count: one yield lets that loop, woken before the FIN,
/// take it first.
async fn settle<T: web_transport_trait::Session>(ctx: &Context<T>, id: u64) {
    let Some(subscribed) = ctx.subscription(id) else {
        return;
    };
    tokio::task::yield_now().await;
    let quiet = async {
        loop {
            ctx.unrouted.zero().await;
            if subscribed.inflight.is_zero() {
                return;
            }
            subscribed.inflight.zero().await;
        }
    };
    let _ = tokio::time::timeout(SETTLE_BOUND, quiet).await;
}

async fn next_response<R: web_transport_trait::RecvStream>(
    reader: &mut Option<Reader<R>>,
    version: moql_wire::Version,
) -> Result<Option<SubscribeResponse>, StreamError> {
    match reader {
        Some(reader) => reader.decode_maybe(version).await,
        None => std::future::pending().await,
    }
}
