//! `cargo xtask fuzz`: runs the cargo-fuzz targets under `fuzz/` for a bounded time.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::flags::FuzzOptions;
use crate::run::exec;

pub(crate) fn run_fuzz_target(target: &str, seconds: u64) -> anyhow::Result<()> {
    let mut cmd = Command::new("cargo");
    cmd.current_dir("fuzz").args([
        "+nightly",
        "fuzz",
        "run",
        target,
        "--",
        &format!("-max_total_time={seconds}"),
        "-print_final_stats=1",
    ]);
    exec(&mut cmd)
}

pub(crate) fn run(opts: &FuzzOptions) -> anyhow::Result<()> {
    check_tools()?;
    let targets = match &opts.target {
        Some(target) => vec![target.clone()],
        None => list_targets(Path::new("fuzz/fuzz_targets"))?,
    };
    if targets.is_empty() {
        bail!("no fuzz targets under fuzz/fuzz_targets");
    }
    for target in &targets {
        eprintln!("\n==> fuzz {target} for {} s", opts.seconds);
        run_fuzz_target(target, opts.seconds)?;
    }
    Ok(())
}

fn check_tools() -> anyhow::Result<()> {
    let nightly = Command::new("cargo")
        .args(["+nightly", "--version"])
        .output()
        .context("running cargo +nightly")?;
    if !nightly.status.success() {
        bail!("fuzzing needs a nightly toolchain: rustup toolchain install nightly");
    }
    let fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--help"])
        .output()
        .context("running cargo fuzz")?;
    if !fuzz.status.success() {
        bail!("fuzzing needs cargo-fuzz: cargo install cargo-fuzz");
    }
    Ok(())
}

fn list_targets(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut targets = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem()
        {
            targets.push(stem.to_string_lossy().into_owned());
        }
    }
    targets.sort();
    Ok(targets)
}
