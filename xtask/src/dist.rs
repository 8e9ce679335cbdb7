//! `cargo xtask dist [--debug]`: the release tarball an operator installs from.
//!
//! `target/dist/moql-<version>-<arch>-<os>.tar.gz` holds one directory:
//!
//! | path | what |
//! |---|---|
//! | `bin/moql-relay`, `bin/moql` | the relay and the CLI (release build) |
//! | `etc/relay.toml` | the example configuration (`dist/relay.toml`) |
//! | `systemd/moql-relay.service` | a `Type=notify` unit (`dist/moql-relay.service`) |
//! | `web/` | the built web page (`--web-root`), when Node.js is installed |
//! | `README.md`, `relay.md`, `LICENSE-MIT`, `LICENSE-APACHE` | docs and licenses |
//!
//! The tarball is checked before it is reported: its listing must hold every path above and
//! its binaries must run (`--version`). `--debug` packs the debug binaries instead, which is
//! how `cargo xtask test` checks the packing without a release build. A `Dockerfile` at the
//! root builds the same contents into an image; [`docker_step`] builds it where a Docker
//! daemon runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};

use crate::run::{Steps, build_binaries, exec};

/// The files every tarball holds, relative to its top directory (`web/` is checked apart:
/// it needs Node.js to build).
const REQUIRED: &[&str] = &[
    "bin/moql-relay",
    "bin/moql",
    "etc/relay.toml",
    "systemd/moql-relay.service",
    "README.md",
    "relay.md",
    "LICENSE-MIT",
    "LICENSE-APACHE",
];

/// Builds, packs and checks the tarball; returns its path.
pub(crate) fn run(debug: bool) -> anyhow::Result<PathBuf> {
    build_binaries(!debug)?;
    let web = crate::web::build_for_dist()?;
    let profile = if debug { "debug" } else { "release" };
    let name = format!(
        "moql-{}-{}-{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    let out = Path::new("target/dist");
    let top = out.join(&name);
    if top.exists() {
        std::fs::remove_dir_all(&top).with_context(|| format!("clearing {}", top.display()))?;
    }
    let bin = Path::new("target").join(profile);
    for (from, to) in [
        (bin.join("moql-relay"), "bin/moql-relay"),
        (bin.join("moql"), "bin/moql"),
        (PathBuf::from("dist/relay.toml"), "etc/relay.toml"),
        (
            PathBuf::from("dist/moql-relay.service"),
            "systemd/moql-relay.service",
        ),
        (PathBuf::from("README.md"), "README.md"),
        (PathBuf::from("docs/relay.md"), "relay.md"),
        (PathBuf::from("LICENSE-MIT"), "LICENSE-MIT"),
        (PathBuf::from("LICENSE-APACHE"), "LICENSE-APACHE"),
    ] {
        copy(&from, &top.join(to))?;
    }
    if let Some(web) = &web {
        copy_dir(web, &top.join("web"))?;
    } else {
        eprintln!("dist: no web/ in the tarball (Node.js or web/node_modules missing)");
    }
    let tarball = out.join(format!("{name}.tar.gz"));
    exec(
        Command::new("tar")
            .arg("-C")
            .arg(out)
            .arg("-czf")
            .arg(&tarball)
            .arg(&name),
    )?;
    check(&tarball, &name, &top, web.is_some())?;
    eprintln!("dist: {}", tarball.display());
    Ok(tarball)
}

/// The `cargo xtask test` step: packs the debug binaries and checks the tarball.
pub(crate) fn test_step(steps: &mut Steps) -> anyhow::Result<()> {
    steps.step("dist tarball (debug binaries)", || run(true).map(drop))
}

/// The `cargo xtask test` step for the `Dockerfile`: `docker build` where a daemon answers,
/// otherwise a skip saying why.
pub(crate) fn docker_step(steps: &mut Steps) -> anyhow::Result<()> {
    const NAME: &str = "docker build";
    let info = Command::new("docker").arg("info").output();
    match info {
        Ok(out) if out.status.success() => steps.step(NAME, || {
            exec(Command::new("docker").args(["build", "--tag", "moql-relay:test", "."]))
        }),
        Ok(_) => {
            steps.skipped(NAME, "no Docker daemon answers `docker info`");
            Ok(())
        }
        Err(_) => {
            steps.skipped(NAME, "no `docker` command");
            Ok(())
        }
    }
}

/// The tarball lists every required path under `name/`, and its binaries run.
fn check(tarball: &Path, name: &str, top: &Path, web: bool) -> anyhow::Result<()> {
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(tarball)
        .output()
        .context("listing the tarball")?;
    ensure!(listing.status.success(), "tar -tzf failed");
    let listing = String::from_utf8_lossy(&listing.stdout);
    let entries: Vec<&str> = listing.lines().collect();
    let mut required: Vec<String> = REQUIRED.iter().map(|p| format!("{name}/{p}")).collect();
    if web {
        required.push(format!("{name}/web/index.html"));
    }
    let missing = missing_entries(&entries, &required);
    ensure!(missing.is_empty(), "the tarball lacks {missing:?}");
    for binary in ["bin/moql-relay", "bin/moql"] {
        let out = Command::new(top.join(binary))
            .arg("--version")
            .output()
            .with_context(|| format!("running {binary} --version"))?;
        ensure!(out.status.success(), "{binary} --version failed");
    }
    Ok(())
}

/// The paths of `required` that `entries` (a `tar -t` listing) does not hold.
fn missing_entries(entries: &[&str], required: &[String]) -> Vec<String> {
    required
        .iter()
        .filter(|path| !entries.contains(&path.as_str()))
        .cloned()
        .collect()
}

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            copy(&entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::missing_entries;

    #[test]
    fn a_listing_without_a_required_path_names_it() {
        let required = vec!["m/bin/moql".to_string(), "m/etc/relay.toml".to_string()];
        assert!(missing_entries(&["m/", "m/bin/moql", "m/etc/relay.toml"], &required).is_empty());
        assert_eq!(
            missing_entries(&["m/", "m/bin/moql"], &required),
            vec!["m/etc/relay.toml".to_string()]
        );
    }
}
