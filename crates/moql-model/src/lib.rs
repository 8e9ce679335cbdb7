//! The moq-lite data model: origins, broadcasts, tracks, groups and frames, with a cache,
//! eviction and FETCH of past groups. No IO: sessions and relays move these over the wire.
//!
//! The hierarchy, outermost first:
//!
//! - [`OriginProducer`] / [`OriginConsumer`]: the broadcasts a session can see, by [`Path`],
//!   with prefix-filtered live announcements ([`Announcement`]).
//! - [`BroadcastProducer`] / [`BroadcastConsumer`]: a named set of tracks from one publisher.
//!   Tracks a consumer asks for before they exist reach the producer as [`TrackRequest`]s.
//! - [`TrackProducer`] / [`TrackConsumer`]: a sequence of groups in a cache. Consumers read
//!   live with a [`Subscription`] or [`fetch`](TrackConsumer::fetch) one past group
//!   ([`TrackFetchPending`]); producers see fetch demand as [`FetchRequest`]s.
//! - [`GroupProducer`] / [`GroupConsumer`]: an ordered run of [`Frame`]s.
//!
//! Each producer/consumer pair is a [`moql_sync`] channel: producers write, consumers are
//! woken; demand flows back the same way. Every handle documents what happens when it is
//! closed, aborted or dropped. Eviction follows [`cache`], and optionally byte limits
//! ([`CacheLimits`], a shared [`CacheBudget`]).
//!
//! # Example
//!
//! See also the crate README for a fetch that misses the cache.
//!
//! ```
//! use futures::executor::block_on;
//! use moql_model::{BroadcastProducer, Subscription, TrackInfo};
//!
//! let broadcast = BroadcastProducer::new();
//! let track = broadcast.create_track("clock", TrackInfo::DEFAULT)?;
//!
//! // A subscriber joins before the first group.
//! let mut live = broadcast.consume().subscribe_track("clock", Subscription::default())?;
//!
//! let group = track.append_group()?;
//! group.write(0, "tick")?;
//! group.finish()?;
//!
//! block_on(async {
//!     let mut received = live.next_group().await?.expect("a group");
//!     assert_eq!(received.next_frame().await?.unwrap().payload, "tick");
//!
//!     // The same group, fetched by sequence: a cache hit, no producer involved.
//!     let mut fetched = live.fetch(0, None)?.await?;
//!     assert_eq!(fetched.read_all().await?.len(), 1);
//!     Ok::<_, moql_model::Error>(())
//! })?;
//! # Ok::<(), moql_model::Error>(())
//! ```

mod broadcast;
mod budget;
mod error;
mod frame;
mod group;
mod info;
mod origin;
mod track;

pub mod cache;

#[cfg(all(test, loom))]
mod loom;

pub use broadcast::{BroadcastConsumer, BroadcastProducer};
pub use budget::{CacheBudget, CacheLimits};
pub use error::Error;
pub use frame::Frame;
pub use group::{GroupConsumer, GroupProducer, GroupStatus};
pub use info::{Fetch, Subscription, TrackInfo};
pub use moql_wire::Path;
pub use origin::{Announced, Announcement, OriginConsumer, OriginProducer};
pub use track::{
    FetchRequest, TrackConsumer, TrackFetch, TrackFetchPending, TrackProducer, TrackRequest,
};
