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

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use moql_wire::Version;
use tokio::sync::Notify;

mod state;
mod stream;
#[cfg(test)]
mod tests;

use state::{Conn, End, State};
pub use stream::{MemRecv, MemSend};

/// How a [`pair_with`] connection behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Unread bytes one stream may hold before its writer waits.
    pub window: usize,
    /// Datagrams queued at a receiver before the oldest is dropped.
    pub datagrams: usize,
    /// The largest datagram `send_datagram` accepts.
    pub max_datagram_size: usize,
    /// What `protocol()` reports on both ends (the ALPN a QUIC handshake would
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
#[non_exhaustive]
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

    /// The first bytes (up to 256) this end wrote on each bidirectional stream it opened, in
    /// the order it opened them: a stream type and its request, for tests that check which
    /// requests went out (say, that a FETCH needed no TRACK first) and what they carried.
    pub fn opened_bi_heads(&self) -> Vec<Vec<u8>> {
        let side = self.side();
        let state = self.conn().lock();
        state.sides[side]
            .opened_bi
            .iter()
            .map(|id| state.heads.get(id).cloned().unwrap_or_default())
            .collect()
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
            state.sides[side].opened_bi.push(send);
            state.heads.insert(send, Vec::new());
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
