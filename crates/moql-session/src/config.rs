//! [`SessionConfig`]: what a session publishes, where the peer's broadcasts go, and limits.

use std::sync::Arc;
use std::time::Duration;

use moql_model::{Archive, CacheLimits, OriginConsumer, OriginProducer, Path};

use crate::meter::Meter;

/// A default for [`Accepting::new`](crate::Accepting::new)'s SETUP timeout: 10 s, ample for a SETUP sent right after the
/// handshake even over a lossy path, short enough that idle half-open sessions do not pile up.
pub const DEFAULT_SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`SessionConfig::max_subscriptions`]: half the default QUIC stream limit (1024
/// bidirectional streams), so the limit answers with a code before flow control stalls the
/// peer, while leaving room for announce, track and fetch streams.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 512;

/// Default [`SessionConfig::max_announcements`]: 10 000 broadcasts, far above any one
/// publisher's needs (a cluster peer relaying many rooms included) and far below what would
/// make the origin's tables a memory problem.
pub const DEFAULT_MAX_ANNOUNCEMENTS: usize = 10_000;

/// Default [`SessionConfig::max_announce_streams`]: 64 Announce streams, one per prefix a
/// peer watches at once (an honest client needs a handful). Each stream is an origin watcher
/// that every announcement under its prefix touches, so this bounds what one session adds to
/// every publish (issue #16).
pub const DEFAULT_MAX_ANNOUNCE_STREAMS: usize = 64;

/// Default [`SessionConfig::max_buffered`]: 16 MiB per subscription, about 5 s of a 25 Mbit/s
/// stream: a subscriber further behind than that is better served by fresh groups.
pub const DEFAULT_MAX_BUFFERED: usize = 16 * 1024 * 1024;

/// Default [`SessionConfig::max_receive_buffer`]: 64 MiB, two frames of the largest size a
/// receiver accepts (32 MiB, spec 2.10) arriving at once.
pub const DEFAULT_MAX_RECEIVE_BUFFER: usize = 64 * 1024 * 1024;

/// Default [`SessionConfig::header_timeout`]: 10 s, as for SETUP: a stream's type and header
/// travel in its first packet, so only a peer that means to hold the stream open is slower.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`SessionConfig::announce_wait`]: 5 s, long enough for a publisher that connects
/// a moment after its first viewer (a page load, a stream start) and short enough that a
/// request for a broadcast that never comes fails while its asker still waits for an answer.
pub const DEFAULT_ANNOUNCE_WAIT: Duration = Duration::from_secs(5);

/// How a session behaves. Build with [`SessionConfig::new`] and the `with_*` methods.
#[derive(Debug)]
pub struct SessionConfig {
    /// Broadcasts offered to the peer. Its prefix is the session's root on our side: a wire
    /// path `p` names `prefix/p`. `None` publishes nothing.
    pub publish: Option<OriginConsumer>,
    /// Where the peer's broadcasts are published, under [`root`](Self::root). `None`
    /// consumes nothing (no announce stream is opened).
    pub subscribe: Option<OriginProducer>,
    /// The path under which the peer's broadcasts are published in `subscribe`.
    pub root: Path,
    /// The prefix of the peer's broadcasts we ask to learn about (ANNOUNCE_REQUEST).
    pub announce_prefix: Path,
    /// Our origin (hop) ID: non-zero, below 2^53 so JavaScript peers read it exactly (spec 2.1).
    pub origin_id: u64,
    /// The SETUP Path parameter (clients on URI-less transports only, spec 5.1.2).
    pub setup_path: Option<String>,
    /// Send a finished one-frame group as a QUIC datagram when its encoding is at most this
    /// many bytes (and fits the transport's limit). `None` (the default) never does.
    pub datagram_max: Option<usize>,
    /// Open a probe stream when the peer offers estimates, and keep the latest report.
    pub probe: bool,
    /// Byte limits on the caches of the peer's tracks (none by default: the publisher's max
    /// latency alone bounds them). A relay shares one total budget across all its sessions.
    pub cache_limits: CacheLimits,
    /// Most Subscribe streams the peer may hold open at once; default
    /// [`DEFAULT_MAX_SUBSCRIPTIONS`]. One more is reset with
    /// [`ErrorCode::TOO_MANY_REQUESTS`](moql_wire::ErrorCode::TOO_MANY_REQUESTS) (493); the
    /// session and its other subscriptions carry on.
    pub max_subscriptions: usize,
    /// Most broadcasts the peer may have announced to us at once; default
    /// [`DEFAULT_MAX_ANNOUNCEMENTS`]. One more closes the session with
    /// [`ErrorCode::TOO_MANY_REQUESTS`](moql_wire::ErrorCode::TOO_MANY_REQUESTS) (493): the
    /// announce stream failing is fatal (spec 4.2).
    pub max_announcements: usize,
    /// Most Announce streams the peer may hold open at once; default
    /// [`DEFAULT_MAX_ANNOUNCE_STREAMS`]. One more is reset with
    /// [`ErrorCode::TOO_MANY_REQUESTS`](moql_wire::ErrorCode::TOO_MANY_REQUESTS) (493); the
    /// session and its other streams carry on.
    pub max_announce_streams: usize,
    /// Payload bytes one subscription may hold in group streams the peer has not yet taken
    /// (written or being written, not acknowledged); default [`DEFAULT_MAX_BUFFERED`]. When a
    /// new group arrives over it, the subscription's oldest in-flight groups are reset with 26
    /// (Lagged) until it is under again; the newest group is always sent.
    pub max_buffered: usize,
    /// The longest a remote track's groups are cached here: a relay caches with
    /// `min(upstream publisher max latency, this ceiling)` and re-advertises that (spec 11.5).
    /// `None` keeps the upstream's value.
    pub cache_ceiling: Option<Duration>,
    /// How long a stream the peer opened may take to send its type and header; default
    /// [`DEFAULT_HEADER_TIMEOUT`]. Later, the stream is stopped with 3 (Timeout) and its slot
    /// freed (a silent stream never holds up the streams behind it: each is read on its own).
    pub header_timeout: Duration,
    /// Bytes the peer's group and fetch streams may hold here in frames not yet complete,
    /// over all of them (each stream's first 64 KiB aside); default
    /// [`DEFAULT_MAX_RECEIVE_BUFFER`]. The stream whose read would go over is stopped with
    /// [`ErrorCode::TOO_MANY_REQUESTS`](moql_wire::ErrorCode::TOO_MANY_REQUESTS) (493) and its
    /// group aborted; the session carries on.
    pub max_receive_buffer: usize,
    /// Wire-path prefixes the peer may learn about, subscribe to and fetch; `None` allows
    /// everything. Requests outside are refused with 6 (Unauthorized) and such broadcasts are
    /// never announced.
    pub allow_subscribe: Option<Vec<Path>>,
    /// Wire-path prefixes the peer may publish; `None` allows everything. Announcements outside
    /// are ignored.
    pub allow_publish: Option<Vec<Path>>,
    /// How long a SUBSCRIBE, FETCH or TRACK for a broadcast that has no route yet waits for
    /// one to be announced before it fails as it would at once (30 Unroutable); default
    /// [`DEFAULT_ANNOUNCE_WAIT`], zero fails at once. The peer's RESET of the request ends
    /// the wait; while waiting, a SUBSCRIBE counts against
    /// [`max_subscriptions`](Self::max_subscriptions).
    pub announce_wait: Duration,
    /// A tier behind the memory cache (none by default): every group the peer delivers whole
    /// is [recorded](Archive::record) there, and fetches the cache cannot answer, or whose
    /// broadcast is gone, are answered from it before (or instead of) the peer. A relay
    /// shares one archive across its sessions.
    pub archive: Option<Arc<dyn Archive>>,
    /// How long a broadcast the peer delivered stays announced after the peer vanished
    /// without ending it (connection lost or timed out, or closed after a GOAWAY), so that a
    /// session announcing the same path within it resumes the broadcast: subscribers keep
    /// their tracks and see no end (issue #18; see [`Departure`](moql_model::Departure)).
    /// Zero (the default for a library session) ends such broadcasts at once; a relay uses
    /// [`DEFAULT_LINGER`](moql_model::DEFAULT_LINGER). A clean end (ANNOUNCE `ended`, a
    /// close with code 0) always ends at once.
    pub linger: Duration,
    /// Where the session reports payload bytes and FETCHes as they happen (none by default);
    /// see [`Meter`] for what each call means and how cheap it must be.
    pub meter: Option<Arc<dyn Meter>>,
}

impl SessionConfig {
    /// A session that neither publishes nor subscribes, with a random origin ID.
    pub fn new() -> Self {
        Self {
            publish: None,
            subscribe: None,
            root: Path::root(),
            announce_prefix: Path::root(),
            origin_id: random_origin_id(),
            setup_path: None,
            datagram_max: None,
            probe: false,
            cache_limits: CacheLimits::default(),
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
            max_announcements: DEFAULT_MAX_ANNOUNCEMENTS,
            max_announce_streams: DEFAULT_MAX_ANNOUNCE_STREAMS,
            max_buffered: DEFAULT_MAX_BUFFERED,
            cache_ceiling: None,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_receive_buffer: DEFAULT_MAX_RECEIVE_BUFFER,
            allow_subscribe: None,
            allow_publish: None,
            announce_wait: DEFAULT_ANNOUNCE_WAIT,
            archive: None,
            linger: Duration::ZERO,
            meter: None,
        }
    }

    /// Offers the broadcasts of `origin` to the peer.
    pub fn with_publish(mut self, origin: OriginConsumer) -> Self {
        self.publish = Some(origin);
        self
    }

    /// Publishes the peer's broadcasts into `origin`.
    pub fn with_subscribe(mut self, origin: OriginProducer) -> Self {
        self.subscribe = Some(origin);
        self
    }

    /// Sets [`linger`](Self::linger): how long a vanished peer's broadcasts wait for it.
    pub fn with_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Sets the origin (hop) ID.
    pub fn with_origin_id(mut self, id: u64) -> Self {
        self.origin_id = id;
        self
    }

    /// Sets the SETUP Path parameter.
    pub fn with_setup_path(mut self, path: impl Into<String>) -> Self {
        self.setup_path = Some(path.into());
        self
    }

    /// Sends small one-frame groups as datagrams.
    pub fn with_datagrams(mut self, max: usize) -> Self {
        self.datagram_max = Some(max);
        self
    }

    /// Publishes the peer's broadcasts under `root` in the subscribe origin.
    pub fn with_root(mut self, root: Path) -> Self {
        self.root = root;
        self
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// True if `path` is under one of `allowed` (or `allowed` is `None`).
pub(crate) fn allowed(allowed: Option<&[Path]>, path: &Path) -> bool {
    allowed.is_none_or(|prefixes| prefixes.iter().any(|p| path.has_prefix(p)))
}

/// A random non-zero ID below 2^53, from the standard library's randomly seeded hasher (no
/// extra dependency for 53 random bits).
pub fn random_origin_id() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};

    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() & ((1 << 53) - 1)).max(1)
}
