//! The state one track's producer and consumers share: the group cache, the arrival log
//! live subscribers read, fetch demand, and the live subscribers' preferences.
//!
//! Ownership: the state owns [`Observer`](moql_sync::Observer)s of its cached groups, so the
//! cache keeps a group's frames readable without holding the group open (dropping its last
//! [`GroupProducer`] still ends it) and without counting as one of its consumers.
//!
//! Lock order: track state, then a group's state. Group code never takes a track lock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::budget::Charge;
use crate::group::{GroupObserver, status_of};
use crate::track::slots::FetchSlots;
use crate::{
    CacheLimits, Error, Frame, GroupProducer, GroupStatus, Subscription, TrackInfo, cache,
};

/// One group in the cache.
pub(crate) struct CacheEntry {
    pub(crate) group: GroupObserver,
    /// Created as a live group (it is in the arrival log), rather than served for a fetch.
    pub(crate) live: bool,
    /// When the group last became inactive: created, superseded by a newer group, or served.
    pub(crate) active_at: Instant,
    /// The first frame's timestamp, remembered once known.
    pub(crate) first_timestamp: Option<u64>,
}

impl CacheEntry {
    fn new(group: GroupObserver, live: bool, now: Instant) -> Self {
        Self {
            group,
            live,
            active_at: now,
            first_timestamp: None,
        }
    }

    /// The first frame's timestamp, reading the group once until it has one.
    pub(crate) fn first_timestamp(&mut self) -> Option<u64> {
        if self.first_timestamp.is_none() {
            self.first_timestamp = self.group.read().first_timestamp();
        }
        self.first_timestamp
    }

    /// A usable copy: still being written or complete (not aborted, not dropped).
    pub(crate) fn is_healthy(&self) -> bool {
        !matches!(status_of(self.group.closed()), GroupStatus::Aborted(_))
    }
}

pub(crate) struct TrackState {
    pub(crate) name: Arc<str>,
    /// `None` until the track is accepted (a requested track) — fetch-only tracks never are.
    pub(crate) info: Option<TrackInfo>,
    pub(crate) cache: BTreeMap<u64, CacheEntry>,
    /// The highest sequence created as a live group.
    pub(crate) latest: Option<u64>,
    /// Live groups in arrival order; `arrivals[0]` has absolute index `arrivals_base`.
    pub(crate) arrivals: VecDeque<u64>,
    pub(crate) arrivals_base: u64,
    /// Exclusive end once the track is finished: no group at or after it will exist.
    pub(crate) end: Option<u64>,
    /// Outstanding fetch demand by sequence.
    pub(crate) fetches: FetchSlots,
    /// Live subscribers' preferences by subscriber id.
    pub(crate) subscribers: BTreeMap<u64, Subscription>,
    /// Source of subscriber and fetch slot ids.
    pub(crate) next_id: u64,
    /// The highest first-frame timestamp seen among cached groups: the reference point of
    /// timestamp ages (the newest group may not have a frame yet).
    pub(crate) newest_timestamp: Option<u64>,
    /// Whether a producer answers fetch requests: set for requested tracks (their producer is
    /// a session or relay) and once a producer asks for requests. A miss on a track nobody
    /// serves is `NotFound` at once instead of a wait that can never end.
    pub(crate) serves_fetches: bool,
    /// Groups created since the last eviction pass (passes are amortised over creations).
    pub(crate) created_since_evict: usize,
    /// Byte limits on the cache (none by default).
    pub(crate) limits: CacheLimits,
    /// What this track's cache is charged against `limits.total`; released on drop.
    pub(crate) charge: Charge,
    /// Set once the track is aborted: the cache and its charge are gone and no group is
    /// cached again.
    pub(crate) released: bool,
    /// A consumer asked for the track's info ([`TrackConsumer::wait_info`](crate::TrackConsumer::wait_info)):
    /// a requested track's producer must learn it (a relay sends TRACK upstream only then).
    pub(crate) info_wanted: bool,
}

impl TrackState {
    pub(crate) fn new(name: Arc<str>, info: Option<TrackInfo>) -> Self {
        Self {
            name,
            info,
            cache: BTreeMap::new(),
            latest: None,
            arrivals: VecDeque::new(),
            arrivals_base: 0,
            end: None,
            fetches: FetchSlots::default(),
            subscribers: BTreeMap::new(),
            next_id: 0,
            newest_timestamp: None,
            serves_fetches: info.is_none(),
            created_since_evict: 0,
            limits: CacheLimits::default(),
            charge: Charge::default(),
            released: false,
            info_wanted: false,
        }
    }

    /// The most one group of this track may be charged: the track's byte limit, if any.
    fn max_group(&self) -> usize {
        self.limits.track_bytes.unwrap_or(usize::MAX)
    }

    /// Lets go of every cached group and the budget charge (the track was aborted: nothing
    /// will be delivered or fetched from it again, but the state may live on in a broadcast
    /// table or a consumer).
    pub(crate) fn release(&mut self) {
        self.released = true;
        self.cache.clear();
        self.arrivals.clear();
        self.charge.set(None, 0);
    }

    /// What the cached groups cost together, payload plus overheads (see [`crate::budget`]).
    pub(crate) fn charged(&self) -> usize {
        self.cache.values().map(|e| e.group.read().charged()).sum()
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn timescale(&self) -> u64 {
        self.info
            .map_or(TrackInfo::DEFAULT.timescale, |i| i.timescale)
    }

    pub(crate) fn publisher_max_latency(&self) -> Duration {
        self.info
            .map_or(TrackInfo::DEFAULT.max_latency, |i| i.max_latency)
    }

    /// The absolute arrival index one past the newest arrival.
    pub(crate) fn arrivals_end(&self) -> u64 {
        self.arrivals_base + self.arrivals.len() as u64
    }

    /// The cached, healthy copy of group `sequence`, if there is one.
    pub(crate) fn cache_hit(&self, sequence: u64) -> Option<&GroupObserver> {
        self.cache
            .get(&sequence)
            .filter(|entry| entry.is_healthy())
            .map(|entry| &entry.group)
    }

    /// Registers a new live group.
    pub(crate) fn create_group(
        &mut self,
        sequence: u64,
        now: Instant,
    ) -> Result<GroupProducer, Error> {
        if let Some(end) = self.end
            && sequence >= end
        {
            return Err(Error::BoundsExceeded);
        }
        if let Some(entry) = self.cache.get_mut(&sequence).filter(|e| e.is_healthy()) {
            // A copy served for a fetch (a relay fetched a live group before it subscribed)
            // now arrives live: the second stream is redundant, but subscribers must still
            // get the group, so the fetched copy joins the arrival log once.
            if !entry.live {
                entry.live = true;
                self.arrivals.push_back(sequence);
                if self.latest.is_none_or(|latest| sequence > latest) {
                    self.latest = Some(sequence);
                }
            }
            return Err(Error::Duplicate);
        }
        if self.released {
            return Err(Error::Closed);
        }
        let group = GroupProducer::capped(sequence, self.timescale(), Vec::new(), self.max_group());
        if self.latest.is_none_or(|latest| sequence > latest) {
            if let Some(previous) = self.latest.and_then(|l| self.cache.get_mut(&l)) {
                previous.active_at = now;
            }
            self.latest = Some(sequence);
        }
        self.cache
            .insert(sequence, CacheEntry::new(group.observe(), true, now));
        self.arrivals.push_back(sequence);
        // A live group answers any fetch that was waiting for it.
        self.fetches.serve_live(sequence, &group);
        // An eviction pass walks the cache; running it once per eighth of the cache's size
        // keeps creation amortised O(1) while the cache exceeds its window by at most 1/8.
        self.created_since_evict += 1;
        if self.created_since_evict * 8 >= self.cache.len() {
            self.evict(now);
        }
        Ok(group)
    }

    /// Creates the group that serves a fetch of `sequence`, pre-filled with `prefix` (the
    /// frames of a cut-short cached copy), puts it in the cache and resolves the fetch slot.
    ///
    /// # Errors
    ///
    /// [`Error::Duplicate`] if a healthy copy is cached meanwhile (the slot is resolved with
    /// that copy), [`Error::BoundsExceeded`] at or past the track's end.
    pub(crate) fn serve(
        &mut self,
        sequence: u64,
        timescale: u64,
        now: Instant,
    ) -> Result<GroupProducer, Error> {
        if let Some(hit) = self.cache_hit(sequence).cloned() {
            self.fetches.serve(sequence, hit);
            return Err(Error::Duplicate);
        }
        if let Some(end) = self.end
            && sequence >= end
        {
            return Err(Error::BoundsExceeded);
        }
        let prefix = match self.fetches.take_prefix(sequence) {
            Some(prefix) => prefix,
            None => self.cut_short_frames(sequence),
        };
        if self.released {
            return Err(Error::Closed);
        }
        let group = GroupProducer::capped(sequence, timescale, prefix, self.max_group());
        let live = self.cache.get(&sequence).is_some_and(|e| e.live);
        self.cache
            .insert(sequence, CacheEntry::new(group.observe(), live, now));
        self.fetches.serve(sequence, group.observe());
        // A fetch-only track creates no live group, so its served groups would never meet
        // an eviction pass otherwise; amortised as in `create_group`.
        self.created_since_evict += 1;
        if self.created_since_evict * 8 >= self.cache.len() {
            self.evict(now);
        }
        Ok(group)
    }

    /// A cache hit on group `sequence` at `now`: its wall-clock age starts again, so a
    /// group that is being read stays cached (as moq-net 0.3.x's `poll_fetch_cached` does with
    /// `cache_refresh`: "expiry keys off the last access"). The latest group has age zero
    /// anyway; its `active_at` is reset when it is superseded.
    pub(crate) fn refresh(&mut self, sequence: u64, now: Instant) {
        if let Some(entry) = self.cache.get_mut(&sequence)
            && entry.is_healthy()
        {
            entry.active_at = entry.active_at.max(now);
        }
    }

    /// The frames of a cached copy that was cut short (aborted or dropped), to resume from.
    pub(crate) fn cut_short_frames(&self, sequence: u64) -> Vec<Frame> {
        match self.cache.get(&sequence) {
            Some(entry) if !entry.is_healthy() => entry.group.read().frames.clone(),
            _ => Vec::new(),
        }
    }

    /// Learns the first timestamp of group `sequence` (if it has one now) and raises the
    /// newest timestamp with it.
    fn discover(&mut self, sequence: u64) -> Option<u64> {
        let ts = self.cache.get_mut(&sequence)?.first_timestamp();
        if let Some(ts) = ts {
            self.newest_timestamp = Some(self.newest_timestamp.map_or(ts, |n| n.max(ts)));
        }
        ts
    }

    /// The age of cached group `sequence` by the rules in [`cache`]; zero for the latest.
    pub(crate) fn age(&mut self, sequence: u64, now: Instant) -> Option<Duration> {
        if Some(sequence) == self.latest {
            return self.cache.contains_key(&sequence).then_some(Duration::ZERO);
        }
        if let Some(latest) = self.latest {
            self.discover(latest);
        }
        let timescale = self.timescale();
        let group_ts = self.discover(sequence);
        let newest_ts = self.newest_timestamp;
        let entry = self.cache.get_mut(&sequence)?;
        let ts_age = cache::timestamp_age(newest_ts, group_ts, timescale);
        let wall_age = now.saturating_duration_since(entry.active_at);
        Some(cache::age(ts_age, wall_age))
    }

    /// The oldest cached group at or above `floor` whose age a subscriber with `max_latency`
    /// still accepts (the latest always qualifies).
    pub(crate) fn oldest_live(
        &mut self,
        floor: u64,
        max_latency: Duration,
        now: Instant,
    ) -> Option<u64> {
        let candidates: Vec<u64> = self.cache.range(floor..).map(|(&seq, _)| seq).collect();
        candidates.into_iter().find(|&sequence| {
            self.age(sequence, now)
                .is_some_and(|age| cache::is_live(age, max_latency))
        })
    }

    /// Drops every non-latest group older than the publisher's max latency, then trims the
    /// arrival log of groups that are gone. Returns how many groups were dropped.
    pub(crate) fn evict(&mut self, now: Instant) -> usize {
        self.created_since_evict = 0;
        let limit = self.publisher_max_latency();
        let sequences: Vec<u64> = self.cache.keys().copied().collect();
        for &sequence in &sequences {
            self.discover(sequence);
        }
        let mut evicted = 0;
        for sequence in sequences {
            if Some(sequence) == self.latest {
                continue;
            }
            if let Some(age) = self.age(sequence, now)
                && !cache::is_cached(age, limit)
            {
                self.cache.remove(&sequence);
                evicted += 1;
            }
        }
        if self.limits.is_limited() {
            evicted += self.evict_bytes();
        }
        while let Some(front) = self.arrivals.front() {
            if self.cache.get(front).is_some_and(|e| e.live) {
                break;
            }
            self.arrivals.pop_front();
            self.arrivals_base += 1;
        }
        if evicted > 0 {
            tracing::trace!(track = %self.name, evicted, cached = self.cache.len(), "evicted groups");
        }
        evicted
    }

    /// Drops the oldest non-latest groups while the cache is over a byte limit, and updates
    /// the charge against the shared budget. Returns how many groups were dropped.
    ///
    /// Each group's charge is read once: a group may still be written (its lock is not ours)
    /// while the pass runs, and the pass works on that one snapshot.
    fn evict_bytes(&mut self) -> usize {
        let sizes: Vec<(u64, usize)> = self
            .cache
            .iter()
            .map(|(&seq, e)| (seq, e.group.read().charged()))
            .collect();
        let mut bytes: usize = sizes.iter().map(|&(_, size)| size).sum();
        let budget = self.limits.total.clone();
        self.charge.set(budget.as_ref(), bytes);
        let track_limit = self.limits.track_bytes.unwrap_or(usize::MAX);
        let mut evicted = 0;
        let over = |bytes: usize, budget: &Option<crate::CacheBudget>| {
            bytes > track_limit || budget.as_ref().is_some_and(crate::CacheBudget::is_over)
        };
        for (seq, size) in sizes {
            if !over(bytes, &budget) {
                break;
            }
            if Some(seq) == self.latest {
                continue;
            }
            if self.cache.remove(&seq).is_some() {
                bytes -= size;
                self.charge.set(budget.as_ref(), bytes);
                evicted += 1;
            }
        }
        evicted
    }

    /// The combined preferences of the live subscribers.
    pub(crate) fn subscription(&self) -> Option<Subscription> {
        Subscription::aggregate(self.subscribers.values())
    }
}
