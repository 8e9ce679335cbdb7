//! [`SessionConfig`]: what a session publishes, where the peer's broadcasts go, and limits.

use std::time::Duration;

use moql_model::{OriginConsumer, OriginProducer, Path};

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
    /// How long the server waits for the client's SETUP.
    pub setup_timeout: Duration,
    /// The longest a remote track's groups are cached here: a relay caches with
    /// `min(upstream publisher max latency, this ceiling)` and re-advertises that (spec 11.5).
    /// `None` keeps the upstream's value.
    pub cache_ceiling: Option<Duration>,
    /// Wire-path prefixes the peer may learn about, subscribe to and fetch; `None` allows
    /// everything. Requests outside are refused with 6 (Unauthorized) and such broadcasts are
    /// never announced.
    pub allow_subscribe: Option<Vec<Path>>,
    /// Wire-path prefixes the peer may publish; `None` allows everything. Announcements outside
    /// are ignored.
    pub allow_publish: Option<Vec<Path>>,
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
            setup_timeout: Duration::from_secs(10),
            cache_ceiling: None,
            allow_subscribe: None,
            allow_publish: None,
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
