//! [`Error`]: why a model operation failed or a handle ended, with its wire code.

use moql_wire::ErrorCode;

/// Why a group, track, broadcast or fetch ended without success.
///
/// Every variant has a wire [`ErrorCode`] ([`Error::code`]) so a session can put it on a
/// stream reset, and every code received from a peer maps back ([`Error::from_code`]); codes
/// without a variant of their own are kept verbatim in [`Error::Remote`], so a relay forwards
/// an upstream's number unchanged (spec 10.1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not needed any more: a routine cancellation, not a failure (code 0).
    #[error("cancelled")]
    Cancel,
    /// The producer went away without finishing; the content is incomplete (code 24).
    #[error("the producer went away without finishing")]
    Dropped,
    /// The broadcast, track or group does not exist (code 13).
    #[error("not found")]
    NotFound,
    /// The group expired from the cache (code 2).
    #[error("the group expired")]
    Old,
    /// The group was evicted under memory pressure; it may be fetched again (code 31).
    #[error("the group was evicted")]
    Evicted,
    /// The handle was already closed, e.g. a write after `finish` (code 25).
    #[error("already closed")]
    Closed,
    /// The identifier already exists, e.g. a second group with the same sequence (code 12).
    #[error("duplicate")]
    Duplicate,
    /// A value left its allowed range, e.g. a group past the track's end or a timescale of 0
    /// (code 11).
    #[error("value out of bounds")]
    BoundsExceeded,
    /// There is no route to the broadcast (code 30).
    #[error("unroutable")]
    Unroutable,
    /// The reader fell too far behind (code 26).
    #[error("lagged")]
    Lagged,
    /// The credential does not grant this path or operation (code 6).
    #[error("unauthorized")]
    Unauthorized,
    /// The session or transport that carried it failed or closed (code 4).
    #[error("transport closed")]
    Transport,
    /// A code received from a peer (or chosen by an application) with no variant of its own.
    #[error("error code {0}")]
    Remote(ErrorCode),
}

impl Error {
    /// The wire code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Cancel => ErrorCode::CANCEL,
            Self::Dropped => ErrorCode::DROPPED,
            Self::NotFound => ErrorCode::NOT_FOUND,
            Self::Old => ErrorCode::OLD,
            Self::Evicted => ErrorCode::EVICTED,
            Self::Closed => ErrorCode::CLOSED,
            Self::Duplicate => ErrorCode::DUPLICATE,
            Self::BoundsExceeded => ErrorCode::BOUNDS_EXCEEDED,
            Self::Unroutable => ErrorCode::UNROUTABLE,
            Self::Lagged => ErrorCode::LAGGED,
            Self::Transport => ErrorCode::TRANSPORT,
            Self::Unauthorized => ErrorCode::UNAUTHORIZED,
            Self::Remote(code) => *code,
        }
    }

    /// The error a peer meant by `code`. `from_code(e.code()) == e` for every error.
    pub fn from_code(code: ErrorCode) -> Self {
        match code {
            ErrorCode::CANCEL => Self::Cancel,
            ErrorCode::DROPPED => Self::Dropped,
            ErrorCode::NOT_FOUND => Self::NotFound,
            ErrorCode::OLD => Self::Old,
            ErrorCode::EVICTED => Self::Evicted,
            ErrorCode::CLOSED => Self::Closed,
            ErrorCode::DUPLICATE => Self::Duplicate,
            ErrorCode::BOUNDS_EXCEEDED => Self::BoundsExceeded,
            ErrorCode::UNROUTABLE => Self::Unroutable,
            ErrorCode::LAGGED => Self::Lagged,
            ErrorCode::TRANSPORT => Self::Transport,
            ErrorCode::UNAUTHORIZED => Self::Unauthorized,
            other => Self::Remote(other),
        }
    }
}

/// Maps the close reason of a model channel to the error a reader sees.
///
/// A clean close is not an error at the channel level; callers that reach this with
/// `Closed::Closed` (a wait that can never be satisfied on a finished value) get
/// [`Error::Closed`].
pub(crate) fn from_closed(closed: moql_sync::Closed<Error>) -> Error {
    match closed {
        moql_sync::Closed::Aborted(err) => err,
        moql_sync::Closed::Dropped => Error::Dropped,
        _ => Error::Closed,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_error_round_trips_through_its_code() {
        let all = [
            Error::Cancel,
            Error::Dropped,
            Error::NotFound,
            Error::Old,
            Error::Evicted,
            Error::Closed,
            Error::Duplicate,
            Error::BoundsExceeded,
            Error::Unroutable,
            Error::Lagged,
            Error::Transport,
            Error::Unauthorized,
            Error::Remote(ErrorCode::app(404)),
            Error::Remote(ErrorCode(7)),
        ];
        for err in all {
            assert_eq!(Error::from_code(err.code()), err);
        }
        assert_eq!(Error::NotFound.code().0, 13);
        assert_eq!(Error::Dropped.code().0, 24);
        assert_eq!(Error::Evicted.code().0, 31);
    }
}
