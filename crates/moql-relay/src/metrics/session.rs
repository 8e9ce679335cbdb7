//! Per-session figures: [`SessionMeter`] (the [`Meter`] a session reports FRAME payload bytes
//! and FETCHes to) and [`OpenSession`] (its place in the sessions gauge, until it ends).

use std::sync::Arc;
use std::time::{Duration, Instant};

use moql_session::{Meter, SessionError};
use moql_wire::{ErrorCode, Version};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use super::{EndLabels, FetchLabels, Metrics, SessionLabels, U64Gauge};

impl SessionLabels {
    /// The labels of a session over `transport` (its `Display` name) speaking `version`.
    pub(crate) fn new(transport: impl std::fmt::Display, version: Version) -> Self {
        let alpn = version.to_string();
        Self {
            transport: transport.to_string(),
            // `moq-lite-03` → `lite-03`: the prefix is the same for every version.
            version: alpn.strip_prefix("moq-").unwrap_or(&alpn).to_string(),
        }
    }
}

/// One session's handles into the relay's counters, resolved once when it starts: each call
/// is an atomic add (the FETCH histogram takes its short lock once per FETCH).
#[derive(Debug)]
pub(crate) struct SessionMeter {
    bytes_in: Counter,
    bytes_out: Counter,
    fetches: Counter,
    fetch_duration: Histogram,
}

impl Meter for SessionMeter {
    fn payload_sent(&self, bytes: u64) {
        self.bytes_out.inc_by(bytes);
    }

    fn payload_received(&self, bytes: u64) {
        self.bytes_in.inc_by(bytes);
    }

    fn fetch_received(&self) {
        self.fetches.inc();
    }

    fn fetch_answered(&self, wait: Duration) {
        self.fetch_duration.observe(wait.as_secs_f64());
    }
}

/// A counted open session: holds its place in `moql_relay_sessions` until
/// [`Metrics::session_ended`].
#[derive(Debug)]
pub(crate) struct OpenSession {
    labels: SessionLabels,
    gauge: U64Gauge,
    started: Instant,
}

impl Metrics {
    /// The meter for a session with `labels` (client or cluster peer).
    pub(crate) fn meter(&self, labels: &SessionLabels) -> Arc<dyn Meter> {
        let wire = FetchLabels { via: "wire" };
        Arc::new(SessionMeter {
            bytes_in: self.bytes_in.get_or_create(labels).clone(),
            bytes_out: self.bytes_out.get_or_create(labels).clone(),
            fetches: self.fetches.get_or_create(&wire).clone(),
            fetch_duration: self.fetch_duration.get_or_create(&wire).clone(),
        })
    }

    /// Counts a client session that has started.
    pub(crate) fn session_started(&self, labels: SessionLabels) -> OpenSession {
        self.sessions_started.get_or_create(&labels).inc();
        let gauge = self.sessions.get_or_create(&labels).clone();
        gauge.inc();
        OpenSession {
            labels,
            gauge,
            started: Instant::now(),
        }
    }

    /// Counts `open`'s end: its duration, and its close code if it ended with an error
    /// (`code` is `None` for a normal close).
    pub(crate) fn session_ended(&self, open: OpenSession, code: Option<String>) {
        open.gauge.dec();
        self.session_duration
            .get_or_create(&open.labels)
            .observe(open.started.elapsed().as_secs_f64());
        if let Some(code) = code {
            let labels = EndLabels {
                transport: open.labels.transport,
                version: open.labels.version,
                code,
            };
            self.session_errors.get_or_create(&labels).inc();
        }
    }
}

/// The `code` label of a session that ended with `err`: `None` for a normal close (code 0,
/// Cancel, from either side), the close code in decimal, or `transport` for a connection lost
/// without one.
pub(crate) fn end_code(err: &SessionError) -> Option<String> {
    match err {
        SessionError::Transport(_) => Some("transport".into()),
        err if err.code() == ErrorCode::CANCEL => None,
        err => Some(err.code().0.to_string()),
    }
}
