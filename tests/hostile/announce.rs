//! Announcement floods: routes, watchers and the origin lock.
//!
//! The attackers here speak the wire by hand (lite-05): one answers the relay's Announce
//! stream as a publisher would and then floods it; another opens Announce streams of its own
//! and never reads them. Each test syncs on an honest client seeing a last `sync` broadcast
//! (an announce stream is applied in order, so everything before it was applied) and then
//! reads the relay's origin gauges from `/metrics`.

use moql_native::{Client, ClientConfig, ClientTls, Connection, TransportKind};
use moql_session::testing;
use moql_wire::{
    Announce, AnnounceOk, AnnounceRequest, AnnounceStatus, BidiStream, Encode, Path, Version,
};
use web_transport_trait::{SendStream as _, Session as _};

use crate::support::relay::TestRelay;
use crate::support::{announced, within};

/// The version the hand-written attackers speak.
const V: Version = Version::Lite05;

fn encode<M: Encode>(message: &M) -> Vec<u8> {
    testing::raw::encode(message, V)
}

fn active(suffix: &str, hops: Vec<u64>) -> Vec<u8> {
    encode(&Announce {
        status: AnnounceStatus::Active,
        suffix: Path::new(suffix).unwrap(),
        hops,
    })
}

fn ended(suffix: &str) -> Vec<u8> {
    encode(&Announce {
        status: AnnounceStatus::Ended,
        suffix: Path::new(suffix).unwrap(),
        hops: Vec::new(),
    })
}

/// A hand-driven lite-05 session to `relay` that has sent SETUP.
async fn raw_session(relay: &TestRelay) -> Connection {
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![relay.fingerprint.clone()]),
        versions: vec![V],
        ..ClientConfig::default()
    })
    .unwrap();
    let url = relay.url("moql", "/");
    let connected = within("the connection", client.connect(&url))
        .await
        .expect("connect");
    assert_eq!(connected.kind, TransportKind::Quic);
    testing::raw::send_setup(&connected.session, V).await;
    connected.session
}

/// A publisher by hand: accepts the relay's Announce stream and answers ANNOUNCE_OK with
/// `hop`; what the test writes on the returned stream is the relay's view of its broadcasts.
async fn announcer(
    relay: &TestRelay,
    hop: u64,
) -> (Connection, <Connection as web_transport_trait::Session>::SendStream) {
    let session = raw_session(relay).await;
    let (mut send, recv) = within("the relay's Announce stream", session.accept_bi())
        .await
        .expect("the relay asks for announcements");
    // The request is never read: the relay only reads our side.
    drop(recv);
    send.write_all(&encode(&AnnounceOk {
        hop_id: hop,
        active_count: 0,
    }))
    .await
    .unwrap();
    (session, send)
}

/// Waits until an honest client of `relay` sees `sync`: every announcement the attacker wrote
/// before it has been applied.
async fn synced(relay: &TestRelay) -> crate::support::TestClient {
    let honest = relay.client("moql", "/").await;
    announced(&honest.received, "sync").await;
    honest
}

/// Issue #16 item 1: the same origin publisher (first hop 7) re-announcing one path with a
/// new chain each time is an in-place route update (spec 5.4 step 5), so it must replace that
/// broadcast's route, not add one per message.
#[tokio::test]
async fn reannouncing_one_path_with_new_chains_keeps_one_route() {
    const UPDATES: u64 = 2_000;
    let relay = TestRelay::start(|_| {}).await;
    let (_attacker, mut announce) = announcer(&relay, 9).await;
    let mut flood = Vec::new();
    for i in 0..UPDATES {
        flood.extend(active("flood", vec![7, i + 1]));
    }
    flood.extend(active("sync", vec![8]));
    within("the flood to be written", announce.write_all(&flood))
        .await
        .unwrap();

    let honest = synced(&relay).await;
    assert_eq!(relay.metric("moql_relay_broadcasts").await, 2);
    assert_eq!(
        relay.metric("moql_relay_routes").await,
        2,
        "one route per broadcast however often it is re-routed"
    );
    // The honest session carries on and still sees the re-routed broadcast.
    announced(&honest.received, "flood").await;
    relay.shutdown().await;
}

/// Issue #16 item 2: announce streams whose reader never reads (QUIC flow control stops the
/// relay's writer) while unique paths come and go. Each stalled watcher may hold only the
/// current state of what it knows plus what is active, not every path ever touched.
#[tokio::test]
async fn stalled_announce_readers_hold_only_current_state() {
    const STREAMS: u64 = 16;
    const CHURN: usize = 300;
    // 200 active paths of 8 KB: more than a QUIC stream window (1.25 MB), so the relay's
    // writer to each stalled stream blocks inside the initial set.
    const FILL: usize = 200;
    let long = "x".repeat(8_000);
    let relay = TestRelay::start(|_| {}).await;
    let (_publisher, mut announce) = announcer(&relay, 9).await;
    let mut fill = Vec::new();
    for i in 0..FILL {
        fill.extend(active(&format!("fill/{long}/{i}"), vec![]));
    }
    fill.extend(active("sync0", vec![]));
    within("the fill", announce.write_all(&fill)).await.unwrap();
    let honest = relay.client("moql", "/").await;
    announced(&honest.received, "sync0").await;

    let stalled = raw_session(&relay).await;
    let watchers = relay.metric("moql_relay_announce_watchers").await;
    let mut streams = Vec::new();
    for _ in 0..STREAMS {
        let (mut send, recv) = stalled.open_bi().await.unwrap();
        let mut request = encode(&BidiStream::Announce);
        request.extend(encode(&AnnounceRequest {
            prefix: Path::root(),
            exclude_hop: 0,
        }));
        send.write_all(&request).await.unwrap();
        streams.push((send, recv));
    }
    // The relay has answered every request once its watchers exist.
    within("the stalled watchers", async {
        while relay.metric("moql_relay_announce_watchers").await < watchers + STREAMS {
            tokio::task::yield_now().await;
        }
    })
    .await;

    let mut churn = Vec::new();
    for i in 0..CHURN {
        let path = format!("churn/{long}/{i}");
        churn.extend(active(&path, vec![]));
        churn.extend(ended(&path));
    }
    churn.extend(active("sync", vec![]));
    within("the churn", announce.write_all(&churn))
        .await
        .unwrap();
    announced(&honest.received, "sync").await;

    // Each stalled stream holds at most `sync`, and so does each session's own view (three
    // sessions: the publisher, the honest client, the stalled one).
    let backlog = relay.metric("moql_relay_announce_backlog").await;
    assert!(
        backlog <= STREAMS + 3,
        "{backlog} pending changes for {STREAMS} stalled streams"
    );
    drop(streams);
    relay.shutdown().await;
}

/// Resident memory (kB) and CPU time (ms, user + system) of this process.
fn usage() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    (rss, (fields[0] + fields[1]) * 10)
}

/// The attacks of items 1 and 2 at a fixed size against an in-process relay, printing the
/// relay process's VmRSS and CPU deltas and the structure that grew. Run before and after a
/// fix: `cargo test -p moql-tests --test hostile measure_announce_attacks -- --ignored
/// --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn measure_announce_attacks() {
    // Item 1: 20 000 in-place re-routes of one path (the 10^5 takes minutes before the fix).
    let relay = TestRelay::start(|_| {}).await;
    let (_attacker, mut announce) = announcer(&relay, 9).await;
    let (rss0, cpu0) = usage();
    let started = std::time::Instant::now();
    let mut flood = Vec::new();
    for i in 0..20_000u64 {
        flood.extend(active("flood", vec![7, i + 1]));
    }
    flood.extend(active("sync", vec![8]));
    announce.write_all(&flood).await.unwrap();
    let honest = relay.client("moql", "/").await;
    let sync = Path::new("sync").unwrap();
    let mut watch = honest.received.consume();
    tokio::time::timeout(std::time::Duration::from_secs(900), async {
        while honest.received.broadcast(&sync).is_none() {
            watch.announced().await;
        }
    })
    .await
    .expect("sync within 15 minutes");
    let (rss1, cpu1) = usage();
    println!(
        "item 1: 20000 re-routes ({} bytes): routes {}, VmRSS +{} kB, CPU {} ms, wall {} ms",
        flood.len(),
        relay.metric("moql_relay_routes").await,
        rss1.saturating_sub(rss0),
        cpu1 - cpu0,
        started.elapsed().as_millis()
    );
    relay.shutdown().await;

    // Item 2: 256 stalled announce streams, 2 000 unique 1 KB paths come and go.
    let long = "x".repeat(1_000);
    let relay = TestRelay::start(|_| {}).await;
    let (_publisher, mut announce) = announcer(&relay, 9).await;
    let mut fill = Vec::new();
    for i in 0..1_300 {
        fill.extend(active(&format!("fill/{long}/{i}"), vec![]));
    }
    fill.extend(active("sync0", vec![]));
    announce.write_all(&fill).await.unwrap();
    let honest = relay.client("moql", "/").await;
    announced(&honest.received, "sync0").await;
    let stalled = raw_session(&relay).await;
    let mut streams = Vec::new();
    for _ in 0..256 {
        let (mut send, recv) = stalled.open_bi().await.unwrap();
        let mut request = encode(&BidiStream::Announce);
        request.extend(encode(&AnnounceRequest {
            prefix: Path::root(),
            exclude_hop: 0,
        }));
        send.write_all(&request).await.unwrap();
        streams.push((send, recv));
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await; // let the writers stall
    let (rss0, cpu0) = usage();
    let started = std::time::Instant::now();
    let mut churn = Vec::new();
    for i in 0..2_000 {
        let path = format!("churn/{long}/{i}");
        churn.extend(active(&path, vec![]));
        churn.extend(ended(&path));
    }
    churn.extend(active("sync", vec![]));
    announce.write_all(&churn).await.unwrap();
    announced(&honest.received, "sync").await;
    let (rss1, cpu1) = usage();
    println!(
        "item 2: 256 stalled streams, 2000 paths churned ({} bytes): backlog {}, watchers {}, \
         VmRSS +{} kB, CPU {} ms, wall {} ms",
        churn.len(),
        relay.metric("moql_relay_announce_backlog").await,
        relay.metric("moql_relay_announce_watchers").await,
        rss1.saturating_sub(rss0),
        cpu1 - cpu0,
        started.elapsed().as_millis()
    );
    drop(streams);
    relay.shutdown().await;
}
