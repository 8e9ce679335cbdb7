//! `/fetch`'s disk tier: a group memory no longer holds, or whose broadcast is gone, is read
//! from the archive; one that aged out of it gets a `404` that says "expired" rather than
//! "does not exist".

use moql_model::{GroupConsumer, Lookup, Path};

use super::{HttpError, Shared};

/// Group `sequence` of `track` from the disk tier: `None` when there is no tier or it never
/// held the group (the caller goes on to memory's other sources: upstream, the announcement).
///
/// # Errors
///
/// A `404` saying the group expired: it was archived and aged out of every window.
pub(super) async fn load(
    shared: &Shared,
    broadcast: &Path,
    track: &str,
    sequence: u64,
) -> Result<Option<GroupConsumer>, HttpError> {
    let Some(archive) = &shared.archive else {
        return Ok(None);
    };
    match archive.load(broadcast, track, sequence).await {
        Lookup::Found(group) => Ok(Some(group)),
        Lookup::Expired => Err(HttpError::not_found(format!(
            "group {sequence} of track `{track}` of broadcast `{broadcast}` has expired: \
             it is older than every retention window (memory and disk)"
        ))),
        Lookup::Missing => Ok(None),
    }
}
