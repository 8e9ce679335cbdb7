//! [`Link`]: the session of `publish`, `subscribe` and `announced`, which comes back after a
//! lost connection or a relay's GOAWAY ([`moql_session::Reconnecting`]) unless
//! `--no-reconnect` is given, and says so on stderr.
//!
//! Exit codes stay those of [`crate::exit`]: the first connection is not retried (a wrong
//! URL, token or unreachable relay fails at once, as before); a refused token or a bad URL
//! later on stops the retries; either way the command ends with the typed error of the dial
//! that failed, not a wrapper around it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moql_model::OriginProducer;
use moql_session::{
    DialError, ReconnectConfig, ReconnectError, ReconnectEvent, Reconnecting, Session,
    SessionConfig,
};

use crate::connect::{ConnectArgs, Connector, redact};
use crate::exit::{Exit, classify};

/// The last dial error in full (typed causes for the exit code), next to the client that
/// only keeps its words.
type LastError = Arc<Mutex<Option<anyhow::Error>>>;

/// A session to one relay that is re-established while the command runs.
pub(crate) struct Link {
    client: Reconnecting,
    last: LastError,
}

impl Link {
    /// Connects to `url`; each session's config comes from `configure` (given the origin
    /// the session must mirror the relay's broadcasts into). `reconnect: false` is
    /// `--no-reconnect`: the first loss ends the command.
    ///
    /// # Errors
    ///
    /// The first dial's error, with its exit code.
    pub(crate) async fn connect(
        args: &ConnectArgs,
        url: &str,
        reconnect: bool,
        configure: impl Fn(OriginProducer) -> SessionConfig + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        let connector = Connector::new(args, url)?;
        let start = connector.url().to_string();
        let last: LastError = Arc::default();
        let stash = last.clone();
        let configure = Arc::new(configure);
        let dial = move |url: String, received: OriginProducer| {
            let connector = connector.clone();
            let configure = configure.clone();
            let stash = stash.clone();
            async move {
                match connector.session_to(&url, configure(received)).await {
                    Ok(session) => Ok(session),
                    Err(err) => {
                        // A refused token or a bad URL will not get better by retrying.
                        let fatal = matches!(classify(&err), Exit::Auth | Exit::Usage);
                        let words = format!("{err:#}");
                        if let Ok(mut last) = stash.lock() {
                            *last = Some(err);
                        }
                        Err(if fatal {
                            DialError::fatal(words)
                        } else {
                            DialError::retry(words)
                        })
                    }
                }
            }
        };
        let config = ReconnectConfig {
            enabled: reconnect,
            on_event: Some(Arc::new(say)),
            ..ReconnectConfig::default()
        };
        match Reconnecting::connect(start, dial, config).await {
            Ok(client) => Ok(Self { client, last }),
            Err(err) => Err(take(&last).unwrap_or_else(|| anyhow::Error::new(err))),
        }
    }

    /// The relay's broadcasts, whichever session carries them.
    pub(crate) fn origin(&self) -> &OriginProducer {
        self.client.origin()
    }

    /// The current session.
    pub(crate) fn session(&self) -> Option<Session> {
        self.client.session()
    }

    /// Waits until the link is gone for good (reconnecting disabled, or a dial that cannot
    /// succeed) and returns why, typed for the exit code.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn closed(&self) -> anyhow::Error {
        let err = self.client.closed().await;
        self.typed(err)
    }

    /// Why the link is gone, if it is.
    pub(crate) fn close_reason(&self) -> Option<anyhow::Error> {
        self.client.close_reason().map(|err| self.typed(err))
    }

    fn typed(&self, err: ReconnectError) -> anyhow::Error {
        match err {
            ReconnectError::Lost(err) => anyhow::Error::new(err),
            ReconnectError::Dial(err) => {
                take(&self.last).unwrap_or_else(|| anyhow::Error::new(err))
            }
            other => anyhow::Error::new(other),
        }
    }

    /// Closes normally; see [`crate::connect::close`].
    pub(crate) async fn close(&self, reason: &str) {
        self.client.close(moql_wire::ErrorCode::CANCEL, reason);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn take(last: &LastError) -> Option<anyhow::Error> {
    last.lock().ok().and_then(|mut last| last.take())
}

/// Tells the user what the link is doing.
fn say(event: &ReconnectEvent) {
    let seconds = |d: &Duration| d.as_secs_f64();
    match event {
        ReconnectEvent::Lost { error, retry_in } => eprintln!(
            "moql: connection lost: {error}; reconnecting in {:.1} s",
            seconds(retry_in)
        ),
        ReconnectEvent::DialFailed {
            url,
            error,
            retry_in,
        } => eprintln!(
            "moql: reconnecting to {} failed: {error}; retrying in {:.1} s",
            redact(url),
            seconds(retry_in)
        ),
        ReconnectEvent::Moving { url } => eprintln!("moql: moving to {} (GOAWAY)", redact(url)),
        ReconnectEvent::Draining => {
            eprintln!("moql: the relay is going away (GOAWAY); reconnecting once it drained");
        }
        ReconnectEvent::Reconnected { url } => eprintln!("moql: reconnected to {}", redact(url)),
        _ => {}
    }
}

/// A subscribe-only link to `url` asking the relay for the broadcasts under `prefix`; they
/// appear in [`Link::origin`]. What `subscribe` and `announced` start with.
///
/// # Errors
///
/// As [`Link::connect`].
pub(crate) async fn subscriber(
    args: &ConnectArgs,
    url: &str,
    prefix: &moql_model::Path,
    reconnect: bool,
) -> anyhow::Result<Link> {
    let prefix = prefix.clone();
    Link::connect(args, url, reconnect, move |received| {
        let mut config = SessionConfig::new().with_subscribe(received);
        config.announce_prefix = prefix.clone();
        config
    })
    .await
}
