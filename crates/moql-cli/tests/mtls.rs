//! A private CA and client certificates (issue 18), with real processes and the operator's
//! tools: `openssl` makes a CA, the relays' server certificate and client certificates; two
//! `moql-relay` processes form a cluster whose link authenticates with a client certificate
//! (mTLS) instead of a token; `moql` trusts the CA with `--tls-root` and presents a client
//! certificate with `--tls-cert` / `--tls-key`.
//!
//! Relay B has no public access and no token key: the only way in is a client certificate
//! from the cluster CA naming one of `peer_names`. Relay A is open, dials B with
//! `client_cert`, and publishes its origin there; a frame published on A and read on B proves
//! B granted A's certificate publishing.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

mod support;
use support::{relay, within};

/// A fresh directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moql-mtls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `openssl` with the whitespace-separated `args` in `dir`; panics with its stderr when it
/// fails.
fn openssl(dir: &Path, args: &str) {
    let args: Vec<&str> = args.split_whitespace().collect();
    let output = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(&args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether `openssl` is installed; under `CI=true` its absence fails the test instead.
fn have_openssl() -> bool {
    let found = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os("CI").is_none(),
        "openssl is required under CI"
    );
    found
}

/// A P-256 CA `name`.pem / `name`.key.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}.key \
             -out {name}.pem -days 2 -subj /CN={name} \
             -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
    );
}

/// A leaf `name`.pem / `name`.key signed by `ca`, with `extensions` (an openssl extfile).
fn issue(dir: &Path, ca: &str, name: &str, extensions: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), extensions).expect("extfile");
    openssl(
        dir,
        &format!(
            "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}.key \
             -out {name}.csr -subj /CN={name}"
        ),
    );
    openssl(
        dir,
        &format!(
            "x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial -days 2 \
             -out {name}.pem -extfile {name}.ext"
        ),
    );
}

/// A client certificate (client-auth usage) naming `name`.
fn client_cert(dir: &Path, ca: &str, name: &str) {
    issue(
        dir,
        ca,
        name,
        &format!("subjectAltName=DNS:{name}\nextendedKeyUsage=clientAuth\n"),
    );
}

/// A `moql-relay` process with the config file `config` (no HTTP, no admin listener); its
/// UDP port.
async fn relay_with(config: &Path) -> (Child, u16) {
    let config = config.display().to_string();
    relay(0, &["--no-http", "--no-admin", "--config", &config]).await
}

/// `moql` in `dir` with `args`, no inherited URL, token or trust variables.
fn moql(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moql"));
    command
        .current_dir(dir)
        .args(args)
        .env_remove("MOQL_URL")
        .env_remove("MOQL_JWT")
        .env_remove("MOQL_TLS_FINGERPRINT")
        .env_remove("MOQL_TLS_ROOT")
        .env_remove("MOQL_TLS_CERT")
        .env_remove("MOQL_TLS_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `moql subscribe` until it prints a frame (`Ok`) or exits (`Err(status, stderr)`).
async fn subscribe(dir: &Path, args: &[&str]) -> Result<(), (ExitStatus, String)> {
    let mut child = moql(dir, args).spawn().expect("spawn subscriber");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    if let Ok(Some(_)) = within("a frame or an exit", out.next_line()).await {
        let _ = child.kill().await;
        return Ok(());
    }
    let output = within("the exit", child.wait_with_output())
        .await
        .expect("wait");
    Err((
        output.status,
        String::from_utf8_lossy(&output.stderr).into(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_peers_authenticate_with_client_certificates_from_a_private_ca() {
    if !have_openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let dir = scratch("cluster");
    make_ca(&dir, "cluster-ca");
    make_ca(&dir, "rogue-ca");
    issue(
        &dir,
        "cluster-ca",
        "server",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    client_cert(&dir, "cluster-ca", "relay-a.cluster");
    client_cert(&dir, "cluster-ca", "monitor.cluster");
    client_cert(&dir, "cluster-ca", "viewer.example");
    client_cert(&dir, "rogue-ca", "relay-x.cluster");
    let path = |name: &str| dir.join(name).display().to_string();

    // B: nothing public, no token key; cluster peers by certificate only.
    let b_config = dir.join("b.toml");
    std::fs::write(
        &b_config,
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n\n[auth.public]\nsubscribe = []\npublish = []\n\n\
             [cluster]\npeer_roots = [{:?}]\npeer_names = [\"relay-a.cluster\", \"monitor.cluster\"]\n",
            path("server.pem"),
            path("server.key"),
            path("cluster-ca.pem"),
        ),
    )
    .expect("b.toml");
    let (_b, port_b) = relay_with(&b_config).await;

    // A: open to clients, dials B trusting the cluster CA and presenting its certificate.
    let a_config = dir.join("a.toml");
    std::fs::write(
        &a_config,
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n\n[cluster]\n\
             peers = [\"moql://localhost:{port_b}/\"]\nroots = [{:?}]\n\
             client_cert = {:?}\nclient_key = {:?}\n",
            path("server.pem"),
            path("server.key"),
            path("cluster-ca.pem"),
            path("relay-a.cluster.pem"),
            path("relay-a.cluster.key"),
        ),
    )
    .expect("a.toml");
    let (_a, port_a) = relay_with(&a_config).await;

    // A clock published on A, trusting the private CA by file.
    let url_a = format!("https://localhost:{port_a}/");
    let mut clock = moql(
        &dir,
        &["publish", &url_a, "demo", "--clock", "--track", "t"],
    )
    .args(["--tls-root", "cluster-ca.pem"])
    .spawn()
    .expect("spawn clock");

    // Read on B with a listed client certificate: A's certificate got A in as a publisher.
    let url_b = format!("moql://localhost:{port_b}/");
    let monitor = [
        "--tls-root",
        "cluster-ca.pem",
        "--tls-cert",
        "monitor.cluster.pem",
        "--tls-key",
        "monitor.cluster.key",
    ];
    let mut seen = Err((ExitStatus::default(), String::new()));
    for _ in 0..20 {
        let mut args = vec!["subscribe", url_b.as_str(), "demo", "t"];
        args.extend(monitor);
        seen = subscribe(&dir, &args).await;
        if seen.is_ok() {
            break;
        }
        // Not announced on B yet (A is still dialing): try again shortly.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(seen, Ok(()), "a frame from A through B");

    // A certificate from the cluster CA that peer_names does not list, and none at all: judged
    // by the token, which they lack: refused with 6 (exit 5).
    let viewer = [
        "--tls-cert",
        "viewer.example.pem",
        "--tls-key",
        "viewer.example.key",
    ];
    for extra in [&viewer[..], &[]] {
        let mut args = vec!["subscribe", url_b.as_str(), "demo", "t"];
        args.extend(["--tls-root", "cluster-ca.pem", "--no-reconnect"]);
        args.extend(extra);
        let (status, stderr) = subscribe(&dir, &args).await.expect_err("refused");
        assert_eq!(status.code(), Some(5), "{extra:?}: {stderr}");
    }

    // Another CA's client certificate fails the handshake (exit 3), as does trusting another
    // CA for the server.
    let mut args = vec!["subscribe", url_b.as_str(), "demo", "t"];
    args.extend(["--tls-root", "cluster-ca.pem", "--no-reconnect"]);
    args.extend([
        "--tls-cert",
        "relay-x.cluster.pem",
        "--tls-key",
        "relay-x.cluster.key",
    ]);
    let (status, stderr) = subscribe(&dir, &args).await.expect_err("refused");
    assert_eq!(status.code(), Some(3), "rogue client certificate: {stderr}");
    let mut args = vec!["subscribe", url_b.as_str(), "demo", "t"];
    args.extend(["--tls-root", "rogue-ca.pem", "--no-reconnect"]);
    args.extend(monitor[2..].iter().copied());
    let (status, stderr) = subscribe(&dir, &args).await.expect_err("refused");
    assert_eq!(status.code(), Some(3), "untrusted server: {stderr}");

    let _ = clock.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
