//! A UDP forwarder between one client and a server that a test can cut, to make a peer go
//! silent (no packets either way) without closing anything, or that lets only the first few
//! client datagrams through (a handshake that never completes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::net::UdpSocket;

/// Forwards datagrams between the first client that sends to [`addr`](Self::addr) and
/// `server`. Stops forwarding both ways once cut, or after `limit` client datagrams.
pub struct CutoffProxy {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl CutoffProxy {
    /// Starts forwarding to `server`; at most `limit` datagrams from the client get through.
    pub async fn start(server: SocketAddr, limit: usize) -> Self {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        back.connect(server).await.unwrap();
        let addr = front.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let client = Arc::new(std::sync::Mutex::new(None::<SocketAddr>));
        let sent = Arc::new(AtomicUsize::new(0));

        let up = {
            let (front, back, cut, client) =
                (front.clone(), back.clone(), cut.clone(), client.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, from)) = front.recv_from(&mut buf).await {
                    *client.lock().unwrap() = Some(from);
                    if cut.load(Ordering::Relaxed) || sent.fetch_add(1, Ordering::Relaxed) >= limit
                    {
                        continue;
                    }
                    let _ = back.send(&buf[..n]).await;
                }
            })
        };
        let down = {
            let cut = cut.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok(n) = back.recv(&mut buf).await {
                    let to = *client.lock().unwrap();
                    if let Some(to) = to
                        && !cut.load(Ordering::Relaxed)
                    {
                        let _ = front.send_to(&buf[..n], to).await;
                    }
                }
            })
        };
        Self {
            addr,
            cut,
            tasks: vec![up, down],
        }
    }

    /// Drops every datagram from now on, both ways.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }
}

impl Drop for CutoffProxy {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
