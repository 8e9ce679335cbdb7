//! The streamed `/fetch` body: a group's frames from a starting frame, laid out per
//! [`Format`], each sent as the group delivers it.

use std::time::Duration;

use bytes::Bytes;
use moql_model::{Error, GroupConsumer, TrackConsumer};

use super::request::Format;

/// Why a body already under way was cut short (the client sees the connection close).
#[derive(Debug, thiserror::Error)]
pub(super) enum BodyError {
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
    /// A live subscription the group came through, held until the body ends so the upstream
    /// keeps sending the group (dropping it would cancel the subscription).
    _subscription: Option<TrackConsumer>,
}

/// The frames of `group` from its current position to its end, laid out per `format`.
///
/// A payload is shared with the group (no copy), so a slow reader holds only what is in
/// flight; the client's own slowness is bounded by the port's write timeout. Each wait for the
/// next frame is bounded by `timeout`: a group that stalls that long cuts the body short, as
/// does an aborted group (after the frames written before the abort). `subscription` is kept
/// alive until the stream is dropped.
pub(super) fn stream(
    group: GroupConsumer,
    format: Format,
    timeout: Duration,
    subscription: Option<TrackConsumer>,
) -> impl futures::Stream<Item = Result<Bytes, BodyError>> + Send + 'static {
    let start = Cursor {
        group,
        payload: None,
        _subscription: subscription,
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
