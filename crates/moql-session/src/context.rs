//! [`Context`]: what every task of one session shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Instant;

use moql_model::TrackProducer;
use moql_sync::{Consumer, Producer};
use moql_wire::{Setup, Version};
use tokio::sync::watch;

use crate::archive::Recorder;
use crate::config::SessionConfig;
use crate::error::SessionError;
use crate::subscriber::{Shifting, Superseded};
use crate::tasks::Tasks;

/// How long a closed session's tasks (and their streams) are kept after the close, waiting
/// for the transport to be down: WebTransport's graceful close waits for the peer up to about
/// 3 RTT before it closes the connection itself.
const RELEASE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// An outgoing subscription, found by its Subscribe ID when group streams and datagrams
/// arrive.
#[derive(Clone)]
pub(crate) struct Subscribed {
    pub(crate) track: TrackProducer,
    /// Group streams of this subscription being read right now.
    pub(crate) inflight: StreamCount,
    /// Where its finished groups are archived, if anywhere.
    pub(crate) recorder: Option<Recorder>,
    /// How the publisher's group sequences map to the track's (non-zero after a resume).
    pub(crate) shift: Shifting,
    /// Set once the track's broadcast was taken over by a newer announcement: a group that
    /// arrives later is refused, so it never interleaves with the new publisher's.
    pub(crate) superseded: Superseded,
}

impl Subscribed {
    pub(crate) fn new(
        track: TrackProducer,
        recorder: Option<Recorder>,
        shift: Shifting,
        superseded: Superseded,
    ) -> Self {
        Self {
            track,
            inflight: StreamCount::default(),
            recorder,
            shift,
            superseded,
        }
    }
}

/// A number of streams in some state, with a wake when it changes. Clones share the count.
#[derive(Clone)]
pub(crate) struct StreamCount(Arc<watch::Sender<usize>>);

impl Default for StreamCount {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl StreamCount {
    /// Counts one stream until the returned guard is dropped.
    pub(crate) fn enter(&self) -> Counted {
        self.0.send_modify(|n| *n += 1);
        Counted(self.clone())
    }

    /// Whether no stream is counted now.
    pub(crate) fn is_zero(&self) -> bool {
        *self.0.borrow() == 0
    }

    /// Waits until no stream is counted (at once if none is).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes.
    pub(crate) async fn zero(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so the wait cannot fail.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// One stream counted in a [`StreamCount`] until dropped.
pub(crate) struct Counted(StreamCount);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.0.send_modify(|n| *n -= 1);
    }
}

pub(crate) struct Inner<T> {
    pub(crate) transport: T,
    /// The negotiated version.
    pub(crate) version: Version,
    /// The configuration the session was started with, read where it is needed.
    pub(crate) config: SessionConfig,
    /// A random ID this session puts in place of a peer that names no hop ID of its own
    /// (lite-03, or a zero ANNOUNCE_OK Hop ID), so routes learned from that peer carry an
    /// identity and are never announced back to it. Drawn per session, not configured.
    pub(crate) stamp: u64,
    pub(crate) tasks: Tasks,
    /// The peer's SETUP once read (always `Some(default)` on versions without SETUP).
    pub(crate) peer_setup: Producer<Option<Setup>>,
    pub(crate) peer_setup_rx: Consumer<Option<Setup>>,
    pub(crate) subscriptions: Mutex<HashMap<u64, Subscribed>>,
    pub(crate) next_subscribe_id: AtomicU64,
    pub(crate) closed: watch::Sender<Option<SessionError>>,
    pub(crate) goaway: watch::Sender<Option<String>>,
    pub(crate) probe: watch::Sender<Option<moql_wire::Probe>>,
    /// Reference point of receive timestamps on versions without frame timestamps.
    pub(crate) started: Instant,
    pub(crate) datagrams_sent: AtomicU64,
    pub(crate) datagrams_received: AtomicU64,
    /// Subscribe streams the publisher half is serving.
    pub(crate) serving: std::sync::atomic::AtomicUsize,
    /// Announce streams the publisher half is serving.
    pub(crate) announcing: std::sync::atomic::AtomicUsize,
    /// Unidirectional streams accepted whose subscription is not known yet: counted from
    /// the accept until a group stream is counted in its subscription's
    /// [`inflight`](Subscribed::inflight) (or refused).
    pub(crate) unrouted: StreamCount,
    /// Bytes of incomplete frames this session's group and fetch streams hold.
    pub(crate) receive_budget: Arc<crate::io::ReceiveBudget>,
}

/// The shared session state, cheap to clone into tasks.
pub(crate) struct Context<T> {
    pub(crate) inner: Arc<Inner<T>>,
}

impl<T> Clone for Context<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::ops::Deref for Context<T> {
    type Target = Inner<T>;

    fn deref(&self) -> &Inner<T> {
        &self.inner
    }
}

impl<T: web_transport_trait::Session> Context<T> {
    /// Waits for the peer's SETUP (spec 4.1: a publisher does not answer before it has it).
    pub(crate) async fn peer_setup(&self) -> Result<Setup, SessionError> {
        self.peer_setup_rx
            .wait(|setup| match setup {
                Some(setup) => Poll::Ready(setup.clone()),
                None => Poll::Pending,
            })
            .await
            .map_err(|_| SessionError::Transport("session closed before SETUP".into()))
    }

    /// The track of outgoing subscription `id`, if it is live.
    pub(crate) fn subscription(&self, id: u64) -> Option<Subscribed> {
        let subs = self.subscriptions.lock().ok()?;
        subs.get(&id).cloned()
    }

    /// Routes group streams and datagrams of subscription `id` to `subscribed`.
    pub(crate) fn route(&self, id: u64, subscribed: Subscribed) {
        if let Ok(mut subs) = self.subscriptions.lock() {
            subs.insert(id, subscribed);
        }
    }

    /// Stops routing subscription `id`; late groups for it are refused (spec 11.8).
    pub(crate) fn unroute(&self, id: u64) {
        if let Ok(mut subs) = self.subscriptions.lock() {
            subs.remove(&id);
        }
    }

    /// Records the peer's SETUP.
    pub(crate) fn set_peer_setup(&self, setup: Setup) {
        if let Ok(mut slot) = self.peer_setup.write() {
            *slot = Some(setup);
        }
    }

    /// The next Subscribe ID: a per-session counter, never reused (spec 11.8).
    pub(crate) fn next_subscribe_id(&self) -> u64 {
        self.next_subscribe_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Closes the session: records why, closes the transport, cancels every task, and drops
    /// the tasks (their streams) only once the transport is down.
    ///
    /// The order is what the peer sees: the close code and reason first (raw QUIC's
    /// CONNECTION_CLOSE, WebTransport's CLOSE_WEBTRANSPORT_SESSION capsule, QMux's close),
    /// never a stream reset caused by the close. WebTransport writes its capsule from a
    /// spawned task and closes the QUIC connection after it, so dropping the tasks' streams
    /// right away would reset them ahead of the capsule; dropped after the connection is
    /// closed, their resets go nowhere. The release waits at most [`RELEASE_GRACE`].
    pub(crate) fn close(&self, err: SessionError)
    where
        T: 'static,
    {
        let code = err.code();
        // A close asked for with a reason sends that reason as it is; the peer's
        // `SessionError::Closed` then carries the same text (not "session closed with …: …").
        let reason = match &err {
            SessionError::Closed { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        let first = self.closed.send_if_modified(|slot| {
            if slot.is_none() {
                *slot = Some(err);
                true
            } else {
                false
            }
        });
        if first {
            tracing::debug!(code = code.0, %reason, "session closing");
            self.transport.close(code.0, &reason);
        }
        self.tasks.cancel();
        // Cancelled tasks cannot unroute their subscriptions: drop the routes here.
        let routes = self
            .subscriptions
            .lock()
            .map(|mut s| std::mem::take(&mut *s));
        drop(routes);
        if !first {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let ctx = self.clone();
                runtime.spawn(async move {
                    let _ = tokio::time::timeout(RELEASE_GRACE, ctx.transport.closed()).await;
                    ctx.tasks.release();
                });
            }
            // No runtime (a handle dropped after its runtime): nothing would run the wait.
            Err(_) => self.tasks.release(),
        }
    }

    /// Milliseconds since the session started: the receive timestamp given to frames of
    /// versions without timestamps (older-versions.md: "the receiver stamps frames with its
    /// local receive time").
    pub(crate) fn receive_timestamp(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}
