//! `cargo xtask readme`: runs the README's marked shell snippets ("The first five minutes")
//! for real, against freshly built debug binaries, and checks what they print.
//!
//! A snippet is a ```` ```sh ```` block right after a `<!-- snippet … -->` line. The marker
//! takes these words:
//!
//! - `background`: the block runs on (a publisher, a second relay) until the end;
//!   `ready="TEXT"` waits until its stdout shows `TEXT` before the next block;
//! - `expect="TEXT"` (repeatable): the block must exit 0 and its stdout contain `TEXT`.
//!   A block with neither runs to completion and must exit 0.
//!
//! The runner is generic: it runs whatever the marked blocks say, in order, in one temporary
//! directory, each under `bash` with `set -eu` and the variables the earlier blocks set, the
//! built `moql` and `moql-relay` first on `PATH`, and a bound on its time. It stands in for the
//! README's "two commands" by starting `moql-relay` itself, and gives every port the README
//! uses ([`PORTS`]) a free one in its place, so it runs beside other relays.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::run::{build_binaries, relay_listening};

/// The README's ports: the relay of "Two commands" first, then the token example's.
const PORTS: [u16; 2] = [4443, 5443];

/// How long one foreground snippet, or a background one's `ready`, may take.
const SNIPPET_TIMEOUT: Duration = Duration::from_secs(60);

/// One marked block of the README.
#[derive(Debug, PartialEq)]
pub(crate) struct Snippet {
    /// 1-based line of the marker, for messages.
    pub(crate) line: usize,
    pub(crate) background: bool,
    pub(crate) ready: Option<String>,
    pub(crate) expect: Vec<String>,
    pub(crate) code: String,
}

/// The marked snippets of a Markdown text, in order.
///
/// # Errors
///
/// A marker not followed by a ```` ```sh ```` block, an unclosed block, or an unknown word.
pub(crate) fn parse(text: &str) -> anyhow::Result<Vec<Snippet>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut snippets = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(marker) = lines[i]
            .trim()
            .strip_prefix("<!-- snippet")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            i += 1;
            continue;
        };
        let line = i + 1;
        let mut snippet = Snippet {
            line,
            background: false,
            ready: None,
            expect: Vec::new(),
            code: String::new(),
        };
        for word in words(marker).with_context(|| format!("README line {line}"))? {
            match word {
                (key, None) if key == "background" => snippet.background = true,
                (key, Some(value)) if key == "ready" => snippet.ready = Some(value),
                (key, Some(value)) if key == "expect" => snippet.expect.push(value),
                (key, _) => bail!("README line {line}: unknown snippet word {key:?}"),
            }
        }
        i += 1;
        while i < lines.len() && lines[i].trim().is_empty() {
            i += 1;
        }
        ensure!(
            lines.get(i).is_some_and(|l| l.trim() == "```sh"),
            "README line {line}: the marker must be followed by a ```sh block"
        );
        i += 1;
        let start = i;
        while i < lines.len() && lines[i].trim() != "```" {
            i += 1;
        }
        ensure!(i < lines.len(), "README line {line}: unclosed block");
        snippet.code = lines[start..i].join("\n");
        snippets.push(snippet);
        i += 1;
    }
    Ok(snippets)
}

/// The marker's words: `name` or `name="value"`.
fn words(marker: &str) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    let mut rest = marker.trim();
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..end].to_string();
        rest = &rest[end..];
        if let Some(after) = rest.strip_prefix("=\"") {
            let close = after.find('"').context("unclosed quote")?;
            out.push((key, Some(after[..close].to_string())));
            rest = &after[close + 1..];
        } else {
            ensure!(!rest.starts_with('='), "{key}= needs a quoted value");
            out.push((key, None));
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

/// A process group the runner started: killed (TERM, then KILL) when dropped.
struct Group {
    child: Child,
    what: String,
}

impl Group {
    fn spawn(mut cmd: Command, what: String) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0);
        let child = cmd.spawn().with_context(|| format!("starting {what}"))?;
        Ok(Self { child, what })
    }

    /// Waits for the exit, at most `timeout`.
    fn wait(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            ensure!(
                Instant::now() < deadline,
                "{} did not finish within {timeout:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            // The leader is gone; its group may not be (a block's own `&`).
            self.signal("-KILL");
            return;
        }
        self.signal("-TERM");
        if self.wait(Duration::from_secs(5)).is_err() {
            self.signal("-KILL");
            let _ = self.child.wait();
        }
    }
}

/// A port free on UDP and TCP (`[::]`) right now.
fn free_port() -> anyhow::Result<u16> {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("[::]:0").context("binding a UDP port")?;
        let port = udp.local_addr()?.port();
        if std::net::TcpListener::bind(("::", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port pair found")
}

/// Collects a pipe's text in the background.
fn collect(mut pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
            sink.lock().map(|mut t| t.push_str(&chunk)).ok();
        }
    });
    text
}

/// The cargo target directory the binaries were built into.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

/// Builds the binaries, then runs every snippet of `README.md`.
pub(crate) fn run() -> anyhow::Result<()> {
    let snippets = parse(&std::fs::read_to_string("README.md").context("reading README.md")?)?;
    ensure!(!snippets.is_empty(), "README.md has no marked snippets");
    build_binaries(false)?;
    let bin = std::fs::canonicalize(target_dir().join("debug"))?;
    let dir = std::env::temp_dir().join(format!("moql-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(&snippets, &bin, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(snippets: &[Snippet], bin: &Path, dir: &Path) -> anyhow::Result<()> {
    let ports: Vec<(u16, u16)> = PORTS
        .iter()
        .map(|&readme| Ok((readme, free_port()?)))
        .collect::<anyhow::Result<_>>()?;
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let shell = |script: &str| {
        let mut cmd = Command::new("bash");
        cmd.args(["-c", script])
            .current_dir(dir)
            .env("PATH", &path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MOQL_") {
                cmd.env_remove(name);
            }
        }
        cmd
    };

    // The README's "run the relay" command, on the first port.
    let mut relay_cmd = shell(&format!(
        "exec moql-relay --bind '[::]:{}' --log warn",
        ports[0].1
    ));
    relay_cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut relay = Group::spawn(relay_cmd, "moql-relay".into())?;
    relay_listening(relay.child.stdout.take().context("relay stdout")?)?;

    let mut background = Vec::new();
    for snippet in snippets {
        let mut code = snippet.code.clone();
        for (readme, free) in &ports {
            code = code.replace(&format!(":{readme}"), &format!(":{free}"));
        }
        let what = format!("README snippet at line {}", snippet.line);
        eprintln!("readme: {what}:\n{code}");
        let prelude = "set -eu\n[ -f state ] && . ./state\nset -a\n";
        if snippet.background {
            let mut cmd = shell(&format!("{prelude}{code}\n"));
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
            let mut group = Group::spawn(cmd, what.clone())?;
            let out = collect(group.child.stdout.take().context("stdout")?);
            if let Some(ready) = &snippet.ready {
                let deadline = Instant::now() + SNIPPET_TIMEOUT;
                while !out.lock().is_ok_and(|t| t.contains(ready.as_str())) {
                    if let Some(status) = group.child.try_wait()? {
                        bail!("{what} exited ({status}) before printing {ready:?}");
                    }
                    ensure!(Instant::now() < deadline, "{what} never printed {ready:?}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            background.push(group);
            continue;
        }
        let mut cmd = shell(&format!("{prelude}{code}\nexport -p > state\n"));
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut group = Group::spawn(cmd, what.clone())?;
        let out = collect(group.child.stdout.take().context("stdout")?);
        let err = collect(group.child.stderr.take().context("stderr")?);
        let status = group.wait(SNIPPET_TIMEOUT);
        // The pipes close with the group; give the readers a moment to drain.
        std::thread::sleep(Duration::from_millis(100));
        let out = out.lock().map(|t| t.clone()).unwrap_or_default();
        let err = err.lock().map(|t| t.clone()).unwrap_or_default();
        eprintln!("readme: stdout:\n{out}");
        let status = status.with_context(|| format!("stderr:\n{err}"))?;
        ensure!(status.success(), "{what} failed ({status}); stderr:\n{err}");
        for expected in &snippet.expect {
            ensure!(
                out.contains(expected.as_str()),
                "{what}: stdout lacks {expected:?}; stderr:\n{err}"
            );
        }
    }
    drop(background);
    relay.signal("-TERM");
    let status = relay.wait(Duration::from_secs(10))?;
    ensure!(status.success(), "the relay exited with {status}");
    eprintln!("readme: {} snippets passed", snippets.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_blocks_are_parsed() {
        let text = "intro\n<!-- snippet background ready=\"listening\" -->\n\n```sh\nrelay\n```\n\
                    ```sh\nnot marked\n```\n<!-- snippet expect=\"a b\" expect=\"c\" -->\n```sh\none\ntwo\n```\n";
        let snippets = parse(text).unwrap();
        assert_eq!(snippets.len(), 2);
        assert!(snippets[0].background);
        assert_eq!(snippets[0].ready.as_deref(), Some("listening"));
        assert_eq!(snippets[0].code, "relay");
        assert_eq!(snippets[1].expect, ["a b", "c"]);
        assert_eq!(snippets[1].code, "one\ntwo");
        assert_eq!(snippets[1].line, 10);
    }

    #[test]
    fn bad_markers_are_errors() {
        assert!(parse("<!-- snippet -->\ntext\n").is_err());
        assert!(parse("<!-- snippet -->\n```sh\nopen\n").is_err());
        assert!(parse("<!-- snippet loud -->\n```sh\nx\n```\n").is_err());
        assert!(parse("<!-- snippet expect=\"x -->\n```sh\nx\n```\n").is_err());
    }

    /// The repository's README has the snippets the runner needs (and they parse).
    #[test]
    fn the_readme_snippets_parse() {
        let text = include_str!("../../README.md");
        let snippets = parse(text).unwrap();
        assert!(snippets.iter().any(|s| s.background), "{snippets:?}");
        assert!(
            snippets.iter().any(|s| !s.expect.is_empty()),
            "{snippets:?}"
        );
    }
}
