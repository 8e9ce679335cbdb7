//! Peering: this relay dials each configured peer and runs an ordinary moq-lite session with
//! it — publishing the shared origin to the peer and mirroring the peer's broadcasts into it.
//!
//! Loops cannot form: every session announces with this relay's origin ID (ANNOUNCE_OK Hop ID,
//! Exclude Hop), routes whose hop chain contains the receiver are dropped on both ends
//! (spec 9), and the origin keeps the shortest route to each path active (the others stay as
//! fail-over). A peer that dies takes only the routes learned through it.

use std::sync::Arc;
use std::time::Duration;

use moql_native::{Certificate, Client, ClientConfig, ClientTls, TransportError};
use moql_session::Session;
use tokio::sync::watch;

use crate::config::ClusterConfig;
use crate::metrics::SessionLabels;
use crate::relay::Shared;

/// Reconnect delays: start small, double, cap.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The longest wait between two dials: [`BACKOFF_MAX`], but at most a quarter of the linger
/// (and never below [`BACKOFF_START`]), so a peer that restarts is dialled again a few times
/// within the linger and the broadcasts it carried resume before they end (issue #18: 5 s of
/// linger → a dial at least every 1.25 s).
fn backoff_cap(linger_seconds: f64) -> Duration {
    if linger_seconds <= 0.0 {
        return BACKOFF_MAX;
    }
    Duration::from_secs_f64(linger_seconds / 4.0).clamp(BACKOFF_START, BACKOFF_MAX)
}

/// A client for dialing peers: trust per `[cluster]` (`insecure`, `peer_fingerprints`,
/// `roots`, else the system's), presenting `client_cert` when a peer asks for one.
///
/// The peer connection takes the relay's own idle timeout, as its sessions from clients do: a
/// dead upstream is noticed when a client's would be, so its broadcasts linger and resume
/// (issue #18) instead of waiting out the client default of 30 s. Its keep-alive is the
/// client default (1 s, so a restarted upstream's reset reaches it quickly), at most a third
/// of the idle timeout.
fn peer_client(shared: &Shared, cluster: &ClusterConfig) -> Result<Client, TransportError> {
    let (tls, identity) = peer_tls(cluster)?;
    let mut config = ClientConfig::new(tls);
    config.identity = identity;
    let idle_timeout = Duration::from_secs_f64(shared.limits.idle_timeout_seconds);
    config.idle_timeout = idle_timeout;
    if !idle_timeout.is_zero() {
        config.keep_alive = config.keep_alive.min(idle_timeout / 3);
    }
    Client::new(config)
}

/// How to trust peers and which certificate to present them, read from the files `cluster`
/// names. The relay calls it once at start so that a bad file is a startup error rather than
/// a dial that fails forever.
///
/// # Errors
///
/// An unreadable or malformed root, certificate or key file.
pub(crate) fn peer_tls(
    cluster: &ClusterConfig,
) -> Result<(ClientTls, Option<Certificate>), TransportError> {
    let tls =
        ClientTls::from_options(cluster.insecure, &cluster.peer_fingerprints, &cluster.roots)?;
    let identity = match (&cluster.client_cert, &cluster.client_key) {
        (Some(cert), Some(key)) => Some(Certificate::load_pem(cert, key)?),
        _ => None,
    };
    Ok((tls, identity))
}

/// Keeps a session to `url` up until `stop` turns true.
pub(crate) async fn peer(
    shared: Arc<Shared>,
    cluster: ClusterConfig,
    url: String,
    mut stop: watch::Receiver<bool>,
) {
    let target = match &cluster.token {
        Some(token) => format!(
            "{url}{}jwt={token}",
            if url.contains('?') { '&' } else { '?' }
        ),
        None => url.clone(),
    };
    let mut backoff = BACKOFF_START;
    loop {
        let attempt = async {
            // Built per dial: the trust roots and the client certificate are re-read, so a
            // renewed certificate is presented from the next reconnection on.
            let client = peer_client(&shared, &cluster).map_err(|e| e.to_string())?;
            let connected = client.connect(&target).await.map_err(|e| e.to_string())?;
            let mut config = shared
                .session_config()
                .with_publish(shared.origin.consume())
                .with_subscribe(shared.origin.clone());
            config.setup_path = connected.setup_path.clone();
            let labels = SessionLabels::new(connected.session.kind(), connected.version);
            config.meter = Some(shared.metrics.meter(&labels));
            let session = Session::connect(connected.session, connected.version, config)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(%url, version = %connected.version, "peer connected");
            Ok::<_, String>(session)
        };
        let session = tokio::select! {
            result = attempt => result,
            _ = stop.wait_for(|s| *s) => return,
        };
        match session {
            Ok(session) => {
                backoff = BACKOFF_START;
                tokio::select! {
                    err = session.closed() => tracing::warn!(%url, %err, "peer session ended"),
                    _ = stop.wait_for(|s| *s) => {
                        session.close(moql_wire::ErrorCode::CANCEL, "relay shutting down");
                        return;
                    }
                }
            }
            Err(err) => tracing::warn!(%url, %err, "peer connection failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(backoff_cap(shared.limits.linger_seconds));
    }
}
