//! The streams of an in-memory connection.

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;

use super::MemError;
use super::state::End;

/// The sending half of an in-memory stream. Dropping it unfinished finishes it (as quinn).
pub struct MemSend {
    pub(super) end: Arc<End>,
    pub(super) id: u64,
}

/// The receiving half of an in-memory stream. Dropping it before the FIN was read stops it
/// with code 0 (as quinn).
pub struct MemRecv {
    pub(super) end: Arc<End>,
    pub(super) id: u64,
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
            if let Some(head) = state.heads.get_mut(&id) {
                let keep = super::state::HEAD.saturating_sub(head.len()).min(n);
                head.extend_from_slice(&buf[..keep]);
            }
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
