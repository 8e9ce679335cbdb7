//! Why a channel or queue stopped: [`Closed`] and [`PushError`].

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

/// A value that could not be pushed onto a [`Queue`](crate::Queue); the value is handed back.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError<T> {
    /// A bounded queue is at capacity.
    Full(T),
    /// The queue is closed: every receiver is gone or one called `close`.
    Closed(T),
}

impl<T> PushError<T> {
    /// Returns the value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(v) | Self::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("queue is full"),
            Self::Closed(_) => f.write_str("queue is closed"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}
