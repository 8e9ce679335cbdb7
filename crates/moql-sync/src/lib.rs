//! Poll-based waiter and channel primitives: the layer every moql crate is built on.
//!
//! Which type to use when:
//!
//! - [`Producer`] / [`Consumer`] ([`channel`]): one value shared by a writer and many
//!   watchers. Consumers wait for conditions on the value; producers learn when consumers
//!   write back ([`Producer::poll`]) or leave ([`Producer::unused`]). Everything in the model
//!   (groups, tracks, broadcasts, origins) is one of these.
//! - [`Observer`]: a handle for caches and indexes that keeps a channel readable without
//!   counting as a producer or a consumer.
//! - [`Queue`]: a FIFO between tasks, bounded or unbounded.
//! - [`Future`] + [`Pending`]: a named wait that can be polled through `&self`, and its bridge
//!   to `.await`. Types in later crates implement [`Future`] and hand out `Pending<Self>`
//!   instead of writing their own waker bookkeeping.
//! - [`Waiter`] / [`WaiterList`]: the building blocks the above are made of, for a new
//!   primitive with its own lock.
//!
//! The crate has no runtime dependency (no tokio): it works on any executor, and with
//! `--cfg loom` its locks and reference counts come from `loom`, so the model tests in
//! `src/tests/loom.rs` check the shipped code.
//!
//! # Example
//!
//! ```
//! use std::task::Poll;
//!
//! let (producer, consumer) = moql_sync::channel::<Vec<u32>, ()>(Vec::new());
//! let reader = std::thread::spawn(move || {
//!     futures::executor::block_on(consumer.wait(|items| {
//!         if items.len() == 3 { Poll::Ready(items.clone()) } else { Poll::Pending }
//!     }))
//! });
//! for i in 0..3 {
//!     producer.write().unwrap().push(i);
//! }
//! assert_eq!(reader.join().unwrap(), Ok(vec![0, 1, 2]));
//! ```

mod consumer;
mod error;
mod future;
mod observer;
mod producer;
mod queue;
mod state;
mod sync;
mod waiter;

#[cfg(all(test, not(loom)))]
mod testing;
#[cfg(test)]
mod tests;

pub use consumer::Consumer;
pub use error::{Closed, PushError};
pub use future::{Future, Pending, PollFn, poll_fn};
pub use observer::Observer;
pub use producer::{Producer, channel};
pub use queue::{Queue, QueueClosed, QueueReceiver, QueueSender};
pub use state::{Mut, Ref};
pub use waiter::{Waiter, WaiterList, WakeList};
