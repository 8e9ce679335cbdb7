//! [`CacheLimits`] and [`CacheBudget`]: byte bounds on track caches, on top of the time window
//! of [`crate::cache`].
//!
//! A track's cache is first trimmed by age (the publisher's max latency). With limits set, the
//! same eviction pass then drops the track's oldest non-latest groups (lowest sequence first)
//! while the track holds more than [`CacheLimits::track_bytes`] or the shared
//! [`CacheBudget`] is over its limit. The latest group is never evicted, so a single group
//! larger than a limit is still delivered; and a track only evicts when it runs a pass (a
//! group is created, or [`TrackProducer::evict`](crate::TrackProducer::evict)), so an idle
//! track keeps what it holds until then. Passes are amortised (about once per eighth of the
//! cache's group count), so a limit can be exceeded by about an eighth between passes. Groups already handed to readers stay readable: the
//! cache only lets go of its own reference.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A byte budget shared by many tracks' caches (a relay's total cache size).
///
/// Cloning shares the budget. Each track charges the payload bytes it caches as of its last
/// eviction pass and releases them when it is dropped, so [`used`](Self::used) is the sum of
/// the tracks' cached bytes as of their last pass.
#[derive(Clone, Debug)]
pub struct CacheBudget {
    inner: Arc<Budget>,
}

#[derive(Debug)]
struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl CacheBudget {
    /// A budget of `limit` payload bytes, none used.
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Budget {
                limit,
                used: AtomicUsize::new(0),
            }),
        }
    }

    /// The limit in payload bytes.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Payload bytes the tracks sharing this budget hold (as of their last eviction pass).
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// True while more than the limit is used.
    pub fn is_over(&self) -> bool {
        self.used() > self.inner.limit
    }

    /// Replaces a charge of `old` bytes with one of `new` bytes.
    pub(crate) fn recharge(&self, old: usize, new: usize) {
        if new >= old {
            self.inner.used.fetch_add(new - old, Ordering::Relaxed);
        } else {
            self.inner.used.fetch_sub(old - new, Ordering::Relaxed);
        }
    }
}

/// Byte limits on one track's cache; the default has none (age alone bounds the cache).
#[derive(Clone, Debug, Default)]
pub struct CacheLimits {
    /// Most payload bytes one track's cache holds (its latest group is kept even if it alone
    /// is larger).
    pub track_bytes: Option<usize>,
    /// A budget shared with other tracks.
    pub total: Option<CacheBudget>,
}

impl CacheLimits {
    /// True if any byte limit is set.
    pub fn is_limited(&self) -> bool {
        self.track_bytes.is_some() || self.total.is_some()
    }
}

/// One track's charge against its [`CacheBudget`]; released on drop (when the track's state
/// goes away).
#[derive(Debug, Default)]
pub(crate) struct Charge {
    budget: Option<CacheBudget>,
    bytes: usize,
}

impl Charge {
    /// Charges `bytes` now, against `budget` (switching budgets moves the charge).
    pub(crate) fn set(&mut self, budget: Option<&CacheBudget>, bytes: usize) {
        let same = match (&self.budget, budget) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.inner, &b.inner),
            (None, None) => true,
            _ => false,
        };
        if same {
            if let Some(b) = &self.budget {
                b.recharge(self.bytes, bytes);
            }
        } else {
            if let Some(old) = &self.budget {
                old.recharge(self.bytes, 0);
            }
            if let Some(new) = budget {
                new.recharge(0, bytes);
            }
            self.budget = budget.cloned();
        }
        self.bytes = bytes;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.recharge(self.bytes, 0);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{TrackInfo, TrackProducer};

    /// A track that keeps groups for an hour (so only bytes evict), accepting fetches.
    fn track(limits: CacheLimits) -> TrackProducer {
        let info = TrackInfo {
            max_latency: Duration::from_secs(3600),
            ..TrackInfo::DEFAULT
        };
        let track = TrackProducer::new("t", info).unwrap();
        track.accept_fetches();
        track.set_cache_limits(limits);
        track
    }

    fn produce(track: &TrackProducer, seq: u64, bytes: usize) {
        let group = track.create_group(seq).unwrap();
        group.write(seq, vec![0u8; bytes]).unwrap();
        group.finish().unwrap();
    }

    #[test]
    fn a_track_over_its_byte_limit_evicts_its_oldest_groups_first() {
        let track = track(CacheLimits {
            track_bytes: Some(3000),
            total: None,
        });
        produce(&track, 0, 1000);
        let mut reader =
            futures::executor::block_on(track.consume().fetch(0, None).unwrap()).unwrap();
        for seq in 1..10 {
            produce(&track, seq, 1000);
        }
        track.evict();
        assert_eq!(track.cached(), vec![7, 8, 9]);
        assert_eq!(track.cached_bytes(), 3000);
        // A reader of an evicted group still reads it: the cache only dropped its reference.
        let frame = futures::executor::block_on(reader.next_frame()).unwrap();
        assert_eq!(frame.unwrap().payload.len(), 1000);
    }

    #[test]
    fn the_latest_group_stays_even_when_it_alone_is_over_the_limit() {
        let track = track(CacheLimits {
            track_bytes: Some(100),
            total: None,
        });
        produce(&track, 0, 50);
        produce(&track, 1, 500);
        track.evict();
        assert_eq!(track.cached(), vec![1]);
    }

    #[test]
    fn a_shared_budget_bounds_every_track_and_is_released_when_they_go() {
        let budget = CacheBudget::new(4000);
        let limits = CacheLimits {
            track_bytes: None,
            total: Some(budget.clone()),
        };
        let a = track(limits.clone());
        let b = track(limits);
        for seq in 0..6 {
            produce(&a, seq, 1000);
            produce(&b, seq, 1000);
        }
        a.evict();
        b.evict();
        assert!(budget.used() <= 4000, "used {}", budget.used());
        assert_eq!(budget.used(), a.cached_bytes() + b.cached_bytes());
        assert!(a.cached().len() < 6 && b.cached().len() < 6);
        drop(a);
        assert_eq!(budget.used(), b.cached_bytes());
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
