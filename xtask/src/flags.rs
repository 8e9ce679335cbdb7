//! Command-line parsing for xtask (hand-written: a handful of flags does not justify a
//! dependency).

use anyhow::{Context, bail, ensure};

pub(crate) const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [--skip-lint] [--quick]   what CI runs: fmt, clippy, tidy, tests, bounded loom
  loom                           loom models, unbounded search
  fuzz [TARGET] [--seconds N]    run cargo-fuzz targets (nightly) for N seconds each (default 30)
  bench [--quick] [--relay-only | --fetch-only]
                                 criterion benches, relay fan-out load test, FETCH vs the reference; summary table
  soak [--cycles N]              connect/subscribe/fetch/disconnect cycles against one relay
                                 (release, default 10000): fds, tasks and memory vs baseline
  tidy                           repository checks
  interop [--field [--all]]      the real moql client against a real moql-relay; --field:
                                 against the released reference (moq-relay, moq-cli; installed
                                 into ~/.cache/moql-field on first use), --all: also the
                                 previous generation
  web [build|serve|test]         the browser page in web/: build it (npm ci + Vite), serve it
        [--bind ADDR]            from a relay, or test it in Chromium (default: build)
  dist [--debug]                 the release tarball (relay, CLI, example relay.toml, systemd
                                 unit, web page) in target/dist, checked; --debug: debug binaries
  readme                         run README.md's marked shell snippets against the built
                                 binaries and check their output";

pub(crate) enum Command {
    Test(TestOptions),
    Loom,
    Fuzz(FuzzOptions),
    Bench(BenchOptions),
    Soak(u64),
    Tidy,
    Interop(InteropOptions),
    Web(crate::web::WebCommand),
    Dist { debug: bool },
    Readme,
    Help,
}

pub(crate) struct TestOptions {
    /// Skip fmt and clippy (for quick local iterations; CI never passes it).
    pub(crate) skip_lint: bool,
    /// Fewer property-test cases.
    pub(crate) quick: bool,
}

pub(crate) struct InteropOptions {
    /// Against the released reference instead of our own relay.
    pub(crate) field: bool,
    /// With `field`: every generation of the reference, not just the current one.
    pub(crate) all: bool,
}

pub(crate) struct FuzzOptions {
    pub(crate) target: Option<String>,
    pub(crate) seconds: u64,
}

pub(crate) struct BenchOptions {
    pub(crate) quick: bool,
    /// Only the relay load test, not the criterion benches.
    pub(crate) relay_only: bool,
    /// Only the FETCH comparison (no criterion benches, no fan-out).
    pub(crate) fetch_only: bool,
}

pub(crate) fn parse(args: &[String]) -> anyhow::Result<Command> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    let has = |flag: &str| rest.iter().any(|a| a == flag);
    let command = match command.as_str() {
        "test" => Command::Test(TestOptions {
            skip_lint: has("--skip-lint"),
            quick: has("--quick"),
        }),
        "loom" => Command::Loom,
        "fuzz" => {
            let mut target = None;
            let mut seconds = 30;
            let mut iter = rest.iter();
            while let Some(arg) = iter.next() {
                match arg.as_str() {
                    "--seconds" | "--time" => {
                        let value = iter.next().context("--seconds needs a value")?;
                        seconds = value.parse().context("--seconds takes a whole number")?;
                    }
                    flag if flag.starts_with("--") => bail!("unknown flag {flag}\n\n{USAGE}"),
                    name => target = Some(name.to_string()),
                }
            }
            Command::Fuzz(FuzzOptions { target, seconds })
        }
        "bench" => Command::Bench(BenchOptions {
            quick: has("--quick"),
            relay_only: has("--relay-only"),
            fetch_only: has("--fetch-only"),
        }),
        "soak" => {
            let mut cycles = 10_000;
            let mut iter = rest.iter();
            while let Some(arg) = iter.next() {
                match arg.as_str() {
                    "--cycles" => {
                        let value = iter.next().context("--cycles needs a value")?;
                        cycles = value.parse().context("--cycles takes a whole number")?;
                    }
                    other => bail!("unknown argument {other}\n\n{USAGE}"),
                }
            }
            Command::Soak(cycles)
        }
        "tidy" => Command::Tidy,
        "readme" => Command::Readme,
        "interop" => {
            if let Some(other) = rest
                .iter()
                .find(|a| !["--field", "--all"].contains(&a.as_str()))
            {
                bail!("unknown interop argument {other}\n\n{USAGE}");
            }
            ensure!(
                has("--field") || !has("--all"),
                "--all goes with --field\n\n{USAGE}"
            );
            Command::Interop(InteropOptions {
                field: has("--field"),
                all: has("--all"),
            })
        }
        "web" => Command::Web(web(rest)?),
        "dist" => {
            if let Some(other) = rest.iter().find(|a| *a != "--debug") {
                bail!("unknown flag {other} for dist\n\n{USAGE}");
            }
            Command::Dist {
                debug: has("--debug"),
            }
        }
        "help" | "--help" | "-h" => Command::Help,
        other => bail!("unknown command {other}\n\n{USAGE}"),
    };
    Ok(command)
}

fn web(rest: &[String]) -> anyhow::Result<crate::web::WebCommand> {
    use crate::web::WebCommand;
    let mut action = None;
    let mut bind = None;
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--bind" => bind = Some(iter.next().context("--bind needs an address")?.clone()),
            "build" | "serve" | "test" if action.is_none() => action = Some(arg.clone()),
            other => bail!("unknown web argument {other}\n\n{USAGE}"),
        }
    }
    Ok(match action.as_deref() {
        None | Some("build") => WebCommand::Build,
        Some("serve") => WebCommand::Serve { bind },
        _ => WebCommand::Test,
    })
}
