//! The real `moql-relay` binary's configuration conventions: `serve` takes the same flags as
//! the top level, settings come from the file, `MOQL_RELAY_*` variables and flags in that
//! order, `--log` beats `RUST_LOG` which beats the config's `log`, piped output carries no
//! colour codes, and a bad value is one line on stderr naming the key and its source.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Arguments and environment variables of one run.
type Run<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

const WAIT: Duration = Duration::from_secs(20);

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The binary with `args` and `envs`, its environment cleared of any `MOQL_RELAY_*` and
/// `RUST_LOG`/`NO_COLOR` the test run may carry.
fn relay(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moql-relay"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MOQL_RELAY_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Starts the relay, reads its `listening ADDR …` line, stops it with SIGTERM and returns
/// the address and everything it wrote to stderr.
async fn run_until_listening(mut command: Command) -> (std::net::SocketAddr, String) {
    let mut child: Child = command.spawn().expect("the relay starts");
    let mut stderr = child.stderr.take().unwrap();
    let reading = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within("the listening line", lines.next_line())
        .await
        .unwrap();
    let Some(line) = line else {
        let status = within("the exit", child.wait()).await.unwrap();
        let stderr = within("stderr", reading).await.unwrap();
        panic!("no listening line; exit {status:?}; stderr: {stderr}");
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "listening", "{line}");
    let addr = words[1].parse().unwrap();
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = within("the relay to exit", child.wait()).await.unwrap();
    assert!(status.success(), "{status:?}");
    (addr, within("stderr", reading).await.unwrap())
}

/// Runs the binary to its (failing) end: exit code and stderr.
async fn run_to_failure(mut command: Command) -> (Option<i32>, String) {
    let output = within("the relay to refuse", command.output())
        .await
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn serve_takes_the_flags_after_the_subcommand_too() {
    for args in [
        &["serve", "--bind", "127.0.0.1:0", "--log", "warn"][..],
        &["--bind", "127.0.0.1:0", "serve", "--log", "warn"][..],
        &["--log", "warn", "--bind", "127.0.0.1:0"][..],
    ] {
        let (addr, _) = run_until_listening(relay(args, &[])).await;
        assert!(addr.ip().is_loopback(), "{args:?}: {addr}");
    }
}

#[tokio::test]
async fn a_flag_beats_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("relay.toml");
    // The file asks for a port that is taken; the environment and the flag override it.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap();
    std::fs::write(&file, format!("bind = \"{taken}\"\nlog = \"warn\"\n")).unwrap();
    let config = file.to_str().unwrap();

    let (addr, _) = run_until_listening(relay(
        &["--config", config],
        &[("MOQL_RELAY_BIND", "127.0.0.2:0")],
    ))
    .await;
    assert_eq!(addr.ip().to_string(), "127.0.0.2", "environment over file");

    let (addr, _) = run_until_listening(relay(
        &["serve", "--config", config, "--bind", "127.0.0.3:0"],
        &[("MOQL_RELAY_BIND", "127.0.0.2:0")],
    ))
    .await;
    assert_eq!(addr.ip().to_string(), "127.0.0.3", "flag over environment");

    let (addr, _) = run_until_listening(relay(
        &["--set", "bind=127.0.0.4:0"],
        &[
            ("MOQL_RELAY_CONFIG", config),
            ("MOQL_RELAY_BIND", "127.0.0.2:0"),
        ],
    ))
    .await;
    assert_eq!(addr.ip().to_string(), "127.0.0.4", "--set is a flag");
}

/// `--log` > `RUST_LOG` > the config's `log` > `info`, seen through the debug-level
/// "open-file limit" event the relay logs at start.
#[tokio::test]
async fn log_flag_beats_rust_log_which_beats_the_config() {
    let bind = ["--bind", "127.0.0.1:0"];
    let debug_seen = |stderr: &str| stderr.contains("open-file limit");
    let cases: [(Run<'_>, bool, &str); 5] = [
        ((&[], &[]), false, "default info"),
        ((&[], &[("MOQL_RELAY_LOG", "debug")]), true, "config log"),
        (
            (&[], &[("RUST_LOG", "warn"), ("MOQL_RELAY_LOG", "debug")]),
            false,
            "RUST_LOG over config",
        ),
        (
            (&[], &[("RUST_LOG", "debug")]),
            true,
            "RUST_LOG over default",
        ),
        (
            (&["--log", "warn"], &[("RUST_LOG", "debug")]),
            false,
            "--log over RUST_LOG",
        ),
    ];
    for ((args, envs), debug, what) in cases {
        let args: Vec<&str> = bind.iter().chain(args).copied().collect();
        let (_, stderr) = run_until_listening(relay(&args, envs)).await;
        assert_eq!(debug_seen(&stderr), debug, "{what}: {stderr}");
    }
}

#[tokio::test]
async fn piped_logs_carry_no_colour_codes() {
    let (_, stderr) =
        run_until_listening(relay(&["--bind", "127.0.0.1:0", "--log", "debug"], &[])).await;
    assert!(stderr.contains("DEBUG"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
}

#[tokio::test]
async fn a_bad_value_is_one_line_naming_the_key_and_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("relay.toml");
    std::fs::write(&file, "[limits]\nidle_timeout_seconds = \"soon\"\n").unwrap();
    let file = file.to_str().unwrap();
    let cases: [(Run<'_>, &[&str]); 6] = [
        (
            (&["--config", file], &[]),
            &["limits.idle_timeout_seconds", "relay.toml"],
        ),
        (
            (&[], &[("MOQL_RELAY_LIMITS__MAX_SESSIONS", "many")]),
            &["limits.max_sessions", "MOQL_RELAY_LIMITS__MAX_SESSIONS"],
        ),
        (
            (&[], &[("MOQL_RELAY_CACHE__MAX_LATENCY", "10s")]),
            &["unknown key", "MOQL_RELAY_CACHE__MAX_LATENCY"],
        ),
        ((&["--set", "bind=nowhere"], &[]), &["bind", "command line"]),
        (
            (&["--cache-max-latency", "2 days"], &[]),
            &["cache.max_latency_seconds", "command line"],
        ),
        ((&["--log", "moql=loud"], &[]), &["log", "moql=loud"]),
    ];
    for ((args, envs), words) in cases {
        let (code, stderr) = run_to_failure(relay(args, envs)).await;
        assert_eq!(code, Some(1), "{args:?} {envs:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        for word in words {
            assert!(stderr.contains(word), "{args:?} {envs:?}: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
