#![doc = include_str!("../README.md")]

mod archive;
mod config;
mod context;
mod convert;
mod error;
mod io;
mod meter;
mod proto;
mod publisher;
mod reconnect;
mod session;
mod subscriber;
mod tasks;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use config::{
    DEFAULT_ANNOUNCE_WAIT, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_ANNOUNCE_STREAMS,
    DEFAULT_MAX_ANNOUNCEMENTS, DEFAULT_MAX_BUFFERED, DEFAULT_MAX_RECEIVE_BUFFER,
    DEFAULT_MAX_SUBSCRIPTIONS, DEFAULT_SETUP_TIMEOUT, SessionConfig, random_origin_id,
};
pub use error::SessionError;
pub use meter::Meter;
pub use reconnect::{
    Backoff, DialError, EventHandler, ReconnectConfig, ReconnectError, ReconnectEvent, Reconnecting,
};
pub use session::{Accepting, Session, SessionStats};
