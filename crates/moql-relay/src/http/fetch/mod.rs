//! `GET|HEAD /fetch/<broadcast>/<track>?group=N|latest&frame=K&format=frames|payloads`: one
//! group's bytes, streamed as they arrive (the module docs of [`crate::http`] and
//! `docs/relay.md` give the full contract).
//!
//! One request is: parse ([`request`]), authorize, then within one deadline
//! ([`Shared::fetch_timeout`](super::Shared)) wait for the broadcast's announcement, resolve
//! the group ([`lookup`]) and, for `frame=K` of a live group, wait for frame `K`; then answer
//! with the caching headers [`caching`] decides and the [`body`] streamed frame by frame.

mod body;
mod caching;
mod request;

use std::time::Duration;

use tokio::time::Instant;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moql_model::{
    BroadcastConsumer, Error, Frame, GroupConsumer, GroupStatus, Subscription, TrackConsumer,
};

use super::{HttpError, Shared, SharedState, authorize};
use caching::Caching;
use request::{FetchRequest, Which};

pub(super) use request::FetchQuery;

/// The response header carrying the served group's sequence.
const GROUP_HEADER: &str = "x-moq-group";

/// `GET|HEAD /fetch/{*rest}`. Every error answer is `Cache-Control: no-store` (a CDN must not
/// pin a "not yet" or a timeout).
pub(super) async fn get(
    State(shared): SharedState,
    axum::extract::Path(rest): axum::extract::Path<String>,
    headers: HeaderMap,
    query: Result<Query<FetchQuery>, QueryRejection>,
) -> Response {
    match serve(&shared, &rest, &headers, query).await {
        Ok(response) => response,
        Err(err) => {
            let mut response = err.into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(caching::NO_STORE),
            );
            response
        }
    }
}

async fn serve(
    shared: &Shared,
    rest: &str,
    headers: &HeaderMap,
    query: Result<Query<FetchQuery>, QueryRejection>,
) -> Result<Response, HttpError> {
    let Query(query) =
        query.map_err(|err| HttpError::bad_request(format!("bad query: {}", err.body_text())))?;
    let request = FetchRequest::parse(rest, &query)?;
    let grant = authorize(shared, &request.broadcast, query.jwt.as_deref())?;
    if !grant.can_subscribe(&moql_model::Path::root()) {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            format!("the token may not subscribe to `{}`", request.broadcast),
        ));
    }

    // One deadline for everything before the first byte; each stage names what it waits for.
    let deadline = Instant::now() + shared.fetch_timeout;
    let within = |waiting: Waiting| Deadline {
        at: deadline,
        waiting,
        request: &request,
        after: shared.fetch_timeout,
    };
    // A broadcast with no route now may have left long ago while the disk tier keeps its
    // groups: ask it before waiting for an announcement that may never come.
    if shared.origin.broadcast(&request.broadcast).is_none()
        && let Some(group) = within(Waiting::Group)
            .run(archived(shared, &request))
            .await?
    {
        return respond(shared, &request, headers, Found::archived(group)).await;
    }
    let broadcast = within(Waiting::Announcement)
        .run(announced(shared, &request))
        .await?;
    let track = broadcast
        .track(&request.track)
        .map_err(|err| group_error(&request, None, &err))?;
    let found = within(Waiting::Group)
        .run(lookup(shared, track, &request))
        .await?;
    if request.frame > 0 {
        within(Waiting::Frame(found.group.sequence()))
            .run(async {
                reach(&found.group, request.frame).await;
                Ok(())
            })
            .await?;
    }
    respond(shared, &request, headers, found).await
}

/// One stage of a request under its deadline.
struct Deadline<'a> {
    at: Instant,
    waiting: Waiting,
    request: &'a FetchRequest,
    after: Duration,
}

impl Deadline<'_> {
    /// `stage`'s result, or `504` naming what it waited for once the deadline passes.
    async fn run<T>(
        self,
        stage: impl Future<Output = Result<T, HttpError>>,
    ) -> Result<T, HttpError> {
        tokio::time::timeout_at(self.at, stage)
            .await
            .map_err(|_| self.waiting.timed_out(self.request, self.after))?
    }
}

/// What a request is waiting for, to name it in a `504`.
#[derive(Clone, Copy, Debug)]
enum Waiting {
    Announcement,
    Group,
    Frame(u64),
}

impl Waiting {
    fn timed_out(self, request: &FetchRequest, after: Duration) -> HttpError {
        let what = match self {
            Self::Announcement => format!("broadcast `{}` to be announced", request.broadcast),
            Self::Group => format!("{} of {}", request.which, request.track_name()),
            Self::Frame(group) => format!(
                "frame {} of group {group} of {}",
                request.frame,
                request.track_name()
            ),
        };
        HttpError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("timed out after {after:?} waiting for {what}"),
        )
    }
}

/// The broadcast, waiting for its announcement if it has none yet (a viewer that arrives
/// just before its stream starts); the caller bounds the wait.
async fn announced(
    shared: &Shared,
    request: &FetchRequest,
) -> Result<BroadcastConsumer, HttpError> {
    if let Some(broadcast) = shared.origin.broadcast(&request.broadcast) {
        return Ok(broadcast);
    }
    shared
        .origin
        .consume()
        .wait_broadcast(&request.broadcast, 0)
        .await
        // Only when the origin itself is gone (the relay is shutting down).
        .ok_or_else(|| {
            HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the relay is shutting down",
            )
        })
}

/// Group `n` of a `Sequence(n)` request from the disk tier, if it holds it (see
/// [`super::archived::load`]); `None` for "latest", which the tier does not answer.
async fn archived(
    shared: &Shared,
    request: &FetchRequest,
) -> Result<Option<GroupConsumer>, HttpError> {
    match request.which {
        Which::Sequence(sequence) => {
            super::archived::load(shared, &request.broadcast, &request.track, sequence).await
        }
        Which::Latest => Ok(None),
    }
}

/// The group a request resolved to.
struct Found {
    group: GroupConsumer,
    /// The track, for its error and its newest sequence when the group fails; `None` for a
    /// group read back from the disk tier (whole and finished).
    track: Option<TrackConsumer>,
    /// For "latest", the subscription the group came through: held while a live group's
    /// body streams, so the upstream keeps sending it.
    subscription: Option<TrackConsumer>,
}

impl Found {
    fn archived(group: GroupConsumer) -> Self {
        Self {
            group,
            track: None,
            subscription: None,
        }
    }
}

/// Resolves which group to serve, positioned at its first frame.
///
/// - `Sequence(n)`: the memory cache first; on a miss the track's producer (upstream) is asked
///   with a FETCH, never a TRACK round trip first (no `wait_info`: a fetch of a given group
///   needs no track properties).
/// - `Latest`: a subscription with Max Age 0, whose first group is the newest one: on lite-06
///   a subscription's start is only a floor and its Max Age picks the first group
///   (moq-lite-06.md 6.9: "With Max Age 0 that is the newest group"), so the default
///   (unlimited) Max Age would replay the upstream's cache from its oldest group.
///
/// # Errors
///
/// The mapped model error (`404`, `502`), or `404` for a track that ended with no groups.
async fn lookup(
    shared: &Shared,
    track: TrackConsumer,
    request: &FetchRequest,
) -> Result<Found, HttpError> {
    let group = match request.which {
        Which::Sequence(sequence) => {
            if let Some(group) = track.cached_group(sequence) {
                group
            } else if let Some(group) = archived(shared, request).await? {
                // Not in memory: the disk tier, before upstream.
                group
            } else {
                let fetched = match track.fetch(sequence, None) {
                    Ok(pending) => pending.await,
                    Err(err) => Err(err),
                };
                fetched.map_err(|err| group_error(request, Some(&track), &err))?
            }
        }
        Which::Latest => {
            let mut live = track.clone_unsubscribed();
            live.subscribe(Subscription {
                max_latency: Duration::ZERO,
                ..Subscription::DEFAULT
            });
            let group = live
                .next_group()
                .await
                .map_err(|err| group_error(request, Some(&track), &err))?
                .ok_or_else(|| {
                    HttpError::not_found(format!("{} ended with no groups", request.track_name()))
                })?;
            if group.status() != GroupStatus::Open {
                return Ok(Found {
                    group,
                    track: Some(track),
                    subscription: None,
                });
            }
            // Keep the live group coming: stop judging it stale once newer groups start
            // (Max Age 0 would let the upstream reset it, moq-lite-06.md 10.5) and hold back
            // the groups after it.
            live.update(Subscription {
                max_latency: Duration::MAX,
                start: Some(group.sequence()),
                end: Some(group.sequence()),
                ..Subscription::DEFAULT
            });
            return Ok(Found {
                group,
                track: Some(track),
                subscription: Some(live),
            });
        }
    };
    Ok(Found {
        group,
        track: Some(track),
        subscription: None,
    })
}

/// Waits until `group` holds frame `index` or has ended (the caller then reads how it stands).
async fn reach(group: &GroupConsumer, index: usize) {
    let mut probe = group.clone();
    probe.seek(index);
    // Frame `index` arrived, the group ended before it, or it failed: all decided later.
    let _ = probe.next_frame().await;
}

/// The answer for `found`: `200` with the body from `request.frame`, `304` for a matching
/// `If-None-Match` on a finished group, `416` for a frame past a finished group's end.
async fn respond(
    shared: &Shared,
    request: &FetchRequest,
    headers: &HeaderMap,
    found: Found,
) -> Result<Response, HttpError> {
    let Found {
        mut group,
        track,
        subscription,
    } = found;
    let sequence = group.sequence();
    let frames = group.frames();
    let status = group.status();
    if request.frame > 0 && request.frame >= frames.len() {
        match status {
            GroupStatus::Open => {}
            GroupStatus::Finished => {
                return Err(HttpError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!(
                        "frame {} is past the end of group {sequence} of {} ({} frames)",
                        request.frame,
                        request.track_name(),
                        frames.len()
                    ),
                ));
            }
            GroupStatus::Aborted(err) => {
                return Err(group_error(request, track.as_ref(), &err));
            }
        }
    }

    let finished = status == GroupStatus::Finished;
    let etag = if finished {
        let served = frames.get(request.frame..).unwrap_or_default().to_vec();
        Some(etag(served, request.format).await)
    } else {
        None
    };
    let Caching {
        cache_control,
        etag,
    } = caching::caching(request.which, finished, etag);

    let not_modified = match (&etag, headers.get(header::IF_NONE_MATCH)) {
        (Some(etag), Some(condition)) => condition
            .to_str()
            .is_ok_and(|condition| caching::not_modified(condition, etag)),
        _ => false,
    };
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        group.seek(request.frame);
        // A finished group's length is known: say so (CDNs and players like a length).
        let length = finished.then(|| {
            caching::body_len(
                frames.get(request.frame..).unwrap_or_default(),
                request.format,
            )
        });
        let body = body::stream(group, request.format, shared.fetch_timeout, subscription);
        let mut response = Body::from_stream(body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Some(length) = length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(GROUP_HEADER, HeaderValue::from(sequence));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Some(etag) = etag.and_then(|etag| HeaderValue::from_str(&etag).ok()) {
        headers.insert(header::ETAG, etag);
    }
    if request.which == Which::Latest
        && let Ok(location) = HeaderValue::from_str(&request.location(sequence))
    {
        headers.insert(header::CONTENT_LOCATION, location);
    }
    Ok(response)
}

/// [`caching::etag`], on the blocking pool for a large body (hashing megabytes would stall
/// the other tasks on this worker).
async fn etag(frames: Vec<Frame>, format: request::Format) -> String {
    if caching::body_len(&frames, format) <= caching::INLINE_HASH_BYTES as u64 {
        return caching::etag(&frames, format);
    }
    let hashed = tokio::task::spawn_blocking(move || caching::etag(&frames, format));
    // A panic in a hash is a bug; there is no validator to give then.
    hashed.await.unwrap_or_default()
}

/// Why a group could not be found, as far as the track can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Missing {
    /// Below the track's newest group: it existed and has left the cache.
    Expired,
    /// At or past the newest group: it has not been published (yet).
    NotYet,
    /// The track's newest group is unknown here (nothing cached, no subscription).
    Unknown,
}

/// Tells an expired group from one that does not exist (yet) by the track's newest sequence.
fn missing(which: Which, latest: Option<u64>) -> Missing {
    match (which, latest) {
        (Which::Sequence(sequence), Some(latest)) if sequence < latest => Missing::Expired,
        (Which::Latest, _) | (_, Some(_)) => Missing::NotYet,
        (Which::Sequence(_), None) => Missing::Unknown,
    }
}

/// Maps a model error seen resolving `request` to a status: gone or unknown is `404` (its
/// body says which), anything else is the upstream's failure (`502`). `track`, when there is
/// one, tells a track nobody accepted from a missing group, and an expired group from a
/// future one.
fn group_error(request: &FetchRequest, track: Option<&TrackConsumer>, err: &Error) -> HttpError {
    let unknown_track = track.is_some_and(|t| t.info().is_none() && t.closed().is_some());
    let subject = if unknown_track {
        request.track_name()
    } else {
        format!("{} of {}", request.which, request.track_name())
    };
    let reason = match err {
        Error::Old => Missing::Expired,
        // A requested track nobody accepted: its request was dropped.
        Error::NotFound | Error::Unroutable | Error::Dropped if unknown_track => Missing::NotYet,
        Error::NotFound | Error::Unroutable => {
            missing(request.which, track.and_then(TrackConsumer::latest))
        }
        _ => {
            return HttpError::new(
                StatusCode::BAD_GATEWAY,
                format!("upstream error reading {subject}: {err}"),
            );
        }
    };
    let reason = match reason {
        Missing::Expired => "it has expired from the cache",
        Missing::NotYet => "it does not exist (yet)",
        Missing::Unknown => "it does not exist (yet), or has expired from every cache",
    };
    HttpError::not_found(format!("{subject} not found: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_group_below_the_newest_expired_and_above_it_is_not_there_yet() {
        assert_eq!(missing(Which::Sequence(3), Some(9)), Missing::Expired);
        assert_eq!(missing(Which::Sequence(9), Some(9)), Missing::NotYet);
        assert_eq!(missing(Which::Sequence(10), Some(9)), Missing::NotYet);
        assert_eq!(missing(Which::Sequence(3), None), Missing::Unknown);
        assert_eq!(missing(Which::Latest, None), Missing::NotYet);
    }
}
