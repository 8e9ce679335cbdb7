//! The stable origin of a reconnecting client: broadcasts and tracks the application holds,
//! fed by whichever session is current.
//!
//! Each session mirrors the peer's broadcasts into an origin of its own, which dies with it.
//! [`Mirrors`] re-publishes every broadcast seen there into one long-lived origin as a
//! broadcast of its own ([`BroadcastProducer`]); a track the application asks for is served
//! by a forwarder that subscribes to the same track on the current session's broadcast and
//! copies its groups (same sequence numbers). When a newer session announces the broadcast,
//! the forwarder subscribes there from the next group it lacks and keeps reading the old
//! subscription until the new one delivers (make-before-break). While no session carries
//! the broadcast, its tracks simply wait: no end and no error reaches the application.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moql_model::{
    BroadcastConsumer, BroadcastProducer, Error, FetchRequest, GroupConsumer, GroupProducer,
    OriginProducer, Path, Subscription, TrackConsumer, TrackProducer, TrackRequest,
};
use tokio::sync::watch;

use crate::Session;

/// How long a track error (or a withdrawal) waits for its session to be seen closed or told
/// to go away before it counts as the track's own: the session records its close before it
/// fails its tracks, but a relay that shuts down may withdraw what it relays (its upstream
/// going) a moment before its GOAWAY arrives, on another stream.
const CLOSE_MARGIN: Duration = Duration::from_millis(200);

/// Where a mirrored broadcast comes from right now.
#[derive(Clone)]
pub(crate) struct Source {
    broadcast: BroadcastConsumer,
    session: Session,
    generation: u64,
}

impl Source {
    /// Whether a failure on this source is the session's (lost, moving away) rather than
    /// the track's own.
    async fn failed_with_session(&self) -> bool {
        session_failing(&self.session).await
    }
}

/// Whether `session` is going away: it has received GOAWAY or closed, or does either within
/// [`CLOSE_MARGIN`].
///
/// Both count within the margin: a relay shutting down withdraws its relayed broadcasts and
/// fails their subscriptions as it sends GOAWAY, and those can overtake the GOAWAY. Waiting
/// for the close alone (the drain keeps the session open for seconds) made such a failure
/// the track's own: the application's track ended instead of moving to the GOAWAY target.
async fn session_failing(session: &Session) -> bool {
    if session.goaway_uri().is_some() {
        return true;
    }
    let leaving = async {
        tokio::select! {
            _ = session.closed() => {}
            _ = session.goaway_received() => {}
        }
    };
    tokio::time::timeout(CLOSE_MARGIN, leaving).await.is_ok()
}

struct Mirror {
    producer: BroadcastProducer,
    /// The current source, or why the broadcast ended.
    source: watch::Sender<Result<Source, Error>>,
    generation: u64,
}

/// Every broadcast mirrored into the stable origin, by path.
#[derive(Clone)]
pub(crate) struct Mirrors {
    stable: OriginProducer,
    by_path: Arc<Mutex<HashMap<Path, Mirror>>>,
}

impl Mirrors {
    pub(crate) fn new(stable: OriginProducer) -> Self {
        Self {
            stable,
            by_path: Arc::default(),
        }
    }

    /// Mirrors what `session` (number `generation`) announces into `origin` until the
    /// session ends. Runs as its own task.
    pub(crate) async fn follow(self, origin: OriginProducer, session: Session, generation: u64) {
        let mut watch = origin.consume();
        loop {
            tokio::select! {
                announced = watch.announced() => match announced {
                    None => return,
                    Some(moql_model::Announcement::Initial(list)) => {
                        for a in list {
                            self.attach(&a.path, a.broadcast, &session, generation);
                        }
                    }
                    Some(moql_model::Announcement::Active(a) | moql_model::Announcement::Replaced(a)) => {
                        self.attach(&a.path, a.broadcast, &session, generation);
                    }
                    Some(moql_model::Announcement::Ended(path)) => {
                        // A withdrawal while the session lives is the broadcast's end; one
                        // caused by the session closing is not.
                        if !session_failing(&session).await {
                            self.end(&path, generation);
                        }
                    }
                },
                _ = session.closed() => return,
            }
        }
    }

    fn attach(
        &self,
        path: &Path,
        broadcast: BroadcastConsumer,
        session: &Session,
        generation: u64,
    ) {
        let source = Source {
            broadcast,
            session: session.clone(),
            generation,
        };
        let Ok(mut by_path) = self.by_path.lock() else {
            return;
        };
        if let Some(mirror) = by_path.get_mut(path) {
            if mirror.generation <= generation {
                mirror.generation = generation;
                let _previous = mirror.source.send_replace(Ok(source));
            }
            return;
        }
        let producer = BroadcastProducer::new();
        if let Err(err) = self.stable.publish(path, producer.consume()) {
            tracing::warn!(%path, %err, "cannot mirror a broadcast");
            return;
        }
        let (tx, rx) = watch::channel(Ok(source));
        tokio::spawn(serve(producer.clone(), rx));
        by_path.insert(
            path.clone(),
            Mirror {
                producer,
                source: tx,
                generation,
            },
        );
    }

    /// Ends the broadcast at `path` if its source is still session `generation`.
    fn end(&self, path: &Path, generation: u64) {
        let Ok(mut by_path) = self.by_path.lock() else {
            return;
        };
        if by_path
            .get(path)
            .is_some_and(|m| m.generation == generation)
            && let Some(mirror) = by_path.remove(path)
        {
            finish(mirror, Error::Dropped);
        }
    }

    /// Ends every broadcast no session since `generation` has announced.
    pub(crate) fn expire(&self, generation: u64) {
        self.expire_with(generation, &Error::Dropped);
    }

    /// [`expire`](Self::expire), the tracks ending with `err`.
    fn expire_with(&self, generation: u64, err: &Error) {
        let Ok(mut by_path) = self.by_path.lock() else {
            return;
        };
        let stale: Vec<Path> = by_path
            .iter()
            .filter(|(_, m)| m.generation < generation)
            .map(|(path, _)| path.clone())
            .collect();
        for path in stale {
            if let Some(mirror) = by_path.remove(&path) {
                tracing::debug!(%path, %err, "broadcast ended");
                finish(mirror, err.clone());
            }
        }
    }

    /// Ends every broadcast, their tracks with `err` (the client gave up).
    pub(crate) fn end_all(&self, err: &Error) {
        self.expire_with(u64::MAX, err);
    }
}

/// Ends a mirrored broadcast: its forwarders end their tracks with `err`, and the stable
/// origin withdraws it.
fn finish(mirror: Mirror, err: Error) {
    let _previous = mirror.source.send_replace(Err(err.clone()));
    let _ = mirror.producer.abort(err);
}

/// Answers the application's track requests on one mirrored broadcast.
async fn serve(producer: BroadcastProducer, sources: watch::Receiver<Result<Source, Error>>) {
    while let Some(request) = producer.requested_track().await {
        tokio::spawn(forward(request, sources.clone()));
    }
}

/// One mirrored track: the application's producer and how far it got.
struct Link {
    name: String,
    request: Option<TrackRequest>,
    out: Option<TrackProducer>,
    /// The first group sequence not copied yet.
    next: Option<u64>,
}

impl Link {
    /// Subscribes to the track on `source`, from the next group the application lacks.
    async fn subscribe(&mut self, source: &Source) -> Result<TrackConsumer, Error> {
        if let Some(request) = &self.request {
            // The application subscribes right after asking for the track: wait for that, so
            // its start group (if any) is known.
            request.info_wanted().await;
        }
        let wanted = self
            .out
            .as_ref()
            .and_then(TrackProducer::subscription)
            .or_else(|| self.request.as_ref().and_then(TrackRequest::subscription))
            .unwrap_or(Subscription::DEFAULT);
        let subscription = Subscription {
            start: self.next.or(wanted.start),
            ..wanted
        };
        let track = source.broadcast.subscribe_track(&self.name, subscription)?;
        if self.out.is_none() {
            let info = track.wait_info().await?;
            let Some(request) = self.request.take() else {
                return Err(Error::Closed);
            };
            let out = request.accept(info)?;
            // Fetches (a subscriber filling a gap) go to the current session.
            out.accept_fetches();
            self.out = Some(out);
        }
        Ok(track)
    }

    /// Copies `group` into the application's track (frame by frame, as they arrive),
    /// unless it already has that sequence.
    fn copy(&mut self, group: GroupConsumer) {
        let Some(out) = &self.out else { return };
        let sequence = group.sequence();
        let Ok(copy) = out.create_group(sequence) else {
            return;
        };
        self.next = Some(self.next.map_or(sequence + 1, |n| n.max(sequence + 1)));
        tokio::spawn(copy_frames(group, copy));
    }

    fn fail(self, err: Error) {
        match (self.out, self.request) {
            (Some(out), _) => {
                let _ = out.abort(err);
            }
            (None, Some(request)) => request.reject(err),
            (None, None) => {}
        }
    }
}

/// Copies `group`'s frames into `copy` as they arrive, and its end.
async fn copy_frames(mut group: GroupConsumer, copy: GroupProducer) {
    loop {
        match group.next_frame().await {
            Ok(Some(frame)) => {
                if copy.write_frame(frame).is_err() {
                    return;
                }
            }
            Ok(None) => {
                let _ = copy.finish();
                return;
            }
            Err(err) => {
                let _ = copy.abort(err);
                return;
            }
        }
    }
}

/// Answers the application's fetch by fetching the group from `track`'s session.
async fn serve_fetch(request: FetchRequest, track: Option<TrackConsumer>) {
    let Some(track) = track else {
        request.reject(Error::Transport);
        return;
    };
    let fetched = match track.fetch(request.sequence(), None) {
        Ok(pending) => pending.await,
        Err(err) => Err(err),
    };
    match fetched {
        Ok(mut group) => {
            group.seek(request.frame_start());
            if let Ok(copy) = request.serve() {
                copy_frames(group, copy).await;
            }
        }
        Err(err) => request.reject(err),
    }
}

/// Serves one track of a mirrored broadcast until it ends, fails, or nobody reads it.
async fn forward(request: TrackRequest, mut sources: watch::Receiver<Result<Source, Error>>) {
    let mut link = Link {
        name: request.name().to_string(),
        request: Some(request),
        out: None,
        next: None,
    };
    // `live`: the subscription on the newest source; `old`: the one before, read until
    // `live` delivers its first group. `stale`: a source that failed with its session.
    let mut live: Option<(TrackConsumer, Source)> = None;
    let mut old: Option<TrackConsumer> = None;
    let mut stale: Option<u64> = None;
    loop {
        if live.is_none() {
            let source = sources.borrow_and_update().clone();
            let source = match source {
                Ok(source) => source,
                Err(err) => {
                    link.fail(err);
                    return;
                }
            };
            if stale != Some(source.generation) {
                match link.subscribe(&source).await {
                    Ok(track) => live = Some((track, source)),
                    Err(err) if source.failed_with_session().await => {
                        tracing::debug!(%err, "track waits for the next session");
                        stale = Some(source.generation);
                    }
                    Err(err) => {
                        link.fail(err);
                        return;
                    }
                }
            }
        }
        tokio::select! {
            changed = sources.changed() => {
                if changed.is_err() {
                    link.fail(sources.borrow().clone().err().unwrap_or(Error::Dropped));
                    return;
                }
                if let Err(err) = sources.borrow().clone() {
                    link.fail(err);
                    return;
                }
                // A newer session carries the broadcast: subscribe there, keep the old
                // subscription until the new one delivers.
                if let Some((track, _)) = live.take() {
                    old = Some(track);
                }
            }
            group = next_group(live.as_mut().map(|(track, _)| track)) => match group {
                Ok(Some(group)) => {
                    old = None;
                    link.copy(group);
                }
                Ok(None) => {
                    if let Some(out) = &link.out {
                        let _ = out.finish();
                    }
                    return;
                }
                Err(err) => {
                    let Some((_, source)) = live.take() else { continue };
                    if source.failed_with_session().await {
                        stale = Some(source.generation);
                    } else {
                        link.fail(err);
                        return;
                    }
                }
            },
            group = next_group(old.as_mut()) => match group {
                Ok(Some(group)) => link.copy(group),
                Ok(None) | Err(_) => old = None,
            },
            Some(fetch) = requested_fetch(link.out.as_ref()) => {
                let track = live
                    .as_ref()
                    .map(|(track, _)| track)
                    .or(old.as_ref())
                    .map(TrackConsumer::clone_unsubscribed);
                tokio::spawn(serve_fetch(fetch, track));
            }
            () = unused(link.out.as_ref()) => return,
        }
    }
}

/// The next group of `track`; never resolves without one.
async fn next_group(track: Option<&mut TrackConsumer>) -> Result<Option<GroupConsumer>, Error> {
    match track {
        Some(track) => track.next_group().await,
        None => std::future::pending().await,
    }
}

/// The application's next fetch on `out`; never resolves without one.
async fn requested_fetch(out: Option<&TrackProducer>) -> Option<FetchRequest> {
    match out {
        Some(out) => out.requested_fetch().await,
        None => std::future::pending().await,
    }
}

/// Resolves once nobody reads `out` any more; never without one.
async fn unused(out: Option<&TrackProducer>) {
    match out {
        Some(out) => out.unused().await,
        None => std::future::pending().await,
    }
}
