//! [`Index`]: what the disk tier holds, in memory (the only part of it in memory), and the
//! retention decisions as pure functions of the time passed in.
//!
//! Per rule, groups are kept in the order they were stored; the oldest leaves first, when it
//! is older than the rule's `max_age` or the rule's bytes are over `max_bytes`. A track whose
//! groups left keeps a small "expired through" mark, so a later lookup can tell a group that
//! aged out ([`Status::Expired`]) from one that never was ([`Status::Missing`]). Marks of
//! emptied tracks are bounded ([`MAX_TRACKS`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use super::rules::Rules;

/// Most tracks the index remembers, with or without groups on disk: over it, the marks of
/// tracks with no group left are forgotten (their old groups then read as missing). 64 Ki
/// tracks of a few hundred bytes each: a few tens of MiB at worst.
pub(crate) const MAX_TRACKS: usize = 65_536;

/// A group's key: broadcast path, track name, sequence.
pub(crate) type Key = (String, String, u64);

/// Where a stored group is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stored {
    /// The file's id (its name).
    pub(crate) id: u64,
    /// The file's size.
    pub(crate) bytes: u64,
}

/// What the index says of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// On disk in this file.
    Stored(Stored),
    /// It was on disk and has left (age or bytes).
    Expired,
    /// Never stored (or forgotten).
    Missing,
}

#[derive(Debug, Default)]
struct Track {
    groups: BTreeMap<u64, Stored>,
    /// The highest sequence that left this track.
    expired_through: Option<u64>,
    /// The lowest sequence ever stored.
    first: Option<u64>,
}

/// One stored group in a rule's queue, in storing order.
#[derive(Debug)]
struct Entry {
    key: Key,
    at: Instant,
    stored: Stored,
}

#[derive(Debug, Default)]
struct Usage {
    bytes: u64,
    queue: VecDeque<Entry>,
}

/// The disk tier's contents.
#[derive(Debug)]
pub(crate) struct Index {
    rules: Rules,
    tracks: HashMap<(String, String), Track>,
    usage: Vec<Usage>,
    bytes: u64,
    groups: u64,
}

impl Index {
    pub(crate) fn new(rules: Rules) -> Self {
        let usage = (0..rules.len()).map(|_| Usage::default()).collect();
        Self {
            rules,
            tracks: HashMap::new(),
            usage,
            bytes: 0,
            groups: 0,
        }
    }

    /// What is known of `key`.
    pub(crate) fn status(&self, key: &Key) -> Status {
        let Some(track) = self.tracks.get(&(key.0.clone(), key.1.clone())) else {
            return Status::Missing;
        };
        if let Some(stored) = track.groups.get(&key.2) {
            return Status::Stored(*stored);
        }
        match (track.first, track.expired_through) {
            (Some(first), Some(through)) if (first..=through).contains(&key.2) => Status::Expired,
            _ => Status::Missing,
        }
    }

    /// True if `key` is on disk.
    pub(crate) fn contains(&self, key: &Key) -> bool {
        matches!(self.status(key), Status::Stored(_))
    }

    /// Records that `key` was stored under rule `rule` at `now`; returns the files that must
    /// go to keep the rule's bounds (possibly this one, if it alone is over `max_bytes`).
    pub(crate) fn insert(
        &mut self,
        key: Key,
        rule: usize,
        stored: Stored,
        now: Instant,
    ) -> Vec<u64> {
        if rule >= self.usage.len() || self.contains(&key) {
            return vec![stored.id];
        }
        self.forget_marks_if_full();
        let track = self
            .tracks
            .entry((key.0.clone(), key.1.clone()))
            .or_default();
        track.groups.insert(key.2, stored);
        track.first = Some(track.first.map_or(key.2, |first| first.min(key.2)));
        self.usage[rule].bytes += stored.bytes;
        self.usage[rule].queue.push_back(Entry {
            key,
            at: now,
            stored,
        });
        self.bytes += stored.bytes;
        self.groups += 1;
        self.evict(rule, now)
    }

    /// Removes what every rule's bounds no longer allow at `now`; returns their files.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<u64> {
        (0..self.usage.len())
            .flat_map(|rule| self.evict(rule, now))
            .collect()
    }

    /// Forgets `key` without marking it expired (its file turned out damaged); returns its
    /// file if it was stored.
    pub(crate) fn forget(&mut self, key: &Key) -> Option<u64> {
        let track = self.tracks.get_mut(&(key.0.clone(), key.1.clone()))?;
        let stored = track.groups.remove(&key.2)?;
        for usage in &mut self.usage {
            if let Some(at) = usage.queue.iter().position(|e| e.stored.id == stored.id) {
                usage.queue.remove(at);
                usage.bytes -= stored.bytes;
            }
        }
        self.bytes -= stored.bytes;
        self.groups -= 1;
        Some(stored.id)
    }

    /// Bytes of every stored file.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Groups stored.
    pub(crate) fn groups(&self) -> u64 {
        self.groups
    }

    fn evict(&mut self, rule: usize, now: Instant) -> Vec<u64> {
        let Some(limits) = self.rules.get(rule).cloned() else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        loop {
            let usage = &mut self.usage[rule];
            let Some(oldest) = usage.queue.front() else {
                break;
            };
            let age = now.saturating_duration_since(oldest.at);
            if age <= limits.max_age && usage.bytes <= limits.max_bytes {
                break;
            }
            let Some(entry) = usage.queue.pop_front() else {
                break;
            };
            usage.bytes -= entry.stored.bytes;
            self.bytes -= entry.stored.bytes;
            self.groups -= 1;
            let (broadcast, name, sequence) = entry.key;
            if let Some(track) = self.tracks.get_mut(&(broadcast, name)) {
                track.groups.remove(&sequence);
                track.expired_through =
                    Some(track.expired_through.map_or(sequence, |t| t.max(sequence)));
            }
            removed.push(entry.stored.id);
        }
        removed
    }

    /// Over [`MAX_TRACKS`], drops the marks of tracks with nothing left on disk.
    fn forget_marks_if_full(&mut self) {
        if self.tracks.len() >= MAX_TRACKS {
            self.tracks.retain(|_, track| !track.groups.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::DiskRuleConfig;

    fn index(max_age: &str, max_bytes: &str) -> Index {
        let rules = Rules::parse(&[DiskRuleConfig {
            prefix: "live".into(),
            max_age: max_age.into(),
            max_bytes: max_bytes.into(),
        }])
        .unwrap();
        Index::new(rules)
    }

    fn key(seq: u64) -> Key {
        ("live/a".into(), "video".into(), seq)
    }

    fn stored(id: u64, bytes: u64) -> Stored {
        Stored { id, bytes }
    }

    #[test]
    fn a_group_is_stored_until_it_ages_out_then_reads_expired() {
        let mut index = index("10s", "1MiB");
        let t0 = Instant::now();
        assert!(index.insert(key(1), 0, stored(1, 100), t0).is_empty());
        assert!(
            index
                .insert(key(2), 0, stored(2, 100), t0 + Duration::from_secs(5))
                .is_empty()
        );
        assert_eq!(index.status(&key(1)), Status::Stored(stored(1, 100)));
        assert_eq!(
            index.expire(t0 + Duration::from_secs(10)),
            Vec::<u64>::new()
        );
        assert_eq!(index.expire(t0 + Duration::from_millis(10_001)), vec![1]);
        assert_eq!(index.status(&key(1)), Status::Expired);
        assert_eq!(index.status(&key(2)), Status::Stored(stored(2, 100)));
        assert_eq!(index.status(&key(9)), Status::Missing, "never stored");
        assert_eq!(
            index.status(&("live/b".into(), "video".into(), 1)),
            Status::Missing
        );
        assert_eq!((index.bytes(), index.groups()), (100, 1));
        assert_eq!(index.expire(t0 + Duration::from_secs(60)), vec![2]);
        assert_eq!(index.status(&key(2)), Status::Expired);
        assert_eq!((index.bytes(), index.groups()), (0, 0));
    }

    #[test]
    fn the_byte_bound_pushes_out_the_oldest_first() {
        let mut index = index("1h", "300B");
        let t0 = Instant::now();
        for seq in 1..=3 {
            assert!(index.insert(key(seq), 0, stored(seq, 100), t0).is_empty());
        }
        assert_eq!(index.insert(key(4), 0, stored(4, 100), t0), vec![1]);
        assert_eq!(index.status(&key(1)), Status::Expired);
        assert_eq!(index.bytes(), 300);
        assert_eq!(
            index.insert(key(5), 0, stored(5, 1000), t0),
            vec![2, 3, 4, 5],
            "too big alone"
        );
        assert_eq!(index.bytes(), 0);
    }

    #[test]
    fn a_duplicate_or_unruled_group_is_refused_and_its_file_removed() {
        let mut index = index("1h", "1MiB");
        let t0 = Instant::now();
        assert!(index.insert(key(1), 0, stored(1, 10), t0).is_empty());
        assert_eq!(index.insert(key(1), 0, stored(2, 10), t0), vec![2]);
        assert_eq!(index.insert(key(3), 7, stored(3, 10), t0), vec![3]);
        assert_eq!(index.groups(), 1);
    }

    #[test]
    fn a_forgotten_group_reads_missing_not_expired() {
        let mut index = index("1h", "1MiB");
        let t0 = Instant::now();
        index.insert(key(1), 0, stored(1, 10), t0);
        assert_eq!(index.forget(&key(1)), Some(1));
        assert_eq!(index.status(&key(1)), Status::Missing);
        assert_eq!((index.bytes(), index.groups()), (0, 0));
        assert_eq!(index.forget(&key(1)), None);
    }

    #[test]
    fn marks_of_emptied_tracks_are_bounded() {
        let mut index = index("1s", "1GiB");
        let t0 = Instant::now();
        for n in 0..MAX_TRACKS as u64 {
            let key = (format!("live/{n}"), "t".into(), 0);
            index.insert(key, 0, stored(n, 1), t0);
        }
        index.expire(t0 + Duration::from_secs(2));
        assert_eq!(index.tracks.len(), MAX_TRACKS);
        index.insert(key(1), 0, stored(u64::MAX, 1), t0 + Duration::from_secs(2));
        assert_eq!(
            index.tracks.len(),
            1,
            "marks forgotten, the stored track kept"
        );
    }
}
