//! The real `moql` binary against a real `moql-relay` (issue 6): publish --clock, subscribe sees
//! ticks, announced lists the broadcast, fetch returns a past group byte-exact (checked against
//! the relay's HTTP `/fetch` of the same group), and the relay exits 0 on SIGTERM.
//!
//! Runs the debug binaries `cargo test --workspace` already built (it builds them first if not).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::run::{build_binaries, relay_listening};

/// Kills a child process when dropped, so a failing check leaves nothing running.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(name: &str) -> PathBuf {
    PathBuf::from("target/debug").join(name)
}

pub(crate) fn run() -> anyhow::Result<()> {
    build_binaries(false)?;
    let mut relay = Guard(
        Command::new(binary("moql-relay"))
            .args(["--bind", "127.0.0.1:0", "--log", "warn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting moql-relay")?,
    );
    let (port, fingerprint) = relay_listening(relay.0.stdout.take().context("relay stdout")?)?;
    let url = format!("moql://127.0.0.1:{port}/");
    let moql = |args: &[&str]| {
        let mut cmd = Command::new(binary("moql"));
        cmd.args(args)
            .args(["--tls-fingerprint", &fingerprint, "-q"]);
        cmd
    };

    let _publisher = Guard(
        moql(&[
            "publish",
            &url,
            "interop/clock",
            "--track",
            "clock",
            "--clock",
            "--tick-ms",
            "100",
        ])
        .stdout(Stdio::null())
        .spawn()
        .context("starting moql publish --clock")?,
    );

    // announced lists the broadcast.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = moql(&["announced", &url, "--once"]).output()?;
        if String::from_utf8_lossy(&out.stdout).contains("+ interop/clock") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "announced never listed interop/clock"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("interop: announced lists the broadcast");

    // subscribe sees ticks, over QUIC and over WebSocket (QMux on the relay's TCP port).
    let ws_url = format!("ws://127.0.0.1:{port}/");
    for sub_url in [&url, &ws_url] {
        let mut subscriber = Guard(
            moql(&["subscribe", sub_url, "interop/clock", "clock"])
                .stdout(Stdio::piped())
                .spawn()
                .context("starting moql subscribe")?,
        );
        let stdout = subscriber.0.stdout.take().context("subscriber stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut ticks = Vec::new();
        while ticks.len() < 5 {
            let tick = rx
                .recv_timeout(Duration::from_secs(10))
                .context("subscribe printed no tick for 10 s")?;
            ticks.push(tick);
        }
        ensure!(
            ticks.windows(2).all(|w| w[0] <= w[1]),
            "ticks out of order: {ticks:?}"
        );
        eprintln!(
            "interop: subscribe ({sub_url}) sees ticks ({} .. {})",
            ticks[0], ticks[4]
        );
        drop(subscriber);
    }

    // fetch returns a past group byte-exact: the CLI over QUIC and the relay's HTTP endpoint
    // must return the same bytes for a completed group.
    std::thread::sleep(Duration::from_millis(2200));
    let mut fetched = None;
    for group in 0..3u64 {
        let out = moql(&[
            "fetch",
            &url,
            "interop/clock",
            "clock",
            &group.to_string(),
            "--raw",
        ])
        .output()?;
        if out.status.success() && !out.stdout.is_empty() {
            fetched = Some((group, out.stdout));
            break;
        }
    }
    let (group, cli_bytes) = fetched.context("moql fetch returned none of groups 0..3")?;
    let (status, http_bytes) = http_get(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        &format!("/fetch/interop/clock/clock?group={group}"),
    )?;
    ensure!(status == 200, "HTTP /fetch answered {status}");
    ensure!(
        cli_bytes == http_bytes,
        "moql fetch and HTTP /fetch differ for group {group}"
    );
    let ws = moql(&[
        "fetch",
        &ws_url,
        "interop/clock",
        "clock",
        &group.to_string(),
        "--raw",
    ])
    .output()?;
    ensure!(
        ws.status.success() && ws.stdout == http_bytes,
        "moql fetch over WebSocket differs for group {group} ({:?})",
        ws.status
    );
    eprintln!(
        "interop: fetch of group {group} is byte-exact over QUIC, WebSocket and HTTP ({} bytes)",
        cli_bytes.len()
    );

    // A group that does not exist: exit code 4 (not found).
    let missing = moql(&["fetch", &url, "interop/clock", "clock", "999999"]).output()?;
    ensure!(
        missing.status.code() == Some(4),
        "fetch of a missing group exited {:?}",
        missing.status
    );

    // SIGTERM: GOAWAY, drain, exit 0.
    let pid = relay.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status()?;
    ensure!(killed.success(), "kill -TERM failed");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = relay.0.try_wait()? {
            ensure!(status.success(), "the relay exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            bail!("the relay did not exit within 15 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("interop: the relay exited 0 on SIGTERM");
    Ok(())
}

/// A plain HTTP/1.1 GET: (status, body). Handles chunked bodies.
pub(crate) fn http_get(addr: std::net::SocketAddr, target: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let mut body = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk")?;
        let size = usize::from_str_radix(std::str::from_utf8(&body[..end])?.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        let start = end + 2;
        out.extend_from_slice(body.get(start..start + size).context("short chunk")?);
        body = body.get(start + size + 2..).context("short chunk")?;
    }
}
