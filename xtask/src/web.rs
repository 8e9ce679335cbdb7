//! `cargo xtask web [build|serve|test]`: the browser page in `web/` (issue 8).
//!
//! - `build`: `npm ci` in `web/` when its `node_modules` is missing, then `npm run build`
//!   (type check + Vite) into `web/dist`.
//! - `serve [--bind ADDR]`: build, then run `moql-relay --web-root web/dist` (default
//!   `[::]:4443`); open `http://localhost:4443/`.
//! - `test`: build the page and the binaries, then `web/test/browser.mjs`: Debian's Chromium
//!   (driven by playwright-core) against a real relay and `moql publish --clock`, once over
//!   WebTransport and once over WebSocket (`?webtransport=0`).
//!
//! `cargo xtask test` runs `test` when Chromium, Node.js and `web/node_modules` are there, and
//! records a skip naming what is missing otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::run::{Steps, build_binaries, cargo, exec};

const WEB: &str = "web";
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// What `cargo xtask web` was asked to do.
pub(crate) enum WebCommand {
    Build,
    Serve { bind: Option<String> },
    Test,
}

pub(crate) fn run(command: &WebCommand) -> anyhow::Result<()> {
    match command {
        WebCommand::Build => build(true),
        WebCommand::Serve { bind } => serve(bind.as_deref()),
        WebCommand::Test => {
            if let Some(missing) = missing_browser() {
                bail!("cannot run the browser test: {missing}");
            }
            build(true)?;
            browser_test()
        }
    }
}

/// The `cargo xtask test` step: the browser test, or a skip saying what is missing.
pub(crate) fn test_step(steps: &mut Steps) -> anyhow::Result<()> {
    const NAME: &str = "web page in Chromium";
    if let Some(missing) = missing_browser() {
        steps.skipped(NAME, &missing);
        return Ok(());
    }
    if !Path::new(WEB).join("node_modules/playwright-core").is_dir() {
        steps.skipped(NAME, "web/node_modules missing: run `npm ci` in web/");
        return Ok(());
    }
    steps.step(NAME, || {
        build(false)?;
        browser_test()
    })
}

/// The Chromium the test drives: `$CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from(DEFAULT_CHROMIUM), PathBuf::from)
}

/// Why the browser test cannot run here, if it cannot.
fn missing_browser() -> Option<String> {
    let chromium = chromium();
    if !chromium.is_file() {
        return Some(format!(
            "no Chromium at {} (apt-get install chromium, or set CHROMIUM)",
            chromium.display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        return Some("no Node.js (node) on PATH".into());
    }
    None
}

/// `npm ci` (when `install` and `node_modules` is missing), then the type check and Vite build.
fn build(install: bool) -> anyhow::Result<()> {
    if install && !Path::new(WEB).join("node_modules").is_dir() {
        exec(&mut npm(&["ci", "--no-audit", "--no-fund"]))?;
    }
    exec(&mut npm(&["run", "build"]))
}

/// For `cargo xtask dist`: the built page's directory, or `None` without Node.js.
pub(crate) fn build_for_dist() -> anyhow::Result<Option<PathBuf>> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        return Ok(None);
    }
    build(true)?;
    Ok(Some(Path::new(WEB).join("dist")))
}

/// `npm` with `args`, in `web/`.
fn npm(args: &[&str]) -> Command {
    let mut cmd = Command::new("npm");
    cmd.args(args).current_dir(WEB);
    cmd
}

/// Builds the binaries and runs the browser test against them.
fn browser_test() -> anyhow::Result<()> {
    build_binaries(false)?;
    let root = std::env::current_dir().context("the workspace root")?;
    exec(
        Command::new("node")
            .arg("test/browser.mjs")
            .current_dir(WEB)
            .env("MOQL_RELAY", root.join("target/debug/moql-relay"))
            .env("MOQL", root.join("target/debug/moql"))
            .env("CHROMIUM", chromium())
            .env("MOQL_WEB_OUT", root.join("target/web")),
    )
}

/// Builds the page and runs the relay serving it until interrupted.
fn serve(bind: Option<&str>) -> anyhow::Result<()> {
    build(true)?;
    let bind = bind.unwrap_or("[::]:4443");
    let port = bind.rsplit(':').next().unwrap_or("4443");
    eprintln!("web: open http://localhost:{port}/ (Ctrl-C stops the relay)");
    exec(&mut cargo(&[
        "run",
        "--locked",
        "-p",
        "moql-relay",
        "--",
        "--bind",
        bind,
        "--web-root",
        "web/dist",
    ]))
}
