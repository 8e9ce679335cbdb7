//! Clients that come back (issue 18), with real processes: the `moql-relay` binary (built
//! next to `moql` by `cargo test --workspace`) and `moql publish` / `moql subscribe`.
//!
//! - A relay stopped (SIGTERM: GOAWAY without a URL, drain, exit) and started again on the
//!   same port: a `tail -f`-style publisher (stdin
//!   kept open) and a subscriber both reconnect; the subscriber keeps printing; both exit 0.
//! - Relay A shut down with SIGTERM and `--goaway-url` pointing at relay B (A pulls the
//!   broadcast from B as a cluster peer): the subscriber on A moves to B without a gap
//!   larger than one group.
//!
//! Each test prints the gap the subscriber saw (longest silence between two frames, and
//! groups never printed).

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::Instant;

mod support;
use support::{WAIT, relay, within};

fn url(port: u16) -> String {
    format!("moql://127.0.0.1:{port}/")
}

fn moql(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moql"));
    // Each relay process generates its own certificate.
    command
        .args(args)
        .arg("--tls-disable-verify")
        .env_remove("MOQL_URL")
        .env_remove("MOQL_JWT")
        .env_remove("MOQL_TLS_FINGERPRINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Collects a child's stderr lines.
fn collect_stderr(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let mut reader = BufReader::new(child.stderr.take().expect("stderr")).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// `moql publish URL demo --track t`, fed one line every 50 ms (a group each) by a task,
/// stdin kept open until the returned sender is dropped.
fn publisher(url: &str) -> (Child, tokio::sync::oneshot::Sender<()>) {
    let mut child = moql(&["publish", url, "demo", "--track", "t"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn publisher");
    let stdin = child.stdin.take().expect("stdin");
    let (stop, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(feed(stdin, stopped));
    (child, stop)
}

async fn feed(mut stdin: ChildStdin, mut stopped: tokio::sync::oneshot::Receiver<()>) {
    for n in 0u64.. {
        if stdin.write_all(format!("{n}\n").as_bytes()).await.is_err() {
            return;
        }
        tokio::select! {
            _ = &mut stopped => return,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// The subscriber's printed groups, with when each arrived.
type Seen = Arc<Mutex<Vec<(Instant, u64)>>>;

/// `moql subscribe URL demo t --json`, recording each frame's group.
fn subscriber(url: &str) -> (Child, Seen, Arc<Mutex<Vec<String>>>) {
    let mut child = moql(&["subscribe", url, "demo", "t", "--json"])
        .spawn()
        .expect("spawn subscriber");
    let stderr = collect_stderr(&mut child);
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = out.next_line().await {
            let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
            let group = value["group"].as_u64().expect("a group");
            sink.lock().unwrap().push((Instant::now(), group));
        }
    });
    (child, seen, stderr)
}

/// Waits until `seen` holds at least `n` frames.
async fn printed(seen: &Seen, n: usize, what: &str) {
    within(what, async {
        while seen.lock().unwrap().len() < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// The longest silence between two printed frames, and the groups skipped over.
fn gap(seen: &Seen) -> (Duration, u64) {
    let seen = seen.lock().unwrap();
    let longest = seen
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default();
    let missing = seen
        .windows(2)
        .map(|w| w[1].1.saturating_sub(w[0].1 + 1))
        .sum();
    assert!(
        seen.windows(2).all(|w| w[0].1 < w[1].1),
        "groups go backwards or repeat"
    );
    (longest, missing)
}

async fn exit(child: &mut Child, what: &str) -> ExitStatus {
    within(what, child.wait()).await.expect("wait")
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([name, &pid])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_and_subscriber_come_back_after_a_relay_restart() {
    // A restart as systemd does it: SIGTERM (GOAWAY without a URL, then the drain), exit,
    // start again on the same port.
    relay_restart("relay restart", "-TERM", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_and_restarted_with_its_certificate_files_is_noticed_at_once() {
    // SIGKILL: no GOAWAY, no close. The restarted relay derives the same stateless-reset key
    // from the same key file, so it answers the clients' next packet (the subscriber's
    // keep-alive) with a reset they accept and they reconnect at once. With a key of its
    // own (`stable_reset = false`, and before) they waited out their 30 s idle timeout, past
    // this test's bound (checked: it then fails with no frames after the restart).
    let dir = std::env::temp_dir().join(format!("moql-reconnect-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let certificate =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
    let (cert, key) = (dir.join("relay.pem"), dir.join("relay.key"));
    std::fs::write(&cert, certificate.cert.pem()).expect("cert written");
    std::fs::write(&key, certificate.signing_key.serialize_pem()).expect("key written");
    let config = dir.join("relay.toml");
    std::fs::write(&config, format!("[tls]\ncert = {cert:?}\nkey = {key:?}\n")).expect("config");
    let config = config.display().to_string();
    relay_restart(
        "relay SIGKILL + restart with its certificate files",
        "-KILL",
        &["--config", &config],
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A publisher and a subscriber on one relay, which is stopped with `signal_name` and started
/// again on the same port with the same `args`: both reconnect, the subscriber keeps
/// printing, both exit 0.
async fn relay_restart(scenario: &str, signal_name: &str, args: &[&str]) {
    let (mut relay1, port) = relay(0, args).await;
    let (mut publish, stop) = publisher(&url(port));
    let publish_err = collect_stderr(&mut publish);
    let (mut subscribe, seen, subscribe_err) = subscriber(&url(port));
    printed(&seen, 10, "frames before the restart").await;

    signal(&relay1, signal_name);
    let status = exit(&mut relay1, "the old relay").await;
    assert!(status.success() || signal_name == "-KILL", "{status}");
    let before = seen.lock().unwrap().len();
    let (_relay2, _) = relay(port, args).await;

    let waited = tokio::time::timeout(
        WAIT - Duration::from_secs(5),
        printed(&seen, before + 10, "frames after the restart"),
    )
    .await;
    assert!(
        waited.is_ok(),
        "no frames after the restart; publish: {:?}; subscribe: {:?}",
        publish_err.lock().unwrap(),
        subscribe_err.lock().unwrap()
    );
    let (longest, missing) = gap(&seen);
    println!(
        "{scenario}: longest gap {} ms, {missing} groups missing",
        longest.as_millis()
    );
    drop(stop);
    assert!(exit(&mut publish, "the publisher").await.success());
    assert!(exit(&mut subscribe, "the subscriber").await.success());
    for (who, lines) in [("publish", publish_err), ("subscribe", subscribe_err)] {
        let lines = lines.lock().unwrap();
        assert!(
            lines.iter().any(|l| l.contains("connection lost")),
            "{who}: {lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("reconnected to")),
            "{who}: {lines:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goaway_url_moves_the_subscriber_to_another_relay_within_one_group() {
    let (_relay_b, port_b) = relay(0, &[]).await;
    let (mut relay_a, port_a) = relay(
        0,
        &[
            "--peer",
            &url(port_b),
            "--peer-insecure",
            "--goaway-url",
            &url(port_b),
        ],
    )
    .await;
    let (mut publish, stop) = publisher(&url(port_b));
    let (mut subscribe, seen, subscribe_err) = subscriber(&url(port_a));
    printed(&seen, 10, "frames through relay A").await;

    signal(&relay_a, "-TERM");
    let before = seen.lock().unwrap().len();
    printed(&seen, before + 20, "frames through relay B").await;
    assert!(exit(&mut relay_a, "relay A").await.success());
    let (longest, missing) = gap(&seen);
    println!(
        "GOAWAY to relay B: longest gap {} ms, {missing} groups missing",
        longest.as_millis()
    );
    assert!(missing <= 1, "a gap larger than one group: {missing}");
    drop(stop);
    assert!(exit(&mut publish, "the publisher").await.success());
    assert!(exit(&mut subscribe, "the subscriber").await.success());
    let lines = subscribe_err.lock().unwrap();
    assert!(lines.iter().any(|l| l.contains("moving to")), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reconnect_exits_3_when_the_relay_goes_away() {
    let (mut relay1, port) = relay(0, &[]).await;
    let (mut publish, _stop) = publisher(&url(port));
    let mut subscribe = moql(&["subscribe", &url(port), "demo", "t", "--no-reconnect"])
        .spawn()
        .expect("spawn subscriber");
    let stderr = collect_stderr(&mut subscribe);
    let mut out = BufReader::new(subscribe.stdout.take().expect("stdout")).lines();
    within("a frame", out.next_line()).await.expect("read");
    signal(&relay1, "-TERM");
    assert!(exit(&mut relay1, "the relay").await.success());
    let status = exit(&mut subscribe, "the subscriber").await;
    assert_eq!(status.code(), Some(3), "{:?}", stderr.lock().unwrap());
    assert!(
        !stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("reconnect")),
        "{:?}",
        stderr.lock().unwrap()
    );
    let _ = publish.kill().await;
}
