//! Certificate rotation under live traffic, with real processes: the built `moql-relay`
//! serving PEM files, `moql publish --clock` and `moql subscribe` clients pinning
//! fingerprints. The files are replaced while a subscriber is receiving; the relay picks the
//! new pair up by itself (`[tls] watch_seconds`), new clients must pin the new fingerprint,
//! and the live subscriber must not notice.
//!
//! The binaries are the ones `cargo test --workspace` builds next to this test's executable
//! (`target/<profile>/moql-relay`, `target/<profile>/moql`).

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificate_files_serve_new_clients_and_keep_the_live_subscriber() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = pem_pair();
    let new = pem_pair();
    let (old_pin, new_pin) = (old.2.clone(), new.2.clone());
    install(dir.path(), &old);
    let config = dir.path().join("relay.toml");
    std::fs::write(&config, "[tls]\nwatch_seconds = 0.2\n").expect("config");

    let mut relay: Child = Command::new(binary("moql-relay"))
        .arg("--config")
        .arg(&config)
        .args(["--bind", "127.0.0.1:0", "--public", "", "--no-http"])
        .arg("--tls-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"))
        .env("RUST_LOG", "warn")
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
    assert_eq!(
        words.get(3),
        Some(&old_pin.as_str()),
        "serves the files: {first}"
    );
    let url = format!("moql://{}/", words[1]);

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
    drop(relay);
}
