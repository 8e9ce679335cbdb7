//! Why a channel stopped: [`Closed`].

use std::convert::Infallible;
use std::fmt;

/// How a channel ended. Consumers see it once the value can no longer change.
///
/// `E` is the caller's error type for [`Producer::abort`](crate::Producer::abort); it defaults
/// to [`Infallible`] for channels that are never aborted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Closed<E = Infallible> {
    /// A producer called [`close`](crate::Producer::close): the value is final and complete.
    Closed,
    /// The last producer was dropped without closing: the value is final but may be incomplete.
    Dropped,
    /// A producer called [`abort`](crate::Producer::abort) with this error.
    Aborted(E),
}

impl<E> Closed<E> {
    /// Returns true for a deliberate, successful [`Closed::Closed`].
    pub fn is_clean(&self) -> bool {
        matches!(self, Self::Closed)
    }
}

impl<E: fmt::Display> fmt::Display for Closed<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("closed"),
            Self::Dropped => f.write_str("dropped by the producer without closing"),
            Self::Aborted(err) => write!(f, "aborted: {err}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Closed<E> {}
