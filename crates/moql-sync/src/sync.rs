//! The only place that switches between `std` and `loom`.
//!
//! Every other module imports its locks and reference counts from here, so a `--cfg loom`
//! build model-checks exactly the code that ships.

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning.
///
/// Poisoning only records that a panic happened while the lock was held. Our own critical
/// sections never leave the shared state half-updated across a call that can panic, and a
/// caller's closure that panics while reading must not turn every later access into a panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
