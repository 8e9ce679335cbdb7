//! [`GroupProducer`] and [`GroupConsumer`]: an append-only, ordered run of frames.

use std::fmt;
use std::task::Poll;

use moql_sync::{Closed, Consumer, Observer, Producer, Waiter, poll_fn};

use crate::budget::{FRAME_OVERHEAD, GROUP_OVERHEAD};
use crate::error::from_closed;
use crate::{Error, Frame};

/// The cache charge of a group of `frames` frames holding `bytes` payload bytes.
pub(crate) fn charge_of(bytes: usize, frames: usize) -> usize {
    bytes
        .saturating_add(frames.saturating_mul(FRAME_OVERHEAD))
        .saturating_add(GROUP_OVERHEAD)
}

/// The shared state of one group.
#[derive(Debug)]
pub(crate) struct GroupState {
    pub(crate) sequence: u64,
    pub(crate) timescale: u64,
    pub(crate) frames: Vec<Frame>,
    pub(crate) bytes: usize,
    /// The most this group may be [`charged`](Self::charged); a frame past it ends the group
    /// with [`Error::BoundsExceeded`].
    pub(crate) max_charge: usize,
}

impl GroupState {
    /// What the group costs a cache: its payload plus [`FRAME_OVERHEAD`] per frame and
    /// [`GROUP_OVERHEAD`], so empty frames and empty groups are not free.
    pub(crate) fn charged(&self) -> usize {
        charge_of(self.bytes, self.frames.len())
    }

    pub(crate) fn first_timestamp(&self) -> Option<u64> {
        self.frames.first().map(|f| f.timestamp)
    }
}

pub(crate) type GroupObserver = Observer<GroupState, Error>;

/// How a group stands: still being written, complete, or cut short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupStatus {
    /// More frames may come.
    Open,
    /// [`GroupProducer::finish`] was called: the frames are complete.
    Finished,
    /// The group ended early with this error (aborted, or its producer was dropped:
    /// [`Error::Dropped`]); the frames written so far stay readable.
    Aborted(Error),
}

pub(crate) fn status_of(closed: Option<Closed<Error>>) -> GroupStatus {
    match closed {
        None => GroupStatus::Open,
        Some(Closed::Closed) => GroupStatus::Finished,
        Some(other) => GroupStatus::Aborted(from_closed(other)),
    }
}

/// Writes the frames of one group, in order.
///
/// Clones write to the same group. The group ends when one of them calls
/// [`finish`](Self::finish) (complete) or [`abort`](Self::abort), or when the last clone is
/// dropped, which aborts it with [`Error::Dropped`]: a group is only complete if someone said
/// so. Frames written before the end stay readable by every consumer.
#[derive(Clone)]
pub struct GroupProducer {
    inner: Producer<GroupState, Error>,
    sequence: u64,
    timescale: u64,
}

impl GroupProducer {
    /// Creates a stand-alone group (not part of a track's cache).
    ///
    /// Groups of a track come from [`TrackProducer::create_group`](crate::TrackProducer::create_group)
    /// and fetch serving instead, which also put them in the track's cache.
    pub fn new(sequence: u64, timescale: u64) -> Self {
        Self::with_frames(sequence, timescale, Vec::new())
    }

    /// Creates a group that already holds `frames` (used to resume a cut-short group).
    pub(crate) fn with_frames(sequence: u64, timescale: u64, frames: Vec<Frame>) -> Self {
        Self::capped(sequence, timescale, frames, usize::MAX)
    }

    /// A group that ends with [`Error::BoundsExceeded`] once a frame would take its charge
    /// ([`GroupState::charged`]) past `max_charge`.
    pub(crate) fn capped(
        sequence: u64,
        timescale: u64,
        frames: Vec<Frame>,
        max_charge: usize,
    ) -> Self {
        let bytes = frames.iter().map(Frame::len).sum();
        Self {
            inner: Producer::new(GroupState {
                sequence,
                timescale,
                frames,
                bytes,
                max_charge,
            }),
            sequence,
            timescale,
        }
    }

    /// The group's sequence number within its track.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Units per second of frame timestamps.
    pub fn timescale(&self) -> u64 {
        self.timescale
    }

    /// Appends a frame; consumers waiting for the next frame are woken.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the group has ended, however it ended (finished, aborted, or
    /// dropped by every other clone): the abort's reason is what consumers see, not writers.
    /// [`Error::BoundsExceeded`] if the group belongs to a track with a byte limit
    /// ([`CacheLimits::track_bytes`](crate::CacheLimits::track_bytes)) and this frame would
    /// take it past that limit (payload plus per-frame overhead): the group is then aborted
    /// with that error, so its consumers learn it was cut short.
    pub fn write_frame(&self, frame: Frame) -> Result<(), Error> {
        let mut state = self.inner.write().map_err(closed_error)?;
        let after = charge_of(
            state.bytes.saturating_add(frame.len()),
            state.frames.len() + 1,
        );
        if after > state.max_charge {
            drop(state);
            let _ = self.inner.abort(Error::BoundsExceeded);
            return Err(Error::BoundsExceeded);
        }
        state.bytes += frame.len();
        state.frames.push(frame);
        Ok(())
    }

    /// Appends a frame built from a timestamp and a payload.
    ///
    /// # Errors
    ///
    /// As [`write_frame`](Self::write_frame).
    pub fn write(&self, timestamp: u64, payload: impl Into<bytes::Bytes>) -> Result<(), Error> {
        self.write_frame(Frame::new(timestamp, payload))
    }

    /// Marks the group complete.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if it already ended (finished or aborted).
    pub fn finish(&self) -> Result<(), Error> {
        self.inner.close().map_err(closed_error)
    }

    /// Ends the group early with `err`; consumers read the frames written so far, then `err`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if it already ended.
    pub fn abort(&self, err: Error) -> Result<(), Error> {
        self.inner.abort(err).map_err(closed_error)
    }

    /// A consumer starting at the first frame.
    pub fn consume(&self) -> GroupConsumer {
        GroupConsumer::new(self.inner.consume(), self.sequence, self.timescale)
    }

    /// The number of frames written so far.
    pub fn frame_count(&self) -> usize {
        self.inner.read().frames.len()
    }

    /// The number of payload bytes written so far.
    pub fn byte_count(&self) -> usize {
        self.inner.read().bytes
    }

    /// How the group stands.
    pub fn status(&self) -> GroupStatus {
        status_of(self.inner.closed())
    }

    /// Resolves when no consumer of this group is left (cached copies do not count).
    pub fn poll_unused(&self, waiter: &Waiter) -> Poll<()> {
        self.inner.poll_unused(waiter)
    }

    /// Waits until no consumer of this group is left.
    pub async fn unused(&self) {
        self.inner.unused().await
    }

    pub(crate) fn observe(&self) -> GroupObserver {
        self.inner.observe()
    }
}

/// A write to an ended group is [`Error::Closed`]; the original reason is what consumers see.
fn closed_error(_: Closed<Error>) -> Error {
    Error::Closed
}

impl fmt::Debug for GroupProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupProducer")
            .field("sequence", &self.sequence)
            .field("frames", &self.frame_count())
            .field("status", &self.status())
            .finish()
    }
}

/// Reads the frames of one group in order, from any starting point.
///
/// Each consumer has its own position; clones start where the original is. Many consumers
/// read one group without copying payloads. Reading past the last frame waits for the next
/// one; after a clean finish it returns `Ok(None)`; after an abort it returns the error
/// (frames written before the abort are still returned first).
pub struct GroupConsumer {
    inner: Consumer<GroupState, Error>,
    sequence: u64,
    timescale: u64,
    index: usize,
}

impl GroupConsumer {
    pub(crate) fn new(inner: Consumer<GroupState, Error>, sequence: u64, timescale: u64) -> Self {
        Self {
            inner,
            sequence,
            timescale,
            index: 0,
        }
    }

    pub(crate) fn from_observer(observer: &GroupObserver) -> Self {
        let (sequence, timescale) = {
            let state = observer.read();
            (state.sequence, state.timescale)
        };
        Self::new(observer.consume(), sequence, timescale)
    }

    /// The group's sequence number within its track.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Units per second of frame timestamps.
    pub fn timescale(&self) -> u64 {
        self.timescale
    }

    /// The index of the next frame this consumer will read.
    pub fn position(&self) -> usize {
        self.index
    }

    /// Moves to frame `index` (0 = first). Moving past the end waits for that frame.
    pub fn seek(&mut self, index: usize) {
        self.index = index;
    }

    /// Returns the next frame, `Ready(Ok(None))` at a clean end, or the error of an aborted
    /// group once its written frames are read.
    pub fn poll_next_frame(&mut self, waiter: &Waiter) -> Poll<Result<Option<Frame>, Error>> {
        let index = self.index;
        let polled = self
            .inner
            .poll(waiter, |state| match state.frames.get(index) {
                Some(frame) => Poll::Ready(frame.clone()),
                None => Poll::Pending,
            });
        match polled {
            Poll::Ready(Ok(frame)) => {
                self.index += 1;
                Poll::Ready(Ok(Some(frame)))
            }
            Poll::Ready(Err(Closed::Closed)) => Poll::Ready(Ok(None)),
            Poll::Ready(Err(other)) => Poll::Ready(Err(from_closed(other))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Waits for the next frame; see [`poll_next_frame`](Self::poll_next_frame).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the position only advances when a frame is returned.
    pub async fn next_frame(&mut self) -> Result<Option<Frame>, Error> {
        poll_fn(|waiter| self.poll_next_frame(waiter)).await
    }

    /// Reads every remaining frame until the group finishes.
    ///
    /// # Errors
    ///
    /// The group's error if it was aborted (the frames read so far are lost to the caller;
    /// use [`next_frame`](Self::next_frame) to keep them).
    pub async fn read_all(&mut self) -> Result<Vec<Frame>, Error> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame().await? {
            frames.push(frame);
        }
        Ok(frames)
    }

    /// The frames written so far, without waiting (from the first, regardless of position).
    pub fn frames(&self) -> Vec<Frame> {
        self.inner.read().frames.clone()
    }

    /// How the group stands.
    pub fn status(&self) -> GroupStatus {
        status_of(self.inner.closed())
    }

    /// The number of payload bytes written so far (regardless of position).
    pub fn byte_count(&self) -> usize {
        self.inner.read().bytes
    }

    /// Waits until the group has ended and returns how.
    pub async fn ended(&self) -> GroupStatus {
        status_of(Some(self.inner.wait_closed().await))
    }
}

impl Clone for GroupConsumer {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            sequence: self.sequence,
            timescale: self.timescale,
            index: self.index,
        }
    }
}

impl fmt::Debug for GroupConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupConsumer")
            .field("sequence", &self.sequence)
            .field("position", &self.index)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use futures::executor::block_on;

    use super::*;

    #[test]
    fn consumers_read_every_frame_in_order_then_the_end() {
        let group = GroupProducer::new(3, 1000);
        let mut early = group.consume();
        group.write(10, "a").unwrap();
        group.write(20, "b").unwrap();
        let mut late = group.consume();
        group.finish().unwrap();
        for consumer in [&mut early, &mut late] {
            let frames = block_on(consumer.read_all()).unwrap();
            assert_eq!(frames, vec![Frame::new(10, "a"), Frame::new(20, "b")]);
            assert_eq!(block_on(consumer.next_frame()), Ok(None));
        }
        assert_eq!(early.sequence(), 3);
        assert_eq!(early.timescale(), 1000);
    }

    #[test]
    fn abort_delivers_written_frames_then_the_error() {
        let group = GroupProducer::new(0, 1000);
        let mut consumer = group.consume();
        group.write(1, "x").unwrap();
        group.abort(Error::Old).unwrap();
        assert_eq!(
            block_on(consumer.next_frame()),
            Ok(Some(Frame::new(1, "x")))
        );
        assert_eq!(block_on(consumer.next_frame()), Err(Error::Old));
        assert_eq!(consumer.status(), GroupStatus::Aborted(Error::Old));
        assert_eq!(group.write(2, "y"), Err(Error::Closed));
        assert_eq!(group.finish(), Err(Error::Closed));
    }

    #[test]
    fn dropping_every_producer_aborts_as_dropped() {
        let group = GroupProducer::new(0, 1000);
        let clone = group.clone();
        let mut consumer = group.consume();
        group.write(1, "x").unwrap();
        drop(group);
        assert_eq!(consumer.status(), GroupStatus::Open, "a clone still writes");
        drop(clone);
        assert_eq!(block_on(consumer.read_all()), Err(Error::Dropped));
        assert_eq!(consumer.status(), GroupStatus::Aborted(Error::Dropped));
    }

    #[test]
    fn seek_reads_from_any_point_and_clones_keep_position() {
        let group = GroupProducer::new(0, 1000);
        for i in 0..5 {
            group.write(i, vec![i as u8]).unwrap();
        }
        group.finish().unwrap();
        let mut consumer = group.consume();
        consumer.seek(3);
        let clone = consumer.clone();
        assert_eq!(clone.position(), 3);
        let rest = block_on(consumer.read_all()).unwrap();
        assert_eq!(
            rest.iter().map(|f| f.timestamp).collect::<Vec<_>>(),
            vec![3, 4]
        );
    }

    #[test]
    fn a_waiting_reader_is_woken_by_the_next_frame() {
        let group = GroupProducer::new(0, 1000);
        let mut consumer = group.consume();
        let reader = std::thread::spawn(move || block_on(consumer.next_frame()));
        group.write(5, "late").unwrap();
        assert_eq!(reader.join().unwrap(), Ok(Some(Frame::new(5, "late"))));
    }

    #[test]
    fn unused_tracks_real_consumers() {
        let group = GroupProducer::new(0, 1000);
        let consumer = group.consume();
        assert!(group.poll_unused(&Waiter::noop()).is_pending());
        drop(consumer);
        assert!(group.poll_unused(&Waiter::noop()).is_ready());
    }
}
