//! Protocol decisions as pure functions, tested without sockets: stream priorities and the
//! per-version hop-chain rules of announcements.

pub(crate) mod announce;
pub(crate) mod priority;
