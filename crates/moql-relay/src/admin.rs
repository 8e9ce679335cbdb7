//! The admin listener: plain HTTP for operators and orchestrators, on its own address
//! (loopback by default), away from the public port.
//!
//! - `GET /health`: `200 ok` while the process runs (liveness).
//! - `GET /ready`: `200 ready` while the relay accepts sessions; `503 draining` once
//!   shutdown has begun (SIGTERM/SIGINT: GOAWAY sent, sessions leaving) and before the
//!   accept loop runs (readiness: take the relay out of the load balancer).
//! - `GET /metrics`: every figure in the OpenMetrics text format ([`crate::Metrics`]).
//!
//! It is bounded like the public port (connection cap, header and write timeouts; the same
//! server loop), and stays up through the drain so `/ready` can say so.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use moql_model::OriginProducer;
use serde::Deserialize;

use crate::http::HttpLimits;
use crate::metrics::Metrics;

/// Connections the admin listener serves at once: scrapers and probes, a handful at a time.
const MAX_CONNECTIONS: usize = 64;

/// `[admin]`: where the admin endpoints listen.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Serve the admin endpoints (default true).
    pub enabled: bool,
    /// Their address; default `127.0.0.1` at the public port + 1 (`127.0.0.1:4444` with the
    /// default bind), and an ephemeral port when the public port is 0.
    pub bind: Option<SocketAddr>,
    /// Also serve `GET /metrics` on the public HTTP port (default false: the figures name
    /// traffic an operator may not want public).
    pub metrics_on_public_port: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: None,
            metrics_on_public_port: false,
        }
    }
}

impl AdminConfig {
    /// The address to listen on for a relay bound at `public`, or `None` when disabled.
    pub fn address(&self, public: SocketAddr) -> Option<SocketAddr> {
        if !self.enabled {
            return None;
        }
        Some(self.bind.unwrap_or_else(|| {
            let port = match public.port() {
                0 => 0,
                port => port.checked_add(1).unwrap_or(0),
            };
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)
        }))
    }
}

/// What the admin endpoints read.
#[derive(Debug)]
pub(crate) struct AdminState {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) origin: OriginProducer,
    /// True while the relay accepts sessions.
    pub(crate) ready: Arc<AtomicBool>,
}

type Shared = State<Arc<AdminState>>;

/// The admin routes over `state`.
fn router(state: AdminState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(state))
}

/// Serves the admin routes over `state` on `listener` in a task, until the returned sender is
/// dropped (the relay keeps it until `run` returns, so the listener outlives the drain).
pub(crate) fn spawn(
    listener: tokio::net::TcpListener,
    state: AdminState,
) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let signal = async move {
            let _ = stopped.await;
        };
        if let Err(err) = serve(listener, router(state), signal).await {
            tracing::warn!(%err, "admin server failed");
        }
    });
    stop
}

/// Serves `router` on `listener` until `shutdown` resolves, bounded like the public port.
async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = HttpLimits {
        max_connections: MAX_CONNECTIONS,
        header_timeout: Duration::from_secs(10),
        write_timeout: Duration::from_secs(30),
    };
    crate::http::serve_with(listener, None, router, limits, shutdown).await
}

async fn health(State(state): Shared) -> Response {
    state.metrics.http_request("health", 200);
    (StatusCode::OK, "ok\n").into_response()
}

async fn ready(State(state): Shared) -> Response {
    let (status, body) = if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    };
    state.metrics.http_request("ready", status.as_u16());
    (status, body).into_response()
}

async fn metrics(State(state): Shared) -> Response {
    state.metrics.http_request("metrics", 200);
    crate::http::metrics_response(&state.metrics, &state.origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_address_is_loopback_next_to_the_public_port() {
        let admin = AdminConfig::default();
        let public = "[::]:4443".parse().unwrap();
        assert_eq!(
            admin.address(public),
            Some("127.0.0.1:4444".parse().unwrap())
        );
        let ephemeral = "127.0.0.1:0".parse().unwrap();
        assert_eq!(
            admin.address(ephemeral),
            Some("127.0.0.1:0".parse().unwrap())
        );
        let off = AdminConfig {
            enabled: false,
            ..AdminConfig::default()
        };
        assert_eq!(off.address(public), None);
    }
}
