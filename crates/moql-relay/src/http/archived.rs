//! `/fetch`'s fallback to the disk tier: a group that memory no longer holds, or whose
//! broadcast is gone, is read from the archive; one that aged out of it gets a `404` that
//! says "expired" rather than "not found".

use moql_model::{GroupConsumer, Lookup, Path};

use super::{HttpError, Shared};

/// Passes `live` through unless it is a `404` for group `sequence` (`None` for "latest",
/// which the archive cannot answer); then asks the disk tier.
///
/// # Errors
///
/// `live`'s error, or a `404` saying the group expired (it was archived and aged out).
pub(super) async fn archived(
    shared: &Shared,
    broadcast: &Path,
    track: &str,
    sequence: Option<u64>,
    live: Result<GroupConsumer, HttpError>,
) -> Result<GroupConsumer, HttpError> {
    let err = match live {
        Err(err) if err.status == axum::http::StatusCode::NOT_FOUND => err,
        other => return other,
    };
    let (Some(archive), Some(sequence)) = (&shared.archive, sequence) else {
        return Err(err);
    };
    match archive.load(broadcast, track, sequence).await {
        Lookup::Found(group) => Ok(group),
        Lookup::Expired => Err(HttpError::not_found(format!(
            "group {sequence} of track `{track}` of broadcast `{broadcast}` has expired: \
             it is older than every retention window (memory and disk)"
        ))),
        Lookup::Missing => Err(err),
    }
}
