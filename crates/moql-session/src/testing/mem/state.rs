//! The shared state of one in-memory connection: both ends' queues and every stream's pipe,
//! under one lock, with one wake for every change.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;

use super::{Config, MemError};

/// One side of the connection; closes it when the last handle goes.
pub(super) struct End {
    pub(super) conn: Arc<Conn>,
    pub(super) side: usize,
}

impl Drop for End {
    fn drop(&mut self) {
        self.conn.close(self.side, 0, "");
    }
}

pub(super) struct Conn {
    pub(super) state: Mutex<State>,
    /// Woken on every change; waiters re-check their condition under the lock.
    pub(super) notify: Notify,
    pub(super) config: Config,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) closed: Option<Close>,
    pub(super) sides: [Side; 2],
    pub(super) pipes: HashMap<u64, Pipe>,
    pub(super) next_id: u64,
    /// The first [`HEAD`] bytes written on each bidirectional stream, by its send pipe.
    pub(super) heads: HashMap<u64, Vec<u8>>,
}

/// How many bytes of each bidirectional stream's start [`State::heads`] keeps: a stream type
/// and a request message.
pub(super) const HEAD: usize = 256;

pub(super) struct Close {
    pub(super) code: u32,
    pub(super) reason: String,
    pub(super) by: usize,
}

#[derive(Default)]
pub(super) struct Side {
    /// Bidirectional streams the peer opened and made visible: (our send pipe, our recv pipe).
    pub(super) accept_bi: VecDeque<(u64, u64)>,
    /// Unidirectional streams the peer opened and made visible.
    pub(super) accept_uni: VecDeque<u64>,
    /// Streams this side opened that the peer cannot see yet: (send pipe, bidi recv pipe).
    pub(super) hidden_bi: VecDeque<(u64, u64)>,
    pub(super) hidden_uni: VecDeque<u64>,
    pub(super) datagrams: VecDeque<Bytes>,
    /// Send pipes of the bidirectional streams this side opened, in order.
    pub(super) opened_bi: Vec<u64>,
}

/// One direction of one stream.
pub(super) struct Pipe {
    pub(super) data: VecDeque<Bytes>,
    pub(super) unread: usize,
    pub(super) fin: bool,
    /// The reader has seen the end (FIN read or reset read): later resets and stops are moot.
    pub(super) done: bool,
    pub(super) reset: Option<u32>,
    /// The code the writer sees after the reader stopped before the FIN.
    pub(super) stopped: Option<u32>,
    /// The reader stopped (reads fail).
    pub(super) recv_closed: bool,
    pub(super) sender_dropped: bool,
    pub(super) receiver_dropped: bool,
    /// Set while the opener's peer cannot see the stream: (opener, the opener's send pipe).
    pub(super) hidden: Option<(usize, u64)>,
}

impl Pipe {
    pub(super) fn new(hidden: Option<(usize, u64)>) -> Self {
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
    pub(super) fn closed_error(&self, side: usize) -> Option<MemError> {
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

    pub(super) fn pipe(&mut self, id: u64) -> &mut Pipe {
        self.pipes.get_mut(&id).expect("a live stream's pipe")
    }

    /// Makes the stream of pipe `id` visible to the peer, with every stream its opener opened
    /// earlier in the same direction (QUIC opens lower stream IDs implicitly).
    pub(super) fn reveal(&mut self, id: u64) {
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

    pub(super) fn new_pipe(&mut self, hidden: Option<(usize, u64)>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.pipes.insert(id, Pipe::new(hidden));
        id
    }

    pub(super) fn forget_if_unused(&mut self, id: u64) {
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
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `f` and wakes every waiter.
    pub(super) fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let out = f(&mut self.lock());
        self.notify.notify_waiters();
        out
    }

    /// Waits until `poll` returns `Some` under the lock, then wakes every waiter (`poll` may
    /// have changed the state). Cancel safe: `poll` only changes the state when it returns
    /// `Some`, and the future then completes in the same poll.
    pub(super) async fn wait<R>(&self, mut poll: impl FnMut(&mut State) -> Option<R>) -> R {
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

    pub(super) fn close(&self, side: usize, code: u32, reason: &str) {
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
