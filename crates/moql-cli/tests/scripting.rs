//! The scripting contract of the real `moql` binary against the real relay (`moql_relay`,
//! in-process on loopback): one exit code per kind of failure with its error in words on
//! stderr, `MOQL_URL` / `MOQL_JWT` / `MOQL_TLS_FINGERPRINT` in place of flags (flags win), and
//! `--json` lines from subscribe, fetch and announced.
//!
//! Every wait is bounded by [`WAIT`]; child processes are killed when their handle drops.

use std::process::{Output, Stdio};
use std::time::Duration;

use moql_relay::auth::{Claims, KeyConfig, SigningKey, generate_hs256_secret, sign};
use moql_relay::{AuthConfig, Relay, RelayConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// Bound on any single wait in these tests.
const WAIT: Duration = Duration::from_secs(15);

/// Awaits `future`, failing the test after [`WAIT`].
async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// A `moql_relay::Relay` on 127.0.0.1 with a generated certificate; stopped on drop.
struct TestRelay {
    url: String,
    fingerprint: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestRelay {
    /// A relay anyone may use without a token.
    async fn open() -> Self {
        Self::start(AuthConfig {
            public: Some("".into()),
            ..AuthConfig::default()
        })
        .await
    }

    /// A relay that admits only HS256 tokens signed with `secret`.
    async fn with_secret(secret: &str) -> Self {
        Self::start(AuthConfig {
            keys: vec![KeyConfig::Hs256 {
                secret: Some(secret.to_string()),
                secret_file: None,
                secret_env: None,
                kid: None,
            }],
            ..AuthConfig::default()
        })
        .await
    }

    async fn start(auth: AuthConfig) -> Self {
        let config = RelayConfig {
            bind: "127.0.0.1:0".parse().expect("address"),
            drain_seconds: 0.2,
            auth,
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
        Self {
            url: format!("moql://127.0.0.1:{port}/"),
            fingerprint,
            _stop: stop,
        }
    }

    /// `moql -q <args>` trusting this relay through MOQL_TLS_FINGERPRINT; stdin null, stdout
    /// and stderr piped, no MOQL_* variables from the test's own environment.
    fn moql(&self, args: &[&str]) -> Command {
        let mut command = moql(args);
        command.env("MOQL_TLS_FINGERPRINT", &self.fingerprint);
        command
    }
}

/// `moql -q <args>` with none of the MOQL_* variables set.
fn moql(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moql"));
    command
        .arg("-q")
        .args(args)
        .env_remove("MOQL_URL")
        .env_remove("MOQL_JWT")
        .env_remove("MOQL_TLS_FINGERPRINT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `command` to its end.
async fn run(what: &str, command: &mut Command) -> Output {
    within(what, command.output())
        .await
        .unwrap_or_else(|err| panic!("running {what}: {err}"))
}

/// A token for `secret` granting publish and subscribe on the whole relay for a minute.
fn token(secret: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let claims = Claims {
        root: String::new(),
        publish: vec![String::new()],
        subscribe: vec![String::new()],
        exp: now + 60,
        ..Claims::default()
    };
    let key = SigningKey::Hs256 {
        secret: secret.to_string(),
    };
    sign(&claims, &key, None).expect("sign")
}

/// Asserts `output` exited with `code` and printed one `error: …` line naming `needle`, in
/// words: no Rust `Debug` output (struct dumps, `Os { code … }`, `Some(…)`).
fn assert_failed(output: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    let line = stderr.trim_end();
    assert!(
        line.starts_with("error: ") && !line.contains('\n'),
        "one error line: {stderr}"
    );
    assert!(line.contains(needle), "{needle:?} in {line:?}");
    for debug in ["Os {", " { ", "kind:"] {
        assert!(!line.contains(debug), "Debug output {debug:?} in {line:?}");
    }
    // A tuple-like Debug: `Path("a")`, `Some(…)`, `Closed(…)`.
    let bytes = line.as_bytes();
    for (at, _) in line.match_indices('(') {
        let word = line[..at]
            .rsplit(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("");
        let tuple = word.len() > 1
            && word.starts_with(|c: char| c.is_ascii_uppercase())
            && word.chars().any(|c| c.is_ascii_lowercase());
        assert!(
            !tuple,
            "Debug output {word}( in {line:?} (at byte {at} of {})",
            bytes.len()
        );
    }
}

/// A publisher of `frames` (length-prefixed on its stdin, `group_frames` per group) at
/// `broadcast`, still running; its stdin closes the track when dropped.
async fn publisher(
    relay: &TestRelay,
    broadcast: &str,
    frames: &[&[u8]],
    group_frames: u32,
) -> (Child, ChildStdin) {
    let group_frames = group_frames.to_string();
    let mut child = relay
        .moql(&[
            "publish",
            &relay.url,
            broadcast,
            "--track",
            "t",
            "--length-prefixed",
            "--group-frames",
            &group_frames,
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn publisher");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut input = Vec::new();
    for frame in frames {
        input.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        input.extend_from_slice(frame);
    }
    within("writing stdin", stdin.write_all(&input))
        .await
        .expect("write stdin");
    within("flushing stdin", stdin.flush())
        .await
        .expect("flush");
    (child, stdin)
}

/// Runs `moql fetch <args>` until it stops answering not-found (the publisher reads stdin
/// asynchronously, so the group may not be there yet).
async fn fetch_when_there(relay: &TestRelay, args: &[&str]) -> Output {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let output = run("moql fetch", &mut relay.moql(args)).await;
        if output.status.code() != Some(4) || tokio::time::Instant::now() > deadline {
            return output;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_with_the_reason() {
    // clap's own.
    let output = run("moql --bogus", &mut moql(&["--bogus"])).await;
    assert_eq!(output.status.code(), Some(2));
    // No URL anywhere.
    let output = run("moql subscribe", &mut moql(&["subscribe", "demo", "t"])).await;
    assert_failed(&output, 2, "no relay URL");
    // A URL the client cannot dial, a fingerprint that is not one, a group that is no number.
    let output = run("ftp", &mut moql(&["announced", "ftp://127.0.0.1:1/"])).await;
    assert_failed(&output, 2, "unsupported URL scheme \"ftp\"");
    let mut command = moql(&["announced", "moql://127.0.0.1:1/"]);
    command.env("MOQL_TLS_FINGERPRINT", "abc");
    assert_failed(
        &run("bad fingerprint", &mut command).await,
        2,
        "fingerprint",
    );
    let output = run(
        "fetch x",
        &mut moql(&["fetch", "moql://h:1/", "b", "t", "x"]),
    )
    .await;
    assert_failed(&output, 2, "invalid GROUP \"x\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_failures_exit_3_in_words() {
    // Nothing listens on this TCP port: refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("tcp://127.0.0.1:{port}/");
    let output = run("refused", &mut moql(&["announced", &url, "--once"])).await;
    assert_failed(&output, 3, "refused");

    // A certificate that is not the pinned one: the TLS handshake fails.
    let relay = TestRelay::open().await;
    let mut command = relay.moql(&["announced", &relay.url, "--once"]);
    command.env("MOQL_TLS_FINGERPRINT", "00".repeat(32));
    let output = run("wrong fingerprint", &mut command).await;
    assert_failed(&output, 3, "handshake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_broadcasts_tracks_and_groups_exit_4() {
    let relay = TestRelay::open().await;
    let (mut child, stdin) = publisher(&relay, "demo/nf", &[b"zero"], 1).await;
    let output = fetch_when_there(&relay, &["fetch", &relay.url, "demo/nf", "t", "0"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    let url = relay.url.as_str();
    let output = run(
        "group 42",
        &mut relay.moql(&["fetch", url, "demo/nf", "t", "42"]),
    )
    .await;
    assert_failed(&output, 4, "group 42 not found");
    let output = run(
        "no track",
        &mut relay.moql(&["fetch", url, "demo/nf", "u", "0"]),
    )
    .await;
    assert_failed(&output, 4, "demo/nf/u");
    let args = ["fetch", url, "demo/absent", "t", "0", "--wait-ms", "300"];
    let output = run("no broadcast", &mut relay.moql(&args)).await;
    assert_failed(&output, 4, "\"demo/absent\" was not announced");
    let args = ["subscribe", url, "demo/absent", "t", "--wait-ms", "300"];
    let output = run("subscribe absent", &mut relay.moql(&args)).await;
    assert_failed(&output, 4, "not announced");

    drop(stdin);
    let status = within("the publisher", child.wait()).await.expect("wait");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_exits_5_and_moql_jwt_is_sent() {
    let secret = generate_hs256_secret();
    let relay = TestRelay::with_secret(&secret).await;
    let url = relay.url.as_str();
    for command in ["announced", "subscribe", "fetch", "publish"] {
        let args: &[&str] = match command {
            "announced" => &["announced", url, "--once"],
            "subscribe" => &["subscribe", url, "demo/x", "t"],
            // Empty stdin: the input ends before the refusal arrives.
            "publish" => &["publish", url, "demo/x"],
            _ => &["fetch", url, "demo/x", "t", "0"],
        };
        let output = run("no token", &mut relay.moql(args)).await;
        assert_failed(&output, 5, "code 6");
    }
    // A token signed with another key.
    let mut forged = relay.moql(&["announced", url, "--once"]);
    forged.env("MOQL_JWT", token(&generate_hs256_secret()));
    assert_failed(&run("forged token", &mut forged).await, 5, "code 6");

    // The right token in MOQL_JWT (never on the command line) is accepted.
    let mut granted = relay.moql(&["announced", url, "--once"]);
    granted.env("MOQL_JWT", token(&secret));
    let output = run("granted", &mut granted).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    // --jwt wins over MOQL_JWT.
    let good = token(&secret);
    let mut flag = relay.moql(&["--jwt", &good, "announced", url, "--once"]);
    flag.env("MOQL_JWT", "not-a-token");
    let output = run("--jwt over MOQL_JWT", &mut flag).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_failures_exit_1_in_words() {
    let args = [
        "publish",
        "moql://127.0.0.1:1/",
        "demo/f",
        "--file",
        "/nonexistent/moql",
    ];
    let output = run("missing file", &mut moql(&args)).await;
    assert_failed(&output, 1, "/nonexistent/moql");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_exit_codes_and_variables_but_never_the_token() {
    let mut command = moql(&["--help"]);
    command
        .env("MOQL_JWT", "secret-token-value")
        .env("MOQL_URL", "moql://h/?jwt=secret-in-url");
    let output = run("--help", &mut command).await;
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("UTF-8");
    for needle in [
        "Exit codes:",
        "2  usage",
        "3  network",
        "4  not found",
        "5  auth refused",
        "MOQL_URL",
        "MOQL_JWT",
        "MOQL_TLS_FINGERPRINT",
    ] {
        assert!(help.contains(needle), "{needle:?} in\n{help}");
    }
    assert!(!help.contains("secret"), "a secret in\n{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variables_stand_in_for_flags_and_flags_win() {
    let relay = TestRelay::open().await;
    let (mut child, stdin) = publisher(&relay, "demo/env", &[b"e0"], 1).await;
    // URL, fingerprint and broadcast from the environment: no flag, no URL argument.
    let mut command = relay.moql(&["fetch", "demo/env", "t", "0", "--raw"]);
    command.env("MOQL_URL", &relay.url);
    let deadline = tokio::time::Instant::now() + WAIT;
    let output = loop {
        let output = run("fetch via MOQL_URL", &mut command).await;
        if output.status.code() != Some(4) || tokio::time::Instant::now() > deadline {
            break output;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (output.status.code(), output.stdout.as_slice()),
        (Some(0), &b"e0"[..])
    );

    // A URL argument wins over MOQL_URL (which points nowhere).
    let mut command = relay.moql(&["fetch", &relay.url, "demo/env", "t", "0", "--raw"]);
    command.env("MOQL_URL", "moql://127.0.0.1:1/");
    let output = run("URL argument over MOQL_URL", &mut command).await;
    assert_eq!(
        (output.status.code(), output.stdout.as_slice()),
        (Some(0), &b"e0"[..])
    );
    // --url too, and --tls-fingerprint over a wrong MOQL_TLS_FINGERPRINT.
    let args = [
        "--url",
        &relay.url,
        "--tls-fingerprint",
        &relay.fingerprint,
        "fetch",
        "demo/env",
        "t",
        "0",
        "--raw",
    ];
    let mut command = relay.moql(&args);
    command
        .env("MOQL_URL", "moql://127.0.0.1:1/")
        .env("MOQL_TLS_FINGERPRINT", "00".repeat(32));
    let output = run("flags over variables", &mut command).await;
    assert_eq!(
        (output.status.code(), output.stdout.as_slice()),
        (Some(0), &b"e0"[..])
    );

    drop(stdin);
    assert!(
        within("the publisher", child.wait())
            .await
            .expect("wait")
            .success()
    );
}

/// Parses every line of `stdout` as a JSON object.
fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8(stdout.to_vec())
        .expect("UTF-8 output")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{line:?}: {err}")))
        .collect()
}

/// Asserts `value` is frame `index` of group `group` with `payload`, as text when it is UTF-8.
fn assert_frame(
    value: &serde_json::Value,
    broadcast: &str,
    group: u64,
    index: u64,
    payload: &[u8],
) {
    assert_eq!(value["broadcast"], broadcast, "{value}");
    assert_eq!(value["track"], "t", "{value}");
    assert_eq!(value["group"], group, "{value}");
    assert_eq!(value["frame"], index, "{value}");
    assert_eq!(value["size"], payload.len(), "{value}");
    match std::str::from_utf8(payload) {
        Ok(text) => {
            assert_eq!(value["encoding"], "text", "{value}");
            assert_eq!(value["payload"], text, "{value}");
        }
        Err(_) => {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
            assert_eq!(value["encoding"], "base64", "{value}");
            assert_eq!(value["payload"], encoded, "{value}");
        }
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    let received = value["timestamp_ms"].as_u64().expect("timestamp_ms");
    assert!(received <= now_ms && now_ms - received < 60_000, "{value}");
    let rfc3339 = value["timestamp"].as_str().expect("timestamp");
    assert!(rfc3339.len() == 24 && rfc3339.ends_with('Z'), "{value}");
    assert!(value["pts"].is_u64(), "{value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_carry_each_frame_and_event() {
    let relay = TestRelay::open().await;
    let mut watcher = relay
        .moql(&["announced", &relay.url, "demo", "--json"])
        .spawn()
        .expect("spawn announced");
    let mut events = BufReader::new(watcher.stdout.take().expect("stdout")).lines();

    let frames: [&[u8]; 4] = [
        b"hello",
        b"line\nbreak \"quoted\"",
        b"\xff\xfe\x00binary",
        b"",
    ];
    let (mut child, stdin) = publisher(&relay, "demo/json", &frames, 2).await;
    let event = within("the announce event", events.next_line())
        .await
        .expect("read")
        .expect("a line");
    let event: serde_json::Value = serde_json::from_str(&event).expect("JSON");
    assert_eq!(
        (event["event"].as_str(), event["broadcast"].as_str()),
        (Some("announce"), Some("demo/json"))
    );
    assert!(
        event["timestamp_ms"].is_u64() && event["timestamp"].is_string(),
        "{event}"
    );

    // Group 1 (frames 2 and 3) by FETCH.
    let args = ["fetch", &relay.url, "demo/json", "t", "1", "--json"];
    let output = fetch_when_there(&relay, &args).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_frame(&lines[0], "demo/json", 1, 0, frames[2]);
    assert_frame(&lines[1], "demo/json", 1, 1, frames[3]);

    // Everything by SUBSCRIBE from group 0; it ends with the track.
    let args = [
        "subscribe",
        &relay.url,
        "demo/json",
        "t",
        "--start-group",
        "0",
        "--json",
    ];
    let mut subscriber = relay.moql(&args).spawn().expect("spawn subscriber");
    let mut out = BufReader::new(subscriber.stdout.take().expect("stdout")).lines();
    let mut text = Vec::new();
    while text.len() < frames.len() {
        let line = within("a frame line", out.next_line()).await.expect("read");
        text.push(line.expect("a line before the subscriber exits"));
    }
    drop(stdin);
    assert!(
        within("the publisher", child.wait())
            .await
            .expect("wait")
            .success()
    );
    let status = within("the subscriber", subscriber.wait())
        .await
        .expect("wait");
    assert!(status.success());
    let rest = within("the end of output", out.next_line())
        .await
        .expect("read");
    assert_eq!(rest, None, "nothing after the frames");
    let lines = json_lines(text.join("\n").as_bytes());
    for (i, (line, payload)) in lines.iter().zip(frames).enumerate() {
        assert_frame(line, "demo/json", i as u64 / 2, i as u64 % 2, payload);
    }
    let pts: Vec<u64> = lines
        .iter()
        .map(|l| l["pts"].as_u64().expect("pts"))
        .collect();
    assert!(pts.windows(2).all(|w| w[0] <= w[1]), "{pts:?}");

    let event = within("the unannounce event", events.next_line())
        .await
        .expect("read")
        .expect("a line");
    let event: serde_json::Value = serde_json::from_str(&event).expect("JSON");
    assert_eq!(
        (event["event"].as_str(), event["broadcast"].as_str()),
        (Some("unannounce"), Some("demo/json"))
    );
}

/// Logs on a pipe are plain text: no ANSI colour codes when stderr is not a terminal (as
/// `moql-relay` does), so scripts and log collectors read words, not escape sequences.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_on_a_pipe_carry_no_colour_codes() {
    let relay = TestRelay::open().await;
    let mut command = relay.moql(&["--log", "debug", "announced", &relay.url, "--once"]);
    let output = run("announced with debug logs", &mut command).await;
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("DEBUG"),
        "expected debug log lines on stderr, got: {stderr}"
    );
    assert!(
        !stderr.contains('\x1b'),
        "colour codes on a pipe: {stderr:?}"
    );
}
