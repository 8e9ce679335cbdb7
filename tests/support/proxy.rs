//! A UDP proxy on loopback between one client and one upstream server, which a test can make
//! lossy (drop a share of datagrams and delay the rest by a random jitter, which reorders
//! them), cut (no packets either way, nothing closed: a peer that goes silent), or limit to the
//! client's first few datagrams (a handshake that never completes).
//!
//! Randomness comes from a seeded xorshift generator so a failing run can be repeated with the
//! same decisions (the seed is printed). Counters tell the test how many packets were
//! dropped, so it can check the proxy really was lossy.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::Mutex;

/// What the proxy does to each datagram.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    /// Share of datagrams dropped, per direction (0.05 = 5 %).
    pub loss: f64,
    /// Each surviving datagram waits a uniformly random time up to this before it is sent.
    pub jitter: Duration,
    /// Seed of the random generator.
    pub seed: u64,
    /// Datagrams from the client that get through at all; the rest are dropped.
    pub client_datagrams: u64,
}

impl Impairment {
    /// Forwards everything, at once.
    pub const NONE: Self = Self {
        loss: 0.0,
        jitter: Duration::ZERO,
        seed: 1,
        client_datagrams: u64::MAX,
    };
}

/// Packets the proxy saw, per fate.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams forwarded.
    pub forwarded: AtomicU64,
    /// Datagrams dropped.
    pub dropped: AtomicU64,
}

/// A running proxy; stops when dropped.
pub struct UdpProxy {
    /// Where clients connect instead of the upstream.
    pub addr: SocketAddr,
    /// What happened to the packets so far.
    pub counters: Arc<Counters>,
    cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A tiny deterministic generator (xorshift64*), good enough to pick packets.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl UdpProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (a UDP address on loopback).
    pub async fn start(upstream: SocketAddr, impairment: Impairment) -> Self {
        eprintln!("udp proxy: {impairment:?}");
        let front = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap());
        let back = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap());
        back.connect(upstream).await.unwrap();
        let addr = front.local_addr().unwrap();
        let counters = Arc::new(Counters::default());
        let cut = Arc::new(AtomicBool::new(false));
        let rng = Arc::new(Mutex::new(Rng(impairment.seed.max(1))));
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();

        let task = {
            let (counters, cut) = (counters.clone(), cut.clone());
            tokio::spawn(async move {
                let mut up = [0u8; 65_536];
                let mut down = [0u8; 65_536];
                let mut from_client = 0u64;
                loop {
                    tokio::select! {
                        received = front.recv_from(&mut up) => {
                            let Ok((len, from)) = received else { return };
                            *client.lock().await = Some(from);
                            from_client += 1;
                            if cut.load(Ordering::Relaxed) || from_client > impairment.client_datagrams {
                                counters.dropped.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            let packet = up[..len].to_vec();
                            let socket = back.clone();
                            forward(&rng, &counters, impairment, move || async move {
                                let _ = socket.send(&packet).await;
                            }).await;
                        }
                        received = back.recv(&mut down) => {
                            let Ok(len) = received else { return };
                            let Some(to) = *client.lock().await else { continue };
                            if cut.load(Ordering::Relaxed) {
                                counters.dropped.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            let packet = down[..len].to_vec();
                            let socket = front.clone();
                            forward(&rng, &counters, impairment, move || async move {
                                let _ = socket.send_to(&packet, to).await;
                            }).await;
                        }
                    }
                }
            })
        };
        Self {
            addr,
            counters,
            cut,
            task,
        }
    }

    /// Drops every datagram from now on, both ways.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }
}

/// Drops the packet, or sends it after a random delay (so later packets may overtake it).
async fn forward<F, Fut>(rng: &Mutex<Rng>, counters: &Arc<Counters>, imp: Impairment, send: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (drop_it, delay) = {
        let mut rng = rng.lock().await;
        (
            rng.next_f64() < imp.loss,
            imp.jitter.mul_f64(rng.next_f64()),
        )
    };
    if drop_it {
        counters.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    counters.forwarded.fetch_add(1, Ordering::Relaxed);
    if delay.is_zero() {
        send().await;
    } else {
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            send().await;
        });
    }
}
