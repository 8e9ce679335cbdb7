//! WebSocket upgrades on the HTTP port: QMux over WebSocket (spec 1.5) for clients that cannot
//! use QUIC.
//!
//! Any `GET` carrying `Upgrade: websocket`, at any path, is a session request: the path and
//! query (`?jwt=…`) mean what they mean in a WebTransport CONNECT. The version comes from the
//! `Sec-WebSocket-Protocol` tokens ([`choose_subprotocol`]); a request offering no composite
//! `qmux-0N.moq-lite-0M` token we support is answered `406`. Authorization happens after the
//! upgrade, in the session, exactly as on WebTransport (a refusal closes the session with its
//! code), so the relay treats every transport alike.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use moql_native::ws::{Subprotocol, accept_key, choose_subprotocol};
use moql_wire::Version;
use tokio::sync::mpsc;

use super::HttpError;

/// An upgraded WebSocket connection, handed to the relay to run a session on.
pub struct WebSocketUpgrade {
    /// The connection after the `101` response.
    pub io: TokioIo<hyper::upgrade::Upgraded>,
    /// The token the `101` carried: the QMux draft and moq-lite version.
    pub protocol: Subprotocol,
    /// The request target: path and query, e.g. `/room?jwt=…`.
    pub target: String,
    /// The client's TCP address.
    pub remote: SocketAddr,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("protocol", &self.protocol)
            .field("target", &self.target)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// Middleware: answers WebSocket upgrades (when `upgrades` is set) and passes every other
/// request on to the routes.
pub(super) async fn layer(
    State(upgrades): State<Option<mpsc::Sender<WebSocketUpgrade>>>,
    request: Request,
    next: Next,
) -> Response {
    match upgrades {
        Some(upgrades) if is_upgrade(request.headers()) => upgrade(upgrades, request)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        _ => next.run(request).await,
    }
}

/// `Connection: upgrade` and `Upgrade: websocket` (both case-insensitive, in lists).
fn is_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

async fn upgrade(
    upgrades: mpsc::Sender<WebSocketUpgrade>,
    mut request: Request,
) -> Result<Response, HttpError> {
    let headers = request.headers();
    if request.method() != axum::http::Method::GET {
        return Err(HttpError::bad_request("a WebSocket upgrade must be a GET"));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(HttpError::bad_request("Sec-WebSocket-Version must be 13"));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| HttpError::bad_request("no Sec-WebSocket-Key"))?;
    let accept = accept_key(key.as_bytes());
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let Some(protocol) = choose_subprotocol(offered, &Version::ALL) else {
        return Err(HttpError::new(
            StatusCode::NOT_ACCEPTABLE,
            "no common moq-lite version: offer a Sec-WebSocket-Protocol such as qmux-02.moq-lite-05",
        ));
    };
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |info| info.0);
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    let on_upgrade = hyper::upgrade::on(&mut request);
    let token = HeaderValue::from_str(&protocol.token)
        .map_err(|_| HttpError::bad_request("malformed Sec-WebSocket-Protocol"))?;
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(err) => {
                tracing::debug!(%remote, %err, "WebSocket upgrade failed");
                return;
            }
        };
        let upgrade = WebSocketUpgrade {
            io,
            protocol,
            target,
            remote,
        };
        if upgrades.send(upgrade).await.is_err() {
            tracing::debug!(%remote, "relay stopped; WebSocket dropped");
        }
    });
    Ok((
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (
                header::SEC_WEBSOCKET_ACCEPT,
                HeaderValue::from_str(&accept)
                    .map_err(|_| HttpError::bad_request("malformed Sec-WebSocket-Key"))?,
            ),
            (header::SEC_WEBSOCKET_PROTOCOL, token),
        ],
    )
        .into_response())
}
