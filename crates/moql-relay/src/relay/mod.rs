//! [`Relay`]: accepts QUIC and WebTransport sessions on one UDP port (and WebSocket sessions on
//! the TCP port of the same number), authorizes them, and
//! connects every session to one shared origin, so any client (or peer relay) reaches any
//! broadcast another one publishes.
//!
//! Fan-out and dedup come from the model: every downstream subscription to a broadcast learned
//! from an upstream session shares that broadcast's `TrackProducer`, so one upstream
//! subscription (and one upstream FETCH per group) serves every downstream subscriber, each at
//! its own priority, order and max latency. A slow subscriber only backs up its own streams.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moql_model::{CacheBudget, CacheLimits, OriginProducer};
use moql_native::ws::QmuxConfig;
use moql_native::{Certificate, Server, ServerConfig};
use moql_session::{Session, SessionConfig, random_origin_id};
use moql_wire::ErrorCode;
use tokio::net::TcpListener;

use crate::auth::{Auth, PeerRules};
use crate::config::{LimitsConfig, RelayConfig};
use crate::error::RelayError;
use crate::http::{HttpState, WebSocketUpgrade};
use crate::metrics::Metrics;
use crate::tls_reload::TlsReloader;

mod serve;

use serve::{ConnectionSlot, accept_tcp_loop, serve, serve_websocket};

/// Answered WebSocket upgrades waiting for the accept loop.
const WEBSOCKET_BACKLOG: usize = 64;

/// At shutdown, how long the closed sessions' final frames get to reach their peers.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A bound, ready-to-run relay.
pub struct Relay {
    config: RelayConfig,
    server: Server,
    http: Option<TcpListener>,
    /// Plain QMux over TCP (`tcp://`), when configured.
    tcp: Option<TcpListener>,
    /// The admin listener (`[admin]`), unless disabled.
    admin: Option<TcpListener>,
    /// Its address, kept for [`admin_addr`](Self::admin_addr) once `run` has taken it.
    admin_addr: Option<SocketAddr>,
    /// True while sessions are accepted: `/ready` answers 200.
    ready: Arc<std::sync::atomic::AtomicBool>,
    shared: Arc<Shared>,
    /// Reloads or renews the certificate both ports serve.
    tls: TlsReloader,
    /// TLS for HTTPS (and `wss://`) on the HTTP port, with the QUIC certificate (the same
    /// [`moql_native::CertStore`], so a reload covers both).
    http_tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

/// How many UDP ports [`bind_udp_and_tcp`] tries when the OS picks them.
const BIND_ATTEMPTS: u32 = 8;

/// Binds the UDP server and, with `http`, a TCP listener on the same port number (browsers
/// fetch `/certificate.sha256` from there, spec 1.6). With port 0 the OS picks a free UDP
/// port whose TCP twin may be taken by another process: then another UDP port is tried.
async fn bind_udp_and_tcp(
    config: ServerConfig,
    http: bool,
) -> Result<(Server, Option<TcpListener>), RelayError> {
    let mut attempt = 1;
    loop {
        let server = Server::bind(config.clone())?;
        if !http {
            return Ok((server, None));
        }
        let addr = server.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok((server, Some(listener))),
            Err(err) if retry_bind(config.bind.port(), err.kind(), attempt) => {
                tracing::debug!(%addr, %err, "TCP twin of the picked UDP port taken; another");
                attempt += 1;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Whether a TCP bind that failed with `kind`, on the `attempt`th UDP port, is tried again
/// on another: only when the port was left to the OS (`requested_port` 0: a configured port
/// that is taken is the operator's to fix) and it was taken, within [`BIND_ATTEMPTS`].
fn retry_bind(requested_port: u16, kind: std::io::ErrorKind, attempt: u32) -> bool {
    requested_port == 0 && kind == std::io::ErrorKind::AddrInUse && attempt < BIND_ATTEMPTS
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub(crate) origin: OriginProducer,
    pub(crate) auth: Auth,
    /// Which verified client certificates are cluster peers (`[cluster] peer_names`).
    peers: PeerRules,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) origin_id: u64,
    pub(crate) cache_ceiling: Option<Duration>,
    /// The disk tier behind every session's caches (`[cache] disk_dir`), if any.
    pub(crate) archive: Option<Arc<dyn moql_model::Archive>>,
    /// The total cache budget every session's remote tracks share.
    cache_budget: CacheBudget,
    pub(crate) limits: LimitsConfig,
    setup_timeout: Duration,
    header_timeout: Duration,
    sessions: Mutex<HashMap<u64, Session>>,
    next_session: AtomicU64,
    /// Accepted client connections, from the handshake to the session's end.
    connections: AtomicUsize,
}

impl Shared {
    fn register(&self, session: &Session) -> u64 {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(id, session.clone());
        }
        id
    }

    fn unregister(&self, id: u64) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&id);
        }
    }

    fn sessions(&self) -> Vec<Session> {
        self.sessions
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Sets the gauges read from the live sessions and the cache budget. (Counters are
    /// counted as things happen, never from here.)
    fn refresh_metrics(&self) {
        let subscriptions: usize = self.sessions().iter().map(|s| s.stats().serving).sum();
        self.metrics.subscriptions.set(subscriptions as u64);
        self.metrics
            .set_cache_bytes(self.cache_budget.used() as u64);
    }

    /// QMux (WebSocket, TCP) sessions get the same stream and idle limits as QUIC ones.
    fn qmux_config(&self) -> QmuxConfig {
        // Checked by `validate`: finite, within a day.
        let idle_timeout = Duration::from_secs_f64(self.limits.idle_timeout_seconds);
        let mut config = QmuxConfig {
            max_streams: self.limits.max_streams,
            idle_timeout,
            ..QmuxConfig::default()
        };
        if !idle_timeout.is_zero() {
            config.keep_alive = config.keep_alive.min(idle_timeout / 3);
        }
        config
    }

    /// The session configuration shared by clients and peers.
    pub(crate) fn session_config(&self) -> SessionConfig {
        let mut config = SessionConfig::new().with_origin_id(self.origin_id);
        config.cache_ceiling = self.cache_ceiling;
        config.cache_limits = CacheLimits {
            track_bytes: Some(self.limits.cache_track_bytes),
            total: Some(self.cache_budget.clone()),
        };
        config.max_subscriptions = self.limits.max_subscriptions;
        config.max_announcements = self.limits.max_announcements;
        config.max_announce_streams = self.limits.max_announce_streams;
        config.max_buffered = self.limits.max_buffered_bytes;
        config.header_timeout = self.header_timeout;
        config.max_receive_buffer = self.limits.max_receive_buffer_bytes;
        // Checked by `validate`: finite, within a day.
        config.announce_wait = Duration::from_secs_f64(self.limits.announce_wait_seconds);
        config.archive = self.archive.clone();
        // Checked by `validate` like the others.
        config.linger = Duration::from_secs_f64(self.limits.linger_seconds);
        config
    }
}

impl Relay {
    /// Binds the UDP listener (and the TCP listener for HTTP on the same port) and prepares the
    /// certificate, the origin and the authorization.
    ///
    /// # Errors
    ///
    /// [`RelayError`] for an unusable configuration, certificate or address.
    pub async fn bind(config: RelayConfig) -> Result<Self, RelayError> {
        config.validate()?;
        let certificate = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => Certificate::load_pem(cert, key)?,
            (None, None) => Certificate::generate(&config.tls.generate)?,
            _ => {
                return Err(RelayError::Config(
                    "tls.cert and tls.key go together".into(),
                ));
            }
        };
        let generated = config.tls.cert.is_none();
        let limits = &config.limits;
        let reset_seed = config.tls.stable_reset.then(|| certificate.reset_seed());
        let mut server_config = ServerConfig::new(config.bind, certificate);
        server_config.reset_seed = reset_seed;
        server_config.max_streams = limits.max_streams;
        if !config.cluster.peers.is_empty() {
            crate::cluster::peer_tls(&config.cluster)
                .map_err(|err| RelayError::Config(format!("[cluster]: {err}")))?;
        }
        server_config.client_roots = Certificate::load_roots(&config.cluster.peer_roots)
            .map_err(|err| RelayError::Config(format!("cluster.peer_roots: {err}")))?;
        server_config.handshake_timeout = LimitsConfig::seconds(
            "handshake_timeout_seconds",
            limits.handshake_timeout_seconds,
        )?;
        server_config.idle_timeout =
            LimitsConfig::seconds("idle_timeout_seconds", limits.idle_timeout_seconds)?;
        // A keep-alive well inside the idle timeout, so only a peer that is really gone times
        // out (the effective timeout is the smaller of both sides').
        if !server_config.idle_timeout.is_zero() {
            server_config.keep_alive = server_config.keep_alive.min(server_config.idle_timeout / 3);
        }
        let setup_timeout =
            LimitsConfig::seconds("setup_timeout_seconds", limits.setup_timeout_seconds)?;
        let header_timeout =
            LimitsConfig::seconds("header_timeout_seconds", limits.header_timeout_seconds)?;
        if header_timeout.is_zero() {
            // Zero would stop every stream before its first byte could be read.
            return Err(RelayError::Config(
                "limits.header_timeout_seconds must be above 0".into(),
            ));
        }
        let (server, http) = bind_udp_and_tcp(server_config, config.http).await?;
        let addr = server.local_addr()?;
        let files = config.tls.cert.clone().zip(config.tls.key.clone());
        let tls = TlsReloader::new(server.certificates(), files, &config.tls.generate);
        let http_tls = if config.http {
            let alpn = vec![b"http/1.1".to_vec()];
            Some(Arc::new(moql_native::server_crypto_from(
                tls.store(),
                &[],
                alpn,
            )?))
        } else {
            None
        };
        let tcp = match config.tcp {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let admin = match config.admin.address(addr) {
            Some(admin) => Some(TcpListener::bind(admin).await?),
            None => None,
        };
        let admin_addr = admin.as_ref().and_then(|l| l.local_addr().ok());
        let auth = Auth::new(&config.auth)?;
        if config.auth.is_wide_open() {
            tracing::warn!("anonymous access to every path (configure [auth] to restrict it)");
        }
        let origin_id = config.cluster.origin_id.unwrap_or_else(random_origin_id);
        let fingerprint = server.fingerprint();
        tracing::info!(%addr, %fingerprint, generated, origin_id, "relay listening");
        // Checked by `validate`: finite, within a day.
        let cache_ceiling = config
            .cache
            .max_latency_seconds
            .map(Duration::from_secs_f64);
        let metrics = Arc::new(Metrics::default());
        let archive = crate::archive::open(&config.cache, &metrics)?;
        Ok(Self {
            server,
            http,
            tcp,
            admin,
            admin_addr,
            ready: Arc::default(),
            shared: Arc::new(Shared {
                origin: OriginProducer::with_max_broadcasts(config.limits.max_broadcasts),
                auth,
                peers: PeerRules::new(&config.cluster.peer_names),
                metrics,
                origin_id,
                cache_ceiling,
                archive,
                cache_budget: CacheBudget::new(config.limits.cache_total_bytes),
                limits: config.limits.clone(),
                setup_timeout,
                header_timeout,
                sessions: Mutex::new(HashMap::new()),
                next_session: AtomicU64::new(0),
                connections: AtomicUsize::new(0),
            }),
            config,
            tls,
            http_tls,
        })
    }

    /// The address the relay listens on (UDP, and TCP for HTTP).
    ///
    /// # Errors
    ///
    /// The socket's error, if it has none.
    pub fn local_addr(&self) -> Result<SocketAddr, RelayError> {
        Ok(self.server.local_addr()?)
    }

    /// The address of the plain QMux-over-TCP listener (`tcp = "…"`), if configured.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The admin listener's address (`/health`, `/ready`, `/metrics`), unless disabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The SHA-256 fingerprint of the serving certificate (hex).
    pub fn fingerprint(&self) -> String {
        self.server.fingerprint()
    }

    /// The handle that reloads the certificate files (or renews a generated certificate):
    /// what the binary calls on SIGHUP. Valid while the relay runs.
    pub fn tls(&self) -> TlsReloader {
        self.tls.clone()
    }

    /// The origin every session shares: publish into it to offer broadcasts to every client.
    pub fn origin(&self) -> &OriginProducer {
        &self.shared.origin
    }

    /// The relay's origin (hop) ID.
    pub fn origin_id(&self) -> u64 {
        self.shared.origin_id
    }

    /// Runs until `shutdown` resolves, then sends GOAWAY to every session, gives them
    /// `drain_seconds` to leave (still served, what peers relay included), closes the rest and
    /// then the peer sessions, waits (at most 3 s) for the closing connections to drain so the
    /// UDP port is free again, and returns.
    ///
    /// # Errors
    ///
    /// Only for failures of the listeners themselves; a failing session never stops the relay.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RelayError> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (ws_tx, mut ws_rx) = tokio::sync::mpsc::channel::<WebSocketUpgrade>(WEBSOCKET_BACKLOG);
        if self.config.websocket && self.http.is_none() {
            tracing::warn!("websocket is on but http is off: no WebSocket sessions");
        }
        if let Some(listener) = self.http.take() {
            let state = HttpState {
                origin: self.shared.origin.clone(),
                certificate: self.tls.generated().then(|| self.tls.store().clone()),
                metrics: self.shared.metrics.clone(),
                serve_metrics: self.config.admin.metrics_on_public_port,
                auth: Some(self.shared.auth.clone()),
                websocket: self.config.websocket.then(|| ws_tx.clone()),
                web_root: self.config.web_root.clone(),
                fetch_timeout: std::time::Duration::from_secs_f64(
                    self.config.limits.http_fetch_timeout_seconds,
                ),
                archive: self.shared.archive.clone(),
            };
            let mut stop = stop_rx.clone();
            let tls = self.http_tls.clone();
            let limits = crate::http::server::port_limits(&self.config.limits);
            tokio::spawn(async move {
                let router = crate::http::router(state);
                let signal = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                let served = crate::http::serve_with(listener, tls, router, limits, signal).await;
                if let Err(err) = served {
                    tracing::warn!(%err, "http server failed");
                }
            });
        }
        if let Some(listener) = self.tcp.take() {
            let shared = self.shared.clone();
            let stop = stop_rx.clone();
            tokio::spawn(async move { accept_tcp_loop(shared, listener, stop).await });
        }
        // Peering outlives the drain, so what peers relay reaches the sessions told to go away
        // until they have moved (stopped with the listeners, it failed them as GOAWAY left).
        let (peers_stop_tx, peers_stop_rx) = tokio::sync::watch::channel(false);
        for peer in self.config.cluster.peers.clone() {
            let shared = self.shared.clone();
            let cluster = self.config.cluster.clone();
            let stop = peers_stop_rx.clone();
            tokio::spawn(async move { crate::cluster::peer(shared, cluster, peer, stop).await });
        }

        // The admin listener outlives the drain (`/ready` says 503 through it): it stops when
        // `run` returns.
        let admin_stop = self.admin.take().map(|listener| {
            crate::admin::spawn(
                listener,
                crate::admin::AdminState {
                    metrics: self.shared.metrics.clone(),
                    origin: self.shared.origin.clone(),
                    ready: self.ready.clone(),
                },
            )
        });
        // Checked by `validate`: finite, within a day.
        let watch = Duration::from_secs_f64(self.config.tls.watch_seconds);
        tokio::spawn(self.tls.clone().watch(watch, stop_rx.clone()));

        // Refresh the session-derived metrics once a second.
        let metrics_shared = self.shared.clone();
        let mut metrics_stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => metrics_shared.refresh_metrics(),
                    _ = metrics_stop.wait_for(|s| *s) => return,
                }
            }
        });

        tokio::pin!(shutdown);
        self.ready.store(true, Ordering::Release);
        loop {
            tokio::select! {
                incoming = self.server.accept() => {
                    let Some(incoming) = incoming else { break };
                    let Some(slot) = ConnectionSlot::claim(&self.shared) else {
                        tracing::warn!(
                            remote = %incoming.remote_addr(),
                            max = self.shared.limits.max_sessions,
                            "at the session limit; refusing"
                        );
                        // 503: raw QUIC is closed with App(503) = 567, WebTransport answered 503.
                        tokio::spawn(incoming.reject(503));
                        continue;
                    };
                    let shared = self.shared.clone();
                    tokio::spawn(async move {
                        serve(shared, incoming).await;
                        drop(slot);
                    });
                }
                Some(upgrade) = ws_rx.recv() => {
                    let shared = self.shared.clone();
                    // Counted against max_sessions like QUIC; over it, the (already upgraded)
                    // session is closed with 567 (App(503)), as raw QUIC is.
                    let slot = ConnectionSlot::claim(&self.shared);
                    tokio::spawn(async move {
                        serve_websocket(shared, upgrade, slot.is_some()).await;
                        drop(slot);
                    });
                }
                () = &mut shutdown => break,
            }
        }

        // Graceful shutdown: GOAWAY, drain, close.
        self.ready.store(false, Ordering::Release);
        tracing::info!(sessions = self.shared.sessions().len(), "shutting down");
        let _ = stop_tx.send(true);
        let sessions = self.shared.sessions();
        let goaway_url = self.config.goaway_url.clone().unwrap_or_default();
        for session in &sessions {
            let session = session.clone();
            let goaway_url = goaway_url.clone();
            tokio::spawn(async move {
                if let Err(err) = session.goaway(&goaway_url).await {
                    tracing::debug!(%err, "goaway not delivered");
                }
            });
        }
        // Checked by `validate`: finite, 0 to 60.
        let drain = Duration::from_secs_f64(self.config.drain_seconds);
        let all_closed = async {
            for session in &sessions {
                session.closed().await;
            }
        };
        let _ = tokio::time::timeout(drain, all_closed).await;
        for session in self.shared.sessions() {
            session.close(ErrorCode::CANCEL, "relay shutting down");
        }
        // Only now that no client is served: close the peer sessions.
        let _ = peers_stop_tx.send(true);
        // Let the closes reach the peers (WebTransport's capsule, QUIC's CONNECTION_CLOSE)
        // before the endpoint goes away: browsers stay through GOAWAY, and exiting at once
        // would leave them to notice by their idle timeout.
        self.server
            .close_gracefully(ErrorCode::CANCEL, "relay shutting down", CLOSE_GRACE)
            .await;
        // Let closing connections drain so the UDP port is free when `run` returns.
        if tokio::time::timeout(IDLE_WAIT, self.server.wait_idle())
            .await
            .is_err()
        {
            tracing::debug!("connections still draining at exit");
        }
        drop(admin_stop);
        Ok(())
    }
}

/// The longest `run` waits, after closing, for connections to finish draining.
const IDLE_WAIT: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;

    use super::*;

    #[test]
    fn a_taken_tcp_twin_is_retried_only_for_a_port_the_os_picked() {
        assert!(retry_bind(0, ErrorKind::AddrInUse, 1));
        assert!(retry_bind(0, ErrorKind::AddrInUse, BIND_ATTEMPTS - 1));
        assert!(!retry_bind(0, ErrorKind::AddrInUse, BIND_ATTEMPTS));
        assert!(
            !retry_bind(4443, ErrorKind::AddrInUse, 1),
            "a configured port"
        );
        assert!(
            !retry_bind(0, ErrorKind::PermissionDenied, 1),
            "another failure"
        );
    }

    #[tokio::test]
    async fn the_udp_and_tcp_ports_are_the_same_number() {
        let certificate = Certificate::generate(&[]).expect("certificate");
        let config = ServerConfig::new("127.0.0.1:0".parse().expect("addr"), certificate);
        let (server, tcp) = bind_udp_and_tcp(config, true).await.expect("bind");
        let udp = server.local_addr().expect("udp");
        assert_eq!(
            tcp.expect("tcp").local_addr().expect("tcp").port(),
            udp.port()
        );
    }
}
