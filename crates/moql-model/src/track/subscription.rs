//! A live subscriber's position: which groups it was given, which it holds back above its
//! end bound, and which group comes next (spec 11.1, 11.2).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use crate::track::state::TrackState;
use crate::{Subscription, cache};

/// Where one subscriber stands in a track's groups.
#[derive(Clone, Debug)]
pub(crate) struct Cursor {
    /// Cached groups to offer first, in order (the starting backlog).
    backlog: VecDeque<u64>,
    /// Groups above the end bound, re-offered lowest first when the bound rises.
    held: BTreeSet<u64>,
    /// The next absolute arrival index to look at.
    next_arrival: u64,
    /// Groups below this are never delivered: the requested start, then pinned to the first
    /// group delivered (what SUBSCRIBE_OK reports).
    floor: Option<u64>,
    /// The first group delivered.
    first: Option<u64>,
    /// Groups already delivered that are still cached: a group re-created after an abort is
    /// not delivered twice (the receiver would refuse it as a duplicate, spec 4.8).
    delivered: Delivered,
}

/// A set of group sequences kept as inclusive runs (`start → end`): live delivery is mostly
/// consecutive, so a subscription with no end holds one run instead of one entry per group.
#[derive(Clone, Debug, Default)]
struct Delivered {
    runs: BTreeMap<u64, u64>,
}

impl Delivered {
    fn contains(&self, seq: u64) -> bool {
        self.runs
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, &end)| seq <= end)
    }

    fn insert(&mut self, seq: u64) {
        if self.contains(seq) {
            return;
        }
        let mut start = seq;
        let mut end = seq;
        if let Some((&s, &e)) = self.runs.range(..seq).next_back()
            && e.checked_add(1) == Some(seq)
        {
            start = s;
        }
        if let Some(next) = seq.checked_add(1)
            && let Some(e) = self.runs.remove(&next)
        {
            end = e;
        }
        self.runs.insert(start, end);
    }

    /// Forgets every group below `lowest` (the oldest cached group: nothing below it can be
    /// offered again without being re-created, which makes it a new group).
    fn forget_below(&mut self, lowest: u64) {
        while let Some(first) = self.runs.first_entry() {
            if *first.get() < lowest {
                first.remove();
            } else {
                if *first.key() < lowest {
                    let end = *first.get();
                    first.remove();
                    self.runs.insert(lowest, end);
                }
                break;
            }
        }
    }

    /// How many runs it holds.
    fn len(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Delivered;

    #[test]
    fn delivered_runs_merge_in_any_order_and_forget_below_the_cache() {
        let mut set = Delivered::default();
        for seq in [5, 3, 4, 9, 7, 8, u64::MAX, 0] {
            set.insert(seq);
        }
        assert_eq!(set.len(), 4, "0, 3..=5, 7..=9, MAX");
        for seq in [0, 3, 4, 5, 7, 8, 9, u64::MAX] {
            assert!(set.contains(seq), "{seq}");
        }
        for seq in [1, 2, 6, 10] {
            assert!(!set.contains(seq), "{seq}");
        }
        set.forget_below(4);
        assert!(!set.contains(3) && set.contains(4) && set.contains(9));
        assert_eq!(set.len(), 3);
    }
}

impl Cursor {
    /// Positions a new subscriber per spec 11.1: at the latest group (including it) when
    /// `start` is absent, else at every cached live group at or above `start`.
    pub(crate) fn new(state: &TrackState, sub: &Subscription) -> Self {
        let backlog: VecDeque<u64> = match sub.start {
            None => state.latest.into_iter().collect(),
            Some(start) => state
                .cache
                .range(start..)
                .filter(|(_, entry)| entry.live)
                .map(|(seq, _)| *seq)
                .collect(),
        };
        Self {
            floor: sub.start.or(state.latest),
            backlog,
            held: BTreeSet::new(),
            next_arrival: state.arrivals_end(),
            first: None,
            delivered: Delivered::default(),
        }
    }

    /// How many entries the record of delivered groups holds (tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn delivered_entries(&self) -> usize {
        self.delivered.len()
    }

    /// The first group delivered, if any (the value SUBSCRIBE_OK carries).
    pub(crate) fn first(&self) -> Option<u64> {
        self.first
    }

    /// Applies an update: a present start raises the floor; a new end re-offers held groups.
    pub(crate) fn update(&mut self, sub: &Subscription) {
        if let Some(start) = sub.start {
            self.floor = Some(self.floor.map_or(start, |f| f.max(start)));
        }
    }

    /// Picks the next group to deliver, or `None` if nothing is deliverable now.
    pub(crate) fn next(
        &mut self,
        state: &mut TrackState,
        sub: &Subscription,
        now: Instant,
    ) -> Option<u64> {
        // Held groups that the end bound now admits, lowest first.
        while let Some(&seq) = self.held.first() {
            if sub.end.is_some_and(|end| seq > end) {
                break;
            }
            self.held.pop_first();
            if self.admit(state, sub, seq, now) {
                return Some(self.deliver(state, seq));
            }
        }
        while let Some(seq) = self.backlog.pop_front() {
            if self.check(state, sub, seq, now) {
                return Some(self.deliver(state, seq));
            }
        }
        if self.next_arrival < state.arrivals_base {
            self.next_arrival = state.arrivals_base;
        }
        while self.next_arrival < state.arrivals_end() {
            let index = (self.next_arrival - state.arrivals_base) as usize;
            let seq = state.arrivals[index];
            self.next_arrival += 1;
            if self.check(state, sub, seq, now) {
                return Some(self.deliver(state, seq));
            }
        }
        None
    }

    /// True once nothing more can ever be delivered: the track is finished and every group
    /// that arrived was looked at. Groups held above the end bound keep the subscription open
    /// (spec 11.2).
    pub(crate) fn is_done(&self, state: &TrackState) -> bool {
        state.end.is_some()
            && self.backlog.is_empty()
            && self.held.is_empty()
            && self.next_arrival >= state.arrivals_end()
    }

    /// Checks bounds; a group above the end bound is held, not dropped.
    fn check(
        &mut self,
        state: &mut TrackState,
        sub: &Subscription,
        seq: u64,
        now: Instant,
    ) -> bool {
        if sub.end.is_some_and(|end| seq > end) {
            self.held.insert(seq);
            return false;
        }
        self.admit(state, sub, seq, now)
    }

    /// Whether a group within the bounds is still deliverable: above the floor, cached,
    /// healthy, and (unless latest) young enough for this subscriber.
    fn admit(&self, state: &mut TrackState, sub: &Subscription, seq: u64, now: Instant) -> bool {
        if self.floor.is_some_and(|floor| seq < floor) || self.delivered.contains(seq) {
            return false;
        }
        if !state
            .cache
            .get(&seq)
            .is_some_and(|e| e.live && e.is_healthy())
        {
            return false;
        }
        match state.age(seq, now) {
            Some(age) => cache::is_live(age, sub.max_latency),
            None => false,
        }
    }

    fn deliver(&mut self, state: &TrackState, seq: u64) -> u64 {
        // Bounded by the cache: once there are more runs than the cache could explain, forget
        // groups below its oldest (they left it). What is left is one run per gap in what
        // was delivered, at most one per cached group. Not on every delivery: a group that
        // left the cache early (aborted) and is re-created must still not be delivered twice
        // (found by `proptests::interleavings_never_lose_duplicate_or_hang`).
        if self.delivered.len() > 2 * state.cache.len() + 16
            && let Some(&lowest) = state.cache.keys().next()
        {
            self.delivered.forget_below(lowest);
        }
        self.delivered.insert(seq);
        if self.first.is_none() {
            self.first = Some(seq);
            self.floor = Some(self.floor.map_or(seq, |f| f.max(seq)));
        }
        seq
    }
}
