//! Protocol decisions as pure functions and state machines, tested without sockets or
//! clocks. The drivers in `publisher/` and `subscriber/` wait for events and carry out what
//! these decide:
//!
//! - [`upstream`]: our Subscribe stream for one remote track (open, update, unsubscribe, end
//!   at the publisher's FIN, close when idle).
//! - [`downstream`]: serving one subscription (SUBSCRIBE_OK and SUBSCRIBE_END once, FIN after
//!   the last group stream, the lite-06 start, shedding a lagging subscriber's oldest groups).
//! - [`expiry`]: a group that fell out of its subscriber's max latency.
//! - [`priority`]: stream priorities.
//! - [`announce`] and [`announce_ids`]: the per-version hop-chain rules of announcements and
//!   lite-06's announce IDs.

pub(crate) mod announce;
pub(crate) mod announce_ids;
pub(crate) mod downstream;
pub(crate) mod expiry;
pub(crate) mod priority;
pub(crate) mod upstream;
