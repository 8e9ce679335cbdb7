//! Transparent resume across an upstream relay restart, with real relay processes (issue
//! #18): two `moql-relay` processes, upstream A and downstream B peering to A, a publisher on
//! A and a subscriber on B (in-process sessions). A is stopped (SIGTERM, or SIGKILL with B's
//! idle timeout at 1 s so B notices within the linger) and started again on the same port;
//! the publisher comes back to A starting its groups at 0; the subscriber on B keeps its
//! track, sees no end and no error, and receives the new groups.
//!
//! Each test prints the gap the subscriber saw (ms between the last group before the restart
//! and the first after it, and the group sequences skipped).

use std::process::Stdio;
use std::time::{Duration, Instant};

use moql_model::{
    BroadcastProducer, OriginProducer, Path, Subscription, TrackConsumer, TrackInfo, TrackProducer,
};
use moql_native::{Client, ClientConfig, ClientTls};
use moql_session::{Session, SessionConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(20);

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A relay process on `bind` with `args`: the child, its address and fingerprint.
async fn relay(bind: &str, args: &[&str]) -> (Child, std::net::SocketAddr, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moql-relay"))
        .args(["--bind", bind, "--log", "warn", "--public=", "--no-http"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the relay starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = within("the listening line", lines.next_line())
        .await
        .expect("read")
        .expect("a line");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "listening", "{line}");
    // Keep reading stdout so the relay never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (
        child,
        words[1].parse().expect("address"),
        words[3].to_string(),
    )
}

/// Sends `signal` (`TERM`, `KILL`) to `child` and waits for it to exit.
async fn stop(child: &mut Child, signal: &str) {
    let pid = child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    within("the relay to exit", child.wait())
        .await
        .expect("wait");
}

/// A session to the relay at `addr`: what it publishes comes from `publish`, what it learns
/// goes into `received`.
async fn dial(
    addr: std::net::SocketAddr,
    fingerprint: &str,
    publish: &OriginProducer,
    received: &OriginProducer,
) -> Session {
    let client = Client::new(ClientConfig::new(ClientTls::Fingerprints(vec![
        fingerprint.to_string(),
    ])))
    .expect("client");
    let url = format!("moql://127.0.0.1:{}/", addr.port());
    let connected = within("the connection", client.connect(&url))
        .await
        .expect("connects");
    let mut config = SessionConfig::new()
        .with_publish(publish.consume())
        .with_subscribe(received.clone());
    config.setup_path = connected.setup_path.clone();
    Session::connect(connected.session, connected.version, config)
        .await
        .expect("the session starts")
}

/// What a publisher holds: its session, its origin (dropping the last producer of an origin
/// ends its announcements) and its broadcast.
type Publisher = (Session, OriginProducer, BroadcastProducer);

/// A publisher session on the relay at `addr` with track `clock` of `up/cam`.
async fn publisher(addr: std::net::SocketAddr, fingerprint: &str) -> (Publisher, TrackProducer) {
    let publish = OriginProducer::new();
    let session = dial(addr, fingerprint, &publish, &OriginProducer::new()).await;
    let broadcast = BroadcastProducer::new();
    let track = broadcast
        .create_track("clock", TrackInfo::DEFAULT)
        .expect("track");
    publish
        .publish(&Path::new("up/cam").expect("path"), broadcast.consume())
        .expect("publish");
    ((session, publish, broadcast), track)
}

/// Writes group `seq` with one frame `"{run}{seq}"`.
fn produce(track: &TrackProducer, run: &str, seq: u64) {
    let group = track.create_group(seq).expect("group");
    group
        .write(seq * 1000, format!("{run}{seq}"))
        .expect("frame");
    group.finish().expect("finish");
}

/// Waits until a subscription from the relay reached `track`.
async fn subscribed(track: &TrackProducer) {
    within("the subscription to reach the publisher", async {
        while track.subscription().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// The next group's sequence and first frame, failing if the track ends instead.
async fn next(sub: &mut TrackConsumer) -> (u64, String) {
    let mut group = within("a group", sub.next_group())
        .await
        .expect("no error")
        .expect("a group, not the end");
    let frames = within("its frames", group.read_all())
        .await
        .expect("frames");
    let text = String::from_utf8(frames[0].payload.to_vec()).expect("text");
    (group.sequence(), text)
}

/// Runs the scenario: A (started with `upstream_args`, both times) is stopped with `signal`
/// (B configured by `downstream_args`).
async fn upstream_restart(
    scenario: &str,
    signal: &str,
    upstream_args: &[&str],
    downstream_args: &[&str],
) {
    let (mut a, a_addr, a_fingerprint) = relay("127.0.0.1:0", upstream_args).await;
    let peer = format!("moql://127.0.0.1:{}/", a_addr.port());
    let mut b_args = vec!["--peer", &peer, "--peer-insecure"];
    b_args.extend_from_slice(downstream_args);
    let (_b, b_addr, b_fingerprint) = relay("127.0.0.1:0", &b_args).await;

    let (_first, track) = publisher(a_addr, &a_fingerprint).await;
    let received = OriginProducer::new();
    let subscriber = dial(b_addr, &b_fingerprint, &OriginProducer::new(), &received).await;
    let path = Path::new("up/cam").expect("path");
    let remote = within("the announcement on B", async {
        loop {
            if let Some(b) = received.broadcast(&path) {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .expect("subscribe");
    subscribed(&track).await;
    for seq in 0..3 {
        produce(&track, "a", seq);
        assert_eq!(next(&mut sub).await, (seq, format!("a{seq}")));
    }
    let before = Instant::now();

    stop(&mut a, signal).await;
    let (_a, _, a_fingerprint) = relay(&a_addr.to_string(), upstream_args).await;
    let (_second, track) = publisher(a_addr, &a_fingerprint).await;
    subscribed(&track).await;
    produce(&track, "b", 0);
    let (seq, text) = next(&mut sub).await;
    let ms = before.elapsed().as_millis();
    eprintln!(
        "GAP {scenario}: {ms} ms between group 2 and group {seq}, {} sequence(s) skipped",
        seq.saturating_sub(3)
    );
    assert_eq!(
        (seq, text.as_str()),
        (3, "b0"),
        "the new publisher's group 0 follows"
    );
    produce(&track, "b", 1);
    assert_eq!(next(&mut sub).await, (4, "b1".to_string()));
    assert!(sub.closed().is_none(), "the subscriber saw no end");
    assert!(subscriber.close_reason().is_none(), "nor a session error");
    assert!(
        received
            .broadcast(&path)
            .is_some_and(|b| b.same_broadcast(&remote)),
        "the broadcast on B was never replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_relay_process_restarted_with_sigterm_is_resumed_downstream() {
    upstream_restart("upstream relay process SIGTERM + restart", "TERM", &[], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_relay_process_killed_and_restarted_is_resumed_downstream() {
    // B notices the dead connection after 1 s instead of 30 s, within the 5 s linger.
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("relay.toml");
    std::fs::write(&config, "[limits]\nidle_timeout_seconds = 1\n").expect("config written");
    let config = config.to_str().expect("UTF-8 path").to_string();
    upstream_restart(
        "upstream relay process SIGKILL + restart (downstream idle timeout 1 s)",
        "KILL",
        &[],
        &["--config", &config],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_relay_killed_and_restarted_with_its_certificate_files_is_noticed_at_once() {
    // B keeps the default 30 s idle timeout. A serves certificate files, from whose key its
    // stateless-reset key is derived: the restarted A answers B's next packet to the dead
    // connection with a reset B accepts (RFC 9000 10.3), so B re-peers within the linger
    // instead of after 30 s (which `next`'s 20 s bound would not wait for).
    let dir = tempfile::tempdir().expect("temporary directory");
    let certificate =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
    let cert = dir.path().join("a.pem");
    let key = dir.path().join("a.key");
    std::fs::write(&cert, certificate.cert.pem()).expect("cert written");
    std::fs::write(&key, certificate.signing_key.serialize_pem()).expect("key written");
    let config = dir.path().join("a.toml");
    std::fs::write(&config, format!("[tls]\ncert = {cert:?}\nkey = {key:?}\n"))
        .expect("config written");
    let config = config.to_str().expect("UTF-8 path").to_string();
    upstream_restart(
        "upstream relay process SIGKILL + restart with its certificate files (default idle timeout)",
        "KILL",
        &["--config", &config],
        &[],
    )
    .await;
}
