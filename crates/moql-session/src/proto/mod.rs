//! Protocol decisions as pure functions, tested without sockets: stream priorities, the
//! per-version hop-chain rules of announcements, lite-06's announce IDs, and what to do with a group that fell out
//! of its subscriber's max latency.

pub(crate) mod announce;
pub(crate) mod announce_ids;
pub(crate) mod downstream;
pub(crate) mod expiry;
pub(crate) mod priority;
pub(crate) mod upstream;
