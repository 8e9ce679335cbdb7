//! `GET /fetch/<broadcast>/<track>?group=N|latest[&format=frames|payloads]`: one group's bytes.

use std::fmt;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use moql_model::{Error, GroupConsumer, Path, Subscription, TrackConsumer};
use serde::Deserialize;

use super::{HttpError, Shared, SharedState, authorize};

/// The response header carrying the served group's sequence.
const GROUP_HEADER: &str = "x-moq-group";

/// The query parameters `/fetch` understands.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FetchQuery {
    group: Option<String>,
    format: Option<String>,
    jwt: Option<String>,
}

/// Which group to read.
#[derive(Clone, Copy, Debug)]
enum Which {
    Sequence(u64),
    Latest,
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sequence(sequence) => write!(f, "group {sequence}"),
            Self::Latest => f.write_str("the latest group"),
        }
    }
}

/// How to lay out the frames in the body.
#[derive(Clone, Copy, Debug)]
enum Format {
    /// Payloads back to back.
    Payloads,
    /// Each payload after its length as a big-endian `u32`.
    Frames,
}

/// Where a model error came from, for a message that says what was missing.
#[derive(Clone, Copy, Debug)]
enum Stage {
    Track,
    Group,
}

/// `GET /fetch/{*rest}`.
pub(super) async fn get(
    State(shared): SharedState,
    axum::extract::Path(rest): axum::extract::Path<String>,
    query: Result<Query<FetchQuery>, QueryRejection>,
) -> Result<Response, HttpError> {
    let Query(query) =
        query.map_err(|err| HttpError::bad_request(format!("bad query: {}", err.body_text())))?;
    let which = match query.group.as_deref() {
        None => {
            return Err(HttpError::bad_request(
                "missing `group`: use ?group=N or ?group=latest",
            ));
        }
        Some("latest") => Which::Latest,
        Some(group) => Which::Sequence(group.parse().map_err(|_| {
            HttpError::bad_request(format!(
                "bad group {group:?}: expected a sequence number or `latest`"
            ))
        })?),
    };
    let format = match query.format.as_deref() {
        None | Some("payloads") => Format::Payloads,
        Some("frames") => Format::Frames,
        Some(other) => {
            return Err(HttpError::bad_request(format!(
                "bad format {other:?}: expected `frames` or `payloads`"
            )));
        }
    };
    let (broadcast, track) = rest
        .rsplit_once('/')
        .filter(|(_, track)| !track.is_empty())
        .ok_or_else(|| HttpError::bad_request("expected /fetch/<broadcast>/<track>"))?;
    if track.len() > moql_model::MAX_TRACK_NAME {
        // Refused before any table is touched; the name is not echoed back.
        return Err(HttpError::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "track name of {} bytes is over the {}-byte limit",
                track.len(),
                moql_model::MAX_TRACK_NAME
            ),
        ));
    }
    let path = Path::new(broadcast)
        .map_err(|err| HttpError::bad_request(format!("bad broadcast {broadcast:?}: {err}")))?;

    let grant = authorize(&shared, &path, query.jwt.as_deref())?;
    if !grant.can_subscribe(&Path::root()) {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            format!("the token may not subscribe to `{path}`"),
        ));
    }

    let what = Context {
        broadcast: &path,
        track,
        which,
    };
    let live = async {
        let consumer = shared
            .origin
            .broadcast(&path)
            .ok_or_else(|| HttpError::not_found(format!("broadcast `{path}` is not announced")))?
            .track(track)
            .map_err(|err| what.error(Stage::Track, &err))?;
        read(&shared, consumer, what).await
    };
    let sequence = match which {
        Which::Sequence(sequence) => Some(sequence),
        Which::Latest => None,
    };
    // The disk tier, for a group memory no longer holds (merger: part of B's `lookup()`).
    let group = super::archived::archived(&shared, &path, track, sequence, live.await).await?;
    let sequence = group.sequence();

    let mut response = (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream(group, format, shared.timeout)),
    )
        .into_response();
    response
        .headers_mut()
        .insert(GROUP_HEADER, HeaderValue::from(sequence));
    Ok(response)
}

/// Waits (within the timeout) for the track and the group, ready to read from its start.
async fn read(
    shared: &Shared,
    mut track: TrackConsumer,
    what: Context<'_>,
) -> Result<GroupConsumer, HttpError> {
    let read = async {
        // A requested track nobody accepts fails here with NotFound, not as a stalled fetch.
        track
            .wait_info()
            .await
            .map_err(|err| what.error(Stage::Track, &err))?;
        match what.which {
            Which::Sequence(sequence) => track
                .fetch(sequence, None)
                .map_err(|err| what.error(Stage::Group, &err))?
                .await
                .map_err(|err| what.error(Stage::Group, &err)),
            Which::Latest => {
                track.subscribe(Subscription::default());
                track
                    .next_group()
                    .await
                    .map_err(|err| what.error(Stage::Group, &err))?
                    .ok_or_else(|| {
                        HttpError::not_found(format!("{} has no groups", what.track_name()))
                    })
            }
        }
    };
    tokio::time::timeout(shared.timeout, read)
        .await
        .map_err(|_| {
            HttpError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "timed out after {:?} reading {} of {}",
                    shared.timeout,
                    what.which,
                    what.track_name()
                ),
            )
        })?
}

/// Why a body already under way was cut short (the client sees the connection close).
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the group failed: {0}")]
    Group(Error),
    #[error("no frame within {0:?}")]
    Timeout(Duration),
    #[error("a frame is larger than 4 GiB and cannot be length-prefixed")]
    TooLarge,
}

/// Where [`stream`] is: the group, and a payload whose length prefix was just sent.
struct Cursor {
    group: GroupConsumer,
    payload: Option<Bytes>,
}

/// The group's frames laid out per `format`, each yielded as the group delivers it: a
/// payload is shared with the group (no copy), so a slow reader holds what is in flight.
/// Each wait for the next frame is bounded by `timeout`.
fn stream(
    group: GroupConsumer,
    format: Format,
    timeout: Duration,
) -> impl futures::Stream<Item = Result<Bytes, BodyError>> + Send + 'static {
    let start = Cursor {
        group,
        payload: None,
    };
    futures::stream::unfold(Some(start), move |cursor| async move {
        let mut cursor = cursor?;
        if let Some(payload) = cursor.payload.take() {
            return Some((Ok(payload), Some(cursor)));
        }
        let frame = match tokio::time::timeout(timeout, cursor.group.next_frame()).await {
            Ok(Ok(Some(frame))) => frame,
            Ok(Ok(None)) => return None,
            Ok(Err(err)) => return Some((Err(BodyError::Group(err)), None)),
            Err(_) => return Some((Err(BodyError::Timeout(timeout)), None)),
        };
        match format {
            Format::Payloads => Some((Ok(frame.payload), Some(cursor))),
            Format::Frames => {
                let Ok(len) = u32::try_from(frame.len()) else {
                    return Some((Err(BodyError::TooLarge), None));
                };
                cursor.payload = Some(frame.payload);
                let prefix = Bytes::copy_from_slice(&len.to_be_bytes());
                Some((Ok(prefix), Some(cursor)))
            }
        }
    })
}

/// What a request asked for, to word its errors.
#[derive(Clone, Copy)]
struct Context<'a> {
    broadcast: &'a Path,
    track: &'a str,
    which: Which,
}

impl Context<'_> {
    fn track_name(&self) -> String {
        format!("track `{}` of broadcast `{}`", self.track, self.broadcast)
    }

    /// Maps a model error to a status: gone or unknown is 404, anything else is the
    /// upstream's failure (502).
    fn error(&self, stage: Stage, err: &Error) -> HttpError {
        let subject = match stage {
            Stage::Track => self.track_name(),
            Stage::Group => format!("{} of {}", self.which, self.track_name()),
        };
        match err {
            Error::NotFound | Error::Unroutable => {
                HttpError::not_found(format!("{subject} not found ({err})"))
            }
            Error::Old => HttpError::not_found(format!("{subject} has expired from the cache")),
            _ => HttpError::new(
                StatusCode::BAD_GATEWAY,
                format!("upstream error reading {subject}: {err}"),
            ),
        }
    }
}
