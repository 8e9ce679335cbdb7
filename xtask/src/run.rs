//! Running commands and timing steps.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Runs `cmd`, inheriting stdio, and fails if it exits non-zero.
pub(crate) fn exec(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("starting {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed: {status}", describe(cmd));
    }
    Ok(())
}

/// `cargo` with the given arguments.
pub(crate) fn cargo(args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.args(args);
    cmd
}

/// Builds the `moql-relay` and `moql` binaries (`release` or debug), for the steps that run
/// them as separate processes.
pub(crate) fn build_binaries(release: bool) -> anyhow::Result<()> {
    let mut args = vec!["build", "--locked", "-p", "moql-relay", "-p", "moql-cli"];
    if release {
        args.push("--release");
    }
    exec(&mut cargo(&args))
}

/// Reads a relay's first stdout line, `listening ADDR fingerprint HEX` (then `admin ADDR` when
/// its admin listener is on), and returns the port and the certificate fingerprint.
pub(crate) fn relay_listening(stdout: impl std::io::Read) -> anyhow::Result<(u16, String)> {
    use std::io::BufRead as _;
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the relay's listening line")?;
    let words: Vec<&str> = line.split_whitespace().collect();
    anyhow::ensure!(
        words.len() >= 4 && words[0] == "listening" && words[2] == "fingerprint",
        "unexpected relay output: {line}"
    );
    let addr: std::net::SocketAddr = words[1].parse().context("the relay's address")?;
    Ok((addr.port(), words[3].to_string()))
}

/// A command line as the shell would show it, for logs.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut out = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        out.push(' ');
        out.push_str(&arg.to_string_lossy());
    }
    out
}

/// A list of named steps with their outcome and duration, printed as a table at the end.
#[derive(Default)]
pub(crate) struct Steps {
    rows: Vec<(String, &'static str, Duration)>,
}

impl Steps {
    /// Runs `f` as the step `name`, recording how long it took and whether it passed.
    pub(crate) fn step(
        &mut self,
        name: &str,
        f: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        eprintln!("\n==> {name}");
        let start = Instant::now();
        let result = f();
        let outcome = if result.is_ok() { "ok" } else { "FAILED" };
        self.rows.push((name.to_string(), outcome, start.elapsed()));
        result
    }

    /// Records a step that was not run, with the reason.
    pub(crate) fn skipped(&mut self, name: &str, why: &str) {
        eprintln!("\n==> {name}: skipped ({why})");
        self.rows
            .push((format!("{name} ({why})"), "skipped", Duration::ZERO));
    }

    /// Prints the summary table.
    pub(crate) fn print(&self) {
        let width = self
            .rows
            .iter()
            .map(|r| r.0.len())
            .max()
            .unwrap_or(4)
            .max(4);
        println!("\n| {:width$} | result  | seconds |", "step");
        println!("|{}|---------|---------|", "-".repeat(width + 2));
        for (name, outcome, took) in &self.rows {
            println!(
                "| {name:width$} | {outcome:7} | {:7.1} |",
                took.as_secs_f64()
            );
        }
    }
}
