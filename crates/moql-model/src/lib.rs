#![doc = include_str!("../README.md")]

mod archive;
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

pub use archive::{Archive, ArchiveLoad, Lookup};
pub use broadcast::{BroadcastConsumer, BroadcastProducer, MAX_TRACK_NAME};
pub use budget::{CacheBudget, CacheLimits, FRAME_OVERHEAD, GROUP_OVERHEAD};
pub use error::Error;
pub use frame::Frame;
pub use group::{GroupConsumer, GroupProducer, GroupStatus};
pub use info::{Fetch, Subscription, TrackInfo};
pub use moql_wire::Path;
pub use origin::{
    Announced, Announcement, DEFAULT_LINGER, DEFAULT_MAX_BROADCASTS, Departure, Handoff,
    MAX_ROUTES_PER_PATH, OriginConsumer, OriginProducer, OriginStats, Parked, takes_over,
};
pub use track::{
    FetchRequest, TrackConsumer, TrackFetch, TrackFetchPending, TrackProducer, TrackRequest,
};
