//! Child processes of the field run: each one's stderr goes to its own log file under
//! `target/field-interop/`, every wait is bounded, and dropping a [`Proc`] kills it.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::run::describe;

/// A running child process; killed (and reaped) when dropped.
pub(crate) struct Proc {
    pub(crate) name: String,
    pub(crate) child: Child,
    /// Where its stderr goes.
    pub(crate) log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the logs of this run go (`target/field-interop/`, emptied at the start).
pub(crate) fn log_dir() -> PathBuf {
    PathBuf::from("target/field-interop")
}

/// A unique log file name for `name` in [`log_dir`].
fn log_path(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    log_dir().join(format!("{n:03}-{clean}.log"))
}

impl Proc {
    /// Spawns `cmd` with its stderr in a fresh log file; stdin is closed unless `cmd` set it,
    /// stdout as `cmd` set it (inherited otherwise).
    pub(crate) fn spawn(name: &str, cmd: &mut Command) -> anyhow::Result<Self> {
        let log = log_path(name);
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        // A `MOQ_*` variable in the caller's shell would reconfigure the reference binaries.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("MOQ_") {
                cmd.env_remove(key);
            }
        }
        eprintln!("field: [{name}] {}", describe(cmd));
        let child = cmd
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// Fails if the process has exited.
    pub(crate) fn alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited early ({status})\n{}", self.name, self.tail());
        }
        Ok(())
    }

    /// The last lines of its log, for error messages.
    pub(crate) fn tail(&self) -> String {
        tail(&self.log)
    }

    /// Waits until a line of its log contains `needle`, and returns that line (ANSI colours
    /// removed). Fails if the process exits first or `timeout` passes.
    pub(crate) fn wait_log(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default());
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return Ok(line.to_string());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before logging {needle:?}\n{}",
                    self.name,
                    self.tail()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not log {needle:?} within {timeout:?}\n{}",
                    self.name,
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its stdout as a channel of lines (needs `Stdio::piped()`).
    pub(crate) fn stdout_lines(&mut self) -> anyhow::Result<mpsc::Receiver<String>> {
        let stdout = self.child.stdout.take().context("stdout not piped")?;
        Ok(lines(stdout))
    }

    /// Waits up to `timeout` for it to exit by itself; kills it after that.
    pub(crate) fn wait_exit(
        &mut self,
        timeout: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not exit within {timeout:?}\n{}",
                    self.name,
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A reader's lines, on a channel fed by a thread.
pub(crate) fn lines(reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Runs `cmd` to completion with a time bound: (status, stdout), stderr to a log file.
/// The process is killed at the deadline.
pub(crate) fn output(
    name: &str,
    cmd: &mut Command,
    timeout: Duration,
) -> anyhow::Result<(std::process::ExitStatus, Vec<u8>)> {
    let mut proc = Proc::spawn(name, cmd.stdin(Stdio::null()).stdout(Stdio::piped()))?;
    let mut stdout = proc.child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let status = proc.wait_exit(timeout)?;
    let out = reader
        .join()
        .map_err(|_| anyhow::anyhow!("stdout reader panicked"))?;
    Ok((status, out))
}

/// The last 15 lines of a log file, indented.
pub(crate) fn tail(path: &Path) -> String {
    let text = strip_ansi(&std::fs::read_to_string(path).unwrap_or_default());
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(15);
    let mut out = format!("  --- {} (last lines) ---\n", path.display());
    for line in &lines[from..] {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Removes ANSI escape sequences (the reference logs in colour even into a file).
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e).
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A loopback port free on both UDP (QUIC) and TCP (HTTP, WebSocket), for a process that
/// cannot be told to pick its own and report it. Released before returning; the tiny race
/// with another process taking it in between is accepted on a loopback test host.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no loopback port free on both UDP and TCP")
}

/// `127.0.0.1:port`.
pub(crate) fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Retries `f` every 200 ms until it returns `Some` or `timeout` passes.
pub(crate) fn poll<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f()? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("{what}: not within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
