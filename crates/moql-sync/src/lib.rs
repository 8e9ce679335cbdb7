#![doc = include_str!("../README.md")]

mod consumer;
mod error;
mod future;
mod observer;
mod producer;
mod state;
mod sync;
mod waiter;

#[cfg(all(test, not(loom)))]
mod testing;
#[cfg(test)]
mod tests;

pub use consumer::Consumer;
pub use error::Closed;
pub use future::{Future, Pending, PollFn, poll_fn};
pub use observer::Observer;
pub use producer::{Producer, channel};
pub use state::{Mut, Ref};
pub use waiter::{Waiter, WaiterList, WakeList};
