//! What the process-level tests share: bounded waits and a `moql-relay` process.
//!
//! Each test binary includes it and uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Bound on each wait.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test after [`WAIT`].
pub(crate) async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// The relay binary next to `moql` in the target directory.
pub(crate) fn relay_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_moql")).with_file_name("moql-relay");
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p moql-relay; cargo test --workspace does)",
        path.display()
    );
    path
}

/// A `moql-relay` process on 127.0.0.1:`port` (0: any) with `extra` flags, killed when
/// dropped; its UDP port, from the line it prints when listening.
pub(crate) async fn relay(port: u16, extra: &[&str]) -> (Child, u16) {
    let bind = format!("127.0.0.1:{port}");
    let mut child = Command::new(relay_binary())
        .args(["--bind", &bind, "--log", "warn"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the relay starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = within("the listening line", lines.next_line())
        .await
        .expect("read")
        .expect("a line");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"listening"), "{line}");
    let addr: std::net::SocketAddr = words[1].parse().expect("address");
    // Keep reading stdout so the relay never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr.port())
}
