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
    Announce, AnnounceOk, AnnounceRequest, AnnounceStatus, BidiStream, Encode, ErrorCode, Path,
    Setup, UniStream, Version,
};
use web_transport_trait::{RecvStream as _, SendStream as _, Session as _};

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
    raw_session_as(relay, None).await
}

/// [`raw_session`], naming `origin` as its SETUP Origin.
async fn raw_session_as(relay: &TestRelay, origin: Option<u64>) -> Connection {
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
    let mut setup = connected.session.open_uni().await.unwrap();
    let mut bytes = encode(&UniStream::Setup);
    bytes.extend(encode(&Setup {
        origin,
        ..Setup::default()
    }));
    setup.write_all(&bytes).await.unwrap();
    setup.finish().unwrap();
    connected.session
}

/// Opens an Announce stream for everything on `session`, as a subscriber would.
async fn open_announce(
    session: &Connection,
) -> (
    <Connection as web_transport_trait::Session>::SendStream,
    <Connection as web_transport_trait::Session>::RecvStream,
) {
    let (mut send, recv) = session.open_bi().await.unwrap();
    let mut request = encode(&BidiStream::Announce);
    request.extend(encode(&AnnounceRequest {
        prefix: Path::root(),
        exclude_hop: 0,
    }));
    send.write_all(&request).await.unwrap();
    (send, recv)
}

/// A publisher by hand: accepts the relay's Announce stream and answers ANNOUNCE_OK with
/// `hop`; what the test writes on the returned stream is the relay's view of its broadcasts.
async fn announcer(
    relay: &TestRelay,
    hop: u64,
) -> (
    Connection,
    <Connection as web_transport_trait::Session>::SendStream,
) {
    let session = raw_session_as(relay, Some(hop)).await;
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
        streams.push(open_announce(&stalled).await);
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

/// Issue #16 item 2: a session may hold only `max_announce_streams` Announce streams; one
/// more is reset with 493 (`App(429)`) and the others carry on.
#[tokio::test]
async fn announce_streams_over_the_limit_are_reset_with_493() {
    let relay = TestRelay::start(|c| c.limits.max_announce_streams = 4).await;
    let greedy = raw_session(&relay).await;
    let mut open = Vec::new();
    for _ in 0..4 {
        let (send, mut recv) = open_announce(&greedy).await;
        // ANNOUNCE_OK arrives once the relay counts the stream.
        let mut buf = [0u8; 64];
        let first = within("ANNOUNCE_OK", recv.read(&mut buf)).await;
        assert!(matches!(first, Ok(Some(_))), "{first:?}");
        open.push((send, recv));
    }
    let (_send, mut recv) = open_announce(&greedy).await;
    let mut buf = [0u8; 64];
    match within("the fifth Announce stream's answer", recv.read(&mut buf)).await {
        Err(err) => assert_eq!(
            web_transport_trait::Error::stream_error(&err),
            Some(ErrorCode::TOO_MANY_REQUESTS.0)
        ),
        Ok(answer) => panic!("a fifth Announce stream was served: {answer:?}"),
    }
    // The first four still hear news, and other sessions are unaffected.
    let publisher = relay.client("moql", "/").await;
    let _cam = crate::support::relay::publish(&publisher, "cam");
    let mut buf = [0u8; 64];
    let news = within(
        "news on a stream within the limit",
        open[0].1.read(&mut buf),
    )
    .await;
    assert!(matches!(news, Ok(Some(_))), "{news:?}");
    let honest = relay.client("moql", "/").await;
    announced(&honest.received, "cam").await;
    relay.shutdown().await;
}

/// Issue #16 item 8, spec 9: "A publisher never serves subscriptions, fetches or track
/// requests from a route whose hop chain contains the peer's Origin (from the peer's SETUP);
/// if no other route exists the request fails with 30 Unroutable." A peer that subscribes
/// to what it announced itself must not have the SUBSCRIBE sent back to it.
#[tokio::test]
async fn a_subscription_is_never_routed_back_to_the_peer_it_came_from() {
    let relay = TestRelay::start(|_| {}).await;
    let (peer, mut announce) = announcer(&relay, 77).await;
    let mut bytes = active("loop", vec![]);
    bytes.extend(active("sync", vec![]));
    within("the announcement", announce.write_all(&bytes))
        .await
        .unwrap();
    let _honest = synced(&relay).await;

    let (_send, mut recv) = testing::raw::subscribe(&peer, V, 1, "loop", "t", 0).await;
    let mut buf = [0u8; 64];
    tokio::select! {
        answer = within("the refusal", recv.read(&mut buf)) => match answer {
            Err(err) => assert_eq!(
                web_transport_trait::Error::stream_error(&err),
                Some(ErrorCode::UNROUTABLE.0)
            ),
            Ok(answer) => panic!("the subscription was answered: {answer:?}"),
        },
        _ = peer.accept_bi() => panic!("the relay sent the subscription back to where it came from"),
    }
    relay.shutdown().await;
}

/// Issue #16 item 8: the relay's origin holds at most `max_broadcasts` paths over all
/// sessions; an announcement past it is ignored, the session carries on, and a freed slot is
/// usable again.
#[tokio::test]
async fn announcements_past_the_relay_wide_broadcast_cap_are_ignored() {
    let relay = TestRelay::start(|c| c.limits.max_broadcasts = 3).await;
    let (_peer, mut announce) = announcer(&relay, 9).await;
    let mut bytes = Vec::new();
    for i in 0..5 {
        bytes.extend(active(&format!("p/{i}"), vec![]));
    }
    bytes.extend(ended("p/0"));
    bytes.extend(active("sync", vec![]));
    within("the announcements", announce.write_all(&bytes))
        .await
        .unwrap();
    let honest = synced(&relay).await;
    assert_eq!(relay.metric("moql_relay_broadcasts").await, 3);
    let held = honest.received.paths(&Path::root());
    assert_eq!(held, ["p/1", "p/2", "sync"].map(|p| Path::new(p).unwrap()));
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
/// --nocapture`. `MOQL_MEASURE_REROUTES` changes item 1's count (default 20 000), and
/// `MOQL_MEASURE_STREAM_CAP` the relay's `max_announce_streams` for item 2 (to see the
/// watcher coalescing alone, set it to 256).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn measure_announce_attacks() {
    // Item 1: 20 000 in-place re-routes of one path (the 10^5 takes minutes before the fix).
    let env = |key: &str, default: u64| {
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let reroutes = env("MOQL_MEASURE_REROUTES", 20_000);
    let relay = TestRelay::start(|_| {}).await;
    let (_attacker, mut announce) = announcer(&relay, 9).await;
    let (rss0, cpu0) = usage();
    let started = std::time::Instant::now();
    let mut flood = Vec::new();
    for i in 0..reroutes {
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
        "item 1: {reroutes} re-routes ({} bytes): routes {}, VmRSS +{} kB, CPU {} ms, wall {} ms",
        flood.len(),
        relay.metric("moql_relay_routes").await,
        rss1.saturating_sub(rss0),
        cpu1 - cpu0,
        started.elapsed().as_millis()
    );
    relay.shutdown().await;

    // Item 2: 256 stalled announce streams, 2 000 unique 1 KB paths come and go.
    let long = "x".repeat(1_000);
    let cap = env("MOQL_MEASURE_STREAM_CAP", 64) as usize;
    let relay = TestRelay::start(|c| c.limits.max_announce_streams = cap).await;
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
        streams.push(open_announce(&stalled).await);
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
        "item 2: 256 stalled streams (cap {cap}), 2000 paths churned ({} bytes): backlog {}, watchers {}, \
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
