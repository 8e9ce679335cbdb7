//! Tracks: a sequence of groups with a cache, live subscriptions and FETCH.
//!
//! - [`TrackProducer`] creates groups and answers demand.
//! - [`TrackConsumer`] reads live (a [`Subscription`](crate::Subscription)) and fetches past
//!   groups ([`TrackFetch`] / [`TrackFetchPending`]).
//! - [`TrackRequest`] is a track a consumer asked for before the producer created it.
//! - [`FetchRequest`] is one fetch the cache could not answer.

mod consumer;
mod fetch;
mod producer;
mod request;
mod slots;
mod state;
mod subscription;

#[cfg(all(test, not(loom)))]
mod proptests;
#[cfg(all(test, not(loom)))]
mod tests;

pub use consumer::TrackConsumer;
pub use fetch::{FetchRequest, TrackFetch, TrackFetchPending};
pub use producer::TrackProducer;
pub use request::TrackRequest;

pub(crate) use state::TrackState;
