//! The FETCH comparison of `cargo xtask bench`: `moql bench-fetch` against our release relay
//! and the released reference relay (when installed, see `cargo xtask interop --field`), side
//! by side in one run, plus our disk tier.
//!
//! Rows: cache-hit FETCH latency with one worker (p50/p99), fetches per second with eight
//! workers over the wire and over HTTP, and (ours only) fetches of groups that left the memory
//! cache and are read back from the disk tier, with the page cache dropped first when this
//! process may (root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};

use crate::bench::number_after;
use crate::field::install::CURRENT;
use crate::field::procs::Proc;
use crate::field::relays::{TheirOptions, TheirRelay};
use crate::run::{build_binaries, relay_listening};

/// One relay under test: its moq URL, HTTP base and certificate fingerprint.
struct Endpoint {
    url: String,
    http: String,
    fingerprint: String,
}

/// One `moql bench-fetch` summary.
#[derive(Clone, Copy, Default)]
struct Figures {
    per_second: f64,
    p50: f64,
    p99: f64,
    errors: f64,
}

/// The runs each relay gets: (label, extra `moql bench-fetch` arguments).
fn runs(quick: bool) -> Vec<(&'static str, Vec<String>)> {
    let secs = if quick { "3" } else { "10" };
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    vec![
        (
            "wire, 1 worker",
            args(&["--mode", "wire", "--concurrency", "1", "--duration", secs]),
        ),
        (
            "wire, 8 workers",
            args(&["--mode", "wire", "--concurrency", "8", "--duration", secs]),
        ),
        (
            "HTTP, 1 worker",
            args(&["--mode", "http", "--concurrency", "1", "--duration", secs]),
        ),
        (
            "HTTP, 8 workers",
            args(&["--mode", "http", "--concurrency", "8", "--duration", secs]),
        ),
    ]
}

/// Runs the comparison and returns its Markdown table.
pub(crate) fn fetch_compare(quick: bool) -> anyhow::Result<String> {
    build_binaries(true)?;
    std::fs::create_dir_all(crate::field::procs::log_dir())?;
    let work = PathBuf::from("target/bench-fetch");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;

    let ours = OurRelay::start(&work, None)?;
    let mut our_figures = Vec::new();
    for (label, args) in runs(quick) {
        our_figures.push((label, bench(&ours.endpoint, &args, &work)?));
    }
    drop(ours);

    let theirs = if CURRENT.installed(&CURRENT.relay) {
        let relay = TheirRelay::start(&CURRENT, "bench-fetch-reference", &TheirOptions::default())?;
        let endpoint = Endpoint {
            url: format!("moqt://127.0.0.1:{}/", relay.port),
            http: format!("http://127.0.0.1:{}", relay.port),
            fingerprint: relay.fingerprint.clone(),
        };
        let mut figures = Vec::new();
        for (_, args) in runs(quick) {
            figures.push(bench(&endpoint, &args, &work).unwrap_or_else(|err| {
                eprintln!("bench-fetch against the reference failed: {err:#}");
                Figures {
                    errors: f64::NAN,
                    ..Figures::default()
                }
            }));
        }
        drop(relay);
        Some(figures)
    } else {
        None
    };

    // The disk tier: groups past a 1 s memory window, each fetched once after 3 s.
    let disk = OurRelay::start(&work, Some(&work.join("disk")))?;
    let groups = if quick { "100" } else { "400" };
    let args: Vec<String> = [
        "--mode",
        "wire",
        "--concurrency",
        "1",
        "--once",
        "--groups",
        groups,
        "--frames",
        "30",
        "--settle",
        "3",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    // The groups reach the disk as the warm-up fetches them; drop the page cache 1.5 s into
    // the 3 s settle, so the measured reads come from the disk.
    let mut dropped = false;
    let disk_figures = bench_with(&disk.endpoint, &args, &work, || {
        std::thread::sleep(Duration::from_millis(1500));
        dropped = drop_page_cache();
    })?;
    drop(disk);

    let mut out = String::from(
        "\n| FETCH (release, loopback, cache hits) | moql-relay | moq-relay 0.17.10 | ratio |\n|---|---:|---:|---:|\n",
    );
    for (i, (label, ours)) in our_figures.iter().enumerate() {
        let theirs = theirs.as_ref().map(|t| t[i]);
        let cell = |f: Option<Figures>, pick: fn(&Figures) -> String| {
            f.map_or_else(|| "not installed".to_string(), |f| pick(&f))
        };
        out.push_str(&format!(
            "| {label}: fetches/s | {:.0} | {} | {} |\n",
            ours.per_second,
            cell(theirs, |f| format!("{:.0}", f.per_second)),
            theirs.map_or("—".into(), |t| format!(
                "{:.2}×",
                ours.per_second / t.per_second
            )),
        ));
        out.push_str(&format!(
            "| {label}: latency p50 / p99 | {:.3} / {:.3} ms | {} | {} |\n",
            ours.p50,
            ours.p99,
            cell(theirs, |f| format!("{:.3} / {:.3} ms", f.p50, f.p99)),
            theirs.map_or("—".into(), |t| format!("{:.2}× (p50)", t.p50 / ours.p50)),
        ));
        if ours.errors > 0.0 || theirs.is_some_and(|t| t.errors != 0.0) {
            out.push_str(&format!(
                "| {label}: errors | {} | {} | |\n",
                ours.errors,
                cell(theirs, |f| f.errors.to_string())
            ));
        }
    }
    out.push_str(&format!(
        "| disk tier: {groups} groups of 36 KB past a 1 s memory window, each fetched once{} | p50 {:.3} / p99 {:.3} ms | — | |\n",
        if dropped { ", page cache dropped" } else { " (page cache not dropped: not root)" },
        disk_figures.p50,
        disk_figures.p99,
    ));
    Ok(out)
}

/// A release `moql-relay` on a loopback port; with `disk`, a 1 s memory window and a disk
/// tier there.
struct OurRelay {
    proc: Proc,
    endpoint: Endpoint,
}

impl OurRelay {
    fn start(work: &Path, disk: Option<&Path>) -> anyhow::Result<Self> {
        let mut cmd = Command::new("target/release/moql-relay");
        cmd.args(["--bind", "127.0.0.1:0", "--log", "error"]);
        if let Some(dir) = disk {
            let config = work.join("relay-disk.toml");
            std::fs::write(
                &config,
                format!(
                    "[cache]\nmax_latency_seconds = 1\ndisk_dir = {:?}\n\n[[cache.disk]]\nprefix = \"\"\nmax_age = \"2h\"\nmax_bytes = \"1GiB\"\n",
                    dir.display().to_string()
                ),
            )?;
            cmd.arg("--config").arg(&config);
        }
        let mut proc = Proc::spawn("bench-fetch-moql-relay", cmd.stdout(Stdio::piped()))?;
        let stdout = proc.child.stdout.take().context("relay stdout")?;
        let (port, fingerprint) = relay_listening(stdout)?;
        Ok(Self {
            proc,
            endpoint: Endpoint {
                url: format!("moql://127.0.0.1:{port}/"),
                http: format!("http://127.0.0.1:{port}"),
                fingerprint,
            },
        })
    }
}

impl Drop for OurRelay {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.proc.child.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Runs `moql bench-fetch` against `endpoint` with `args`.
fn bench(endpoint: &Endpoint, args: &[String], work: &Path) -> anyhow::Result<Figures> {
    bench_with(endpoint, args, work, || ())
}

/// [`bench`], calling `after_warmup` once the bench reports its warm-up done (it settles
/// before measuring: `--settle`).
fn bench_with(
    endpoint: &Endpoint,
    args: &[String],
    work: &Path,
    after_warmup: impl FnOnce(),
) -> anyhow::Result<Figures> {
    let output = work.join("summary.jsonl");
    let _ = std::fs::remove_file(&output);
    let mut child = Command::new("target/release/moql")
        .args(["--tls-fingerprint", &endpoint.fingerprint, "bench-fetch"])
        .arg(&endpoint.url)
        .args(["--http-url", &endpoint.http])
        .args(args)
        .arg("--output")
        .arg(&output)
        .stderr(Stdio::piped())
        .spawn()
        .context("running moql bench-fetch")?;
    let stderr = child.stderr.take().context("bench-fetch stderr")?;
    let lines = crate::field::procs::lines(stderr);
    let mut hook = Some(after_warmup);
    for line in lines.iter() {
        eprintln!("{line}");
        if line.contains("published and fetched once")
            && let Some(hook) = hook.take()
        {
            hook();
        }
    }
    let status = child.wait()?;
    ensure!(
        status.success(),
        "moql bench-fetch {args:?} failed: {status}"
    );
    let text = std::fs::read_to_string(&output).context("reading the bench-fetch summary")?;
    let line = text.lines().last().context("no summary")?;
    Ok(Figures {
        per_second: number_after(line, "\"per_second\"", ":").unwrap_or(f64::NAN),
        p50: number_after(line, "\"latency_ms\"", "\"p50\":").unwrap_or(f64::NAN),
        p99: number_after(line, "\"latency_ms\"", "\"p99\":").unwrap_or(f64::NAN),
        errors: number_after(line, "\"errors\"", ":").unwrap_or(f64::NAN),
    })
}

/// Asks the kernel to drop clean page-cache pages (root only), so the disk tier's reads come
/// from the disk. Returns whether it could.
fn drop_page_cache() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "1").is_ok()
}
