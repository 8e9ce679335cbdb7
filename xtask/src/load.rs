//! The relay load test of `cargo xtask bench`: a release `moql-relay` and `moql bench` with
//! one publisher fanned out to many subscribers, reporting loss, latency and the relay's CPU
//! time per delivered MB.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};

use crate::bench::number_after;
use crate::run::{build_binaries, relay_listening};

/// Runs the fan-out and returns its Markdown table.
pub(crate) fn relay_fanout(quick: bool) -> anyhow::Result<String> {
    let (subscribers, seconds) = if quick { (100, 10) } else { (500, 60) };
    build_binaries(true)?;
    let bin = PathBuf::from("target/release");
    let mut relay = Command::new(bin.join("moql-relay"))
        .args(["--bind", "127.0.0.1:0", "--log", "error", "--no-http"])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the release relay")?;
    let (port, fingerprint) = relay_listening(relay.stdout.take().context("relay stdout")?)?;
    let port = port.to_string();
    let pid = relay.id();

    let cpu_before = cpu_seconds(pid)?;
    let output = PathBuf::from("target/bench-relay.jsonl");
    let connections = (subscribers + 1).to_string();
    let status = Command::new(bin.join("moql"))
        .args([
            "bench",
            &format!("moql://127.0.0.1:{port}/"),
            "--tls-fingerprint",
            &fingerprint,
            "--connections",
            &connections,
            "--publishers",
            "1",
            "--broadcasts",
            "1",
            "--subscribe",
            "1",
            "--fps",
            "30",
            "--frame-size",
            "1200",
            "--group-frames",
            "30",
            "--duration",
            &seconds.to_string(),
            "--output",
        ])
        .arg(&output)
        .status()
        .context("running moql bench")?;
    let cpu = cpu_seconds(pid)? - cpu_before;
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(500));
    let _ = relay.kill();
    let _ = relay.wait();
    ensure!(status.success(), "moql bench failed: {status}");

    let text = std::fs::read_to_string(&output).context("reading the bench output")?;
    let summary = text
        .lines()
        .rev()
        .find(|l| l.contains("\"summary\""))
        .context("no summary line")?;
    let received_bytes = number_after(summary, "\"received\"", "\"bytes\":").unwrap_or(0.0);
    let received_groups = number_after(summary, "\"received\"", "\"groups\":").unwrap_or(0.0);
    let lost = number_after(summary, "\"groups_lost\"", ":").unwrap_or(f64::NAN);
    let p50 = number_after(summary, "\"latency_ms\"", "\"p50\":").unwrap_or(f64::NAN);
    let p99 = number_after(summary, "\"latency_ms\"", "\"p99\":").unwrap_or(f64::NAN);
    let max = number_after(summary, "\"latency_ms\"", "\"max\":").unwrap_or(f64::NAN);
    let mb = received_bytes / 1e6;
    let mut out = String::from("| relay fan-out (release, loopback) | value |\n|---|---:|\n");
    out.push_str(&format!(
        "| subscribers × seconds | {subscribers} × {seconds} |\n"
    ));
    out.push_str(&format!(
        "| groups received / lost | {received_groups} / {lost} |\n"
    ));
    out.push_str(&format!(
        "| latency p50 / p99 / max | {p50:.1} / {p99:.1} / {max:.1} ms |\n"
    ));
    out.push_str(&format!(
        "| delivered | {mb:.1} MB ({:.2} MB/s) |\n",
        mb / seconds as f64
    ));
    out.push_str(&format!(
        "| relay CPU | {cpu:.2} s ({:.3} s per delivered MB) |\n",
        if mb > 0.0 { cpu / mb } else { f64::NAN }
    ));
    Ok(out)
}

/// User + system CPU seconds of process `pid` (Linux `/proc/<pid>/stat`).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading /proc stat")?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit(')').next().context("stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11).context("utime")?.parse::<f64>()?
        + fields.get(12).context("stime")?.parse::<f64>()?;
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    Ok(ticks / hz)
}
