//! `cargo xtask test` (what CI runs) and `cargo xtask loom`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::flags::TestOptions;
use crate::run::{Steps, cargo, exec};

/// Property-test cases per proptest in CI: enough to exercise every strategy on every run,
/// small enough that the whole suite stays in minutes on two cores.
const PROPTEST_CASES: &str = "256";
const PROPTEST_CASES_QUICK: &str = "32";

/// Loom's preemption bound in CI. Two preemptions cover every interleaving of one notifier
/// against one check-then-register (the bug class loom is here for) in seconds; `cargo xtask
/// loom` runs the unbounded search.
const LOOM_MAX_PREEMPTIONS: &str = "2";

/// Crates that carry loom models.
const LOOM_CRATES: &[&str] = &["moql-sync", "moql-model"];

pub(crate) fn run_all(opts: &TestOptions, steps: &mut Steps) -> anyhow::Result<()> {
    if opts.skip_lint {
        steps.skipped("fmt + clippy", "--skip-lint");
    } else {
        steps.step("cargo fmt --check", || {
            exec(&mut cargo(&["fmt", "--all", "--check"]))
        })?;
        steps.step("cargo clippy -D warnings", || {
            exec(&mut cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
    }
    steps.step("tidy", || crate::tidy::run(Path::new(".")))?;
    // tests/node.rs runs @moq/net under Node against the relay; it needs tests/node's modules.
    let node = has_node();
    if node {
        steps.step("npm ci (tests/node: @moq/net)", || {
            exec(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund"])
                    .current_dir("tests/node"),
            )
        })?;
    } else {
        steps.skipped(
            "@moq/net under Node",
            "node or npm not installed; tests/node.rs skips",
        );
    }
    steps.step("cargo test --workspace", || {
        let cases = if opts.quick {
            PROPTEST_CASES_QUICK
        } else {
            PROPTEST_CASES
        };
        let mut cmd = cargo(&["test", "--workspace", "--locked", "--no-fail-fast"]);
        cmd.env("PROPTEST_CASES", cases);
        if node {
            // The modules are installed: a missing piece is now a failure, not a skip.
            cmd.env("MOQL_REQUIRE_NODE", "1");
        }
        exec(&mut cmd)
    })?;
    steps.step("moql CLI against a real relay", crate::interop::run)?;
    steps.step("README snippets", crate::readme::run)?;
    crate::web::test_step(steps)?;
    crate::dist::test_step(steps)?;
    crate::dist::docker_step(steps)?;
    steps.step("loom (bounded)", || loom(Some(LOOM_MAX_PREEMPTIONS)))?;
    Ok(())
}

/// Whether `node` and `npm` both run.
fn has_node() -> bool {
    ["node", "npm"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Runs every step, prints the summary table, and fails if any step failed.
pub(crate) fn run(opts: &TestOptions) -> anyhow::Result<()> {
    let mut steps = Steps::default();
    let result = run_all(opts, &mut steps);
    steps.print();
    result
}

/// Runs the loom models of every crate that has them, with an optional preemption bound.
///
/// loom builds go to their own target directory: `--cfg loom` changes every crate's
/// fingerprint, and sharing `target/` would rebuild the normal workspace after each run.
pub(crate) fn loom(max_preemptions: Option<&str>) -> anyhow::Result<()> {
    for krate in LOOM_CRATES {
        let mut cmd = cargo(&[
            "test",
            "--package",
            krate,
            "--release",
            "--lib",
            "--locked",
            "--target-dir",
            "target/loom",
        ]);
        cmd.env("RUSTFLAGS", "--cfg loom");
        if let Some(bound) = max_preemptions {
            cmd.env("LOOM_MAX_PREEMPTIONS", bound);
        }
        exec(&mut cmd)?;
    }
    Ok(())
}
