//! Transparent resume with real processes (issue #18): a `moql publish` process killed with
//! SIGKILL and started again with the same broadcast path, under a `moql subscribe` process,
//! against the real relay (`moql_relay`, in-process on loopback) at its default settings
//! (30 s idle timeout, 5 s linger). The subscriber keeps printing frames of both runs and
//! exits 0 when the second publisher ends cleanly.
//!
//! Prints the gap the subscriber saw (ms between the last frame of the first run and the
//! first of the second, and the group sequences skipped). Every wait is bounded by [`WAIT`];
//! child processes are killed when their handle drops.

use std::process::Stdio;
use std::time::{Duration, Instant};

use moql_relay::{AuthConfig, Relay, RelayConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Bound on any single wait in these tests.
const WAIT: Duration = Duration::from_secs(15);

/// Awaits `future`, failing the test after [`WAIT`].
async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Starts a relay with default limits on 127.0.0.1; returns its URL, its certificate
/// fingerprint and the sender that stops it when dropped.
async fn relay() -> (String, String, tokio::sync::oneshot::Sender<()>) {
    let config = RelayConfig {
        bind: "127.0.0.1:0".parse().expect("address"),
        drain_seconds: 0.2,
        auth: AuthConfig {
            public: Some("".into()),
            ..AuthConfig::default()
        },
        ..RelayConfig::default()
    };
    let relay = Relay::bind(config).await.expect("relay binds");
    let port = relay.local_addr().expect("local address").port();
    let fingerprint = relay.fingerprint();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = relay
            .run(async move {
                let _ = stopped.await;
            })
            .await;
    });
    (format!("moql://127.0.0.1:{port}/"), fingerprint, stop)
}

/// `moql -q <args>` trusting `fingerprint`, stdout piped, killed on drop.
fn moql(fingerprint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moql"));
    command
        .arg("-q")
        .args(args)
        .env_remove("MOQL_URL")
        .env_remove("MOQL_JWT")
        .env("MOQL_TLS_FINGERPRINT", fingerprint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
}

/// A `moql publish` of track `t` at `broadcast`, one group per line of its stdin.
fn publisher(url: &str, fingerprint: &str, broadcast: &str) -> (Child, ChildStdin) {
    let mut child = moql(
        fingerprint,
        &[
            "publish",
            url,
            broadcast,
            "--track",
            "t",
            "--linger-ms",
            "300",
        ],
    )
    .stdin(Stdio::piped())
    .spawn()
    .expect("spawn publisher");
    let stdin = child.stdin.take().expect("stdin");
    (child, stdin)
}

/// One frame the subscriber printed: its group and payload, and when it was read.
struct Seen {
    group: u64,
    payload: String,
    at: Instant,
}

/// Reads the subscriber's next `--json` frame line.
async fn next_frame(lines: &mut Lines<BufReader<ChildStdout>>) -> Seen {
    let line = within("a frame line", lines.next_line())
        .await
        .expect("read")
        .expect("a line before the subscriber exits");
    let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    Seen {
        group: value["group"].as_u64().expect("group"),
        payload: value["payload"].as_str().expect("text payload").to_string(),
        at: Instant::now(),
    }
}

/// Writes `line` to a publisher's stdin.
async fn say(stdin: &mut ChildStdin, line: &str) {
    within(
        "writing stdin",
        stdin.write_all(format!("{line}\n").as_bytes()),
    )
    .await
    .expect("write");
    within("flushing stdin", stdin.flush())
        .await
        .expect("flush");
}

/// Writes numbered lines `prefix0`, `prefix1`, … to `stdin`, one every 100 ms, until the
/// subscriber prints one of them; returns what it printed before that and that frame.
async fn feed_until_seen(
    stdin: &mut ChildStdin,
    prefix: &str,
    lines: &mut Lines<BufReader<ChildStdout>>,
    next: &mut u64,
) -> (Vec<Seen>, Seen) {
    let mut before = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "no {prefix}* frame within {WAIT:?}"
        );
        say(stdin, &format!("{prefix}{next}")).await;
        *next += 1;
        let read = tokio::time::timeout(Duration::from_millis(100), next_frame(lines)).await;
        if let Ok(seen) = read {
            if seen.payload.starts_with(prefix) {
                return (before, seen);
            }
            before.push(seen);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_killed_and_restarted_keeps_a_subscriber_process_printing() {
    let (url, fingerprint, _stop) = relay().await;
    let (mut first, mut first_in) = publisher(&url, &fingerprint, "live/cam");
    say(&mut first_in, "a0").await;

    // The subscriber process, started once the broadcast is announced (exit 4 before).
    let deadline = Instant::now() + WAIT;
    let (mut subscriber, mut lines) = loop {
        let mut child = moql(
            &fingerprint,
            &["subscribe", &url, "live/cam", "t", "--json"],
        )
        .spawn()
        .expect("spawn subscriber");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        tokio::select! {
            status = child.wait() => {
                let status = status.expect("wait");
                assert_eq!(status.code(), Some(4), "only not-found is retried");
                assert!(Instant::now() < deadline, "the broadcast never appeared");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            line = lines.next_line() => {
                // Its first frame: the latest group of the first run.
                let line = line.expect("read").expect("a frame line");
                assert!(line.contains("\"a"), "{line}");
                break (child, lines);
            }
        }
    };
    let mut next = 1;
    let (_, mut last_a) = feed_until_seen(&mut first_in, "a", &mut lines, &mut next).await;
    for _ in 0..3 {
        say(&mut first_in, &format!("a{next}")).await;
        next += 1;
        last_a = next_frame(&mut lines).await;
    }

    // SIGKILL: no close reaches the relay, which keeps the dead connection until its idle
    // timeout (30 s). The restarted publisher takes the broadcast over at once.
    first.start_kill().expect("kill -9");
    let killed = Instant::now();
    within("the first publisher to die", first.wait())
        .await
        .expect("wait");
    let (mut second, mut second_in) = publisher(&url, &fingerprint, "live/cam");
    let mut b = 0;
    let (late_a, first_b) = feed_until_seen(&mut second_in, "b", &mut lines, &mut b).await;
    assert!(late_a.is_empty(), "nothing of the first run after the kill");
    let ms = first_b.at.duration_since(last_a.at).as_millis();
    let skipped = first_b.group.saturating_sub(last_a.group + 1);
    eprintln!(
        "GAP moql publish killed (SIGKILL) and restarted, default idle timeout: {ms} ms between \
         group {} ({}) and group {} ({}), {skipped} sequence(s) skipped; first frame {} ms \
         after the kill",
        last_a.group,
        last_a.payload,
        first_b.group,
        first_b.payload,
        first_b.at.duration_since(killed).as_millis()
    );
    assert!(first_b.group > last_a.group, "sequences go on");
    assert!(
        first_b.at.duration_since(killed) < Duration::from_secs(10),
        "resumed long before the 30 s idle timeout"
    );
    let mut group = first_b.group;
    for _ in 0..3 {
        say(&mut second_in, &format!("b{b}")).await;
        b += 1;
        let seen = next_frame(&mut lines).await;
        assert!(seen.payload.starts_with('b'), "{}", seen.payload);
        assert_eq!(seen.group, group + 1, "no sequence missing");
        group = seen.group;
    }

    // The second publisher ends cleanly: the track ends and the subscriber exits 0.
    drop(second_in);
    let status = within("the second publisher", second.wait())
        .await
        .expect("wait");
    assert!(status.success(), "{status:?}");
    let status = within("the subscriber", subscriber.wait())
        .await
        .expect("wait");
    assert_eq!(status.code(), Some(0), "the subscriber saw no error");
    // What is left are the second run's last frames, in order.
    while let Some(line) = within("the end of output", lines.next_line())
        .await
        .expect("read")
    {
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert!(
            value["payload"]
                .as_str()
                .is_some_and(|p| p.starts_with('b')),
            "{line}"
        );
        assert_eq!(value["group"], group + 1, "{line}");
        group += 1;
    }
}
