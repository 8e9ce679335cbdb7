//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `test`: everything CI runs (`.ci/run` calls exactly this): fmt, clippy, tidy, the
//!   workspace tests with bounded property tests, bounded loom models, and a summary table.
//! - `loom`: the loom models without a preemption bound.
//! - `fuzz [target] [--seconds N]`: cargo-fuzz targets on nightly, each for N seconds.
//! - `bench`: criterion benches of every crate, with a summary.
//! - `soak [--cycles N]`: the long form of `tests/soak.rs` (release build, 10,000 cycles).
//! - `tidy`: repository checks (also part of `test`).
//! - `interop`: the real `moql` client against a real `moql-relay` (also part of `test`);
//!   `interop --field [--all]`: against the released reference implementation (CI runs it
//!   after `test`).
//! - `dist [--debug]`: the release tarball in `target/dist` (also checked by `test`, with
//!   the debug binaries), and the `Dockerfile` (`test` builds it where Docker runs).
//! - `web [build|serve|test]`: the browser page in `web/`; `test` drives it in Chromium
//!   against a real relay (also part of `test` when Chromium and the node modules are there).

mod bench;
mod dist;
mod field;
mod flags;
mod fuzz;
mod interop;
mod load;
mod load_fetch;
mod readme;
mod run;
mod spec_refs;
mod test;
mod tidy;
mod web;

use std::path::{Path, PathBuf};

fn main() -> std::process::ExitCode {
    match try_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = flags::parse(&args)?;
    std::env::set_current_dir(project_root())?;
    match command {
        flags::Command::Test(opts) => test::run(&opts),
        flags::Command::Loom => test::loom(None),
        flags::Command::Fuzz(opts) => fuzz::run(&opts),
        flags::Command::Bench(opts) => bench::run(&opts),
        flags::Command::Soak(cycles) => soak(cycles),
        flags::Command::Tidy => tidy::run(Path::new(".")),
        flags::Command::Interop(opts) if opts.field => {
            field::run(&field::FieldOptions { all: opts.all })
        }
        flags::Command::Interop(_) => interop::run(),
        flags::Command::Web(command) => web::run(&command),
        flags::Command::Dist { debug } => dist::run(debug).map(drop),
        flags::Command::Readme => readme::run(),
        flags::Command::Help => {
            println!("{}", flags::USAGE);
            Ok(())
        }
    }
}

/// Runs `tests/soak.rs` in a release build with `cycles` cycles; it prints its figures.
fn soak(cycles: u64) -> anyhow::Result<()> {
    run::exec(
        run::cargo(&[
            "test",
            "--release",
            "--locked",
            "-p",
            "moql-tests",
            "--test",
            "soak",
            "--",
            "--nocapture",
        ])
        .env("MOQL_SOAK_CYCLES", cycles.to_string()),
    )
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
