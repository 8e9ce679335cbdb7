//! The released reference binaries, one set per generation, installed with `cargo install`
//! into `$HOME/.cache/moql-field/<generation>/bin` when missing.
//!
//! Every generation shares one target directory (`$HOME/.cache/moql-field/target`), so the
//! dependencies the relay and the CLI have in common (and those two generations have in common)
//! build once. A binary that answers `--version` with the pinned version is reused at once.
//! `--locked` is not passed: the published lock files do not resolve against today's index here,
//! so cargo resolves the newest compatible dependencies, as a user's `cargo install` does.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::run::exec;

/// One released crate whose binary we run.
pub(crate) struct Package {
    /// The crates.io name.
    pub(crate) krate: &'static str,
    /// The exact version (`cargo install --version`).
    pub(crate) version: &'static str,
    /// The binary it installs.
    pub(crate) bin: &'static str,
    /// `--no-default-features --features …`: the QUIC stack and WebSocket only (no iroh,
    /// no hardware encoders), which also keeps the build short.
    pub(crate) features: &'static str,
}

/// A generation of the reference: a relay and the CLI of the same era, and the moq-lite
/// versions they speak (ALPN tokens).
pub(crate) struct Generation {
    /// `current` or `previous`: the cache directory's name.
    pub(crate) name: &'static str,
    pub(crate) relay: Package,
    pub(crate) cli: Package,
    /// The moq-lite versions both binaries offer, most preferred first.
    pub(crate) versions: &'static [&'static str],
    /// Which command-line dialect the binaries speak (flags were renamed between them).
    pub(crate) dialect: Dialect,
}

/// The flag spellings of a generation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dialect {
    /// moq-relay 0.17 / moq-cli 0.14 (moq-tokio): `--listen`, `--connect`, `--cluster-connect`.
    Current,
    /// moq-relay 0.14 / moq-cli 0.11 (moq-native).
    Previous,
}

/// moq-relay 0.17.10 and moq-cli 0.14.10 (moq-net 0.3.18): lite-06 first, then 05, 04, 03.
pub(crate) const CURRENT: Generation = Generation {
    name: "current",
    relay: Package {
        krate: "moq-relay",
        version: "0.17.10",
        bin: "moq-relay",
        features: "noq,websocket",
    },
    cli: Package {
        krate: "moq-cli",
        version: "0.14.10",
        bin: "moq",
        features: "noq,websocket",
    },
    versions: &["moq-lite-06", "moq-lite-05", "moq-lite-04", "moq-lite-03"],
    dialect: Dialect::Current,
};

/// moq-relay 0.14.18 and moq-cli 0.11.2 (both on moq-native 0.19.19, moq-net 0.2.22): lite-05
/// at most. quinn rather than noq: that generation's default QUIC stack.
pub(crate) const PREVIOUS: Generation = Generation {
    name: "previous",
    relay: Package {
        krate: "moq-relay",
        version: "0.14.18",
        bin: "moq-relay",
        features: "quinn,websocket",
    },
    cli: Package {
        krate: "moq-cli",
        version: "0.11.2",
        bin: "moq",
        features: "quinn,websocket",
    },
    versions: &["moq-lite-05", "moq-lite-04", "moq-lite-03"],
    dialect: Dialect::Previous,
};

/// `$HOME/.cache/moql-field` (or `$MOQL_FIELD_CACHE`).
pub(crate) fn cache_root() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("MOQL_FIELD_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(Path::new(&home).join(".cache").join("moql-field"))
}

impl Generation {
    /// `<cache>/<generation>`: the `cargo install --root`.
    pub(crate) fn root(&self) -> anyhow::Result<PathBuf> {
        Ok(cache_root()?.join(self.name))
    }

    /// The installed binary of `package`.
    pub(crate) fn bin(&self, package: &Package) -> anyhow::Result<PathBuf> {
        Ok(self.root()?.join("bin").join(package.bin))
    }

    /// Whether `package`'s binary is installed at its pinned version.
    pub(crate) fn installed(&self, package: &Package) -> bool {
        let Ok(bin) = self.bin(package) else {
            return false;
        };
        Command::new(bin)
            .arg("--version")
            .output()
            .is_ok_and(|out| {
                out.status.success()
                    && String::from_utf8_lossy(&out.stdout)
                        .split_whitespace()
                        .any(|word| word == package.version)
            })
    }

    /// Installs `package` unless [`installed`](Self::installed); the shared target directory
    /// keeps the second crate's build to what it does not share with the first.
    pub(crate) fn install(&self, package: &Package) -> anyhow::Result<()> {
        if self.installed(package) {
            eprintln!(
                "field: {} {} already installed in {}",
                package.krate,
                package.version,
                self.root()?.display()
            );
            return Ok(());
        }
        let root = self.root()?;
        let target = cache_root()?.join("target");
        std::fs::create_dir_all(&root)?;
        let mut cmd = crate::run::cargo(&[
            "install",
            package.krate,
            "--version",
            package.version,
            "--no-default-features",
            "--features",
            package.features,
        ]);
        // Run from the workspace root, so rust-toolchain.toml picks the toolchain (the shared
        // target directory is only reused by the same compiler).
        cmd.arg("--root")
            .arg(&root)
            .env("CARGO_TARGET_DIR", &target);
        exec(&mut cmd)?;
        anyhow::ensure!(
            self.installed(package),
            "{} {} installed but {} --version does not say so",
            package.krate,
            package.version,
            package.bin
        );
        Ok(())
    }
}
