//! Certificate rotation under live traffic, with real processes: the built `moql-relay`
//! serving PEM files, `moql publish --clock` and `moql subscribe` clients pinning
//! fingerprints. The files are replaced while a subscriber is receiving; the relay picks the
//! new pair up by itself (`[tls] watch_seconds`), new clients must pin the new fingerprint,
//! and the live subscriber must not notice.
//!
//! The binaries are the ones `cargo test --workspace` builds next to this test's executable
//! (`target/<profile>/moql-relay`, `target/<profile>/moql`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Bound on every single wait.
const WAIT: Duration = Duration::from_secs(20);

/// The clock's tick: one frame every this many ms, one group per second.
const TICK_MS: u64 = 100;

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// A built binary of the workspace, next to this test's executable.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build -p moql-relay -p moql-cli` (cargo test --workspace does)",
        path.display()
    );
    path
}

/// A fresh self-signed pair for `localhost`/`127.0.0.1`, as PEM, and its fingerprint:
/// (certificate, key, fingerprint).
fn pem_pair() -> (String, String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("names");
    let cert = params.self_signed(&key).expect("self-signed");
    let fingerprint = moql_native::fingerprint_of(cert.der());
    (cert.pem(), key.serialize_pem(), fingerprint)
}

/// Writes the pair by renaming complete files into place, as certificate renewers do.
fn install(dir: &Path, (cert, key, _): &(String, String, String)) {
    for (name, text) in [("key.pem", key), ("cert.pem", cert)] {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).expect("write pem");
        std::fs::rename(&tmp, dir.join(name)).expect("rename pem");
    }
}

/// `moql --tls-fingerprint <pin> -q <args>`, killed on drop.
fn moql(pin: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binary("moql"));
    command
        .args(["--tls-fingerprint", pin, "-q"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Milliseconds of the day of a clock tick `2026-01-31T12:34:56.700Z`.
fn tick_ms(line: &str) -> u64 {
    let time = line
        .get(11..23)
        .unwrap_or_else(|| panic!("a clock tick: {line:?}"));
    let n = |r: std::ops::Range<usize>| time[r].parse::<u64>().expect("digits");
    ((n(0..2) * 60 + n(3..5)) * 60 + n(6..8)) * 1000 + n(9..12)
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>, what: &str) -> String {
    within(what, lines.next_line())
        .await
        .expect("read stdout")
        .unwrap_or_else(|| panic!("{what}: the subscriber ended"))
}

/// The built relay serving `dir`'s `cert.pem`/`key.pem`, checking the files every
/// `watch_seconds` (0: only on SIGHUP); asserts it serves `pin`. The process (killed on drop)
/// and its `moql://` URL.
async fn spawn_relay(dir: &Path, watch_seconds: f64, pin: &str) -> (Child, String) {
    let config = dir.join("relay.toml");
    std::fs::write(&config, format!("[tls]\nwatch_seconds = {watch_seconds}\n")).expect("config");
    let mut relay = Command::new(binary("moql-relay"))
        .arg("--config")
        .arg(&config)
        .args(["--bind", "127.0.0.1:0", "--public", "", "--no-http"])
        .arg("--tls-cert")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("key.pem"))
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn moql-relay");
    let mut out = BufReader::new(relay.stdout.take().expect("stdout")).lines();
    let first = next_line(&mut out, "the relay's listening line").await;
    // listening 127.0.0.1:PORT fingerprint HEX
    let words: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"listening"), "{first}");
    assert_eq!(words.get(3), Some(&pin), "serves the files: {first}");
    let url = format!("moql://{}/", words[1]);
    (relay, url)
}

/// SIGHUP reloads the files even with the change check off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old, new) = (pem_pair(), pem_pair());
    install(dir.path(), &old);
    let (relay, url) = spawn_relay(dir.path(), 0.0, &old.2).await;
    install(dir.path(), &new);
    let announced =
        |pin: &str| moql(pin, &["announced", &url, "--once", "--settle-ms", "100"]).output();
    // Not picked up by itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = within("moql announced", announced(&new.2))
        .await
        .expect("run moql");
    assert_eq!(
        before.status.code(),
        Some(3),
        "no reload without SIGHUP: {before:?}"
    );

    let pid = relay.id().expect("running relay").to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(hup.success());
    let after = within("a client pinning the new fingerprint", async {
        loop {
            let out = announced(&new.2).await.expect("run moql");
            if out.status.code() != Some(3) {
                return out;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(after.status.success(), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificate_files_serve_new_clients_and_keep_the_live_subscriber() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = pem_pair();
    let new = pem_pair();
    let (old_pin, new_pin) = (old.2.clone(), new.2.clone());
    install(dir.path(), &old);
    let (_relay, url) = spawn_relay(dir.path(), 0.2, &old_pin).await;

    let _publisher = moql(
        &old_pin,
        &[
            "publish",
            &url,
            "demo/clock",
            "--track",
            "clock",
            "--clock",
            "--tick-ms",
            &TICK_MS.to_string(),
        ],
    )
    .spawn()
    .expect("spawn publisher");
    let mut subscriber = moql(
        &old_pin,
        &[
            "subscribe",
            &url,
            "demo/clock",
            "clock",
            "--wait-ms",
            "10000",
        ],
    )
    .spawn()
    .expect("spawn subscriber");
    let mut lines = BufReader::new(subscriber.stdout.take().expect("stdout")).lines();

    // Steady state first: the normal spacing of ticks on this machine.
    let mut arrivals: Vec<(Instant, u64)> = Vec::new();
    for _ in 0..10 {
        let line = next_line(&mut lines, "a tick before the rotation").await;
        arrivals.push((Instant::now(), tick_ms(&line)));
    }
    let before = arrivals.len();

    install(dir.path(), &new);
    let rotated = Instant::now();

    // A client pinning the new fingerprint gets in once the relay has reloaded (it polls
    // every 0.2 s): retried until then, within the wait.
    let connected = within("a client pinning the new fingerprint", async {
        loop {
            let probe = moql(
                &new_pin,
                &[
                    "subscribe",
                    &url,
                    "demo/clock",
                    "clock",
                    "--wait-ms",
                    "2000",
                ],
            )
            .spawn()
            .expect("spawn probe");
            let mut probe_lines = BufReader::new(probe.stdout.expect("stdout")).lines();
            let got = tokio::time::timeout(Duration::from_secs(3), probe_lines.next_line()).await;
            if let Ok(Ok(Some(line))) = got {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let reload_ms = rotated.elapsed().as_millis();
    tick_ms(&connected);

    // One pinning the old fingerprint is refused now (exit code 3: network / TLS).
    let refused = within(
        "a client pinning the old fingerprint",
        moql(&old_pin, &["subscribe", &url, "demo/clock", "clock"]).output(),
    )
    .await
    .expect("run moql");
    assert_eq!(
        refused.status.code(),
        Some(3),
        "old pin refused: {refused:?}"
    );

    // The live subscriber kept going through all of it.
    for _ in 0..10 {
        let line = next_line(&mut lines, "a tick after the rotation").await;
        arrivals.push((Instant::now(), tick_ms(&line)));
    }
    let gaps: Vec<u128> = arrivals
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_millis())
        .collect();
    let missing: u64 = arrivals
        .windows(2)
        .map(|w| (w[1].1.saturating_sub(w[0].1) / TICK_MS).saturating_sub(1))
        .sum();
    let seconds = |r: &[(Instant, u64)]| {
        r.iter()
            .map(|(_, t)| t / 1000)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let all = seconds(&arrivals);
    let lost_groups = (*all.first().unwrap()..=*all.last().unwrap())
        .filter(|s| !all.contains(s))
        .count();
    let steady = gaps[..before - 1].iter().max().copied().unwrap_or(0);
    let worst = gaps.iter().max().copied().unwrap_or(0);
    println!(
        "tls rotation: reload seen by a new client after {reload_ms} ms; live subscriber: \
         max gap {worst} ms (steady {steady} ms), {missing} ticks and {lost_groups} groups missed"
    );
    assert_eq!(missing, 0, "the live subscriber lost ticks: {arrivals:?}");
    assert_eq!(lost_groups, 0);
    // A tick is due every 100 ms; allow scheduling noise on a loaded machine, not a stall.
    assert!(worst < 1000, "a stall of {worst} ms under the rotation");
}

/// Generated certificate: a forced renewal (what the expiry check or SIGHUP does) changes
/// what `/certificate.sha256` serves, a client pinning the new one connects, and the session
/// made under the old one keeps carrying groups.
#[tokio::test]
async fn a_renewed_generated_certificate_changes_the_served_fingerprint_and_keeps_sessions() {
    use moql_model::Subscription;
    use support::relay::{TestRelay, produce, publish, read_group, wait_subscribed};

    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let subscriber = relay.client("https", "/").await;
    let (_broadcast, track) = publish(&publisher, "live");
    let remote = support::announced(&subscriber.received, "live").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    produce(&track, 0, 2);
    assert_eq!(read_group(&mut sub).await.0, 0);

    let (status, body) = support::http_get(relay.addr, "/certificate.sha256").await;
    assert_eq!(
        (status, body.as_slice()),
        (200, relay.fingerprint.as_bytes())
    );

    let renewed = within("the renewal", relay.tls.reload())
        .await
        .expect("renewed");
    assert_ne!(renewed, relay.fingerprint);
    let (status, body) = support::http_get(relay.addr, "/certificate.sha256").await;
    assert_eq!((status, body), (200, renewed.clone().into_bytes()));

    // The existing sessions go on.
    produce(&track, 1, 2);
    assert_eq!(
        read_group(&mut sub).await,
        (1, vec!["1:0".into(), "1:1".into()])
    );
    // New clients must pin the new certificate.
    let url = relay.url("moql", "/");
    support::client(&url, &renewed)
        .await
        .expect("the new pin connects");
    assert!(
        support::client(&url, &relay.fingerprint).await.is_err(),
        "the old pin is refused"
    );
}

/// Configured files: an unusable new pair (garbage, or a key of another certificate) is
/// refused and the previous certificate stays in service.
#[tokio::test]
async fn a_bad_new_pair_is_refused_and_the_old_certificate_stays() {
    use support::relay::TestRelay;

    let dir = tempfile::tempdir().expect("temp dir");
    let first = pem_pair();
    install(dir.path(), &first);
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let relay = TestRelay::start(|c| {
        c.tls.cert = Some(cert.clone());
        c.tls.key = Some(key.clone());
        c.tls.watch_seconds = 0.0;
    })
    .await;
    assert_eq!(relay.fingerprint, first.2);

    std::fs::write(&cert, "not a certificate").unwrap();
    assert!(relay.tls.reload().await.is_err(), "garbage refused");
    let other = pem_pair();
    std::fs::write(&cert, &first.0).unwrap();
    std::fs::write(&key, &other.1).unwrap();
    assert!(relay.tls.reload().await.is_err(), "mismatched key refused");
    assert_eq!(relay.tls.fingerprint(), first.2);
    support::client(&relay.url("moql", "/"), &first.2)
        .await
        .expect("the old certificate is still served");

    // And a good pair after that is taken.
    install(dir.path(), &other);
    assert_eq!(relay.tls.reload().await.expect("good pair"), other.2);
}
