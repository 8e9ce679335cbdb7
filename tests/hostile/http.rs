//! The HTTP/WebSocket port: connection caps, timeouts, slow readers.
//!
//! Every connection on the TCP port holds a descriptor, so each must end on its own: a
//! request's headers within `http_header_timeout_seconds`, a response the client stops
//! taking within `http_write_timeout_seconds`, and no more than `max_http_connections` at
//! once (the next is answered `503`). `/fetch` streams a group frame by frame, so a slow
//! reader holds what is in flight, not a copy of the group.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::announced;
use crate::support::relay::{TestRelay, publish, wait_subscribed};
use crate::support::{TestClient, within};

/// A connection to the relay's HTTP port.
async fn connect(addr: SocketAddr) -> TcpStream {
    within("the TCP connection", TcpStream::connect(addr))
        .await
        .expect("connects")
}

/// A connection whose receive buffer is as small as the kernel allows: a reader that takes
/// little at a time.
async fn small_window(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    within("the TCP connection", socket.connect(addr))
        .await
        .expect("connects")
}

/// `GET path` on a fresh connection (`Connection: close`): the status and the raw response.
async fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut stream = connect(addr).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // A refusal may close with unread request bytes (a reset): what arrived still counts.
    let _ = within("the response", stream.read_to_end(&mut raw)).await;
    (status(&raw), raw)
}

fn status(raw: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(raw);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

/// The body of a complete `Transfer-Encoding: chunked` (or plain) response.
fn body(raw: &[u8]) -> Vec<u8> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block")
        + 4;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut rest = &raw[split..];
    if !head.contains("transfer-encoding: chunked") {
        return rest.to_vec();
    }
    let mut out = Vec::new();
    loop {
        let line = rest.windows(2).position(|w| w == b"\r\n").expect("a size");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line]).unwrap().trim(), 16)
            .expect("a hex size");
        rest = &rest[line + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// A stalled half-request (headers never finished) used to be held forever: axum's server
/// runs hyper without a timer, so its header-read timeout is off.
#[tokio::test]
async fn a_stalled_half_request_is_closed_at_the_header_timeout() {
    let relay = TestRelay::start(|c| c.limits.http_header_timeout_seconds = 0.5).await;
    let mut stalled = connect(relay.addr).await;
    stalled
        .write_all(b"GET /certificate.sha256 HTTP/1.1\r\nHost: relay\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    // The relay closes it (hyper may first answer 408): the read ends, by EOF or reset.
    let _ = within(
        "the relay to drop the half request",
        stalled.read_to_end(&mut rest),
    )
    .await;
    assert_eq!(get(relay.addr, "/certificate.sha256").await.0, 200);

    // A kept-alive connection that sends no next request is closed the same way.
    let mut idle = connect(relay.addr).await;
    idle.write_all(b"GET /certificate.sha256 HTTP/1.1\r\nHost: relay\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = within(
        "the idle keep-alive connection to be closed",
        idle.read_to_end(&mut raw),
    )
    .await;
    assert_eq!(status(&raw), 200);
    relay.shutdown().await;
}

/// Past `max_http_connections` the port answers `503` at once instead of holding a
/// descriptor, QUIC sessions are untouched, and the port serves again once the stalled
/// connections time out.
#[tokio::test]
async fn the_http_port_answers_503_over_its_connection_cap_and_recovers() {
    const CAP: usize = 8;
    let relay = TestRelay::start(|c| {
        c.limits.max_http_connections = CAP;
        c.limits.http_header_timeout_seconds = 1.0;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..CAP {
        let mut stream = connect(relay.addr).await;
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    let (code, raw) = get(relay.addr, "/certificate.sha256").await;
    assert_eq!(code, 503, "{}", String::from_utf8_lossy(&raw));

    let quic = relay.client("moql", "/").await;
    within("the relay's SETUP over QUIC", async {
        while quic.session.peer_setup().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    for stream in &mut held {
        let mut rest = Vec::new();
        let _ = within(
            "a held connection to time out",
            stream.read_to_end(&mut rest),
        )
        .await;
    }
    assert_eq!(get(relay.addr, "/certificate.sha256").await.0, 200);
    relay.shutdown().await;
}

/// `/fetch` sends each frame as it arrives instead of waiting for the group and copying it:
/// the first frame reaches the client while the group is still open.
#[tokio::test]
async fn fetch_streams_a_group_as_it_arrives() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "demo");
    let watcher = relay.client("moql", "/").await;
    announced(&watcher.received, "demo").await;

    let mut stream = connect(relay.addr).await;
    stream
        .write_all(
            b"GET /fetch/demo/clock?group=latest HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    wait_subscribed(&track).await;
    let group = track.create_group(0).unwrap();
    group.write(0, "first").unwrap();
    let mut raw = Vec::new();
    within("the first frame before the group ends", async {
        let mut buf = [0u8; 4096];
        while !raw.windows(5).any(|w| w == b"first") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&raw));
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert_eq!(status(&raw), 200, "{}", String::from_utf8_lossy(&raw));
    group.write(1, "second").unwrap();
    group.finish().unwrap();
    within("the rest", stream.read_to_end(&mut raw))
        .await
        .unwrap();
    assert_eq!(body(&raw), b"firstsecond");
    relay.shutdown().await;
}

/// Frames of the big group the slow-reader tests fetch.
const BIG_FRAMES: u64 = 32;
const BIG_FRAME: usize = 512 * 1024;

/// Publishes `demo/clock`, starts `readers` fetches of its latest group on connections that
/// read nothing, then writes one [`BIG_FRAMES`] × [`BIG_FRAME`] group: the relay has to hold
/// each response until its reader takes it.
/// The connections of [`slow_fetches`], and what keeps the group published.
struct SlowFetches {
    streams: Vec<TcpStream>,
    _publisher: TestClient,
    _watcher: TestClient,
    _broadcast: moql_model::BroadcastProducer,
    _track: moql_model::TrackProducer,
}

async fn slow_fetches(relay: &TestRelay, readers: usize) -> SlowFetches {
    let publisher = relay.client("moql", "/").await;
    let (broadcast, track) = publish(&publisher, "demo");
    let watcher = relay.client("moql", "/").await;
    announced(&watcher.received, "demo").await;
    let mut streams = Vec::new();
    for _ in 0..readers {
        let mut stream = small_window(relay.addr).await;
        stream
            .write_all(
                b"GET /fetch/demo/clock?group=latest HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        streams.push(stream);
    }
    wait_subscribed(&track).await;
    let group = track.create_group(1).unwrap();
    for i in 0..BIG_FRAMES {
        group.write(i, vec![i as u8; BIG_FRAME]).unwrap();
    }
    group.finish().unwrap();
    SlowFetches {
        streams,
        _publisher: publisher,
        _watcher: watcher,
        _broadcast: broadcast,
        _track: track,
    }
}

/// A `/fetch` client that stops reading used to hold its connection (and the response)
/// forever; now it is dropped once a write has waited `http_write_timeout_seconds`.
#[tokio::test]
async fn a_fetch_reader_that_stops_reading_is_dropped_at_the_write_timeout() {
    let relay = TestRelay::start(|c| c.limits.http_write_timeout_seconds = 0.5).await;
    let mut slow = slow_fetches(&relay, 1).await;
    // The attack: take nothing for a while (longer than the write timeout).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut raw = Vec::new();
    let read = within(
        "the rest of the response",
        slow.streams[0].read_to_end(&mut raw),
    )
    .await;
    let whole = BIG_FRAMES as usize * BIG_FRAME;
    assert!(
        read.is_err() || raw.len() < whole,
        "got all {} bytes: the stalled reader was kept",
        raw.len()
    );
    // The port still serves.
    assert_eq!(get(relay.addr, "/certificate.sha256").await.0, 200);
    relay.shutdown().await;
}

/// Resident set size of this process, in KiB.
pub(crate) fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// User + system CPU time of this process, in ms (`/proc/self/stat` fields 14 and 15).
pub(crate) fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    // Clock ticks are 100 per second on Linux.
    (fields[0] + fields[1]) * 10
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Measurement (run by hand): 32 `/fetch` readers of an 16 MiB group that read nothing. Prints
/// the RSS and CPU deltas; before streaming each request held its own copy of the group.
///
/// `cargo test -p moql-tests --test hostile -- --ignored --nocapture measure_slow_fetch_readers`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand"]
async fn measure_slow_fetch_readers() {
    const READERS: usize = 32;
    let relay = TestRelay::start(|_| {}).await;
    let (rss, cpu, started) = (vm_rss_kib(), cpu_ms(), Instant::now());
    let _slow = slow_fetches(&relay, READERS).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "slow /fetch readers: {READERS} x {} MiB group: VmRSS +{} KiB, CPU +{} ms over {:?} \
         (a copy per reader would be {} KiB)",
        BIG_FRAMES as usize * BIG_FRAME / (1024 * 1024),
        vm_rss_kib().saturating_sub(rss),
        cpu_ms() - cpu,
        started.elapsed(),
        READERS * BIG_FRAMES as usize * BIG_FRAME / 1024,
    );
}

/// Measurement (run by hand): 1000 half-requests on the HTTP port. Prints the descriptors
/// and RSS this process holds (both ends of each connection are in it) right after the
/// attack and 12 s later (past the default 10 s header timeout).
///
/// `cargo test -p moql-tests --test hostile -- --ignored --nocapture measure_stalled_half_requests`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand"]
async fn measure_stalled_half_requests() {
    const ATTACK: usize = 1000;
    let relay = TestRelay::start(|_| {}).await;
    let (fds, rss, cpu) = (open_fds(), vm_rss_kib(), cpu_ms());
    let mut held = Vec::new();
    for _ in 0..ATTACK {
        let mut stream = connect(relay.addr).await;
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cert = get(relay.addr, "/certificate.sha256").await.0;
    println!(
        "{ATTACK} half-requests, +1 s: fds +{}, VmRSS +{} KiB, CPU +{} ms, /certificate.sha256 {cert}",
        open_fds() - fds,
        vm_rss_kib().saturating_sub(rss),
        cpu_ms() - cpu
    );
    tokio::time::sleep(Duration::from_secs(11)).await;
    let mut closed = 0;
    for stream in &mut held {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    println!(
        "{ATTACK} half-requests, +12 s: closed by the relay {closed}, fds +{} (the {ATTACK} \
         client ends included), VmRSS +{} KiB, CPU +{} ms",
        open_fds() - fds,
        vm_rss_kib().saturating_sub(rss),
        cpu_ms() - cpu
    );
}
