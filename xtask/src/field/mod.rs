//! `cargo xtask interop --field [--all]`: interop with the *released* reference
//! implementation (crates.io `moq-relay` and `moq-cli`, binary `moq`), over loopback.
//!
//! For each generation of the reference (`current`; with `--all` also `previous`) and for
//! each moq-lite version both it and we speak, the steps are:
//!
//! - their relay, our client: `moql publish --clock`, `announced`, `fetch` (compared
//!   with their relay's HTTP `/fetch`, and a group that never existed refused by both), and
//!   `subscribe` over raw QUIC, WebTransport and WebSocket ([`theirs`]);
//! - our relay, their client: `moq import fmp4` of an ffmpeg test pattern and `moq export
//!   fmp4`, checked with ffprobe; our HTTP `/fetch` of a group they published against their
//!   `moq fetch` of it ([`media`]);
//! - clusters: our relay dialing theirs and theirs dialing ours, a publisher on one, a
//!   subscriber and a FETCH of a past group on the other ([`cluster`]);
//! - tokens: ours through their relay (their auth server holding our public key) and theirs
//!   through ours ([`auth`]).
//!
//! Each version is forced on both sides (`moql --moq-version`, their `--connect-version` /
//! `--listen-version`), and the version their relay logs as negotiated is checked. The
//! reference binaries are installed on first use ([`install`]); logs of every process go to
//! `target/field-interop/`. docs/interop.md lists the steps and the known differences.

mod auth;
mod clients;
mod cluster;
pub(crate) mod install;
mod media;
pub(crate) mod procs;
pub(crate) mod relays;
mod theirs;

use std::time::{Duration, Instant};

use anyhow::bail;

use install::Generation;

/// The moq-lite versions our client and relay speak, most preferred first. Adding a version
/// here runs every step on it against each generation that speaks it too.
pub(crate) const OURS: &[&str] = &["moq-lite-06", "moq-lite-05", "moq-lite-04", "moq-lite-03"];

/// `interop --field` options.
pub(crate) struct FieldOptions {
    /// Also the previous generation of the reference.
    pub(crate) all: bool,
}

pub(crate) fn run(opts: &FieldOptions) -> anyhow::Result<()> {
    let dir = procs::log_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut generations = vec![&install::CURRENT];
    if opts.all {
        generations.push(&install::PREVIOUS);
    }

    let mut report = Report::default();
    let built = report.step("build moql and moql-relay (debug)", || {
        crate::run::build_binaries(false)?;
        Ok(String::new())
    });
    let media = report.step("ffmpeg: 4 s fMP4 test pattern", media::make_input);
    for generation in generations {
        let mut ready = built;
        for package in [&generation.relay, &generation.cli] {
            let name = format!(
                "install {} {} ({})",
                package.krate, package.version, generation.name
            );
            ready &= report.step(&name, || {
                let was = generation.installed(package);
                generation.install(package)?;
                Ok(if was { "cached" } else { "installed" }.to_string())
            });
        }
        if !ready {
            report.skip(generation.name, "not built or installed");
            continue;
        }
        for version in common_versions(generation) {
            theirs::steps(&mut report, generation, version);
            if media {
                media::steps(&mut report, generation, version);
            } else {
                report.skip(&format!("[{version}] media"), "no test pattern");
            }
            cluster::steps(&mut report, generation, version);
        }
        // Tokens are independent of the moq-lite version: once, on the preferred one.
        if let Some(version) = common_versions(generation).first() {
            auth::steps(&mut report, generation, version);
        }
    }
    report.print();
    let failed = report.failed();
    if failed > 0 {
        bail!(
            "{failed} field interop step(s) failed; logs in {}",
            dir.display()
        );
    }
    Ok(())
}

/// The versions `generation` offers that we speak, in our order of preference.
fn common_versions(generation: &Generation) -> Vec<&'static str> {
    OURS.iter()
        .copied()
        .filter(|v| generation.versions.contains(v))
        .collect()
}

/// Named steps with outcome, time and a one-line detail, printed as a table.
#[derive(Default)]
pub(crate) struct Report {
    rows: Vec<Row>,
}

struct Row {
    name: String,
    outcome: &'static str,
    took: Duration,
    detail: String,
}

impl Report {
    /// Runs `f` as the step `name`; its `Ok` value is the detail column. Returns whether it
    /// passed; a failure is printed at once and the run goes on.
    pub(crate) fn step(&mut self, name: &str, f: impl FnOnce() -> anyhow::Result<String>) -> bool {
        eprintln!("\n==> {name}");
        let start = Instant::now();
        let result = f();
        let took = start.elapsed();
        let (outcome, detail) = match result {
            Ok(detail) => {
                eprintln!("ok ({:.1} s) {detail}", took.as_secs_f64());
                ("ok", detail)
            }
            Err(err) => {
                eprintln!("FAILED ({:.1} s): {err:#}", took.as_secs_f64());
                let first = format!("{err:#}");
                let first = first.lines().next().unwrap_or_default().to_string();
                ("FAILED", first)
            }
        };
        let passed = outcome == "ok";
        self.rows.push(Row {
            name: name.to_string(),
            outcome,
            took,
            detail,
        });
        passed
    }

    /// Records a step that was not run.
    pub(crate) fn skip(&mut self, name: &str, why: &str) {
        eprintln!("\n==> {name}: skipped ({why})");
        self.rows.push(Row {
            name: name.to_string(),
            outcome: "skipped",
            took: Duration::ZERO,
            detail: why.to_string(),
        });
    }

    fn failed(&self) -> usize {
        self.rows.iter().filter(|r| r.outcome == "FAILED").count()
    }

    fn print(&self) {
        let width = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(4);
        println!("\n| {:width$} | result  | seconds | detail", "step");
        println!("|{}|---------|---------|-------", "-".repeat(width + 2));
        for row in &self.rows {
            println!(
                "| {:width$} | {:7} | {:7.1} | {}",
                row.name,
                row.outcome,
                row.took.as_secs_f64(),
                row.detail
            );
        }
    }
}
