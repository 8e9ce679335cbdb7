//! [`Reconnecting`]: a client that keeps a session up across lost connections and GOAWAY.
//!
//! It lives in this crate, where sessions are made, and takes the dial as a closure, so it
//! works over any transport (moql-native's `Client::connect` + [`Session::connect`] in
//! practice). What it keeps across sessions:
//!
//! - **What we publish**: the closure gives every new session the same publish origin, so
//!   the peer sees our broadcasts announced again.
//! - **What we consume**: the application reads broadcasts from [`Reconnecting::origin`], a
//!   stable origin fed by the current session (see `mirror`). A `TrackConsumer` taken from it
//!   keeps yielding groups after a reconnect (the same object; the track is subscribed again
//!   on the new session from the next group it lacks) and sees no end or error while the
//!   client is reconnecting. A broadcast that the new session does not announce again within
//!   [`ReconnectConfig::linger`] ends.
//!
//! On loss it redials after [`Backoff`] delays; a GOAWAY with a URI moves to that URI
//! make-before-break (the old session keeps delivering until the new one does, at most
//! [`ReconnectConfig::handover`]), and every later dial goes there too, also when that first
//! dial failed and the old session then drained; a GOAWAY without one reconnects to the same
//! URL once the old session has drained. It stops on a dial error the closure marks fatal
//! (refused credentials, a bad URL), on a session the peer closes as unauthorized (code 6),
//! or when the handle is dropped.

mod backoff;
mod mirror;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moql_model::OriginProducer;
use moql_wire::ErrorCode;
use tokio::sync::watch;
use tokio::time::Instant;

pub use backoff::Backoff;

use crate::{Session, SessionError};
use mirror::Mirrors;

/// Called with each [`ReconnectEvent`].
pub type EventHandler = Arc<dyn Fn(&ReconnectEvent) + Send + Sync>;

/// How a [`Reconnecting`] client retries.
#[derive(Clone)]
pub struct ReconnectConfig {
    /// Delays between dials.
    pub backoff: Backoff,
    /// `false`: never reconnect; the first loss ends the client ([`ReconnectError::Lost`]).
    pub enabled: bool,
    /// How long a consumed broadcast waits, after a reconnect, to be announced again before
    /// it ends. Default 10 s.
    pub linger: Duration,
    /// After a GOAWAY with a URI: the longest the old session stays open once the new one is
    /// up. Default 5 s.
    pub handover: Duration,
    /// Told of every loss, retry and move (the CLI prints them).
    pub on_event: Option<EventHandler>,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            backoff: Backoff::default(),
            enabled: true,
            linger: Duration::from_secs(10),
            handover: Duration::from_secs(5),
            on_event: None,
        }
    }
}

impl fmt::Debug for ReconnectConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconnectConfig")
            .field("backoff", &self.backoff)
            .field("enabled", &self.enabled)
            .field("linger", &self.linger)
            .field("handover", &self.handover)
            .finish_non_exhaustive()
    }
}

/// What the client is doing, for logs and user messages.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ReconnectEvent {
    /// The session ended; the next dial is in `retry_in`.
    Lost {
        /// Why the session ended.
        error: SessionError,
        /// The wait before the next dial.
        retry_in: Duration,
    },
    /// A dial failed; the next one is in `retry_in`.
    DialFailed {
        /// The URL dialled.
        url: String,
        /// The dial error, in words.
        error: String,
        /// The wait before the next dial.
        retry_in: Duration,
    },
    /// The peer sent GOAWAY pointing at `url`; the client is moving there.
    Moving {
        /// The new URL.
        url: String,
    },
    /// The peer sent GOAWAY without a URL; the client reconnects once the session drained.
    Draining,
    /// A new session is up.
    Reconnected {
        /// The URL it is connected to.
        url: String,
    },
}

/// A failed dial, and whether retrying could help.
#[derive(Clone, Debug)]
pub struct DialError {
    fatal: bool,
    error: Arc<dyn std::error::Error + Send + Sync>,
}

impl DialError {
    /// A failure worth retrying (unreachable, timed out, the session closed).
    pub fn retry(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            fatal: false,
            error: Arc::from(error.into()),
        }
    }

    /// A failure retrying cannot fix (credentials refused, a bad URL): the client stops.
    pub fn fatal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            fatal: true,
            error: Arc::from(error.into()),
        }
    }

    /// Whether the client stops on this error.
    pub fn is_fatal(&self) -> bool {
        self.fatal
    }
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for DialError {
    // Transparent: the dial error's own causes follow, so callers can match on their types.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Why a [`Reconnecting`] client stopped.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconnectError {
    /// A dial failed in a way retrying cannot fix.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// The session ended and reconnecting is disabled.
    #[error(transparent)]
    Lost(#[from] SessionError),
    /// The application closed the client.
    #[error("closed")]
    Closed,
}

/// A client session that comes back; see the [module docs](self).
pub struct Reconnecting {
    current: watch::Receiver<Option<Session>>,
    ended: watch::Receiver<Option<ReconnectError>>,
    stop: watch::Sender<bool>,
    origin: OriginProducer,
    mirrors: Mirrors,
    task: tokio::task::JoinHandle<()>,
}

impl Reconnecting {
    /// Dials `url` and keeps a session up from then on.
    ///
    /// `dial(url, origin)` must start a session on `url` whose subscribe origin is `origin`
    /// (fresh for each session) and whose publish origin is what the application publishes
    /// (the same each time); it marks errors retrying cannot fix with [`DialError::fatal`].
    ///
    /// # Errors
    ///
    /// The first dial's error: the first connection is not retried, so a wrong URL or
    /// credential shows at once.
    pub async fn connect<F, Fut>(
        url: impl Into<String>,
        dial: F,
        config: ReconnectConfig,
    ) -> Result<Self, DialError>
    where
        F: Fn(String, OriginProducer) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Session, DialError>> + Send + 'static,
    {
        let url = url.into();
        let origin = OriginProducer::new();
        let mirrors = Mirrors::new(origin.clone());
        let received = OriginProducer::new();
        let session = dial(url.clone(), received.clone()).await?;
        tokio::spawn(mirrors.clone().follow(received, session.clone(), 1));
        let (current_tx, current) = watch::channel(Some(session.clone()));
        let (ended_tx, ended) = watch::channel(None);
        let (stop, stopped) = watch::channel(false);
        let supervisor = Supervisor {
            dial: Box::new(move |url, origin| Box::pin(dial(url, origin))),
            config,
            mirrors: mirrors.clone(),
            current: current_tx,
            url,
            generation: 1,
        };
        let task = tokio::spawn(async move {
            let err = tokio::select! {
                // The stop first: `close` sends it before closing the session, so a session
                // that ended because we closed it is never taken for a lost one (reported
                // `Lost`, then redialled).
                biased;
                _ = wait_true(stopped) => ReconnectError::Closed,
                err = supervisor.run(session) => err,
            };
            let _ = ended_tx.send(Some(err));
        });
        Ok(Self {
            current,
            ended,
            stop,
            origin,
            mirrors,
            task,
        })
    }

    /// The stable origin: the peer's broadcasts, whichever session carries them.
    pub fn origin(&self) -> &OriginProducer {
        &self.origin
    }

    /// The current session (the last one, once the client stopped).
    pub fn session(&self) -> Option<Session> {
        self.current.borrow().clone()
    }

    /// Why the client stopped, if it has.
    pub fn close_reason(&self) -> Option<ReconnectError> {
        self.ended.borrow().clone()
    }

    /// Waits until the client stops and returns why.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes.
    pub async fn closed(&self) -> ReconnectError {
        let mut ended = self.ended.clone();
        match ended.wait_for(Option::is_some).await {
            Ok(err) => err.clone().unwrap_or(ReconnectError::Closed),
            Err(_) => ReconnectError::Closed,
        }
    }

    /// Stops reconnecting and closes the current session with `code` and `reason`.
    pub fn close(&self, code: ErrorCode, reason: &str) {
        let _ = self.stop.send(true);
        if let Some(session) = self.session() {
            session.close(code, reason);
        }
    }
}

impl Drop for Reconnecting {
    fn drop(&mut self) {
        self.task.abort();
        self.mirrors.end_all(&moql_model::Error::Cancel);
        if let Some(session) = self.session() {
            session.close(ErrorCode::CANCEL, "dropped");
        }
    }
}

impl fmt::Debug for Reconnecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnecting")
            .field("session", &self.session())
            .field("ended", &self.close_reason())
            .finish_non_exhaustive()
    }
}

/// Whether the peer closed the session for a reason a new session would meet again: our
/// credentials (spec 1.4: code 6 for a refused or expired token).
fn refused(err: &SessionError) -> bool {
    matches!(err, SessionError::Closed { code, .. } if *code == ErrorCode::UNAUTHORIZED)
}

/// What the consumed tracks end with when the client gives up after losing a session.
fn track_error(err: &SessionError) -> moql_model::Error {
    if refused(err) {
        moql_model::Error::Unauthorized
    } else {
        moql_model::Error::Transport
    }
}

async fn wait_true(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

type DialFuture = std::pin::Pin<Box<dyn Future<Output = Result<Session, DialError>> + Send>>;
type DialFn = Box<dyn Fn(String, OriginProducer) -> DialFuture + Send + Sync>;

/// The task that watches the current session and replaces it.
struct Supervisor {
    dial: DialFn,
    config: ReconnectConfig,
    mirrors: Mirrors,
    current: watch::Sender<Option<Session>>,
    url: String,
    generation: u64,
}

impl Supervisor {
    fn emit(&self, event: ReconnectEvent) {
        tracing::info!(?event, "reconnecting client");
        if let Some(on_event) = &self.config.on_event {
            on_event(&event);
        }
    }

    /// Dials `url` and, on success, makes the new session current.
    async fn attach(&mut self, url: &str) -> Result<Session, DialError> {
        let received = OriginProducer::new();
        let session = (self.dial)(url.to_string(), received.clone()).await?;
        self.generation += 1;
        let generation = self.generation;
        tokio::spawn(
            self.mirrors
                .clone()
                .follow(received, session.clone(), generation),
        );
        let mirrors = self.mirrors.clone();
        let linger = self.config.linger;
        tokio::spawn(async move {
            tokio::time::sleep(linger).await;
            mirrors.expire(generation);
        });
        self.current.send_replace(Some(session.clone()));
        self.url = url.to_string();
        self.emit(ReconnectEvent::Reconnected {
            url: url.to_string(),
        });
        Ok(session)
    }

    /// Keeps a session up until a fatal error (or, disabled, the first loss).
    async fn run(mut self, mut session: Session) -> ReconnectError {
        let mut attempt = 0u32;
        loop {
            let since = Instant::now();
            let goaway = tokio::select! {
                err = session.closed() => Err(err),
                uri = session.goaway_received() => Ok(uri.unwrap_or_default()),
            };
            let mut drained = false;
            let lost = match goaway {
                Err(err) => err,
                Ok(uri) if !self.config.enabled => {
                    tracing::debug!(%uri, "GOAWAY; reconnecting is disabled");
                    session.closed().await
                }
                Ok(uri) if !uri.is_empty() => {
                    self.emit(ReconnectEvent::Moving { url: uri.clone() });
                    // The peer is leaving and said where to go: every later dial goes there,
                    // even if this one fails (redialling the old URL after the drain would
                    // reach a relay that is shutting down, or nothing).
                    self.url.clone_from(&uri);
                    match self.attach(&uri).await {
                        Ok(new) => {
                            // Make-before-break: the old session delivers until the peer
                            // closes it or the handover ends.
                            let old = std::mem::replace(&mut session, new);
                            let handover = self.config.handover;
                            tokio::spawn(async move {
                                let _ = tokio::time::timeout(handover, old.closed()).await;
                                old.close(ErrorCode::CANCEL, "moved (GOAWAY)");
                            });
                            attempt = 0;
                            continue;
                        }
                        Err(err) if err.is_fatal() => {
                            self.mirrors.end_all(&moql_model::Error::Transport);
                            return err.into();
                        }
                        Err(err) => {
                            tracing::warn!(%err, %uri, "GOAWAY target unreachable; staying until the drain");
                            drained = true;
                            session.closed().await
                        }
                    }
                }
                Ok(_) => {
                    self.emit(ReconnectEvent::Draining);
                    drained = true;
                    session.closed().await
                }
            };
            if !self.config.enabled || refused(&lost) {
                self.mirrors.end_all(&track_error(&lost));
                return lost.into();
            }
            attempt = if drained {
                0
            } else {
                self.config
                    .backoff
                    .after_connection(attempt, since.elapsed())
            };
            let mut retry_in = self.config.backoff.next_delay(attempt);
            self.emit(ReconnectEvent::Lost {
                error: lost,
                retry_in,
            });
            session = loop {
                tokio::time::sleep(retry_in).await;
                let url = self.url.clone();
                match self.attach(&url).await {
                    Ok(new) => break new,
                    Err(err) if err.is_fatal() => {
                        self.mirrors.end_all(&moql_model::Error::Transport);
                        return err.into();
                    }
                    Err(err) => {
                        attempt = attempt.saturating_add(1);
                        retry_in = self.config.backoff.next_delay(attempt);
                        self.emit(ReconnectEvent::DialFailed {
                            url,
                            error: err.to_string(),
                            retry_in,
                        });
                    }
                }
            };
        }
    }
}
