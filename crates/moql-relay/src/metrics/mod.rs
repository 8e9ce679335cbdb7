//! [`Metrics`]: the relay's figures, kept in a `prometheus-client` registry and rendered in
//! the OpenMetrics text format for `GET /metrics` (on the admin listener, see
//! `crate::admin`).
//!
//! Counters are monotonic for the life of the process: nothing is ever subtracted from one,
//! so a session that ends takes nothing back. Gauges (`sessions`, `subscriptions`, cache
//! bytes, origin and disk figures) go up and down. Labels are where an operator slices:
//! transport and protocol version per session, the close code of sessions that ended with an
//! error, the HTTP route and status, FETCH over the wire or HTTP, the cache tier.
//!
//! The hot path stays cheap: a session resolves its labelled handles once when it starts
//! ([`session::SessionMeter`]); each FRAME then costs one atomic add, with no map lookup and
//! no allocation.

pub(crate) mod session;

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::render`]'s output.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A gauge of counts and byte sizes (never negative).
pub(crate) type U64Gauge = Gauge<u64, AtomicU64>;

/// A histogram family whose histograms are built by a plain function (its buckets).
type Histograms<S> = Family<S, Histogram, fn() -> Histogram>;

/// One session's labels: how it connected and which moq-lite version it speaks.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SessionLabels {
    /// `quic`, `webtransport`, `websocket` or `tcp`.
    pub(crate) transport: String,
    /// `lite-03` … `lite-06`.
    pub(crate) version: String,
}

/// A session that ended with an error: its labels and the close code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EndLabels {
    pub(crate) transport: String,
    pub(crate) version: String,
    /// The moq-lite close code in decimal, or `transport` for a connection lost without one.
    pub(crate) code: String,
}

/// Where a FETCH came from.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FetchLabels {
    /// `wire` (a FETCH stream from a session) or `http` (`GET /fetch/…`).
    pub(crate) via: &'static str,
}

/// One HTTP answer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HttpLabels {
    /// The endpoint: `certificate`, `announced`, `fetch`, `metrics`, `health`, `ready`,
    /// `static` (the web root) or `unknown`.
    pub(crate) route: &'static str,
    /// The HTTP status code.
    pub(crate) status: u16,
}

/// A cache tier.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TierLabels {
    /// `memory` (the track caches) or `disk` (the disk tier's group files).
    pub(crate) tier: &'static str,
}

/// FETCH latency buckets: 1 ms to about 3.8 s by ×2.5 — a cache hit answers in well under
/// a millisecond, a disk read in a few, an upstream FETCH in a round trip or more, and a
/// request waiting for its broadcast's announcement up to `announce_wait` (5 s).
fn fetch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 10))
}

/// Session duration buckets: 1 s to about 18 h by ×4 (a probe, a page view, a viewing, a
/// day-long contribution feed or cluster link).
fn session_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 4.0, 9))
}

/// The relay's figures. The relay core, the HTTP router and the disk tier update the handles;
/// [`render`](Self::render) encodes them all.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Gauge: open client sessions, by transport and version.
    pub(crate) sessions: Family<SessionLabels, U64Gauge>,
    /// Counter: client sessions started (SETUP done and authorized).
    pub(crate) sessions_started: Family<SessionLabels, Counter>,
    /// Counter: client sessions that ended with an error, by close code.
    pub(crate) session_errors: Family<EndLabels, Counter>,
    /// Histogram: how long client sessions lasted, in seconds.
    pub(crate) session_duration: Histograms<SessionLabels>,
    /// Gauge: active downstream subscriptions.
    pub(crate) subscriptions: U64Gauge,
    /// Counter: FETCH requests received, over the wire or HTTP.
    pub(crate) fetches: Family<FetchLabels, Counter>,
    /// Histogram: seconds from a FETCH's arrival to its group being found.
    pub(crate) fetch_duration: Histograms<FetchLabels>,
    /// Counter: FRAME payload bytes received, by the sending session's labels.
    pub(crate) bytes_in: Family<SessionLabels, Counter>,
    /// Counter: FRAME payload bytes sent, by the receiving session's labels.
    pub(crate) bytes_out: Family<SessionLabels, Counter>,
    /// `cache_bytes{tier="memory"}`: payload bytes held in the track caches.
    pub(crate) memory_bytes: U64Gauge,
    /// `cache_bytes{tier="disk"}`: bytes of group files in the disk tier.
    pub(crate) disk_bytes: U64Gauge,
    /// Counter: HTTP requests answered, by route and status.
    pub(crate) http_requests: Family<HttpLabels, Counter>,
    /// Gauge: broadcast paths in the origin (set from the origin when rendered).
    pub(crate) broadcasts: U64Gauge,
    /// Gauge: routes to those paths, one per peer that announced each.
    pub(crate) routes: U64Gauge,
    /// Gauge: origin watchers (announce streams being served, and each session's view).
    pub(crate) announce_watchers: U64Gauge,
    /// Gauge: announcement changes those watchers have not read yet, summed.
    pub(crate) announce_backlog: U64Gauge,
    /// Gauge: groups in the disk tier.
    pub(crate) disk_groups: U64Gauge,
    /// Counter: groups written to the disk tier.
    pub(crate) disk_writes: Counter,
    /// Counter: disk tier writes that failed.
    pub(crate) disk_write_errors: Counter,
    /// Counter: groups not archived (queue full, or the tier degraded).
    pub(crate) disk_dropped: Counter,
    /// Counter: lookups the disk tier answered with a group.
    pub(crate) disk_hits: Counter,
    /// Counter: lookups the disk tier could not answer (expired, missing or damaged).
    pub(crate) disk_misses: Counter,
    /// Gauge: 1 while the disk tier is failing (memory only), else 0.
    pub(crate) disk_degraded: U64Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every figure registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let sessions = Family::default();
        let sessions_started = Family::default();
        let session_errors = Family::default();
        let session_duration: Histograms<SessionLabels> =
            Family::new_with_constructor(session_histogram);
        let subscriptions = U64Gauge::default();
        let fetches = Family::default();
        let fetch_duration: Histograms<FetchLabels> = Family::new_with_constructor(fetch_histogram);
        let bytes_in = Family::default();
        let bytes_out = Family::default();
        let cache_bytes = Family::<TierLabels, U64Gauge>::default();
        let memory_bytes = cache_bytes
            .get_or_create(&TierLabels { tier: "memory" })
            .clone();
        let disk_bytes = cache_bytes
            .get_or_create(&TierLabels { tier: "disk" })
            .clone();
        let http_requests = Family::default();
        // Both FETCH paths show from the start, at zero.
        for via in ["wire", "http"] {
            let _ = fetches.get_or_create(&FetchLabels { via });
        }
        let metrics = Self {
            registry: Registry::default(),
            sessions,
            sessions_started,
            session_errors,
            session_duration,
            subscriptions,
            fetches,
            fetch_duration,
            bytes_in,
            bytes_out,
            memory_bytes,
            disk_bytes,
            http_requests,
            broadcasts: U64Gauge::default(),
            routes: U64Gauge::default(),
            announce_watchers: U64Gauge::default(),
            announce_backlog: U64Gauge::default(),
            disk_groups: U64Gauge::default(),
            disk_writes: Counter::default(),
            disk_write_errors: Counter::default(),
            disk_dropped: Counter::default(),
            disk_hits: Counter::default(),
            disk_misses: Counter::default(),
            disk_degraded: U64Gauge::default(),
        };
        let m = &metrics;
        // Help texts: the registry appends the final period. Counter names get `_total`.
        let r = &mut registry;
        r.register(
            "moql_relay_sessions",
            "Open client sessions (SETUP done and authorized)",
            m.sessions.clone(),
        );
        r.register(
            "moql_relay_sessions_started",
            "Client sessions started (SETUP done and authorized)",
            m.sessions_started.clone(),
        );
        r.register("moql_relay_session_errors", "Client sessions that ended with an error, by close code (transport: the connection was lost without one)", m.session_errors.clone());
        r.register_with_unit(
            "moql_relay_session_duration",
            "How long client sessions lasted, from SETUP to close",
            Unit::Seconds,
            m.session_duration.clone(),
        );
        r.register(
            "moql_relay_subscriptions",
            "Active downstream subscriptions (Subscribe streams being served)",
            m.subscriptions.clone(),
        );
        r.register(
            "moql_relay_fetches",
            "FETCH requests received: via=wire from sessions, via=http as GET /fetch",
            m.fetches.clone(),
        );
        r.register_with_unit("moql_relay_fetch_duration", "Time from a FETCH's arrival until its group was found (cache, disk tier or upstream) and the reply started; refusals not included", Unit::Seconds, m.fetch_duration.clone());
        r.register("moql_relay_bytes_in", "FRAME payload bytes received from sessions (publishers, peers, fetch replies); headers and transport overhead not counted", m.bytes_in.clone());
        r.register("moql_relay_bytes_out", "FRAME payload bytes sent to sessions (subscribers, fetchers, peers); headers and transport overhead not counted", m.bytes_out.clone());
        r.register("moql_relay_cache_bytes", "Bytes held per cache tier: memory counts payload plus per-frame and per-group overhead in track caches, disk counts group files", cache_bytes);
        r.register(
            "moql_relay_http_requests",
            "HTTP requests answered, by route and status (WebSocket upgrades not included)",
            m.http_requests.clone(),
        );
        r.register(
            "moql_relay_broadcasts",
            "Broadcast paths in the origin",
            m.broadcasts.clone(),
        );
        r.register(
            "moql_relay_routes",
            "Routes to the origin's broadcasts (one per announcing peer)",
            m.routes.clone(),
        );
        r.register(
            "moql_relay_announce_watchers",
            "Origin watchers: announce streams served and each session's view",
            m.announce_watchers.clone(),
        );
        r.register(
            "moql_relay_announce_backlog",
            "Announcement changes not yet read by announce streams",
            m.announce_backlog.clone(),
        );
        r.register(
            "moql_relay_disk_groups",
            "Groups in the disk tier",
            m.disk_groups.clone(),
        );
        r.register(
            "moql_relay_disk_writes",
            "Groups written to the disk tier",
            m.disk_writes.clone(),
        );
        r.register(
            "moql_relay_disk_write_errors",
            "Disk tier writes that failed",
            m.disk_write_errors.clone(),
        );
        r.register(
            "moql_relay_disk_dropped",
            "Groups not archived (queue full or the disk tier degraded)",
            m.disk_dropped.clone(),
        );
        r.register(
            "moql_relay_disk_hits",
            "Disk tier lookups answered with a group",
            m.disk_hits.clone(),
        );
        r.register(
            "moql_relay_disk_misses",
            "Disk tier lookups not answered (expired, missing or damaged)",
            m.disk_misses.clone(),
        );
        r.register(
            "moql_relay_disk_degraded",
            "1 while the disk tier is failing and the relay keeps past groups in memory only",
            m.disk_degraded.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Sets the origin gauges from `stats`.
    pub fn set_origin(&self, stats: moql_model::OriginStats) {
        self.broadcasts.set(stats.broadcasts as u64);
        self.routes.set(stats.routes as u64);
        self.announce_watchers.set(stats.watchers as u64);
        self.announce_backlog.set(stats.pending as u64);
    }

    /// Sets `cache_bytes{tier="memory"}` to `bytes`.
    pub fn set_cache_bytes(&self, bytes: u64) {
        self.memory_bytes.set(bytes);
    }

    /// Counts one HTTP answer on `route` with `status`.
    pub(crate) fn http_request(&self, route: &'static str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels { route, status })
            .inc();
    }

    /// Counts one `GET /fetch`, answered `ok` (its group found) after `wait`.
    pub(crate) fn http_fetch(&self, ok: bool, wait: std::time::Duration) {
        let via = FetchLabels { via: "http" };
        self.fetches.get_or_create(&via).inc();
        if ok {
            self.fetch_duration
                .get_or_create(&via)
                .observe(wait.as_secs_f64());
        }
    }

    /// Every figure in the OpenMetrics text format ([`CONTENT_TYPE`]): for each, `# HELP`,
    /// `# TYPE` (and `# UNIT`) lines and its samples, then `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests;
