//! [`Meter`]: the hook through which a session reports what an operator counts (payload bytes
//! and FETCHes), so an application such as a relay can feed its own metrics without the
//! session depending on a metrics library.

use std::fmt;
use std::time::Duration;

/// Receives a session's counts as they happen. Set with
/// [`SessionConfig::meter`](crate::SessionConfig::meter); none by default.
///
/// The payload methods run once per FRAME on the send and receive paths: an implementation
/// should be an atomic add on a handle resolved when the session started (no map lookup, no
/// allocation, no lock). Calls come from any of the session's tasks at once.
pub trait Meter: Send + Sync + fmt::Debug {
    /// A FRAME whose payload is `bytes` long was handed to the transport: on a group stream,
    /// a fetch stream or as a datagram. Headers and transport overhead are not counted, and
    /// frames skipped by lite-06 frame bounds are not either.
    fn payload_sent(&self, bytes: u64);

    /// A FRAME whose payload is `bytes` long was received whole from the peer (group stream,
    /// fetch reply or datagram) and delivered to its group.
    fn payload_received(&self, bytes: u64);

    /// The peer's FETCH request was decoded (counted whether or not it is answered).
    fn fetch_received(&self);

    /// A FETCH from the peer found its group (in the cache, the archive or upstream) `wait`
    /// after it was decoded; its frames start to go out. Refused fetches are not reported.
    fn fetch_answered(&self, wait: Duration);
}
