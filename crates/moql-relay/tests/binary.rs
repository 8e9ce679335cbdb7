//! The real `moql-relay` binary: starts with no config file, serves a session, and on SIGTERM
//! sends GOAWAY and exits 0; `token` subcommands produce keys and tokens the relay accepts.

use std::process::Stdio;
use std::time::Duration;

use moql_model::OriginProducer;
use moql_native::{Client, ClientConfig, ClientTls};
use moql_session::{Session, SessionConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(20);

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test]
async fn the_binary_serves_and_exits_0_after_goaway_on_sigterm() {
    let (mut child, addr, fingerprint) = start_relay().await;
    assert_eq!(fingerprint.len(), 64);

    let config = SessionConfig::new().with_subscribe(OriginProducer::new());
    let session = dial(
        &format!("moql://127.0.0.1:{}/", addr.port()),
        &fingerprint,
        config,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    sigterm(&child);
    let goaway = within("GOAWAY", session.goaway_received()).await;
    assert_eq!(goaway.as_deref(), Some(""));
    let status = within("the relay to exit", child.wait()).await.unwrap();
    assert!(status.success(), "exit status {status:?}");
}

/// `goaway_url`: the GOAWAY on shutdown points clients at another relay.
#[tokio::test]
async fn the_goaway_on_sigterm_carries_the_configured_url() {
    let config = std::env::temp_dir().join(format!("moql-goaway-{}.toml", std::process::id()));
    std::fs::write(&config, "goaway_url = \"moql://other.example:4443/\"\n").unwrap();
    let (mut child, _, addr, fingerprint, _admin) =
        spawn_relay(&[("MOQL_RELAY_CONFIG", config.as_os_str())]).await;
    let subscribe = SessionConfig::new().with_subscribe(OriginProducer::new());
    let url = format!("moql://127.0.0.1:{}/", addr.port());
    let session = dial(&url, &fingerprint, subscribe).await;
    sigterm(&child);
    let goaway = within("GOAWAY", session.goaway_received()).await;
    assert_eq!(goaway.as_deref(), Some("moql://other.example:4443/"));
    let status = within("the relay to exit", child.wait()).await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    let _ = std::fs::remove_file(config);
}

/// Dials `url`, starts a session with `config` and waits until the relay's SETUP arrived.
async fn dial(url: &str, fingerprint: &str, mut config: SessionConfig) -> Session {
    let client = Client::new(ClientConfig::new(ClientTls::Fingerprints(vec![
        fingerprint.to_string(),
    ])))
    .unwrap();
    let connected = within("the connection", client.connect(url)).await.unwrap();
    config.setup_path = connected.setup_path.clone();
    let session = Session::connect(connected.session, connected.version, config)
        .await
        .unwrap();
    within("the relay's SETUP", async {
        while session.peer_setup().is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    session
}

/// Starts the binary on an ephemeral loopback port: the child, its address and fingerprint.
async fn start_relay() -> (tokio::process::Child, std::net::SocketAddr, String) {
    let (child, _, addr, fingerprint, _) = spawn_relay(&[]).await;
    (child, addr, fingerprint)
}

/// Sends SIGTERM to `child`.
fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// Stdout lines after the first.
type StdoutLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// [`start_relay`] with extra environment variables, keeping the rest of stdout.
async fn spawn_relay(
    envs: &[(&str, &std::ffi::OsStr)],
) -> (
    tokio::process::Child,
    StdoutLines,
    std::net::SocketAddr,
    String,
    std::net::SocketAddr,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moql-relay"))
        .args(["--bind", "127.0.0.1:0", "--log", "warn"])
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the relay starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within("the listening line", lines.next_line())
        .await
        .unwrap()
        .expect("a line");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "listening", "{line}");
    let (addr, fingerprint) = (words[1].parse().unwrap(), words[3].to_string());
    assert_eq!(words.get(4), Some(&"admin"), "{line}");
    let admin = words[5].parse().unwrap();
    (child, lines, addr, fingerprint, admin)
}

/// A browser keeps its session through GOAWAY (@moq/net only logs it), so the relay closes it
/// when the drain ends. That close must reach a WebTransport peer as a session close with the
/// relay's code and reason (the CLOSE_WEBTRANSPORT_SESSION capsule), not as a lost connection:
/// the relay must not close its endpoint and exit before the capsule is sent.
#[tokio::test]
async fn a_webtransport_session_that_stays_through_goaway_is_closed_cleanly_on_exit() {
    let (mut child, addr, fingerprint) = start_relay().await;
    // No subscribe origin, so no announce stream of ours whose reset (the relay's tasks end
    // as it closes) could race the close and end the session first.
    let session = dial(
        &format!("https://127.0.0.1:{}/", addr.port()),
        &fingerprint,
        SessionConfig::new(),
    )
    .await;

    sigterm(&child);
    within("GOAWAY", session.goaway_received()).await;
    // Stay: the relay closes us after its drain (2 s by default).
    let err = within("the relay's close", session.closed()).await;
    assert!(
        matches!(&err, moql_session::SessionError::Closed { reason, .. } if reason == "relay shutting down"),
        "closed by {err:?}"
    );
    let status = within("the relay to exit", child.wait()).await.unwrap();
    assert!(status.success(), "exit status {status:?}");
}

async fn token(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_moql-relay"))
        .arg("token")
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

/// `token key` writes the private JWK with mode 0600 and the public one beside it, printing
/// neither; `token sign` reads the key from a file or an environment variable; `token
/// verify` prints the claims or exits 1 with the reason; the relay accepts the tokens with
/// the public file as its key.
#[tokio::test]
async fn token_subcommands_make_keys_and_tokens_the_relay_accepts() {
    let dir = tempfile::tempdir().unwrap();
    for alg in ["es256", "eddsa", "hs256"] {
        let out = dir.path().join(format!("{alg}.jwk"));
        let out_text = out.to_str().unwrap();
        let key = token(&["key", "--alg", alg, "--out", out_text, "--kid", alg], &[]).await;
        assert!(
            key.status.success(),
            "{}",
            String::from_utf8_lossy(&key.stderr)
        );
        let private = std::fs::read_to_string(&out).unwrap();
        let stdout = String::from_utf8(key.stdout).unwrap();
        assert!(
            !stdout.contains(&private[..20]) && !stdout.contains("\"d\""),
            "{stdout}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{alg}: the private key is owner-only");
        }
        let relay_key = if alg == "hs256" {
            out.clone()
        } else {
            let public = dir.path().join(format!("{alg}.pub.jwk"));
            assert!(!std::fs::read_to_string(&public).unwrap().contains("\"d\""));
            public
        };
        // It refuses to overwrite a key.
        assert!(
            !token(&["key", "--alg", alg, "--out", out_text], &[])
                .await
                .status
                .success()
        );

        let grants = ["--root", "room", "--publish", "alice", "--subscribe", ""];
        let by_file = token(
            &[&["sign", "--key", out_text][..], &grants[..]].concat(),
            &[],
        )
        .await;
        assert!(
            by_file.status.success(),
            "{}",
            String::from_utf8_lossy(&by_file.stderr)
        );
        let by_env = token(
            &[&["sign", "--key-env", "MOQL_TEST_KEY"][..], &grants[..]].concat(),
            &[("MOQL_TEST_KEY", private.as_str())],
        )
        .await;
        assert!(
            by_env.status.success(),
            "{}",
            String::from_utf8_lossy(&by_env.stderr)
        );

        let auth = moql_relay::Auth::new(&moql_relay::AuthConfig {
            jwk_files: vec![relay_key.clone()],
            ..moql_relay::AuthConfig::default()
        })
        .unwrap();
        for signed in [&by_file, &by_env] {
            let jwt = String::from_utf8(signed.stdout.clone())
                .unwrap()
                .trim()
                .to_string();
            let grant = auth
                .authorize(&format!("/room?jwt={jwt}"))
                .expect("the relay accepts it");
            assert_eq!(grant.root.as_str(), "room");
            let verified = token(
                &[
                    "verify",
                    "--key",
                    relay_key.to_str().unwrap(),
                    "--token-env",
                    "T",
                ],
                &[("T", jwt.as_str())],
            )
            .await;
            assert!(
                verified.status.success(),
                "{}",
                String::from_utf8_lossy(&verified.stderr)
            );
            let claims: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
            assert_eq!(claims["put"], serde_json::json!(["alice"]), "{alg}");
        }
        assert!(auth.authorize("/room").is_err(), "and refuses no token");
    }
    // A token some other key signed: exit 1 and the reason on stderr.
    let other = dir.path().join("other.jwk");
    token(
        &["key", "--alg", "es256", "--out", other.to_str().unwrap()],
        &[],
    )
    .await;
    let foreign = token(
        &["sign", "--key", other.to_str().unwrap(), "--subscribe", ""],
        &[],
    )
    .await;
    let jwt = String::from_utf8(foreign.stdout)
        .unwrap()
        .trim()
        .to_string();
    let refused = token(
        &[
            "verify",
            "--key",
            dir.path().join("es256.pub.jwk").to_str().unwrap(),
            &jwt,
        ],
        &[],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("token refused"));
}

/// A relay whose HS256 secret comes from an environment variable (`secret_env`) accepts a
/// token signed with that secret over a real connection, and refuses a session without one.
#[tokio::test]
async fn a_relay_reads_its_secret_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let secret = moql_relay::auth::generate_hs256_secret();
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        "[auth]\n[[auth.keys]]\nalg = \"HS256\"\nsecret_env = \"MOQL_TEST_SECRET\"\n",
    )
    .unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, &secret).unwrap();
    let signed = token(
        &[
            "sign",
            "--key",
            secret_file.to_str().unwrap(),
            "--root",
            "room",
            "--subscribe",
            "",
        ],
        &[],
    )
    .await;
    let jwt = String::from_utf8(signed.stdout).unwrap().trim().to_string();
    let (_child, _lines, addr, fingerprint, _admin) = spawn_relay(&[
        ("MOQL_RELAY_CONFIG", config.as_os_str()),
        ("MOQL_TEST_SECRET", std::ffi::OsStr::new(&secret)),
    ])
    .await;
    let url = format!("moql://127.0.0.1:{}/room?jwt={jwt}", addr.port());
    let config = SessionConfig::new().with_subscribe(OriginProducer::new());
    let session = dial(&url, &fingerprint, config).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        session.close_reason().is_none(),
        "the token's session stays open"
    );
    // Without a token: closed with 6, with or without the relay's SETUP first.
    let client = Client::new(ClientConfig::new(ClientTls::Fingerprints(vec![
        fingerprint,
    ])))
    .unwrap();
    let connected = within(
        "the connection",
        client.connect(&format!("moql://127.0.0.1:{}/room", addr.port())),
    )
    .await
    .unwrap();
    let mut config = SessionConfig::new().with_subscribe(OriginProducer::new());
    config.setup_path = connected.setup_path.clone();
    let err = match Session::connect(connected.session, connected.version, config).await {
        Ok(anonymous) => within("the refusal", anonymous.closed()).await,
        Err(err) => err,
    };
    assert_eq!(err.code(), moql_wire::ErrorCode::UNAUTHORIZED, "{err}");
}

/// A value that cannot be a duration stops the binary at start with exit status 1 and a
/// message naming the key, instead of a panic (at start, or at shutdown for `drain_seconds`).
#[tokio::test]
async fn a_config_value_that_is_no_duration_exits_1_naming_the_key() {
    let dir = std::env::temp_dir().join(format!("moql-relay-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("relay.toml");
    std::fs::write(&file, "drain_seconds = nan\n").unwrap();
    let cases: [(Vec<String>, &str); 2] = [
        (
            vec!["--config".into(), file.display().to_string()],
            "drain_seconds",
        ),
        (
            vec!["--cache-max-latency".into(), "1e300".into()],
            "max_latency_seconds",
        ),
    ];
    for (args, key) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_moql-relay"));
        command
            .args(["--bind", "127.0.0.1:0", "--log", "warn"])
            .args(&args)
            .kill_on_drop(true);
        let output = within("the relay to refuse its config", command.output())
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(key), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Started under a low open-file soft limit (a common 1024; here 256), the relay raises it to
/// the hard limit, so ~1000 HTTP clients cannot exhaust its descriptors.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_binary_raises_its_open_file_soft_limit_to_the_hard_limit() {
    let mut child = Command::new("sh")
        .args([
            "-c",
            r#"ulimit -Sn 256 && exec "$0" --bind 127.0.0.1:0 --log warn"#,
            env!("CARGO_BIN_EXE_moql-relay"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the relay starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within("the listening line", lines.next_line())
        .await
        .unwrap()
        .expect("a line");
    assert!(line.starts_with("listening"), "{line}");
    let pid = child.id().expect("running");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .expect("a Max open files line")
        .split_whitespace()
        .collect();
    assert_ne!(
        open_files[0], "256",
        "the soft limit was not raised: {open_files:?}"
    );
    assert_eq!(open_files[0], open_files[1], "soft = hard: {open_files:?}");
    child.kill().await.unwrap();
}

/// Under systemd (`Type=notify`, `dist/moql-relay.service`) the relay says READY=1 once it
/// listens, and STOPPING=1 when SIGTERM starts the drain; stdout's second line says where a
/// client and a browser connect.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_binary_notifies_systemd_when_ready_and_when_stopping() {
    let dir = std::env::temp_dir().join(format!("moql-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();

    let (mut child, mut lines, addr, _, _) =
        spawn_relay(&[("NOTIFY_SOCKET", socket_path.as_os_str())]).await;
    let port = addr.port();
    let paste = within("the paste line", lines.next_line())
        .await
        .unwrap()
        .expect("a second line");
    assert_eq!(
        paste,
        format!("connect: https://localhost:{port}/ · browser: http://localhost:{port}/")
    );

    let mut buf = [0u8; 256];
    let n = within("READY=1", socket.recv(&mut buf)).await.unwrap();
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "READY=1\n");

    sigterm(&child);
    let n = within("STOPPING=1", socket.recv(&mut buf)).await.unwrap();
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "STOPPING=1\n");
    let status = within("the relay to exit", child.wait()).await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The admin listener answers `/health` while the process runs and `/ready` while sessions are
/// accepted: after SIGTERM, with a session still open through the drain, `/ready` turns 503
/// while `/health` stays 200. `/metrics` is there, and not on the public port.
#[tokio::test]
async fn ready_turns_503_on_sigterm_while_health_stays_200_through_the_drain() {
    let (mut child, _, addr, fingerprint, admin) = spawn_relay(&[]).await;
    assert!(admin.ip().is_loopback(), "{admin}");
    assert_eq!(status(admin, "/health").await, 200);
    // Ready once the accept loop runs, a moment after the listening line.
    within("/ready to turn 200", async {
        while status(admin, "/ready").await != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(status(admin, "/metrics").await, 200);
    assert_eq!(status(addr, "/metrics").await, 404);

    // A session that stays through GOAWAY keeps the relay draining (2 s by default).
    let config = SessionConfig::new().with_subscribe(OriginProducer::new());
    let session = dial(
        &format!("moql://127.0.0.1:{}/", addr.port()),
        &fingerprint,
        config,
    )
    .await;
    sigterm(&child);
    within("GOAWAY", session.goaway_received()).await;
    within("/ready to turn 503", async {
        while status(admin, "/ready").await != 503 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(status(admin, "/health").await, 200, "live while draining");
    assert!(child.try_wait().unwrap().is_none(), "still draining");
    let exit = within("the relay to exit", child.wait()).await.unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

/// The status of a plain HTTP/1.1 `GET target` at `addr`.
async fn status(addr: std::net::SocketAddr, target: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = within("the HTTP connection", tokio::net::TcpStream::connect(addr))
        .await
        .expect("tcp connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    within("the HTTP response", stream.read_to_end(&mut raw))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text}"))
}
