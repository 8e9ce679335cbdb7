//! Drives the real `moql` binary against an in-test relay: one shared origin that every
//! accepted session both publishes from and subscribes into, which is all a relay needs for
//! fan-out, announcements and fetch pass-through.
//!
//! Every wait is bounded by [`WAIT`]; child processes are killed when their handle drops.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use moql_model::OriginProducer;
use moql_native::{Certificate, Server, ServerConfig};
use moql_session::{Accepting, SessionConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

/// Bound on any single wait in these tests.
const WAIT: Duration = Duration::from_secs(15);

/// Awaits `future`, failing the test after [`WAIT`].
async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// A loopback relay; stops (with every session) when dropped.
struct Relay {
    url: String,
    fingerprint: String,
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    fn start() -> Self {
        if let Ok(filter) = std::env::var("MOQL_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let certificate = Certificate::generate(&["localhost".into()]).expect("certificate");
        let config = ServerConfig::new("127.0.0.1:0".parse().expect("address"), certificate);
        let mut server = Server::bind(config).expect("bind");
        let port = server.local_addr().expect("local address").port();
        let fingerprint = server.fingerprint();
        let origin = OriginProducer::new();
        let task = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            while let Some(incoming) = server.accept().await {
                let origin = origin.clone();
                sessions.spawn(async move {
                    let version = incoming.version();
                    let Ok(transport) = incoming.accept().await else {
                        return;
                    };
                    let Ok(accepting) =
                        Accepting::new(transport, version, Duration::from_secs(5)).await
                    else {
                        return;
                    };
                    let config = SessionConfig::new()
                        .with_publish(origin.consume())
                        .with_subscribe(origin.clone());
                    if let Ok(session) = accepting.accept(config).await {
                        session.closed().await;
                    }
                });
            }
        });
        Self {
            url: format!("moql://127.0.0.1:{port}/"),
            fingerprint,
            task,
        }
    }

    /// `moql --tls-fingerprint … -q <args>`, killed on drop, stdin null, stdout piped; with
    /// `--log $MOQL_TEST_LOG` when that is set (debugging).
    fn moql(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_moql"));
        command
            .args(["--tls-fingerprint", &self.fingerprint, "-q"])
            .args(args)
            .args(std::env::var("MOQL_TEST_LOG").map(|log| format!("--log={log}")))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        command
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.moql(args).spawn().expect("spawn moql")
    }
}

/// Waits for `child` to exit.
async fn exit(child: &mut Child, what: &str) -> ExitStatus {
    within(what, child.wait()).await.expect("wait for moql")
}

/// Reads exactly `len` bytes of `stdout`.
async fn read_bytes(stdout: &mut ChildStdout, len: usize, what: &str) -> Vec<u8> {
    let mut buf = vec![0; len];
    within(what, stdout.read_exact(&mut buf))
        .await
        .unwrap_or_else(|err| panic!("reading {what}: {err}"));
    buf
}

/// Sends SIGINT (Ctrl-C) to `child`.
fn interrupt(child: &Child) {
    let pid = child.id().expect("running child").to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(status.success());
}

/// Runs `moql fetch …` to completion: its exit code and stdout.
async fn fetch(relay: &Relay, args: &[&str]) -> (Option<i32>, Vec<u8>) {
    let mut full = vec!["fetch", relay.url.as_str()];
    full.extend_from_slice(args);
    let output = within("moql fetch", relay.moql(&full).output())
        .await
        .expect("run moql fetch");
    (output.status.code(), output.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_the_clock_tick() {
    let relay = Relay::start();
    let _publisher = relay.spawn(&[
        "publish",
        &relay.url,
        "demo/clock",
        "--track",
        "clock",
        "--clock",
        "--tick-ms",
        "100",
    ]);
    let mut subscriber = relay.spawn(&[
        "subscribe",
        &relay.url,
        "demo/clock",
        "clock",
        "--wait-ms",
        "10000",
    ]);
    let mut lines = BufReader::new(subscriber.stdout.take().expect("stdout")).lines();
    let mut ticks = Vec::new();
    while ticks.len() < 5 {
        let line = within("a clock tick", lines.next_line())
            .await
            .expect("read stdout")
            .expect("a line before the subscriber exits");
        ticks.push(line);
    }
    for tick in &ticks {
        // 2026-01-31T12:34:56.700Z
        assert_eq!(tick.len(), 24, "{tick:?}");
        assert!(
            tick.ends_with("00Z") && tick.as_bytes()[10] == b'T',
            "{tick:?}"
        );
    }
    assert!(
        ticks.windows(2).all(|w| w[0] < w[1]),
        "ticks go forward: {ticks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_lines_reach_a_subscriber_byte_exact_and_eof_ends_both() {
    let relay = Relay::start();
    let input: &[u8] = b"hello\n\n  spaces\tand tabs \n\xff\xfe not utf-8\r\n\xc3\xbcnicode\n";
    let mut publisher = relay
        .moql(&["publish", &relay.url, "demo/lines"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn publisher");
    let mut stdin = publisher.stdin.take().expect("stdin");
    within("writing stdin", stdin.write_all(input))
        .await
        .expect("write stdin");
    within("flushing stdin", stdin.flush())
        .await
        .expect("flush");

    // From group 0: the lines were published before this subscriber arrived.
    let mut subscriber = relay.spawn(&[
        "subscribe",
        &relay.url,
        "demo/lines",
        "data",
        "--start-group",
        "0",
        "--wait-ms",
        "10000",
    ]);
    let mut stdout = subscriber.stdout.take().expect("stdout");
    assert_eq!(
        read_bytes(&mut stdout, input.len(), "the lines").await,
        input
    );

    drop(stdin);
    assert!(
        exit(&mut publisher, "the publisher after EOF")
            .await
            .success()
    );
    assert!(
        exit(&mut subscriber, "the subscriber after the track ends")
            .await
            .success()
    );
    let mut rest = Vec::new();
    within(
        "the subscriber's stdout to close",
        stdout.read_to_end(&mut rest),
    )
    .await
    .expect("read stdout");
    assert!(rest.is_empty(), "nothing after the input: {rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_subscriber_gets_the_last_lines_although_the_publisher_exits_at_once() {
    let relay = Relay::start();
    // The subscriber is there first and waits for the announcement.
    let mut subscriber = relay.spawn(&[
        "subscribe",
        &relay.url,
        "demo/tail",
        "data",
        "--wait-ms",
        "10000",
    ]);
    let mut stdout = subscriber.stdout.take().expect("stdout");
    let mut publisher = relay
        .moql(&["publish", &relay.url, "demo/tail"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn publisher");
    let mut stdin = publisher.stdin.take().expect("stdin");
    stdin.write_all(b"first\n").await.expect("write stdin");
    stdin.flush().await.expect("flush");
    assert_eq!(
        read_bytes(&mut stdout, 6, "the first line").await,
        b"first\n"
    );

    // The last groups and the track's end leave together: the end must not cut them off.
    stdin
        .write_all(b"second\nthird\n")
        .await
        .expect("write stdin");
    drop(stdin);
    assert!(
        exit(&mut publisher, "the publisher after EOF")
            .await
            .success()
    );
    assert!(
        exit(&mut subscriber, "the subscriber after the track ends")
            .await
            .success()
    );
    let mut rest = Vec::new();
    within("the rest of stdout", stdout.read_to_end(&mut rest))
        .await
        .expect("read stdout");
    assert_eq!(rest, b"second\nthird\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_returns_a_past_group_byte_exact_and_exit_codes_tell_why_not() {
    let relay = Relay::start();
    let frames: [&[u8]; 3] = [b"zero", b"one\nwith a newline\0and a NUL", b"two"];
    let mut input = Vec::new();
    for frame in frames {
        input.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        input.extend_from_slice(frame);
    }
    let mut publisher = relay
        .moql(&[
            "publish",
            &relay.url,
            "demo/fetch",
            "--track",
            "t",
            "--length-prefixed",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn publisher");
    let mut stdin = publisher.stdin.take().expect("stdin");
    stdin.write_all(&input).await.expect("write stdin");
    stdin.flush().await.expect("flush");

    // The last group exists once a fetch of it succeeds (the publisher reads stdin
    // asynchronously); until then a fetch is refused with 4 (not found).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (code, out) = fetch(&relay, &["demo/fetch", "t", "2", "--raw"]).await;
        if code == Some(0) {
            assert_eq!(out, frames[2]);
            break;
        }
        assert_eq!(
            code,
            Some(4),
            "only not-found while the group is not there yet"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "group 2 never appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, out) = fetch(&relay, &["demo/fetch", "t", "1", "--raw"]).await;
    assert_eq!((code, out.as_slice()), (Some(0), frames[1]));
    let (code, out) = fetch(&relay, &["demo/fetch", "t", "0", "--length-prefixed"]).await;
    assert_eq!((code, out.as_slice()), (Some(0), &input[..8]));

    let (code, _) = fetch(&relay, &["demo/fetch", "t", "42"]).await;
    assert_eq!(code, Some(4), "a group that does not exist");
    let (code, _) = fetch(&relay, &["demo/fetch", "no-such-track", "0"]).await;
    assert_eq!(code, Some(4), "a track that does not exist");
    let (code, _) = fetch(&relay, &["demo/absent", "t", "0", "--wait-ms", "300"]).await;
    assert_eq!(code, Some(4), "a broadcast that is never announced");

    let wrong = "00".repeat(32);
    let output = Command::new(env!("CARGO_BIN_EXE_moql"))
        .args([
            "--tls-fingerprint",
            &wrong,
            "-q",
            "fetch",
            &relay.url,
            "demo/fetch",
            "t",
            "0",
        ])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = within("fetch with a wrong fingerprint", output)
        .await
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(3),
        "a handshake failure is a transport error"
    );

    drop(stdin);
    assert!(
        exit(&mut publisher, "the publisher after EOF")
            .await
            .success()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_lists_a_broadcast_while_it_lives() {
    let relay = Relay::start();
    let mut watcher = relay.spawn(&["announced", &relay.url, "demo"]);
    let mut lines = BufReader::new(watcher.stdout.take().expect("stdout")).lines();
    let mut publisher = relay.spawn(&["publish", &relay.url, "demo/listed", "--clock"]);
    let _other = relay.spawn(&["publish", &relay.url, "elsewhere/x", "--clock"]);

    let line = within("+ demo/listed", lines.next_line())
        .await
        .expect("read");
    assert_eq!(line.as_deref(), Some("+ demo/listed"));

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let output = relay
            .moql(&["announced", &relay.url, "--once"])
            .output()
            .await
            .expect("run announced --once");
        assert!(output.status.success());
        let listed = String::from_utf8(output.stdout).expect("UTF-8");
        if listed.lines().count() == 2 {
            assert_eq!(listed, "+ demo/listed\n+ elsewhere/x\n");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "--once listed {listed:?}"
        );
    }

    interrupt(&publisher);
    assert!(
        exit(&mut publisher, "the publisher after Ctrl-C")
            .await
            .success()
    );
    let line = within("- demo/listed", lines.next_line())
        .await
        .expect("read");
    assert_eq!(line.as_deref(), Some("- demo/listed"));
    interrupt(&watcher);
    assert!(exit(&mut watcher, "announced after Ctrl-C").await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_reports_throughput_latency_and_no_lost_groups() {
    let relay = Relay::start();
    let output = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&output);
    let mut bench = relay
        .moql(&[
            "bench",
            &relay.url,
            "--connections",
            "2",
            "--broadcasts",
            "1",
            "--subscribe",
            "1",
            "--fps",
            "30",
            "--frame-size",
            "1200",
            "--group-frames",
            "10",
            "--duration",
            "2",
            "--interval",
            "1",
            "--output",
            output.to_str().expect("UTF-8 path"),
        ])
        .spawn()
        .expect("spawn bench");
    let mut stdout = String::new();
    let mut pipe = bench.stdout.take().expect("stdout");
    within("bench output", pipe.read_to_string(&mut stdout))
        .await
        .expect("read stdout");
    assert!(exit(&mut bench, "bench").await.success(), "{stdout}");
    assert!(stdout.contains("bench summary"), "{stdout}");

    let lines = std::fs::read_to_string(&output).expect("the JSON lines");
    let reports: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert!(reports.len() >= 2, "intervals and a summary: {lines}");
    let summary = reports.last().expect("a summary");
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["groups_lost"], 0, "{summary}");
    assert_eq!(summary["subscriptions"], 2, "{summary}");
    assert_eq!(summary["failed_subscriptions"], 0, "{summary}");
    let received = summary["received"]["groups"].as_u64().expect("a count");
    assert!(received >= 8, "about 6 groups per subscription: {summary}");
    let samples = summary["latency_ms"]["samples"].as_u64().expect("a count");
    assert_eq!(samples, received, "one latency sample per group: {summary}");
    assert!(summary["latency_ms"]["p99"].as_f64().expect("p99") < 1000.0);
    let _ = std::fs::remove_file(&output);
}
