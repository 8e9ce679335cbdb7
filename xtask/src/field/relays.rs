//! Starting the two relays on loopback: the reference `moq-relay` of a generation, and our
//! `moql-relay` (debug build), each optionally dialing the other as a cluster peer.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};

use super::install::{Dialect, Generation};
use super::procs::{Proc, free_port, local, poll};
use crate::interop::http_get;

/// A running reference relay.
pub(crate) struct TheirRelay {
    pub(crate) proc: Proc,
    /// UDP (QUIC, WebTransport) and TCP (HTTP, WebSocket) port.
    pub(crate) port: u16,
    /// SHA-256 of its generated certificate, from `/certificate.sha256`.
    pub(crate) fingerprint: String,
}

/// What the reference relay is told beyond listening.
#[derive(Default)]
pub(crate) struct TheirOptions<'a> {
    /// `--listen-version`: accept only this version.
    pub(crate) listen_version: Option<&'a str>,
    /// Dial this relay as a cluster peer: (URL, certificate fingerprint).
    pub(crate) peer: Option<(&'a str, &'a str)>,
    /// `--connect-version`: the version its cluster dial offers.
    pub(crate) connect_version: Option<&'a str>,
    /// `--auth-url`: sessions are admitted by this auth server (`moq auth serve`) instead
    /// of the anonymous `--auth-public **`. Current generation only.
    pub(crate) auth_url: Option<&'a str>,
}

impl TheirRelay {
    pub(crate) fn start(
        generation: &Generation,
        name: &str,
        opts: &TheirOptions<'_>,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let addr = local(port).to_string();
        let mut cmd = Command::new(generation.bin(&generation.relay)?);
        match generation.dialect {
            Dialect::Current => {
                cmd.args(["--listen", &addr, "--web-http-listen", &addr])
                    .args(["--listen-tls-generate", "localhost,127.0.0.1"])
                    .args(["--log-level", "info"]);
                match opts.auth_url {
                    Some(url) => cmd.args(["--auth-url", url]),
                    // Anonymous sessions may publish and subscribe anywhere.
                    None => cmd.args(["--auth-public", "**"]),
                };
                if let Some(version) = opts.listen_version {
                    cmd.args(["--listen-version", version]);
                }
                if let Some((url, fingerprint)) = opts.peer {
                    cmd.args(["--cluster-connect", url])
                        .args(["--connect-tls-fingerprint", fingerprint]);
                }
                if let Some(version) = opts.connect_version {
                    cmd.args(["--connect-version", version]);
                }
            }
            Dialect::Previous => previous_relay_args(&mut cmd, &addr, opts),
        }
        let mut proc = Proc::spawn(name, cmd.stdin(Stdio::null()).stdout(Stdio::null()))?;
        let fingerprint = poll(
            &format!("{name}: GET /certificate.sha256"),
            Duration::from_secs(20),
            || {
                proc.alive()?;
                Ok(match http_get(local(port), "/certificate.sha256") {
                    Ok((200, body)) => Some(String::from_utf8_lossy(&body).trim().to_string()),
                    _ => None,
                })
            },
        )?;
        ensure!(
            fingerprint.len() == 64,
            "{name}: odd certificate fingerprint {fingerprint:?}"
        );
        Ok(Self {
            proc,
            port,
            fingerprint,
        })
    }

    /// The versions its log says it negotiated, in order (one per accepted session).
    pub(crate) fn negotiated(&self) -> Vec<String> {
        versions_logged(&self.proc, "negotiated")
    }
}

/// The `version=` of each log line of `proc` that contains `marker`.
fn versions_logged(proc: &Proc, marker: &str) -> Vec<String> {
    let text = super::procs::strip_ansi(&std::fs::read_to_string(&proc.log).unwrap_or_default());
    text.lines()
        .filter(|l| l.contains(marker))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("version="))
                .map(str::to_string)
        })
        .collect()
}

/// moq-relay 0.14's spelling of the same options.
fn previous_relay_args(cmd: &mut Command, addr: &str, opts: &TheirOptions<'_>) {
    cmd.args(["--server-bind", addr, "--web-http-listen", addr])
        .args(["--tls-generate", "localhost,127.0.0.1"])
        .args(["--auth-public", "", "--log-level", "info"]);
    if let Some(version) = opts.listen_version {
        cmd.args(["--server-version", version]);
    }
    if let Some((url, fingerprint)) = opts.peer {
        cmd.args(["--cluster-connect", url])
            .args(["--client-tls-fingerprint", fingerprint]);
    }
    if let Some(version) = opts.connect_version {
        cmd.args(["--client-version", version]);
    }
}

/// A running `moql-relay`.
pub(crate) struct OurRelay {
    proc: Proc,
    pub(crate) port: u16,
    pub(crate) fingerprint: String,
}

impl OurRelay {
    /// Starts `target/debug/moql-relay` on an ephemeral loopback port, dialing `peer` (URL,
    /// fingerprint) as a cluster peer if given.
    pub(crate) fn start(name: &str, peer: Option<(&str, &str)>) -> anyhow::Result<Self> {
        Self::start_with(name, peer, &[])
    }

    /// [`start`](Self::start) with `extra` arguments (e.g. `--config FILE`).
    pub(crate) fn start_with(
        name: &str,
        peer: Option<(&str, &str)>,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(PathBuf::from("target/debug/moql-relay"));
        cmd.args(["--bind", "127.0.0.1:0", "--log", "info"])
            .args(extra);
        if let Some((url, fingerprint)) = peer {
            cmd.args(["--peer", url, "--peer-fingerprint", fingerprint]);
        }
        let mut proc = Proc::spawn(name, cmd.stdin(Stdio::null()).stdout(Stdio::piped()))?;
        let stdout = proc.child.stdout.take().context("relay stdout")?;
        let (port, fingerprint) = crate::run::relay_listening(stdout)
            .with_context(|| format!("{name} did not start\n{}", proc.tail()))?;
        Ok(Self {
            proc,
            port,
            fingerprint,
        })
    }

    /// The versions of the sessions it accepted, from its log.
    pub(crate) fn negotiated(&self) -> Vec<String> {
        versions_logged(&self.proc, "session started")
    }
}
