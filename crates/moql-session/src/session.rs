//! [`Session`]: one moq-lite connection, publishing an origin to the peer and consuming the
//! peer's; [`Accepting`]: a server-side session whose client SETUP has been read.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::BytesMut;
use moql_sync::Producer;
use moql_wire::{BidiStream, Encode, ErrorCode, Goaway, ProbeLevel, Setup, UniStream, Version};
use tokio::sync::watch;
use web_transport_trait::Session as _;

use crate::config::SessionConfig;
use crate::context::{Context, Inner};
use crate::error::SessionError;
use crate::io::{CodeMapped, Reader, Writer};
use crate::tasks::Tasks;
use crate::{publisher, subscriber};

/// A live moq-lite session.
///
/// Created by [`Session::connect`] (client) or [`Accepting::accept`] (server). While it lives,
/// the session answers the peer's announce, track, subscribe and fetch requests from the
/// configured publish origin, and mirrors the peer's broadcasts into the configured subscribe
/// origin (their tracks, subscriptions and fetches travel to the peer on demand).
///
/// Closing: [`close`](Self::close), dropping the last handle (code 0, "dropped"), a protocol
/// violation by the peer (the spec's code), or the transport ending. Every task stops, every
/// stream is reset, and every consumer fed by the session ends with an error
/// ([`moql_model::Error::Transport`] or the peer's code).
///
/// # Examples
///
/// A server and a client on loopback; the client publishes a track and the server reads it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use moql_model::{BroadcastProducer, OriginProducer, Path, Subscription, TrackInfo};
/// use moql_native::{Certificate, Client, ClientConfig, ClientTls, Server, ServerConfig};
/// use moql_session::{Accepting, Session, SessionConfig};
///
/// let certificate = Certificate::generate(&["localhost".into()])?;
/// let mut server = Server::bind(ServerConfig::new("127.0.0.1:0".parse()?, certificate))?;
/// let url = format!("moql://127.0.0.1:{}/", server.local_addr()?.port());
/// let client = Client::new(ClientConfig::new(ClientTls::Fingerprints(vec![server.fingerprint()])))?;
///
/// // Server: everything the client publishes lands in `received`.
/// let received = OriginProducer::new();
/// let sink = received.clone();
/// let serving = tokio::spawn(async move {
///     let incoming = server.accept().await.expect("a client");
///     let version = incoming.version();
///     let accepting = Accepting::new(incoming.accept().await?, version, Duration::from_secs(5)).await?;
///     let session = accepting.accept(SessionConfig::new().with_subscribe(sink)).await?;
///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>((session, server))
/// });
///
/// // Client: publishes demo/clock.
/// let origin = OriginProducer::new();
/// let broadcast = BroadcastProducer::new();
/// let track = broadcast.create_track("clock", TrackInfo::DEFAULT)?;
/// origin.publish(&Path::new("demo")?, broadcast.consume())?;
/// let connected = client.connect(&url).await?;
/// let config = SessionConfig::new().with_publish(origin.consume());
/// let session = Session::connect(connected.session, connected.version, config).await?;
/// let (_server_session, _server) = serving.await?.expect("server session");
///
/// // The server subscribes to what the client announced, once it is announced.
/// let mut announced = received.consume();
/// let remote = loop {
///     if let Some(remote) = received.broadcast(&Path::new("demo")?) {
///         break remote;
///     }
///     announced.announced().await.expect("the origin is open");
/// };
/// let mut live = remote.subscribe_track("clock", Subscription::default())?;
/// // Publish once the subscription reached the client (it subscribes upstream on demand).
/// track.subscription_changed(None).await?;
/// let group = track.append_group()?;
/// group.write(0, "tick")?;
/// group.finish()?;
/// let mut got = live.next_group().await?.expect("a group");
/// assert_eq!(got.next_frame().await?.expect("a frame").payload, "tick");
/// session.close(moql_wire::ErrorCode::CANCEL, "done");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Session {
    shared: Arc<Handle>,
}

struct Handle {
    version: Version,
    tasks: Tasks,
    control: Box<dyn Control>,
    closed: watch::Receiver<Option<SessionError>>,
    goaway: watch::Receiver<Option<String>>,
    probe: watch::Receiver<Option<moql_wire::Probe>>,
    peer_setup: moql_sync::Consumer<Option<Setup>>,
}

/// The transport-specific operations the handle needs, type-erased so `Session` is not
/// generic.
trait Control: Send + Sync {
    fn shutdown(&self, err: SessionError);
    fn goaway(&self, uri: String)
    -> Pin<Box<dyn Future<Output = Result<(), SessionError>> + Send>>;
    fn subscriptions(&self) -> usize;
    fn datagrams(&self) -> (u64, u64);
    fn serving(&self) -> usize;
    fn bytes(&self) -> (Option<u64>, Option<u64>);
}

impl<T: web_transport_trait::Session> Control for Context<T> {
    fn shutdown(&self, err: SessionError) {
        self.close(err);
    }

    fn goaway(
        &self,
        uri: String,
    ) -> Pin<Box<dyn Future<Output = Result<(), SessionError>> + Send>> {
        let ctx = self.clone();
        Box::pin(async move { send_goaway(&ctx, uri).await })
    }

    fn subscriptions(&self) -> usize {
        self.subscriptions.lock().map_or(0, |s| s.len())
    }

    fn serving(&self) -> usize {
        self.serving.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn bytes(&self) -> (Option<u64>, Option<u64>) {
        use web_transport_trait::Stats;
        let stats = self.transport.stats();
        (stats.bytes_sent(), stats.bytes_received())
    }

    fn datagrams(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.datagrams_sent.load(Relaxed),
            self.datagrams_received.load(Relaxed),
        )
    }
}

/// Counters for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// Tasks the session is running (0 once closed and drained).
    pub tasks: usize,
    /// Outgoing subscriptions currently routed by Subscribe ID.
    pub subscriptions: usize,
    /// Subscriptions the peer has open with us (Subscribe streams we are serving).
    pub serving: usize,
    /// Bytes the transport sent, if it counts them (retransmissions and overhead included).
    pub bytes_sent: Option<u64>,
    /// Bytes the transport received, if it counts them.
    pub bytes_received: Option<u64>,
    /// Groups sent as datagrams.
    pub datagrams_sent: u64,
    /// Groups received as datagrams (and delivered).
    pub datagrams_received: u64,
}

impl Session {
    /// Starts a client session over `transport`, which negotiated `version`.
    ///
    /// Sends our SETUP at once (lite-05 and later) and serves the peer as soon as its SETUP arrives.
    ///
    /// # Errors
    ///
    /// [`SessionError::Config`] for an invalid origin ID; [`SessionError::Transport`] if the
    /// Setup stream cannot be opened.
    pub async fn connect<T: web_transport_trait::Session>(
        transport: T,
        version: Version,
        config: SessionConfig,
    ) -> Result<Self, SessionError> {
        let ctx = context(CodeMapped::new(transport, version), version, config)?;
        if version.has_setup() {
            // The server's SETUP arrives on a uni stream; the uni accept loop records it.
            let setup = local_setup(&ctx, true);
            send_setup(&ctx, &setup).await?;
        } else {
            ctx.set_peer_setup(Setup::default());
        }
        Ok(start(ctx, !version.has_setup()))
    }

    /// The negotiated version.
    pub fn version(&self) -> Version {
        self.shared.version
    }

    /// The peer's SETUP, once received (a default one on versions without SETUP).
    pub fn peer_setup(&self) -> Option<Setup> {
        self.shared.peer_setup.read().clone()
    }

    /// Closes the session with `code` ([`ErrorCode::CANCEL`] = normal) and `reason`.
    pub fn close(&self, code: ErrorCode, reason: &str) {
        self.shared.control.shutdown(SessionError::Closed {
            code,
            reason: reason.to_string(),
        });
    }

    /// Waits until the session has closed and returns why.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes the close; nothing is consumed.
    pub async fn closed(&self) -> SessionError {
        let mut rx = self.shared.closed.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(err) => err
                .clone()
                .unwrap_or_else(|| SessionError::Transport("closed".into())),
            Err(_) => SessionError::Transport("closed".into()),
        }
    }

    /// The close reason, if the session has closed.
    pub fn close_reason(&self) -> Option<SessionError> {
        self.shared.closed.borrow().clone()
    }

    /// Tells the peer to go away (GOAWAY, spec 4.7), optionally pointing at `uri`. The session
    /// stays open; close it once the peer has moved or after a grace period.
    ///
    /// # Errors
    ///
    /// [`SessionError::Config`] before lite-04 (no GOAWAY), or a transport error.
    pub async fn goaway(&self, uri: &str) -> Result<(), SessionError> {
        self.shared.control.goaway(uri.to_string()).await
    }

    /// Waits for the peer's GOAWAY and returns its redirect URI (empty = none).
    pub async fn goaway_received(&self) -> Option<String> {
        let mut rx = self.shared.goaway.clone();
        rx.wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|uri| uri.clone())
    }

    /// The peer's GOAWAY redirect URI, if a GOAWAY arrived (empty = none given).
    pub fn goaway_uri(&self) -> Option<String> {
        self.shared.goaway.borrow().clone()
    }

    /// The latest PROBE report from the peer, if probing is enabled and one arrived.
    pub fn probe(&self) -> Option<moql_wire::Probe> {
        *self.shared.probe.borrow()
    }

    /// Counters: running tasks, routed and served subscriptions, bytes and datagrams sent
    /// and received.
    pub fn stats(&self) -> SessionStats {
        let (datagrams_sent, datagrams_received) = self.shared.control.datagrams();
        let (bytes_sent, bytes_received) = self.shared.control.bytes();
        SessionStats {
            tasks: self.shared.tasks.count(),
            subscriptions: self.shared.control.subscriptions(),
            serving: self.shared.control.serving(),
            bytes_sent,
            bytes_received,
            datagrams_sent,
            datagrams_received,
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.control.shutdown(SessionError::Closed {
            code: ErrorCode::CANCEL,
            reason: "dropped".into(),
        });
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("version", &self.shared.version)
            .field("closed", &self.close_reason())
            .finish()
    }
}

/// A server-side session whose client SETUP has been read: decide with
/// [`accept`](Self::accept) or [`reject`](Self::reject) (for example after checking the SETUP
/// Path's credentials).
pub struct Accepting<T> {
    ctx_transport: CodeMapped<T>,
    version: Version,
    peer: Setup,
}

impl<T: web_transport_trait::Session> Accepting<T> {
    /// Reads the client's SETUP from `transport` (lite-05; a default SETUP on older versions).
    ///
    /// Spec 4.1: the server "does not start the session … until it has read the client's
    /// SETUP"; unidirectional streams that arrive before it are refused with STOP code 10.
    ///
    /// # Errors
    ///
    /// [`SessionError::Protocol`] if the SETUP does not decode (the session is closed with its
    /// code), [`SessionError::Transport`] if the connection fails or no SETUP arrives within
    /// `timeout`.
    pub async fn new(
        transport: T,
        version: Version,
        timeout: std::time::Duration,
    ) -> Result<Self, SessionError> {
        let transport = CodeMapped::new(transport, version);
        if !version.has_setup() {
            return Ok(Self {
                ctx_transport: transport,
                version,
                peer: Setup::default(),
            });
        }
        let read = async {
            loop {
                let stream = transport
                    .accept_uni()
                    .await
                    .map_err(SessionError::transport)?;
                let mut reader = Reader::new(stream);
                match reader.decode::<UniStream>(version).await {
                    Ok(UniStream::Setup) => {
                        return reader.decode::<Setup>(version).await.map_err(|err| {
                            SessionError::Protocol {
                                code: err.code(),
                                reason: format!("client SETUP: {err}"),
                            }
                        });
                    }
                    Ok(_) => reader.stop(ErrorCode::UNEXPECTED_STREAM),
                    Err(_) => reader.stop(ErrorCode::DECODE),
                }
            }
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(Ok(peer)) => Ok(Self {
                ctx_transport: transport,
                version,
                peer,
            }),
            Ok(Err(err)) => {
                transport.close(err.code().0, &err.to_string());
                Err(err)
            }
            Err(_) => {
                let err = SessionError::Protocol {
                    code: ErrorCode::TIMEOUT,
                    reason: "no SETUP from the client".into(),
                };
                transport.close(err.code().0, &err.to_string());
                Err(err)
            }
        }
    }

    /// The client's SETUP.
    pub fn setup(&self) -> &Setup {
        &self.peer
    }

    /// The negotiated version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Starts the session: sends our SETUP and serves the client.
    ///
    /// # Errors
    ///
    /// As [`Session::connect`].
    pub async fn accept(self, config: SessionConfig) -> Result<Session, SessionError> {
        let ctx = context(self.ctx_transport, self.version, config)?;
        ctx.set_peer_setup(self.peer);
        if self.version.has_setup() {
            let setup = local_setup(&ctx, false);
            send_setup(&ctx, &setup).await?;
        }
        Ok(start(ctx, true))
    }

    /// Refuses the session: closes it with `code` (6 Unauthorized, or 64 + an HTTP status,
    /// spec 1.4) and `reason`.
    pub fn reject(self, code: ErrorCode, reason: &str) {
        self.ctx_transport.close(code.0, reason);
    }
}

fn context<T: web_transport_trait::Session>(
    transport: T,
    version: Version,
    config: SessionConfig,
) -> Result<Context<T>, SessionError> {
    if config.origin_id == 0 || config.origin_id >= 1 << 62 {
        return Err(SessionError::Config(format!(
            "origin ID {} must be non-zero and below 2^62",
            config.origin_id
        )));
    }
    let peer_setup = Producer::new(None);
    let peer_setup_rx = peer_setup.consume();
    let receive_budget = crate::io::ReceiveBudget::new(config.max_receive_buffer);
    Ok(Context {
        inner: Arc::new(Inner {
            transport,
            version,
            stamp: crate::config::random_origin_id(),
            config,
            tasks: Tasks::new(),
            peer_setup,
            peer_setup_rx,
            subscriptions: Mutex::new(HashMap::new()),
            next_subscribe_id: AtomicU64::new(0),
            closed: watch::Sender::new(None),
            goaway: watch::Sender::new(None),
            probe: watch::Sender::new(None),
            started: Instant::now(),
            datagrams_sent: AtomicU64::new(0),
            serving: std::sync::atomic::AtomicUsize::new(0),
            announcing: std::sync::atomic::AtomicUsize::new(0),
            datagrams_received: AtomicU64::new(0),
            unrouted: crate::context::StreamCount::default(),
            receive_budget,
        }),
    })
}

/// Our SETUP (spec 5.1.1): Probe when we can measure, Origin always, Path only from a client
/// on a URI-less transport.
fn local_setup<T: web_transport_trait::Session>(ctx: &Context<T>, client: bool) -> Setup {
    let measurable = {
        use web_transport_trait::Stats;
        let stats = ctx.transport.stats();
        stats.rtt().is_some() || stats.estimated_send_rate().is_some()
    };
    Setup {
        probe: if measurable {
            ProbeLevel::Report
        } else {
            ProbeLevel::None
        },
        path: if client {
            ctx.config.setup_path.clone()
        } else {
            None
        },
        origin: Some(ctx.config.origin_id),
        ..Setup::default()
    }
}

async fn send_setup<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    setup: &Setup,
) -> Result<(), SessionError> {
    let stream = ctx
        .transport
        .open_uni()
        .await
        .map_err(SessionError::transport)?;
    let mut writer = Writer::new(stream);
    let mut buf = BytesMut::new();
    UniStream::Setup
        .encode(&mut buf, ctx.version)
        .and_then(|()| setup.encode(&mut buf, ctx.version))
        .map_err(|err| SessionError::Config(format!("SETUP: {err}")))?;
    writer
        .write(buf.freeze())
        .await
        .map_err(SessionError::transport)?;
    writer.finish().map_err(SessionError::transport)?;
    Ok(())
}

/// Spawns the accept loops and the subscriber, and returns the handle.
fn start<T: web_transport_trait::Session>(ctx: Context<T>, peer_known: bool) -> Session {
    let closed = ctx.closed.subscribe();
    let watcher = ctx.clone();
    ctx.tasks.spawn(async move {
        let err = watcher.transport.closed().await;
        let err = match web_transport_trait::Error::session_error(&err) {
            Some((code, reason)) => SessionError::Closed {
                code: ErrorCode(code),
                reason,
            },
            None => SessionError::transport(err),
        };
        watcher.close(err);
    });
    publisher::start(&ctx);
    subscriber::start(&ctx, peer_known);
    Session {
        shared: Arc::new(Handle {
            version: ctx.version,
            tasks: ctx.tasks.clone(),
            closed,
            goaway: ctx.goaway.subscribe(),
            probe: ctx.probe.subscribe(),
            peer_setup: ctx.peer_setup.consume(),
            control: Box::new(ctx),
        }),
    }
}

async fn send_goaway<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    uri: String,
) -> Result<(), SessionError> {
    if !ctx.version.has_goaway() {
        return Err(SessionError::Config(format!(
            "{} has no GOAWAY",
            ctx.version
        )));
    }
    let (send, recv) = ctx
        .transport
        .open_bi()
        .await
        .map_err(SessionError::transport)?;
    drop(recv);
    let mut writer = Writer::new(send);
    let mut buf = BytesMut::new();
    BidiStream::Goaway
        .encode(&mut buf, ctx.version)
        .and_then(|()| Goaway { uri }.encode(&mut buf, ctx.version))
        .map_err(|err| SessionError::Config(format!("GOAWAY: {err}")))?;
    writer
        .write(buf.freeze())
        .await
        .map_err(SessionError::transport)?;
    writer.finish().map_err(SessionError::transport)?;
    // Keep the stream until the FIN is delivered; the peer may reset it once read.
    let _ = writer.closed().await;
    Ok(())
}
