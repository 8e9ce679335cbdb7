//! [`FetchSlots`]: a track's outstanding FETCH demand, one slot per group sequence, shared by
//! every concurrent fetcher of that group. The only code that reads or edits a slot.
//!
//! A slot's life: opened by the first fetcher ([`open`](FetchSlots::open)), joined by later
//! ones, handed to the producer once ([`take_requested`](FetchSlots::take_requested)), then
//! resolved by one of two serve entry points — [`serve`](FetchSlots::serve) (a group served
//! for fetches) or [`serve_live`](FetchSlots::serve_live) (a live group of that sequence) —
//! or by [`reject`](FetchSlots::reject). It goes when its last fetcher
//! [`leave`](FetchSlots::leave)s.

use std::collections::BTreeMap;
use std::task::Poll;

use crate::group::GroupObserver;
use crate::{Error, Frame, GroupProducer};

/// One sequence's outstanding demand.
struct FetchSlot {
    /// Tells this slot apart from an earlier one of the same sequence.
    id: u64,
    /// Live fetchers waiting on this slot.
    requesters: usize,
    /// The highest priority among the requesters.
    priority: u8,
    /// Frames of a cut-short cached copy: serving resumes after them.
    prefix: Vec<Frame>,
    state: SlotState,
}

enum SlotState {
    /// Waiting for the producer to take it.
    Requested,
    /// Handed to the producer as a request.
    Announced,
    /// Served (by a fetch response or a live group with the same sequence).
    Served(GroupObserver),
    /// Refused by the producer.
    Rejected(Error),
}

impl SlotState {
    fn is_open(&self) -> bool {
        matches!(self, Self::Requested | Self::Announced)
    }
}

/// A slot handed to the producer by [`FetchSlots::take_requested`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Taken {
    pub(crate) sequence: u64,
    pub(crate) id: u64,
    pub(crate) priority: u8,
    /// Frames already held from a cut-short copy.
    pub(crate) frame_start: usize,
}

/// A track's fetch slots by sequence.
#[derive(Default)]
pub(crate) struct FetchSlots {
    slots: BTreeMap<u64, FetchSlot>,
}

impl FetchSlots {
    /// Adds a fetcher to `sequence`'s slot unless there is none or it was rejected (then the
    /// caller [`open`](Self::open)s a new one). Returns the slot's id.
    pub(crate) fn join(&mut self, sequence: u64, priority: u8) -> Option<u64> {
        let slot = self
            .slots
            .get_mut(&sequence)
            .filter(|slot| !matches!(slot.state, SlotState::Rejected(_)))?;
        slot.requesters += 1;
        slot.priority = slot.priority.max(priority);
        Some(slot.id)
    }

    /// Opens slot `id` for `sequence` with one fetcher, replacing a rejected one; serving
    /// resumes after `prefix`.
    pub(crate) fn open(&mut self, sequence: u64, id: u64, priority: u8, prefix: Vec<Frame>) {
        let slot = FetchSlot {
            id,
            requesters: 1,
            priority,
            prefix,
            state: SlotState::Requested,
        };
        self.slots.insert(sequence, slot);
    }

    /// Removes a fetcher from slot `id`; the last one removes the slot.
    pub(crate) fn leave(&mut self, sequence: u64, id: u64) {
        let Some(slot) = self.slot_mut(sequence, id) else {
            return;
        };
        slot.requesters -= 1;
        if slot.requesters == 0 {
            self.slots.remove(&sequence);
        }
    }

    /// Slot `id`'s outcome: the served group, the rejection, or [`Error::Cancel`] if the slot
    /// is gone (a fetcher's slot cannot vanish while it holds a requester count on it).
    pub(crate) fn poll(&self, sequence: u64, id: u64) -> Poll<Result<GroupObserver, Error>> {
        match self.slots.get(&sequence).filter(|slot| slot.id == id) {
            Some(slot) => match &slot.state {
                SlotState::Served(group) => Poll::Ready(Ok(group.clone())),
                SlotState::Rejected(err) => Poll::Ready(Err(err.clone())),
                SlotState::Requested | SlotState::Announced => Poll::Pending,
            },
            None => Poll::Ready(Err(Error::Cancel)),
        }
    }

    /// True while slot `id` has a fetcher.
    pub(crate) fn is_wanted(&self, sequence: u64, id: u64) -> bool {
        self.slots
            .get(&sequence)
            .is_some_and(|slot| slot.id == id && slot.requesters > 0)
    }

    /// Takes the most urgent slot nobody handed out yet: highest priority, then lowest
    /// sequence.
    pub(crate) fn take_requested(&mut self) -> Option<Taken> {
        let (&sequence, slot) = self
            .slots
            .iter_mut()
            .filter(|(_, slot)| matches!(slot.state, SlotState::Requested) && slot.requesters > 0)
            .max_by_key(|(seq, slot)| (slot.priority, std::cmp::Reverse(**seq)))?;
        slot.state = SlotState::Announced;
        Some(Taken {
            sequence,
            id: slot.id,
            priority: slot.priority,
            frame_start: slot.prefix.len(),
        })
    }

    /// Refuses slot `id` with `err`, unless it was resolved already.
    pub(crate) fn reject(&mut self, sequence: u64, id: u64, err: Error) {
        if let Some(slot) = self.slot_mut(sequence, id)
            && slot.state.is_open()
        {
            slot.state = SlotState::Rejected(err);
        }
    }

    /// Takes the cut-short frames `sequence`'s slot resumes after; `None` without a slot.
    pub(crate) fn take_prefix(&mut self, sequence: u64) -> Option<Vec<Frame>> {
        let slot = self.slots.get_mut(&sequence)?;
        Some(std::mem::take(&mut slot.prefix))
    }

    /// Serve entry point for a group served for fetches (or a healthy cached copy): resolves
    /// `sequence`'s slot with `group`, whatever its state.
    pub(crate) fn serve(&mut self, sequence: u64, group: GroupObserver) {
        if let Some(slot) = self.slots.get_mut(&sequence) {
            slot.state = SlotState::Served(group);
        }
    }

    /// Serve entry point for a new live group: resolves `sequence`'s slot with `group` unless
    /// it was served or rejected already.
    pub(crate) fn serve_live(&mut self, sequence: u64, group: &GroupProducer) {
        if let Some(slot) = self.slots.get_mut(&sequence)
            && slot.state.is_open()
        {
            slot.state = SlotState::Served(group.observe());
        }
    }

    fn slot_mut(&mut self, sequence: u64, id: u64) -> Option<&mut FetchSlot> {
        self.slots.get_mut(&sequence).filter(|slot| slot.id == id)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn group(sequence: u64) -> GroupObserver {
        GroupProducer::new(sequence, 1000).observe()
    }

    #[test]
    fn fetchers_of_one_sequence_share_a_slot_handed_out_once() {
        let mut slots = FetchSlots::default();
        assert_eq!(slots.join(4, 1), None);
        slots.open(4, 10, 1, Vec::new());
        assert_eq!(slots.join(4, 5), Some(10));
        slots.open(2, 11, 0, Vec::new());
        // Highest priority first, then lowest sequence.
        let taken = slots.take_requested().unwrap();
        assert_eq!((taken.sequence, taken.id, taken.priority), (4, 10, 5));
        assert_eq!(slots.take_requested().map(|t| t.sequence), Some(2));
        assert_eq!(slots.take_requested(), None);
        assert!(slots.poll(4, 10).is_pending());
    }

    #[test]
    fn the_last_fetcher_leaving_removes_the_slot() {
        let mut slots = FetchSlots::default();
        slots.open(1, 0, 0, Vec::new());
        slots.join(1, 0);
        slots.leave(1, 0);
        assert!(slots.is_wanted(1, 0));
        slots.leave(1, 0);
        assert!(!slots.is_wanted(1, 0));
        assert!(matches!(slots.poll(1, 0), Poll::Ready(Err(Error::Cancel))));
        assert_eq!(slots.take_requested(), None);
    }

    #[test]
    fn a_rejected_slot_is_replaced_by_the_next_fetcher() {
        let mut slots = FetchSlots::default();
        slots.open(1, 0, 0, Vec::new());
        slots.reject(1, 0, Error::NotFound);
        assert!(matches!(
            slots.poll(1, 0),
            Poll::Ready(Err(Error::NotFound))
        ));
        // A live group does not override the refusal; a served one does.
        slots.serve_live(1, &GroupProducer::new(1, 1000));
        assert!(matches!(
            slots.poll(1, 0),
            Poll::Ready(Err(Error::NotFound))
        ));
        assert_eq!(slots.join(1, 0), None);
        slots.open(1, 1, 0, Vec::new());
        assert!(matches!(slots.poll(1, 0), Poll::Ready(Err(Error::Cancel))));
        slots.serve(1, group(1));
        assert!(matches!(slots.poll(1, 1), Poll::Ready(Ok(_))));
        // Once served, a rejection comes too late.
        slots.reject(1, 1, Error::NotFound);
        assert!(matches!(slots.poll(1, 1), Poll::Ready(Ok(_))));
    }

    #[test]
    fn the_prefix_is_taken_once_and_sets_the_frame_start() {
        let mut slots = FetchSlots::default();
        let frame = Frame::new(0, "a");
        slots.open(3, 0, 0, vec![frame.clone(), frame]);
        assert_eq!(slots.take_requested().map(|t| t.frame_start), Some(2));
        assert_eq!(slots.take_prefix(3).map(|p| p.len()), Some(2));
        assert_eq!(slots.take_prefix(3).map(|p| p.len()), Some(0));
        assert_eq!(slots.take_prefix(9), None);
    }
}
