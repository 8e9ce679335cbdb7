//! Hop chains across versions (spec 5.4, 9; older-versions.md).
//!
//! A *chain* is the route a broadcast took: its original publisher first, then every relay,
//! up to (and including) the peer we learned it from. On the wire:
//! - lite-05 lists the chain without the sender; the sender's ID is ANNOUNCE_OK's Hop ID.
//! - lite-04 lists the chain with the sender's own ID appended last.
//! - lite-03 sends only a count, which includes the sender; IDs are unknown (0).

use moql_wire::Version;
use moql_wire::limits::MAX_HOPS;

/// The hop list to put in an ANNOUNCE for a broadcast whose stored chain is `chain`, sent by
/// us (`own_id`).
pub(crate) fn encode_hops(chain: &[u64], own_id: u64, version: Version) -> Vec<u64> {
    let mut hops = chain.to_vec();
    if version.announce_lists_sender() || version.announce_count_includes_sender() {
        hops.push(own_id);
    }
    hops
}

/// Rebuilds the full chain from a received hop list and the sender's ID (ANNOUNCE_OK's Hop ID
/// on lite-05; unused before). Returns `None` if the chain would exceed the limit (spec 5.4
/// step 2: "If that would exceed 32 entries, ignore the announcement").
pub(crate) fn decode_chain(hops: &[u64], sender_id: u64, version: Version) -> Option<Vec<u64>> {
    let mut chain = hops.to_vec();
    if version.has_announce_ok() {
        chain.push(sender_id);
    }
    (chain.len() <= MAX_HOPS).then_some(chain)
}

/// Gives an anonymous sender an identity: the last entry of a received chain is the peer we
/// learned it from, 0 when that peer names none (lite-03 hop counts, a 0 ANNOUNCE_OK Hop ID);
/// it becomes this session's `stamp`, so the route is never announced back to that peer and
/// forwarded chains say where it came from (as the reference stamps them, moq-lite-06.md 6.7
/// step 5).
pub(crate) fn stamp_sender(chain: &mut [u64], stamp: u64) {
    if let Some(sender @ 0) = chain.last_mut() {
        *sender = stamp;
    }
}

/// Loop avoidance (spec 9): a route is not used if its chain contains `id` (non-zero).
pub(crate) fn contains(chain: &[u64], id: u64) -> bool {
    id != 0 && chain.contains(&id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lite05_moves_the_sender_into_announce_ok() {
        assert_eq!(encode_hops(&[5], 9, Version::Lite05), vec![5]);
        assert_eq!(decode_chain(&[5], 9, Version::Lite05), Some(vec![5, 9]));
    }

    #[test]
    fn lite04_lists_the_sender_last() {
        assert_eq!(encode_hops(&[5], 9, Version::Lite04), vec![5, 9]);
        assert_eq!(decode_chain(&[5, 9], 0, Version::Lite04), Some(vec![5, 9]));
    }

    #[test]
    fn lite03_counts_the_sender() {
        assert_eq!(encode_hops(&[], 9, Version::Lite03).len(), 1);
    }

    #[test]
    fn an_over_long_chain_is_ignored() {
        let hops = vec![1; 32];
        assert_eq!(decode_chain(&hops, 2, Version::Lite05), None);
        assert!(decode_chain(&hops, 0, Version::Lite04).is_some());
    }

    #[test]
    fn an_anonymous_sender_is_stamped_and_a_named_one_kept() {
        let mut lite03 = decode_chain(&[0, 0], 0, Version::Lite03).unwrap();
        stamp_sender(&mut lite03, 77);
        assert_eq!(lite03, vec![0, 77]);
        assert!(contains(&lite03, 77));
        let mut named = decode_chain(&[5], 9, Version::Lite05).unwrap();
        stamp_sender(&mut named, 77);
        assert_eq!(named, vec![5, 9]);
        let mut unnamed = decode_chain(&[5], 0, Version::Lite05).unwrap();
        stamp_sender(&mut unnamed, 77);
        assert_eq!(unnamed, vec![5, 77]);
        let mut empty: Vec<u64> = Vec::new();
        stamp_sender(&mut empty, 77);
        assert!(empty.is_empty());
    }

    #[test]
    fn zero_never_matches_a_loop() {
        assert!(!contains(&[0, 0], 0));
        assert!(contains(&[4, 7], 7));
    }
}
