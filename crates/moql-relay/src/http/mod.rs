//! HTTP on TCP, on the same port number as the QUIC listener (spec 1.6: "a server that wants
//! to support this must serve it over TCP on the same port number its QUIC listener uses on
//! UDP").
//!
//! Build a [`router`] over an [`HttpState`] and run it with [`serve`] (plain HTTP),
//! [`serve_tls`] (plain HTTP and HTTPS on one port, told apart by the first byte) or
//! [`serve_with`] (either, under explicit [`HttpLimits`]: connection cap, header and write
//! timeouts). Every
//! response carries `Access-Control-Allow-Origin: *` so browser pages on other origins can read
//! it, and every error is a `text/plain` body of one readable line.
//!
//! # Endpoints
//!
//! - `GET /certificate.sha256`: the lowercase hex SHA-256 of the generated certificate's DER,
//!   as bare text (no trailing newline); `404` when the relay uses a configured certificate
//!   (spec 1.6: "A `404` means there is no generated certificate to pin").
//! - `GET /announced` and `GET /announced/<prefix>`: the full paths of the broadcasts
//!   currently published under `<prefix>` (whole segments), sorted, one per line, each
//!   ending in `\n`; an empty body when there are none.
//! - `GET|HEAD /fetch/<broadcast>/<track>[?group=N|latest][&frame=K][&format=frames|payloads]`:
//!   one group's bytes (`application/octet-stream`), streamed as the group delivers them.
//!   `<broadcast>` may contain `/`; the last segment is the track name. `docs/relay.md`
//!   ("HTTP `/fetch`") is the full contract; in short:
//!   - `group=N`: from the memory cache, else a FETCH to the broadcast's producer
//!     (upstream), with no subscription and no TRACK round trip. No `group` (or
//!     `group=latest`): the newest group, through a subscription with Max Age 0;
//!     `Content-Location` then names the concrete `?group=N`.
//!   - `frame=K`: the group from frame `K` (a partial segment); `416` when `K` is past the
//!     end of a finished group. `format=frames` prefixes each payload with its 4-byte
//!     big-endian length; `format=payloads` (the default) concatenates them.
//!   - One deadline ([`HttpState::fetch_timeout`]) bounds the wait for the broadcast's
//!     announcement (a broadcast announced a moment after the request is served), the
//!     group, and frame `K`; `504` names what it was waiting for. Then each next frame of a
//!     live group is bounded by it too; a failure once the body has started cuts it short
//!     (the chunked encoding never ends; clients report an incomplete response).
//!   - A finished group: `ETag` (128 bits of the body's SHA-256), `Content-Length`, and
//!     `Cache-Control: public, max-age=31536000, immutable` (`no-cache` for latest);
//!     `If-None-Match` → `304`. A live group: chunked, `Cache-Control: no-store`, no `ETag`.
//!     Every error: `no-store`. `x-moq-group` carries the sequence.
//!   - Errors before the first byte: `400` bad parameters or path, `414` a track name over
//!     the limit, `404` (the body says whether the group expired from the cache or does not
//!     exist yet, or the track is unknown), `416`, `504`, `502` any other upstream error.
//! - `GET /metrics` (with [`HttpState::serve_metrics`]): [`Metrics::render`], OpenMetrics text.
//! - Any other path, with [`HttpState::web_root`] set: a static file below that directory
//!   (`/` is its `index.html`), e.g. the built web page of `web/` (paths that could leave the directory or name a
//!   dotfile are `404`). Without
//!   a web root, other paths are `404`.
//!
//! - Any `GET` with `Upgrade: websocket` (at any path) when [`HttpState::websocket`] is set: a
//!   moq-lite session over QMux over WebSocket (spec 1.5); see [`websocket`]. The path and
//!   `?jwt=` query work as in a WebTransport CONNECT.
//!
//! # Authorization
//!
//! With [`HttpState::auth`] set, `/announced/<prefix>` and `/fetch/<broadcast>/…` are judged
//! like a session connecting at `<prefix>` or `<broadcast>`: the token comes from the `jwt`
//! query parameter (or the public prefix admits the request), and the grant must allow
//! subscribing there. Refusals are `401` (no, bad or expired token) or `403` (a token for
//! another path). `/announced` lists only the broadcasts the grant may subscribe to. The
//! certificate and metrics endpoints are open.

mod announced;
mod archived;
mod certificate;
mod fetch;
mod listener;
pub(crate) mod server;
mod web;
pub mod websocket;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use moql_model::{OriginProducer, Path};

use crate::auth::{Auth, Grant};
use crate::metrics::Metrics;

pub use server::HttpLimits;
pub use websocket::WebSocketUpgrade;

/// Default [`HttpState::fetch_timeout`] (`[limits] http_fetch_timeout_seconds`): long enough
/// for a stream that starts a moment after its first viewer asks, and for an upstream FETCH
/// across a cluster; short enough that a player's retry is not held much longer than it
/// would wait anyway.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// What the HTTP endpoints serve.
#[derive(Debug)]
pub struct HttpState {
    /// Everything the relay can serve: `/announced` lists it, `/fetch` reads from it.
    pub origin: OriginProducer,
    /// The generated certificate's store, read at each request so `/certificate.sha256`
    /// follows renewals; `None` for a configured certificate (`/certificate.sha256` is then
    /// `404`).
    pub certificate: Option<moql_native::CertStore>,
    /// The figures: the router counts its answers there (and `/metrics` renders them when
    /// [`serve_metrics`](Self::serve_metrics)).
    pub metrics: Arc<Metrics>,
    /// Serve `GET /metrics` on this router. The relay's public port does not unless
    /// `[admin] metrics_on_public_port`; the admin listener always does.
    pub serve_metrics: bool,
    /// Who may list and fetch: `None` serves everything to everyone (only for a relay that
    /// is open anyway); `Some` judges `/announced` and `/fetch` like sessions.
    pub auth: Option<Auth>,
    /// Where WebSocket upgrades go once answered; `None` passes them to the routes (which
    /// answer `404` for unknown paths).
    pub websocket: Option<tokio::sync::mpsc::Sender<WebSocketUpgrade>>,
    /// A directory of static files served on every path no endpoint claims (the built web
    /// page); `None` answers those paths `404`.
    pub web_root: Option<PathBuf>,
    /// The `/fetch` deadline: how long a request may wait for its broadcast's announcement,
    /// its group and (with `frame=K`) frame `K` before it is answered `504`, and then for each
    /// next frame of a live group before its body is cut ([`DEFAULT_FETCH_TIMEOUT`]).
    pub fetch_timeout: Duration,
    /// The disk tier, asked by `/fetch` for a group memory no longer holds; `None` without one.
    pub archive: Option<Arc<dyn moql_model::Archive>>,
}

/// The state the handlers share.
struct Shared {
    origin: OriginProducer,
    certificate: Option<moql_native::CertStore>,
    metrics: Arc<Metrics>,
    auth: Option<Auth>,
    web_root: Option<PathBuf>,
    fetch_timeout: Duration,
    archive: Option<Arc<dyn moql_model::Archive>>,
}

type SharedState = State<Arc<Shared>>;

/// The relay's HTTP routes over `state` (see the module docs for each endpoint).
pub fn router(state: HttpState) -> Router {
    let websocket = state.websocket;
    let serve_metrics = state.serve_metrics;
    let shared = Arc::new(Shared {
        origin: state.origin,
        certificate: state.certificate,
        metrics: state.metrics,
        auth: state.auth,
        web_root: state.web_root,
        fetch_timeout: state.fetch_timeout,
        archive: state.archive,
    });
    let mut routes = Router::new()
        .route("/certificate.sha256", get(certificate::get))
        .route("/announced", get(announced::root))
        .route("/announced/", get(announced::root))
        .route("/announced/{*prefix}", get(announced::prefix))
        .route("/fetch/{*rest}", get(fetch::get));
    if serve_metrics {
        routes = routes.route("/metrics", get(metrics));
    }
    routes
        .fallback(unknown)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), finish))
        .layer(axum::middleware::from_fn_with_state(
            websocket,
            websocket::layer,
        ))
        .with_state(shared)
}

/// Serves `router` on `listener` with the default [`HttpLimits`] until `shutdown` resolves,
/// then lets in-flight requests finish (at most 5 s) and returns.
///
/// # Errors
///
/// The listener's IO error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, None, router, HttpLimits::default(), shutdown).await
}

/// [`serve`], and with `tls` also HTTPS on the same port: each connection that opens with a
/// TLS handshake is served over TLS with that configuration (what `wss://` clients need), the
/// others in the clear.
///
/// # Errors
///
/// The listener's IO error.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, tls, router, HttpLimits::default(), shutdown).await
}

/// [`serve_tls`] under `limits`: a connection cap, a header-read timeout and a write
/// timeout (see [`HttpLimits`]).
///
/// # Errors
///
/// The listener's IO error.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::run(listener, tls, router, limits, shutdown).await
}

/// Counts the request by route and status (and a `/fetch`'s wait) and lets pages on any
/// origin read the response.
async fn finish(State(shared): SharedState, request: Request, next: Next) -> Response {
    let route = route(request.extensions().get::<MatchedPath>(), &shared);
    let started = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status();
    shared.metrics.http_request(route, status.as_u16());
    if route == "fetch" {
        // The body streams after this: the wait is until the group (and frame) was found.
        shared
            .metrics
            .http_fetch(status.is_success(), started.elapsed());
    }
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The `route` label of a request: the endpoint its path matched (a fixed, small set).
fn route(matched: Option<&MatchedPath>, shared: &Shared) -> &'static str {
    let Some(matched) = matched else {
        return if shared.web_root.is_some() {
            "static"
        } else {
            "unknown"
        };
    };
    match matched.as_str() {
        "/certificate.sha256" => "certificate",
        "/metrics" => "metrics",
        path if path.starts_with("/announced") => "announced",
        path if path.starts_with("/fetch") => "fetch",
        _ => "unknown",
    }
}

/// `GET /metrics`: every figure in the OpenMetrics text format.
async fn metrics(State(shared): SharedState) -> Response {
    metrics_response(&shared.metrics, &shared.origin)
}

/// `metrics` rendered, with the origin gauges read now rather than on the relay's periodic
/// refresh (a few counters under the origin lock, no pass over the paths).
pub(crate) fn metrics_response(metrics: &Metrics, origin: &OriginProducer) -> Response {
    metrics.set_origin(origin.stats());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        metrics.render(),
    )
        .into_response()
}

/// A static file below the web root, or `404` naming the endpoints.
async fn unknown(State(shared): SharedState, method: Method, uri: Uri) -> Response {
    match &shared.web_root {
        Some(root) => web::serve(root, &method, &uri).await,
        None => no_endpoint().into_response(),
    }
}

fn no_endpoint() -> HttpError {
    HttpError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint: try /certificate.sha256, /announced/<prefix> or \
         /fetch/<broadcast>/<track>?group=N",
    )
}

/// A refusal: a status and one readable line of `text/plain`.
#[derive(Debug)]
pub(crate) struct HttpError {
    status: StatusCode,
    message: String,
}

impl HttpError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        text(self.status, format!("{}\n", self.message))
    }
}

/// A `text/plain` response.
fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// What a request for `path` with `jwt` may do: judged by [`Auth`] when configured, else
/// everything.
fn authorize(shared: &Shared, path: &Path, jwt: Option<&str>) -> Result<Grant, HttpError> {
    let Some(auth) = &shared.auth else {
        return Ok(Grant::full(path.clone()));
    };
    auth.grant(path.clone(), jwt).map_err(|err| {
        let status = if err.is_forbidden() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        HttpError::new(status, format!("{err} (path `{path}`)"))
    })
}
