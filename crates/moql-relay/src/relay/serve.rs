//! One client session from accept to end: the connection slot, the handshake per transport
//! (raw QUIC / WebTransport, WebSocket, QMux over TCP), authorization (a cluster peer's
//! client certificate, else the request's token or the public rules), and the session's run
//! until it ends or its credential expires.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use moql_model::Path;
use moql_native::ws::accept_upgraded;
use moql_native::{Connection, Incoming, accept_tcp};
use moql_session::{Accepting, SessionConfig};
use moql_wire::{CodeScope, ErrorCode, Version};
use tokio::net::TcpListener;
use web_transport_trait::Session as _;

use super::Shared;
use crate::auth::{AuthError, Grant, PeerCertificate};
use crate::http::WebSocketUpgrade;
use crate::metrics::SessionLabels;
use crate::metrics::session::end_code;

/// One accepted client connection counted against `limits.max_sessions`; released on drop.
pub(super) struct ConnectionSlot(Arc<Shared>);

impl ConnectionSlot {
    /// Counts one more connection, or `None` if the relay is at its limit.
    pub(super) fn claim(shared: &Arc<Shared>) -> Option<Self> {
        let before = shared.connections.fetch_add(1, Ordering::AcqRel);
        let slot = Self(shared.clone());
        (before < shared.limits.max_sessions).then_some(slot)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One connection: authorize, run the session, account for it.
pub(super) async fn serve(shared: Arc<Shared>, incoming: Incoming) {
    let remote = incoming.remote_addr();
    let version = incoming.version();
    let request_path = incoming.request_path();
    // Only with `[cluster] peer_roots`: the chain the TLS layer verified against them.
    let peer = match incoming.peer_certificates().as_deref() {
        Some([leaf, ..]) => match PeerCertificate::parse(leaf) {
            Ok(peer) => Some(peer),
            Err(err) => {
                tracing::info!(%remote, %err, "refused");
                incoming.reject(403).await;
                return;
            }
        },
        _ => None,
    };
    let transport = match incoming.accept().await {
        Ok(transport) => transport,
        Err(err) => {
            tracing::debug!(%remote, %err, "connection failed before the session");
            return;
        }
    };
    run_session(shared, transport, version, request_path, remote, peer).await;
}

/// One WebSocket connection (its upgrade already answered): the same as a WebTransport one,
/// or closed at once with 567 (App(503)) when the relay is at its session limit (`admitted`
/// false).
pub(super) async fn serve_websocket(
    shared: Arc<Shared>,
    upgrade: WebSocketUpgrade,
    admitted: bool,
) {
    let WebSocketUpgrade {
        io,
        protocol,
        target,
        remote,
    } = upgrade;
    let transport = accept_upgraded(io, &protocol, remote, &shared.qmux_config()).await;
    if !admitted {
        tracing::warn!(%remote, max = shared.limits.max_sessions, "at the session limit; refusing");
        refuse_busy(&shared, transport, protocol.version).await;
        return;
    }
    run_session(
        shared,
        transport,
        protocol.version,
        Some(target),
        remote,
        None,
    )
    .await;
}

/// Refuses a QMux session with 567 (App(503)) once its SETUP has arrived (within the SETUP
/// timeout), as an authorization refusal is: a close sent before the peer has finished
/// starting its side is not reliably reported with its code.
async fn refuse_busy(shared: &Shared, transport: Connection, version: Version) {
    if let Ok(accepting) = Accepting::new(transport, version, shared.setup_timeout).await {
        accepting.reject(ErrorCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
}

/// Plain QMux over TCP: accepts until the relay stops; each connection's handshake runs in its
/// own task, and its path comes in SETUP (as on raw QUIC).
pub(super) async fn accept_tcp_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (stream, remote) = tokio::select! {
            accepted = crate::http::server::accept(&listener) => accepted,
            () = async { let _ = stop.wait_for(|s| *s).await; } => return,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let slot = ConnectionSlot::claim(&shared);
            match accept_tcp(stream, &Version::ALL, &shared.qmux_config()).await {
                Ok((transport, version)) if slot.is_none() => {
                    // At max_sessions: 567 (App(503)), as on raw QUIC.
                    tracing::warn!(%remote, "at the session limit; refusing");
                    refuse_busy(&shared, transport, version).await;
                }
                Ok((transport, version)) => {
                    run_session(shared, transport, version, None, remote, None).await;
                }
                Err(err) => tracing::debug!(%remote, %err, "QMux over TCP failed to start"),
            }
            drop(slot);
        });
    }
}

/// Reads the SETUP, authorizes the request path, runs the session until it ends or its
/// credential expires, and accounts for it.
///
/// The credential's deadline is fixed when the grant is made and bounds everything after it:
/// sending the relay's SETUP (which a client can stall by giving no stream credit; also
/// bounded by the SETUP timeout, closed with 3) and the session itself. At the deadline the
/// session is closed with 6 (Unauthorized), whatever state it is in.
///
/// `peer`: the client certificate the UDP port verified against `[cluster] peer_roots`.
async fn run_session(
    shared: Arc<Shared>,
    transport: Connection,
    version: Version,
    request_path: Option<String>,
    remote: SocketAddr,
    peer: Option<PeerCertificate>,
) {
    let kind = transport.kind();
    // Closes the connection if `accept` is abandoned part-way (it owns the transport then).
    let closer = transport.clone();
    let accepting = match Accepting::new(transport, version, shared.setup_timeout).await {
        Ok(accepting) => accepting,
        Err(err) => {
            tracing::debug!(%remote, %err, "no usable SETUP");
            return;
        }
    };
    // WebTransport carries the path in CONNECT, WebSocket in the upgrade; raw QUIC in the SETUP
    // Path (spec 1.4, 5.1.2).
    let path = request_path
        .or_else(|| accepting.setup().path.clone())
        .unwrap_or_else(|| "/".into());
    let grant = match authorize(&shared, &path, peer.as_ref()) {
        Ok(grant) => grant,
        Err(err) => {
            tracing::info!(%remote, %err, "refused");
            accepting.reject(err.code(), &err.to_string());
            return;
        }
    };
    let deadline = grant
        .deadline(SystemTime::now(), std::time::Instant::now())
        .map(tokio::time::Instant::from_std);
    let setup_by = tokio::time::Instant::now() + shared.setup_timeout;
    let start_by = deadline.map_or(setup_by, |deadline| deadline.min(setup_by));
    let labels = SessionLabels::new(kind, version);
    let mut config = client_config(&shared, &grant);
    config.meter = Some(shared.metrics.meter(&labels));
    let session = match tokio::time::timeout_at(start_by, accepting.accept(config)).await {
        Ok(Ok(session)) => session,
        Ok(Err(err)) => {
            tracing::debug!(%remote, %err, "session failed to start");
            return;
        }
        Err(_) => {
            let (code, reason) = if deadline.is_some_and(|deadline| deadline <= setup_by) {
                // spec 1.4: refusals are closed with 6 (Unauthorized).
                (ErrorCode::UNAUTHORIZED, "credential expired")
            } else {
                (ErrorCode::TIMEOUT, "the relay's SETUP could not be sent")
            };
            tracing::info!(%remote, reason, "session not started");
            closer.close(code.to_wire(version, CodeScope::Session), reason);
            return;
        }
    };
    tracing::info!(%remote, %version, transport = %kind, root = %grant.root, "session started");
    let id = shared.register(&session);
    let open = shared.metrics.session_started(labels);
    let code = tokio::select! {
        err = session.closed() => {
            tracing::info!(%remote, %err, "session ended");
            end_code(&err)
        }
        () = sleep_until_or_forever(deadline) => {
            // The credential expired: spec 6 step 9, close with 6 Unauthorized.
            session.close(ErrorCode::UNAUTHORIZED, "credential expired");
            tracing::info!(%remote, "credential expired");
            Some(ErrorCode::UNAUTHORIZED.0.to_string())
        }
    };
    shared.metrics.session_ended(open, code);
    shared.unregister(id);
}

/// A cluster peer's certificate when `[cluster] peer_names` admits it, else the request's
/// token or the public rules.
fn authorize(
    shared: &Shared,
    path: &str,
    peer: Option<&PeerCertificate>,
) -> Result<Grant, AuthError> {
    if let Some(peer) = peer
        && let Some(grant) = shared.peers.grant(path, peer, SystemTime::now())?
    {
        tracing::debug!(name = peer.name(), "cluster peer by its client certificate");
        return Ok(grant);
    }
    shared.auth.authorize(path)
}

async fn sleep_until_or_forever(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A client session sees the relay's origin under its root, publishes into it under its root,
/// and is held to its grants.
fn client_config(shared: &Shared, grant: &Grant) -> SessionConfig {
    let mut config = shared
        .session_config()
        .with_publish(shared.origin.consume_prefix(&grant.root))
        .with_subscribe(shared.origin.clone())
        .with_root(grant.root.clone());
    config.allow_subscribe = restrict(&grant.subscribe);
    config.allow_publish = restrict(&grant.publish);
    config
}

/// `None` (no restriction) when a grant covers everything under the root.
fn restrict(prefixes: &[Path]) -> Option<Vec<Path>> {
    if prefixes.iter().any(Path::is_root) {
        None
    } else {
        Some(prefixes.to_vec())
    }
}
