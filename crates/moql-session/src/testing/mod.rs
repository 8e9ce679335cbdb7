//! Test utilities (feature `test-util`): run the engine without sockets.
//!
//! [`mem::pair`] gives two connected [`web_transport_trait::Session`]s in memory, so
//! [`Session::connect`](crate::Session::connect) and [`Accepting`](crate::Accepting) run on a
//! paused tokio clock (`#[tokio::test(start_paused = true)]`). [`script`] plays session fuzz
//! scripts on a client transport.

pub mod mem;
pub mod raw;
pub mod script;
