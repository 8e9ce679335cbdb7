//! Tokens across the two relays, on one moq-lite version (tokens do not depend on it):
//!
//! - **ours through theirs**: `moql-relay token key` makes an ES256 key pair; their auth
//!   server (`moq auth serve --key`, the 0.17 relay delegates admission to it through
//!   `--auth-url`) holds our public JWK; a token from `moql-relay token sign` lets our
//!   publisher and subscriber through their relay, and a token from another key is refused;
//! - **theirs through ours**: `moq auth generate` makes an EdDSA key pair; our relay holds
//!   their public key file (`[auth] jwk_files`); a token from `moq auth sign` lets our
//!   publisher and subscriber through our relay, and `moql-relay token verify` reads it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};

use super::Report;
use super::clients::Moql;
use super::install::{Dialect, Generation};
use super::procs::{Proc, free_port, local, output, poll};
use super::relays::{OurRelay, TheirOptions, TheirRelay};

const OURS: &str = "target/debug/moql-relay";
/// The token root and the broadcast under it.
const ROOT: &str = "field";
const BROADCAST: &str = "clock";

pub(crate) fn steps(report: &mut Report, generation: &Generation, version: &str) {
    let tag = format!("[{version}] auth");
    if generation.dialect != Dialect::Current {
        report.skip(
            &tag,
            "the previous generation verified tokens itself (not checked)",
        );
        return;
    }
    let dir = super::procs::log_dir().join("auth");
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(err) = std::fs::create_dir_all(&dir) {
        report.skip(&tag, &format!("cannot create {}: {err}", dir.display()));
        return;
    }
    report.step(
        &format!(
            "{tag}: our token through their relay {}",
            generation.relay.version
        ),
        || ours_through_theirs(generation, version, &dir),
    );
    report.step(&format!("{tag}: their token through our relay"), || {
        theirs_through_ours(generation, version, &dir)
    });
}

/// Runs `program args`, requiring success; its stdout, trimmed.
fn run(name: &str, program: &Path, args: &[&str]) -> anyhow::Result<String> {
    let (status, out) = output(
        name,
        Command::new(program).args(args),
        Duration::from_secs(20),
    )?;
    ensure!(status.success(), "{name} exited {status}");
    Ok(String::from_utf8(out)?.trim().to_string())
}

fn text(path: &Path) -> anyhow::Result<&str> {
    path.to_str().context("a non-UTF-8 path")
}

/// Our `moql-relay token sign` with `key`, granting everything under [`ROOT`].
fn our_token(key: &Path) -> anyhow::Result<String> {
    let args = ["token", "sign", "--key", text(key)?, "--root", ROOT];
    let grants = ["--publish", "", "--subscribe", "", "--expires-in", "600"];
    run(
        "moql-relay token sign",
        Path::new(OURS),
        &[&args[..], &grants[..]].concat(),
    )
}

fn ours_through_theirs(
    generation: &Generation,
    version: &str,
    dir: &Path,
) -> anyhow::Result<String> {
    let private = dir.join("ours.jwk");
    let other = dir.join("other.jwk");
    for key in [&private, &other] {
        run(
            "moql-relay token key",
            Path::new(OURS),
            &["token", "key", "--alg", "es256", "--out", text(key)?],
        )?;
    }
    let public = dir.join("ours.pub.jwk");
    let port = free_port()?;
    let listen = local(port).to_string();
    let mut server = Proc::spawn(
        "moq auth serve",
        Command::new(generation.bin(&generation.cli)?)
            .args([
                "auth",
                "serve",
                "--listen",
                &listen,
                "--key",
                text(&public)?,
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null()),
    )?;
    poll("moq auth serve listening", Duration::from_secs(15), || {
        server.alive()?;
        Ok(std::net::TcpStream::connect(local(port)).ok().map(|_| ()))
    })?;
    let auth_url = format!("http://{listen}/");
    let opts = TheirOptions {
        listen_version: Some(version),
        auth_url: Some(&auth_url),
        ..TheirOptions::default()
    };
    let relay = TheirRelay::start(generation, "their relay (auth)", &opts)?;
    let moql = Moql::new(&relay.fingerprint, version);
    let url = |jwt: &str| format!("moql://127.0.0.1:{}/{ROOT}?jwt={jwt}", relay.port);

    let jwt = our_token(&private)?;
    let _publisher = moql.publish_clock(&url(&jwt), BROADCAST)?;
    let ticks = moql.subscribe_ticks(&url(&jwt), BROADCAST)?;

    // The same grants signed with a key their server does not hold: refused.
    let forged = our_token(&other)?;
    let (status, out) = output(
        "moql announced (forged token)",
        &mut moql.cmd(&["announced", &url(&forged), "--once", "-q"]),
        Duration::from_secs(15),
    )?;
    let listed = String::from_utf8_lossy(&out).contains(BROADCAST);
    ensure!(
        !status.success() && !listed,
        "a token from another key was let in (exit {status}, listed: {listed})"
    );
    Ok(format!(
        "ES256 JWK; ticks {ticks}; a foreign key's token refused ({status})"
    ))
}

fn theirs_through_ours(
    generation: &Generation,
    version: &str,
    dir: &Path,
) -> anyhow::Result<String> {
    let moq = generation.bin(&generation.cli)?;
    let (private, public) = (dir.join("theirs.key"), dir.join("theirs.pub"));
    run(
        "moq auth generate",
        &moq,
        &[
            "auth",
            "generate",
            "--algorithm",
            "EdDSA",
            "--out",
            text(&private)?,
            "--public",
            text(&public)?,
        ],
    )?;
    let expires = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 600;
    let jwt = run(
        "moq auth sign",
        &moq,
        &[
            "auth",
            "sign",
            "--key",
            text(&private)?,
            "--root",
            ROOT,
            "--publish",
            "**",
            "--subscribe",
            "**",
            "--expires",
            &expires.to_string(),
        ],
    )?;
    let claims = run(
        "moql-relay token verify",
        Path::new(OURS),
        &["token", "verify", "--key", text(&public)?, &jwt],
    )?;
    let config: PathBuf = dir.join("ours.toml");
    std::fs::write(
        &config,
        format!("[auth]\njwk_files = [{:?}]\n", text(&public)?),
    )?;
    let relay = OurRelay::start_with("our relay (auth)", None, &["--config", text(&config)?])?;
    let moql = Moql::new(&relay.fingerprint, version);
    let url = format!("moql://127.0.0.1:{}/{ROOT}?jwt={jwt}", relay.port);
    let _publisher = moql.publish_clock(&url, BROADCAST)?;
    let ticks = moql.subscribe_ticks(&url, BROADCAST)?;
    let anonymous = format!("moql://127.0.0.1:{}/{ROOT}", relay.port);
    let (status, _) = output(
        "moql announced (no token)",
        &mut moql.cmd(&["announced", &anonymous, "--once", "-q"]),
        Duration::from_secs(15),
    )?;
    ensure!(
        !status.success(),
        "our relay let a session without a token in"
    );
    let claims: String = claims.split_whitespace().collect();
    ensure!(
        claims.contains(r#""put":[""]"#) && claims.contains(r#""get":[""]"#),
        "verify read other grants: {claims}"
    );
    Ok(format!("EdDSA key file; verify: {claims}; ticks {ticks}"))
}
