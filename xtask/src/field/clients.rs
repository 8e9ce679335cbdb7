//! Our `moql` client as the field sees it: a clock publisher, subscribers, `fetch` and
//! `announced`, and the checks on what they print. Used against the reference relay and in
//! the cluster steps.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};

use super::procs::{Proc, local, output, poll};
use crate::interop::http_get;

/// Our `moql` binary (debug build), pinned to one relay certificate and one moq-lite version.
#[derive(Clone)]
pub(crate) struct Moql {
    pub(crate) fingerprint: String,
    /// The only version offered (`--moq-version`), so a session that starts negotiated it.
    pub(crate) version: String,
}

/// The broadcast and track our clock publishes.
pub(crate) const TRACK: &str = "clock";

impl Moql {
    pub(crate) fn new(fingerprint: &str, version: &str) -> Self {
        Self {
            fingerprint: fingerprint.to_string(),
            version: version.to_string(),
        }
    }

    /// `moql --tls-fingerprint F --moq-version V <args>`.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(PathBuf::from("target/debug/moql"));
        cmd.args(["--tls-fingerprint", &self.fingerprint])
            .args(["--moq-version", &self.version])
            .args(args);
        cmd
    }

    /// Starts `moql publish --clock` (a frame every 100 ms, a group per second) and waits
    /// for its "publishing … on `<version>`" line; fails unless the version is ours.
    pub(crate) fn publish_clock(&self, url: &str, broadcast: &str) -> anyhow::Result<Proc> {
        let mut publisher = Proc::spawn(
            &format!("moql publish {broadcast}"),
            self.cmd(&[
                "publish",
                url,
                broadcast,
                "--track",
                TRACK,
                "--clock",
                "--tick-ms",
                "100",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
        )?;
        let line = publisher.wait_log("moql: publishing", Duration::from_secs(15))?;
        ensure!(
            line.trim_end().ends_with(&format!("on {}", self.version)),
            "the publisher negotiated something else: {line}"
        );
        Ok(publisher)
    }

    /// Polls `moql announced --once` until it lists `broadcast`.
    pub(crate) fn wait_announced(&self, url: &str, broadcast: &str) -> anyhow::Result<()> {
        let want = format!("+ {broadcast}");
        poll(
            &format!("announced lists {broadcast} on {url}"),
            Duration::from_secs(15),
            || {
                let (_, out) = output(
                    "moql announced",
                    &mut self.cmd(&["announced", url, "--once", "-q"]),
                    Duration::from_secs(10),
                )?;
                Ok(String::from_utf8_lossy(&out)
                    .lines()
                    .any(|l| l.trim() == want)
                    .then_some(()))
            },
        )
    }

    /// Subscribes over `url` and checks that 5 ticks arrive, in order, each within 10 s.
    pub(crate) fn subscribe_ticks(&self, url: &str, broadcast: &str) -> anyhow::Result<String> {
        let mut subscriber = Proc::spawn(
            // Without the query: a token there would make the log file name too long.
            &format!("moql subscribe {}", url.split('?').next().unwrap_or(url)),
            self.cmd(&["subscribe", url, broadcast, TRACK, "-q"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped()),
        )?;
        let rx = subscriber.stdout_lines()?;
        let mut ticks = Vec::new();
        while ticks.len() < 5 {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(tick) => ticks.push(tick),
                Err(_) => bail!(
                    "subscribe over {url} printed {} ticks, then nothing for 10 s\n{}",
                    ticks.len(),
                    subscriber.tail()
                ),
            }
        }
        ensure!(
            ticks.windows(2).all(|w| w[0] < w[1]),
            "ticks out of order over {url}: {ticks:?}"
        );
        Ok(format!("{} .. {}", ticks[0], ticks[4]))
    }

    /// `moql fetch … --length-prefixed`: the exit code and the group's frames.
    pub(crate) fn fetch(
        &self,
        url: &str,
        broadcast: &str,
        group: u64,
    ) -> anyhow::Result<(Option<i32>, Vec<Vec<u8>>)> {
        let (status, out) = output(
            &format!("moql fetch {group}"),
            &mut self.cmd(&[
                "fetch",
                url,
                broadcast,
                TRACK,
                &group.to_string(),
                "--length-prefixed",
                "-q",
            ]),
            Duration::from_secs(20),
        )?;
        Ok((status.code(), unframe(&out)?))
    }
}

/// Splits `moql --length-prefixed` output (4-byte big-endian length, payload) into frames.
fn unframe(mut bytes: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes
            .split_at_checked(4)
            .context("truncated length prefix")?;
        let len = u32::from_be_bytes(len.try_into()?) as usize;
        let (frame, rest) = rest.split_at_checked(len).context("truncated frame")?;
        frames.push(frame.to_vec());
        bytes = rest;
    }
    Ok(frames)
}

/// Checks that `frames` are one group of our clock: at least one frame, each an RFC 3339
/// timestamp (`2026-01-01T00:00:00.000Z`, 24 bytes) in the same second, strictly increasing.
pub(crate) fn check_clock_group(frames: &[Vec<u8>]) -> anyhow::Result<()> {
    ensure!(!frames.is_empty(), "the group has no frames");
    let texts: Vec<&str> = frames
        .iter()
        .map(|f| std::str::from_utf8(f).context("a frame is not text"))
        .collect::<anyhow::Result<_>>()?;
    for text in &texts {
        ensure!(
            text.len() == 24 && text.ends_with('Z') && text.as_bytes()[10] == b'T',
            "not a clock tick: {text:?}"
        );
        ensure!(
            text[..19] == texts[0][..19],
            "a group spans more than one second: {texts:?}"
        );
    }
    ensure!(
        texts.windows(2).all(|w| w[0] < w[1]),
        "ticks out of order: {texts:?}"
    );
    Ok(())
}

/// Our `moql fetch` of a past group through the relay at `url` and the HTTP `/fetch` of the
/// same group from the relay at `http_port` must return the same frames. `http_first`: the
/// HTTP request goes first, so it is the one that makes the relay FETCH upstream. Returns a
/// summary.
pub(crate) fn fetch_matches_http(
    moql: &Moql,
    url: &str,
    http_port: u16,
    broadcast: &str,
    group: u64,
    http_first: bool,
) -> anyhow::Result<String> {
    let target = format!("/fetch/{broadcast}/{TRACK}?group={group}");
    let http = || -> anyhow::Result<Vec<u8>> {
        let (status, body) = http_get(local(http_port), &target)?;
        ensure!(
            status == 200,
            "HTTP {target} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(body)
    };
    let early = if http_first { Some(http()?) } else { None };
    let (code, frames) = moql.fetch(url, broadcast, group)?;
    ensure!(
        code == Some(0),
        "moql fetch of group {group} exited {code:?}"
    );
    let body = match early {
        Some(body) => body,
        None => http()?,
    };
    check_clock_group(&frames)?;
    ensure!(
        frames.concat() == body,
        "moql fetch ({} frames, {} bytes) and HTTP /fetch ({} bytes) differ for group {group}",
        frames.len(),
        frames.concat().len(),
        body.len()
    );
    Ok(format!(
        "group {group}: {} frames, {} bytes, same over moql fetch and HTTP",
        frames.len(),
        body.len()
    ))
}

/// A group that never existed: our `moql fetch` through the relay at `url` exits 4 (not found), and (when
/// `http` is set) the relay's HTTP `/fetch` of it is not a 200. Returns a summary.
pub(crate) fn missing_group_refused(
    moql: &Moql,
    url: &str,
    http_port: u16,
    broadcast: &str,
    http: bool,
) -> anyhow::Result<String> {
    let missing = 999_999;
    let (code, _) = moql.fetch(url, broadcast, missing)?;
    ensure!(
        code == Some(4),
        "moql fetch of group {missing}, which never existed, exited {code:?} (want 4)"
    );
    if !http {
        return Ok(format!("group {missing}: moql exit 4"));
    }
    let (status, body) = http_get(
        local(http_port),
        &format!("/fetch/{broadcast}/{TRACK}?group={missing}"),
    )?;
    ensure!(
        status != 200,
        "HTTP /fetch of group {missing}, which never existed, answered 200 with {} bytes",
        body.len()
    );
    Ok(format!("group {missing}: moql exit 4, HTTP {status}"))
}

/// Whether the reference serves FETCH on `version` (moq-lite-05 and later; older versions
/// have no Fetch stream). Tokens are `moq-lite-0N`, so they order as strings.
pub(crate) fn has_fetch(version: &str) -> bool {
    version >= "moq-lite-05"
}
