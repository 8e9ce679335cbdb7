//! [`Frame`]: one sized payload with a timestamp.

use bytes::Bytes;

/// One frame of a group: a payload and its timestamp in the track's timescale.
///
/// Cloning is cheap (the payload is reference counted), which is how one frame reaches many
/// consumers without copying.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// Presentation time in units of the track's timescale (see
    /// [`TrackInfo::timescale`](crate::TrackInfo::timescale)).
    pub timestamp: u64,
    /// The frame's bytes.
    pub payload: Bytes,
}

impl Frame {
    /// Creates a frame.
    pub fn new(timestamp: u64, payload: impl Into<Bytes>) -> Self {
        Self {
            timestamp,
            payload: payload.into(),
        }
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Returns true for an empty payload (legal on the wire).
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }
}
