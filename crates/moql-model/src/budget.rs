//! [`CacheLimits`] and [`CacheBudget`]: byte bounds on track caches, on top of the time window
//! of [`crate::cache`].
//!
//! What is counted: a group's payload bytes plus [`FRAME_OVERHEAD`] per frame and
//! [`GROUP_OVERHEAD`] per group, so a publisher streaming empty frames or empty groups pays for
//! the memory they take, not only for their (zero) payload.
//!
//! A track's cache is first trimmed by age (the publisher's max latency). With limits set, the
//! same eviction pass then drops the track's oldest non-latest groups (lowest sequence first)
//! while the track holds more than [`CacheLimits::track_bytes`] or the shared
//! [`CacheBudget`] is over its limit. The latest group is never evicted; instead no group may
//! grow past [`CacheLimits::track_bytes`]: the frame that would take it there aborts the
//! group with [`Error::BoundsExceeded`](crate::Error::BoundsExceeded). A track only evicts
//! when it runs a pass (a group is created, or
//! [`TrackProducer::evict`](crate::TrackProducer::evict)), so an idle track keeps what it
//! holds until then. Passes are amortised (about once per eighth of the cache's group count),
//! so a limit can be exceeded by about an eighth between passes. An aborted track with limits
//! lets go of its whole cache and charge at once. Groups already handed to readers stay readable: the
//! cache only lets go of its own reference.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What one cached frame costs beyond its payload: the `Frame` itself (timestamp and `Bytes`
/// handle, 40 bytes) in a `Vec` that grows by doubling (up to 80 bytes a frame), rounded to
/// 64. Charged so that a stream of empty frames is bounded like one of full ones.
pub const FRAME_OVERHEAD: usize = 64;

/// What one cached group costs beyond its frames: its shared state and lock, the cache and
/// arrival-log entries that index it (a few hundred bytes), rounded to 256.
pub const GROUP_OVERHEAD: usize = 256;

/// A byte budget shared by many tracks' caches (a relay's total cache size).
///
/// Cloning shares the budget. Each track charges the bytes it caches (payload plus
/// overheads, see the module doc) as of its last eviction pass and releases them when it is
/// aborted or dropped, so [`used`](Self::used) is the sum of
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
    /// A budget of `limit` bytes, none used.
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Budget {
                limit,
                used: AtomicUsize::new(0),
            }),
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bytes the tracks sharing this budget hold (as of their last eviction pass).
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
    /// Most bytes (payload plus overheads) one track's cache holds; also the most one group
    /// may hold, the latest included (a frame past it aborts the group with
    /// [`Error::BoundsExceeded`](crate::Error::BoundsExceeded)).
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

    /// The charge of a group of one frame of `bytes` bytes.
    const fn one_frame(bytes: usize) -> usize {
        bytes + FRAME_OVERHEAD + GROUP_OVERHEAD
    }

    #[test]
    fn a_track_over_its_byte_limit_evicts_its_oldest_groups_first() {
        let track = track(CacheLimits {
            track_bytes: Some(3 * one_frame(1000)),
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
        assert_eq!(track.cached_bytes(), 3 * one_frame(1000));
        // A reader of an evicted group still reads it: the cache only dropped its reference.
        let frame = futures::executor::block_on(reader.next_frame()).unwrap();
        assert_eq!(frame.unwrap().payload.len(), 1000);
    }

    #[test]
    fn the_latest_group_is_kept_when_the_track_is_over_its_limit() {
        let track = track(CacheLimits {
            track_bytes: Some(one_frame(500)),
            total: None,
        });
        produce(&track, 0, 50);
        produce(&track, 1, 500);
        track.evict();
        assert_eq!(track.cached(), vec![1]);
    }

    #[test]
    fn a_shared_budget_bounds_every_track_and_is_released_when_they_go() {
        let budget = CacheBudget::new(4 * one_frame(1000));
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
        assert!(
            budget.used() <= 4 * one_frame(1000),
            "used {}",
            budget.used()
        );
        assert_eq!(budget.used(), a.cached_bytes() + b.cached_bytes());
        assert!(a.cached().len() < 6 && b.cached().len() < 6);
        drop(a);
        assert_eq!(budget.used(), b.cached_bytes());
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn empty_frames_and_empty_groups_are_charged_against_the_budget() {
        let budget = CacheBudget::new(usize::MAX);
        let track = track(CacheLimits {
            track_bytes: None,
            total: Some(budget.clone()),
        });
        for seq in 0..100 {
            let group = track.create_group(seq).unwrap();
            for i in 0..10 {
                group.write(i, bytes::Bytes::new()).unwrap();
            }
            group.finish().unwrap();
        }
        track.evict();
        // 100 groups of 10 empty frames hold memory; the cache must say so.
        assert!(
            budget.used() >= 100 * 10 * 16,
            "charged {} for 100 empty groups",
            budget.used()
        );
        assert_eq!(budget.used(), track.cached_bytes());
    }

    #[test]
    fn a_track_of_empty_groups_is_bounded_by_its_byte_limit() {
        let track = track(CacheLimits {
            track_bytes: Some(64 * 1024),
            total: None,
        });
        for seq in 0..10_000 {
            track.create_group(seq).unwrap().finish().unwrap();
        }
        track.evict();
        let cached = track.cached().len();
        assert!(cached < 1000, "{cached} empty groups cached under 64 KiB");
        assert!(track.cached_bytes() <= 64 * 1024);
    }

    #[test]
    fn the_latest_group_cannot_grow_past_the_track_limit() {
        let track = track(CacheLimits {
            track_bytes: Some(64 * 1024),
            total: None,
        });
        let group = track.create_group(0).unwrap();
        let mut refused = None;
        for i in 0..100_000u64 {
            if let Err(err) = group.write(i, bytes::Bytes::new()) {
                refused = Some((i, err));
                break;
            }
        }
        let (at, err) = refused.expect("100 000 empty frames into one group were all accepted");
        assert_eq!(err, crate::Error::BoundsExceeded);
        assert!(
            at > 0 && track.cached_bytes() <= 64 * 1024,
            "refused at {at}"
        );
        // The group ends with the error, so readers and the cache see it cut short.
        assert_eq!(
            group.status(),
            crate::GroupStatus::Aborted(crate::Error::BoundsExceeded)
        );
    }

    #[test]
    fn an_aborted_track_releases_its_cache_and_budget_charge() {
        let budget = CacheBudget::new(usize::MAX);
        let track = track(CacheLimits {
            track_bytes: None,
            total: Some(budget.clone()),
        });
        for seq in 0..4 {
            produce(&track, seq, 1000);
        }
        track.evict();
        assert!(budget.used() >= 4000);
        // Something still observes the state (a broadcast table, a consumer): it must not
        // keep the charge.
        let consumer = track.consume();
        track.abort(crate::Error::Cancel).unwrap();
        assert_eq!(budget.used(), 0, "an aborted track still holds the budget");
        assert_eq!(track.cached(), Vec::<u64>::new());
        drop(consumer);
    }

    #[test]
    fn a_group_written_during_an_eviction_pass_does_not_underflow_the_count() {
        // A non-latest group grows while the pass runs (its lock is not the track's); the pass
        // must not subtract more than it counted. Many rounds: each races a writer thread.
        for _ in 0..200 {
            let track = track(CacheLimits {
                track_bytes: Some(1),
                total: None,
            });
            let old = track.create_group(0).unwrap();
            let _latest = track.create_group(1).unwrap();
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let writer = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) && old.write(i, vec![0u8; 1]).is_ok() {
                        i += 1;
                    }
                })
            };
            while track.cached().len() > 1 {
                track.evict();
            }
            stop.store(true, Ordering::Relaxed);
            writer.join().unwrap();
        }
    }
}
