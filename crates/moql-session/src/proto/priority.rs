//! Group stream send order (spec 11.4): subscriber priority first, then publisher priority,
//! then group order — newest first unless the subscriber asked for oldest first.

/// The send priority of a group or fetch stream: higher is sent first.
///
/// The three keys are packed into one `u32` (8 bits subscriber priority, 8 bits publisher
/// priority, 16 bits position of the group), then shifted into `i32` order-preservingly. Only
/// the low 16 bits of the sequence take part: within one subscription, groups more than 65,535
/// apart are never in flight together.
pub(crate) fn group_priority(subscriber: u8, publisher: u8, ordered: bool, sequence: u64) -> i32 {
    let low = (sequence & 0xffff) as u32;
    let position = if ordered { 0xffff - low } else { low };
    let packed = (u32::from(subscriber) << 24) | (u32::from(publisher) << 16) | position;
    // Flipping the top bit maps u32 order onto i32 order.
    (packed ^ 0x8000_0000) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_priority_dominates() {
        assert!(group_priority(2, 0, false, 0) > group_priority(1, 255, false, 65_535));
        assert!(group_priority(255, 0, false, 0) > group_priority(0, 0, false, 0));
    }

    #[test]
    fn publisher_priority_breaks_ties() {
        assert!(group_priority(1, 3, false, 0) > group_priority(1, 2, false, 9));
    }

    #[test]
    fn newest_first_unless_ordered() {
        assert!(group_priority(1, 1, false, 10) > group_priority(1, 1, false, 9));
        assert!(group_priority(1, 1, true, 9) > group_priority(1, 1, true, 10));
    }

    #[test]
    fn extremes_stay_in_range_and_ordered() {
        assert_eq!(group_priority(0, 0, true, 0xffff), i32::MIN);
        assert_eq!(group_priority(255, 255, false, 0xffff), i32::MAX);
    }
}
