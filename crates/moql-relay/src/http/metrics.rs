//! [`Metrics`]: the relay's counters and gauges, rendered for `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::SharedState;

/// The relay's figures: plain atomics the relay core updates (`fetch_add`/`fetch_sub`/
/// `store`, `Relaxed` is enough) and [`render`](Self::render) reads.
///
/// Counters (`*_total` when rendered) only grow; gauges go up and down.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Gauge: open sessions (downstream clients and cluster peers).
    pub sessions: AtomicU64,
    /// Gauge: active downstream subscriptions.
    pub subscriptions: AtomicU64,
    /// Counter: FETCH requests received from sessions.
    pub fetches: AtomicU64,
    /// Counter: payload bytes received from publishers.
    pub bytes_in: AtomicU64,
    /// Counter: payload bytes sent to subscribers and fetchers.
    pub bytes_out: AtomicU64,
    /// Gauge: payload bytes held in the relay's track caches (set by the core).
    pub cache_bytes: AtomicU64,
    /// Counter: HTTP requests answered (counted by the router).
    pub http_requests: AtomicU64,
    /// Gauge: broadcast paths in the origin (set from the origin when rendered).
    pub broadcasts: AtomicU64,
    /// Gauge: routes to those paths, one per peer that announced each.
    pub routes: AtomicU64,
    /// Gauge: origin watchers (announce streams being served, and each session's view).
    pub announce_watchers: AtomicU64,
    /// Gauge: announcement changes those watchers have not read yet, summed.
    pub announce_backlog: AtomicU64,
    /// Gauge: bytes of group files in the disk tier.
    pub disk_bytes: AtomicU64,
    /// Gauge: groups in the disk tier.
    pub disk_groups: AtomicU64,
    /// Counter: groups written to the disk tier.
    pub disk_writes: AtomicU64,
    /// Counter: disk tier writes that failed.
    pub disk_write_errors: AtomicU64,
    /// Counter: groups not archived (queue full, or the tier degraded).
    pub disk_dropped: AtomicU64,
    /// Counter: lookups the disk tier answered with a group.
    pub disk_hits: AtomicU64,
    /// Counter: lookups the disk tier could not answer (expired, missing or damaged).
    pub disk_misses: AtomicU64,
    /// Gauge: 1 while the disk tier is failing (memory only), else 0.
    pub disk_degraded: AtomicU64,
}

/// `(name, type, help, value)` for each figure, in render order.
type Figure = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Metrics) -> u64,
);

const FIGURES: [Figure; 19] = [
    ("moql_relay_sessions", "gauge", "Open sessions.", |m| {
        load(&m.sessions)
    }),
    (
        "moql_relay_subscriptions",
        "gauge",
        "Active downstream subscriptions.",
        |m| load(&m.subscriptions),
    ),
    (
        "moql_relay_fetches_total",
        "counter",
        "FETCH requests received from sessions.",
        |m| load(&m.fetches),
    ),
    (
        "moql_relay_bytes_in_total",
        "counter",
        "Payload bytes received from publishers.",
        |m| load(&m.bytes_in),
    ),
    (
        "moql_relay_bytes_out_total",
        "counter",
        "Payload bytes sent to subscribers and fetchers.",
        |m| load(&m.bytes_out),
    ),
    (
        "moql_relay_cache_bytes",
        "gauge",
        "Payload bytes held in track caches.",
        |m| load(&m.cache_bytes),
    ),
    (
        "moql_relay_http_requests_total",
        "counter",
        "HTTP requests answered.",
        |m| load(&m.http_requests),
    ),
    (
        "moql_relay_broadcasts",
        "gauge",
        "Broadcast paths in the origin.",
        |m| load(&m.broadcasts),
    ),
    (
        "moql_relay_routes",
        "gauge",
        "Routes to the origin's broadcasts (one per announcing peer).",
        |m| load(&m.routes),
    ),
    (
        "moql_relay_announce_watchers",
        "gauge",
        "Origin watchers: announce streams served and each session's view.",
        |m| load(&m.announce_watchers),
    ),
    (
        "moql_relay_announce_backlog",
        "gauge",
        "Announcement changes not yet read by announce streams.",
        |m| load(&m.announce_backlog),
    ),
    (
        "moql_relay_disk_bytes",
        "gauge",
        "Bytes of group files in the disk tier.",
        |m| load(&m.disk_bytes),
    ),
    (
        "moql_relay_disk_groups",
        "gauge",
        "Groups in the disk tier.",
        |m| load(&m.disk_groups),
    ),
    (
        "moql_relay_disk_writes_total",
        "counter",
        "Groups written to the disk tier.",
        |m| load(&m.disk_writes),
    ),
    (
        "moql_relay_disk_write_errors_total",
        "counter",
        "Disk tier writes that failed.",
        |m| load(&m.disk_write_errors),
    ),
    (
        "moql_relay_disk_dropped_total",
        "counter",
        "Groups not archived (queue full or the disk tier degraded).",
        |m| load(&m.disk_dropped),
    ),
    (
        "moql_relay_disk_hits_total",
        "counter",
        "Disk tier lookups answered with a group.",
        |m| load(&m.disk_hits),
    ),
    (
        "moql_relay_disk_misses_total",
        "counter",
        "Disk tier lookups not answered (expired, missing or damaged).",
        |m| load(&m.disk_misses),
    ),
    (
        "moql_relay_disk_degraded",
        "gauge",
        "1 while the disk tier is failing and the relay keeps past groups in memory only.",
        |m| load(&m.disk_degraded),
    ),
];

fn load(figure: &AtomicU64) -> u64 {
    figure.load(Ordering::Relaxed)
}

impl Metrics {
    /// Sets the origin gauges from `stats`.
    pub fn set_origin(&self, stats: moql_model::OriginStats) {
        self.broadcasts
            .store(stats.broadcasts as u64, Ordering::Relaxed);
        self.routes.store(stats.routes as u64, Ordering::Relaxed);
        self.announce_watchers
            .store(stats.watchers as u64, Ordering::Relaxed);
        self.announce_backlog
            .store(stats.pending as u64, Ordering::Relaxed);
    }

    /// Sets the cache-size gauge to `bytes`.
    pub fn set_cache_bytes(&self, bytes: u64) {
        self.cache_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The figures in the Prometheus text exposition format (version 0.0.4): for each, a
    /// `# HELP` and a `# TYPE` line, then `name value`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, kind, help, value) in FIGURES {
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                value(self)
            );
        }
        out
    }
}

/// `GET /metrics`.
pub(super) async fn get(axum::extract::State(shared): SharedState) -> Response {
    // Read now rather than on the relay's periodic refresh: a few counters under the origin
    // lock, no pass over the paths.
    shared.metrics.set_origin(shared.origin.stats());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_writes_help_type_and_value_for_every_figure() {
        let metrics = Metrics::default();
        metrics.sessions.store(3, Ordering::Relaxed);
        metrics.bytes_out.fetch_add(1024, Ordering::Relaxed);
        metrics.set_cache_bytes(77);
        let text = metrics.render();
        assert!(text.contains(
            "# HELP moql_relay_sessions Open sessions.\n\
             # TYPE moql_relay_sessions gauge\n\
             moql_relay_sessions 3\n"
        ));
        assert!(text.contains("\nmoql_relay_bytes_out_total 1024\n"));
        assert!(text.contains("# TYPE moql_relay_bytes_out_total counter\n"));
        assert!(text.contains("\nmoql_relay_cache_bytes 77\n"));
        assert_eq!(text.lines().count(), FIGURES.len() * 3);
        assert!(text.ends_with('\n'));
    }
}
