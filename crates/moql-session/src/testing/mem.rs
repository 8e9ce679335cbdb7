//! An in-memory [`web_transport_trait`] connection: [`pair`] returns its two ends.
//!
//! It behaves as quinn does where the engine can tell, and is deterministic where QUIC is not:
//!
//! - Streams reach the peer's `accept_bi` / `accept_uni` in the order they were opened, once
//!   the opener has sent something on one of them (data, FIN or reset, as QUIC makes a stream
//!   visible by its first frame; a later stream makes every earlier one visible).
//! - Flow control: a stream holds at most [`Config::window`] unread bytes; a write waits for
//!   the reader beyond that. Written bytes are delivered at once, so a FIN counts as
//!   acknowledged as soon as it is sent.
//! - `reset(code)` discards unread bytes and fails the reader's next read with the code;
//!   `stop(code)` fails the writer's writes and `closed()` with the code (not after a FIN).
//!   Dropping a send stream finishes it; dropping an unfinished receive stream stops it with 0.
//! - `close(code, reason)` (or dropping every handle of one end, code 0) closes both ends: the
//!   peer's errors carry the code and reason, the closer's do not. Operations that would wait
//!   fail at once; bytes, streams and datagrams already delivered are still read first.
//! - Datagrams: at most [`Config::datagrams`] queued at the receiver, the oldest dropped.
//! - Priorities are accepted and ignored; no statistics.
//!
//! Only tokio's sync primitives wait, never a timer, so it runs under a paused clock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use futures::FutureExt;
use moql_wire::Version;
use tokio::sync::Notify;

#[cfg(test)]
mod tests;

/// How a [`pair_with`] connection behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Unread bytes one stream may hold before its writer waits.
    pub window: usize,
    /// Datagrams queued at a receiver before the oldest is dropped.
    pub datagrams: usize,
    /// The largest datagram [`MemSession::send_datagram`] accepts.
    pub max_datagram_size: usize,
    /// What [`MemSession::protocol`] reports on both ends (the ALPN a QUIC handshake would
    /// have negotiated).
    pub protocol: Option<String>,
}

impl Default for Config {
    /// 64 KiB per stream, 64 datagrams of up to 1200 bytes, no protocol.
    fn default() -> Self {
        Self {
            window: 64 * 1024,
            datagrams: 64,
            max_datagram_size: 1200,
            protocol: None,
        }
    }
}

impl Config {
    /// The default config with `version`'s ALPN as the protocol, so the version can be read
    /// back with [`Version::from_alpn`].
    pub fn version(version: Version) -> Self {
        Self {
            protocol: Some(version.alpn().to_string()),
            ..Self::default()
        }
    }
}

/// Two connected ends with the [`Config::default`] behaviour: (client, server).
pub fn pair() -> (MemSession, MemSession) {
    pair_with(Config::default())
}

/// Two connected ends that report `version` as their protocol: (client, server).
pub fn pair_at(version: Version) -> (MemSession, MemSession) {
    pair_with(Config::version(version))
}

/// Two connected ends behaving as `config` says: (client, server).
pub fn pair_with(config: Config) -> (MemSession, MemSession) {
    let conn = Arc::new(Conn {
        state: Mutex::new(State::default()),
        notify: Notify::new(),
        config,
    });
    let end = |side| MemSession {
        end: Arc::new(End {
            conn: conn.clone(),
            side,
        }),
    };
    (end(0), end(1))
}

/// An error of the in-memory transport.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemError {
    /// The peer closed the connection (or dropped its last handle: code 0, empty reason).
    #[error("closed by the peer: code {code}: {reason}")]
    Closed {
        /// The peer's close code.
        code: u32,
        /// The peer's close reason.
        reason: String,
    },
    /// This end closed the connection.
    #[error("closed locally")]
    LocallyClosed,
    /// The peer reset the stream with this code.
    #[error("stream reset by the peer: code {0}")]
    Reset(u32),
    /// The peer stopped reading the stream with this code.
    #[error("stream stopped by the peer: code {0}")]
    Stopped(u32),
    /// This end already finished, reset or stopped the stream.
    #[error("stream already closed")]
    ClosedStream,
    /// The datagram is larger than [`Config::max_datagram_size`].
    #[error("datagram too large")]
    TooLarge,
}

impl web_transport_trait::Error for MemError {
    fn session_error(&self) -> Option<(u32, String)> {
        match self {
            Self::Closed { code, reason } => Some((*code, reason.clone())),
            _ => None,
        }
    }

    fn stream_error(&self) -> Option<u32> {
        match self {
            Self::Reset(code) | Self::Stopped(code) => Some(*code),
            _ => None,
        }
    }
}

/// One end of an in-memory connection. Clones share the end; dropping the last clone (and
/// every stream of this end) closes the connection with code 0.
#[derive(Clone)]
pub struct MemSession {
    end: Arc<End>,
}

/// The sending half of an in-memory stream. Dropping it unfinished finishes it (as quinn).
pub struct MemSend {
    end: Arc<End>,
    id: u64,
}

/// The receiving half of an in-memory stream. Dropping it before the FIN was read stops it
/// with code 0 (as quinn).
pub struct MemRecv {
    end: Arc<End>,
    id: u64,
}

/// One side of the connection; closes it when the last handle goes.
struct End {
    conn: Arc<Conn>,
    side: usize,
}

impl Drop for End {
    fn drop(&mut self) {
        self.conn.close(self.side, 0, "");
    }
}

struct Conn {
    state: Mutex<State>,
    /// Woken on every change; waiters re-check their condition under the lock.
    notify: Notify,
    config: Config,
}

#[derive(Default)]
struct State {
    closed: Option<Close>,
    sides: [Side; 2],
    pipes: HashMap<u64, Pipe>,
    next_id: u64,
}

struct Close {
    code: u32,
    reason: String,
    by: usize,
}

#[derive(Default)]
struct Side {
    /// Bidirectional streams the peer opened and made visible: (our send pipe, our recv pipe).
    accept_bi: VecDeque<(u64, u64)>,
    /// Unidirectional streams the peer opened and made visible.
    accept_uni: VecDeque<u64>,
    /// Streams this side opened that the peer cannot see yet: (send pipe, bidi recv pipe).
    hidden_bi: VecDeque<(u64, u64)>,
    hidden_uni: VecDeque<u64>,
    datagrams: VecDeque<Bytes>,
}

/// One direction of one stream.
struct Pipe {
    data: VecDeque<Bytes>,
    unread: usize,
    fin: bool,
    /// The reader has seen the end (FIN read or reset read): later resets and stops are moot.
    done: bool,
    reset: Option<u32>,
    /// The code the writer sees after the reader stopped before the FIN.
    stopped: Option<u32>,
    /// The reader stopped (reads fail).
    recv_closed: bool,
    sender_dropped: bool,
    receiver_dropped: bool,
    /// Set while the opener's peer cannot see the stream: (opener, the opener's send pipe).
    hidden: Option<(usize, u64)>,
}

impl Pipe {
    fn new(hidden: Option<(usize, u64)>) -> Self {
        Self {
            data: VecDeque::new(),
            unread: 0,
            fin: false,
            done: false,
            reset: None,
            stopped: None,
            recv_closed: false,
            sender_dropped: false,
            receiver_dropped: false,
            hidden,
        }
    }
}

impl State {
    /// The error `side` sees once the connection is closed.
    fn closed_error(&self, side: usize) -> Option<MemError> {
        self.closed.as_ref().map(|close| {
            if close.by == side {
                MemError::LocallyClosed
            } else {
                MemError::Closed {
                    code: close.code,
                    reason: close.reason.clone(),
                }
            }
        })
    }

    fn pipe(&mut self, id: u64) -> &mut Pipe {
        self.pipes.get_mut(&id).expect("a live stream's pipe")
    }

    /// Makes the stream of pipe `id` visible to the peer, with every stream its opener opened
    /// earlier in the same direction (QUIC opens lower stream IDs implicitly).
    fn reveal(&mut self, id: u64) {
        let Some((opener, key)) = self.pipe(id).hidden else {
            return;
        };
        let peer = 1 - opener;
        if self.sides[opener].hidden_uni.contains(&key) {
            while let Some(send) = self.sides[opener].hidden_uni.pop_front() {
                self.pipe(send).hidden = None;
                self.sides[peer].accept_uni.push_back(send);
                if send == key {
                    break;
                }
            }
        } else {
            while let Some((send, recv)) = self.sides[opener].hidden_bi.pop_front() {
                self.pipe(send).hidden = None;
                self.pipe(recv).hidden = None;
                // The peer sends on our recv pipe and reads our send pipe.
                self.sides[peer].accept_bi.push_back((recv, send));
                if send == key {
                    break;
                }
            }
        }
    }

    fn new_pipe(&mut self, hidden: Option<(usize, u64)>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.pipes.insert(id, Pipe::new(hidden));
        id
    }

    fn forget_if_unused(&mut self, id: u64) {
        if self
            .pipes
            .get(&id)
            .is_some_and(|p| p.sender_dropped && p.receiver_dropped)
        {
            self.pipes.remove(&id);
        }
    }
}

impl Conn {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `f` and wakes every waiter.
    fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let out = f(&mut self.lock());
        self.notify.notify_waiters();
        out
    }

    /// Waits until `poll` returns `Some` under the lock, then wakes every waiter (`poll` may
    /// have changed the state). Cancel safe: `poll` only changes the state when it returns
    /// `Some`, and the future then completes in the same poll.
    async fn wait<R>(&self, mut poll: impl FnMut(&mut State) -> Option<R>) -> R {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(out) = poll(&mut self.lock()) {
                self.notify.notify_waiters();
                return out;
            }
            notified.await;
        }
    }

    fn close(&self, side: usize, code: u32, reason: &str) {
        self.update(|state| {
            if state.closed.is_none() {
                state.closed = Some(Close {
                    code,
                    reason: reason.to_string(),
                    by: side,
                });
            }
        });
    }
}

impl MemSession {
    fn conn(&self) -> &Conn {
        &self.end.conn
    }

    fn side(&self) -> usize {
        self.end.side
    }

    fn send(&self, id: u64) -> MemSend {
        MemSend {
            end: self.end.clone(),
            id,
        }
    }

    fn recv(&self, id: u64) -> MemRecv {
        MemRecv {
            end: self.end.clone(),
            id,
        }
    }
}

impl web_transport_trait::Session for MemSession {
    type SendStream = MemSend;
    type RecvStream = MemRecv;
    type Error = MemError;

    async fn accept_uni(&self) -> Result<MemRecv, MemError> {
        let side = self.side();
        let id = self
            .conn()
            .wait(|state| match state.sides[side].accept_uni.pop_front() {
                Some(id) => Some(Ok(id)),
                None => state.closed_error(side).map(Err),
            })
            .await?;
        Ok(self.recv(id))
    }

    async fn accept_bi(&self) -> Result<(MemSend, MemRecv), MemError> {
        let side = self.side();
        let (send, recv) = self
            .conn()
            .wait(|state| match state.sides[side].accept_bi.pop_front() {
                Some(ids) => Some(Ok(ids)),
                None => state.closed_error(side).map(Err),
            })
            .await?;
        Ok((self.send(send), self.recv(recv)))
    }

    async fn open_bi(&self) -> Result<(MemSend, MemRecv), MemError> {
        let side = self.side();
        let (send, recv) = self.conn().update(|state| {
            if let Some(err) = state.closed_error(side) {
                return Err(err);
            }
            let send = state.next_id;
            let send = state.new_pipe(Some((side, send)));
            let recv = state.new_pipe(Some((side, send)));
            state.sides[side].hidden_bi.push_back((send, recv));
            Ok((send, recv))
        })?;
        Ok((self.send(send), self.recv(recv)))
    }

    async fn open_uni(&self) -> Result<MemSend, MemError> {
        let side = self.side();
        let send = self.conn().update(|state| {
            if let Some(err) = state.closed_error(side) {
                return Err(err);
            }
            let send = state.next_id;
            let send = state.new_pipe(Some((side, send)));
            state.sides[side].hidden_uni.push_back(send);
            Ok(send)
        })?;
        Ok(self.send(send))
    }

    fn send_datagram(&self, payload: Bytes) -> Result<(), MemError> {
        let (side, conn) = (self.side(), self.conn());
        conn.update(|state| {
            if let Some(err) = state.closed_error(side) {
                return Err(err);
            }
            if payload.len() > conn.config.max_datagram_size {
                return Err(MemError::TooLarge);
            }
            let queue = &mut state.sides[1 - side].datagrams;
            queue.push_back(payload);
            while queue.len() > conn.config.datagrams {
                queue.pop_front();
            }
            Ok(())
        })
    }

    async fn recv_datagram(&self) -> Result<Bytes, MemError> {
        let side = self.side();
        self.conn()
            .wait(|state| match state.sides[side].datagrams.pop_front() {
                Some(bytes) => Some(Ok(bytes)),
                None => state.closed_error(side).map(Err),
            })
            .await
    }

    fn max_datagram_size(&self) -> usize {
        self.conn().config.max_datagram_size
    }

    fn protocol(&self) -> Option<&str> {
        self.end.conn.config.protocol.as_deref()
    }

    fn close(&self, code: u32, reason: &str) {
        self.conn().close(self.side(), code, reason);
    }

    async fn closed(&self) -> MemError {
        let side = self.side();
        self.conn().wait(|state| state.closed_error(side)).await
    }
}

impl web_transport_trait::SendStream for MemSend {
    type Error = MemError;

    async fn write(&mut self, buf: &[u8]) -> Result<usize, MemError> {
        let (side, id, conn) = (self.end.side, self.id, &self.end.conn);
        let window = conn.config.window;
        conn.wait(|state| {
            if let Some(err) = state.closed_error(side) {
                return Some(Err(err));
            }
            let pipe = state.pipe(id);
            if pipe.fin || pipe.reset.is_some() {
                return Some(Err(MemError::ClosedStream));
            }
            if let Some(code) = pipe.stopped {
                return Some(Err(MemError::Stopped(code)));
            }
            if buf.is_empty() {
                return Some(Ok(0));
            }
            let room = window.saturating_sub(pipe.unread);
            if room == 0 {
                return None;
            }
            let n = room.min(buf.len());
            pipe.data.push_back(Bytes::copy_from_slice(&buf[..n]));
            pipe.unread += n;
            state.reveal(id);
            Some(Ok(n))
        })
        .await
    }

    fn set_priority(&mut self, _order: i32) {}

    fn finish(&mut self) -> Result<(), MemError> {
        let (side, id) = (self.end.side, self.id);
        self.end.conn.update(|state| {
            if let Some(err) = state.closed_error(side) {
                return Err(err);
            }
            let pipe = state.pipe(id);
            if pipe.fin || pipe.reset.is_some() {
                return Err(MemError::ClosedStream);
            }
            pipe.fin = true;
            state.reveal(id);
            Ok(())
        })
    }

    fn reset(&mut self, code: u32) {
        let id = self.id;
        self.end.conn.update(|state| {
            if state.closed.is_some() {
                return;
            }
            let pipe = state.pipe(id);
            if pipe.reset.is_some() || pipe.done {
                return;
            }
            pipe.reset = Some(code);
            pipe.data.clear();
            pipe.unread = 0;
            state.reveal(id);
        });
    }

    async fn closed(&mut self) -> Result<(), MemError> {
        let (side, id) = (self.end.side, self.id);
        self.end
            .conn
            .wait(|state| {
                let pipe = state.pipe(id);
                if let Some(code) = pipe.stopped {
                    return Some(Err(MemError::Stopped(code)));
                }
                if pipe.reset.is_some() || pipe.fin {
                    return Some(Ok(()));
                }
                state.closed_error(side).map(Err)
            })
            .await
    }
}

impl Drop for MemSend {
    fn drop(&mut self) {
        let id = self.id;
        self.end.conn.update(|state| {
            let closed = state.closed.is_some();
            let pipe = state.pipe(id);
            pipe.sender_dropped = true;
            if !closed && !pipe.fin && pipe.reset.is_none() {
                pipe.fin = true;
                state.reveal(id);
            }
            state.forget_if_unused(id);
        });
    }
}

impl web_transport_trait::RecvStream for MemRecv {
    type Error = MemError;

    /// Copies every unread byte that fits, across writes (as QUIC's reads do).
    async fn read(&mut self, dst: &mut [u8]) -> Result<Option<usize>, MemError> {
        let mut read = match self.read_chunk(dst.len()).await? {
            Some(chunk) => {
                dst[..chunk.len()].copy_from_slice(&chunk);
                chunk.len()
            }
            None => return Ok(None),
        };
        // More bytes already delivered: take them without waiting.
        while read < dst.len() {
            match self.read_chunk(dst.len() - read).now_or_never() {
                Some(Ok(Some(chunk))) if !chunk.is_empty() => {
                    dst[read..read + chunk.len()].copy_from_slice(&chunk);
                    read += chunk.len();
                }
                _ => break,
            }
        }
        Ok(Some(read))
    }

    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, MemError> {
        let (side, id) = (self.end.side, self.id);
        self.end
            .conn
            .wait(|state| {
                let closed = state.closed_error(side);
                let pipe = state.pipe(id);
                if pipe.recv_closed {
                    return Some(Err(MemError::ClosedStream));
                }
                if let Some(code) = pipe.reset {
                    pipe.done = true;
                    return Some(Err(MemError::Reset(code)));
                }
                if max == 0 {
                    return Some(Ok(Some(Bytes::new())));
                }
                if let Some(mut front) = pipe.data.pop_front() {
                    let chunk = if front.len() > max {
                        let chunk = front.split_to(max);
                        pipe.data.push_front(front);
                        chunk
                    } else {
                        front
                    };
                    pipe.unread -= chunk.len();
                    return Some(Ok(Some(chunk)));
                }
                if pipe.fin {
                    pipe.done = true;
                    return Some(Ok(None));
                }
                closed.map(Err)
            })
            .await
    }

    fn stop(&mut self, code: u32) {
        let id = self.id;
        self.end.conn.update(|state| {
            let closed = state.closed.is_some();
            let pipe = state.pipe(id);
            if pipe.recv_closed || pipe.done {
                return;
            }
            pipe.recv_closed = true;
            pipe.data.clear();
            pipe.unread = 0;
            // After a FIN every byte is delivered and acknowledged: the writer is done.
            if !closed && !pipe.fin && pipe.reset.is_none() {
                pipe.stopped = Some(code);
                state.reveal(id);
            }
        });
    }

    async fn closed(&mut self) -> Result<(), MemError> {
        let (side, id) = (self.end.side, self.id);
        self.end
            .conn
            .wait(|state| {
                let pipe = state.pipe(id);
                if pipe.reset.is_some() || pipe.recv_closed || (pipe.fin && pipe.unread == 0) {
                    return Some(Ok(()));
                }
                state.closed_error(side).map(Err)
            })
            .await
    }
}

impl Drop for MemRecv {
    fn drop(&mut self) {
        web_transport_trait::RecvStream::stop(self, 0);
        let id = self.id;
        self.end.conn.update(|state| {
            state.pipe(id).receiver_dropped = true;
            state.forget_if_unused(id);
        });
    }
}
