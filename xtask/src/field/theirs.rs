//! Their relay, our client: publish, announced, fetch (against their HTTP `/fetch`) and
//! subscribe over each transport, on one moq-lite version.

use std::time::Duration;

use anyhow::{Context, ensure};

use super::Report;
use super::clients::{Moql, fetch_matches_http, has_fetch, missing_group_refused};
use super::install::{Dialect, Generation};
use super::procs::{Proc, local};
use super::relays::{TheirOptions, TheirRelay};
use crate::interop::http_get;

pub(crate) fn steps(report: &mut Report, generation: &Generation, version: &str) {
    let tag = format!("[{version}] their relay {}", generation.relay.version);
    let broadcast = "field/clock";
    let mut relay = None;
    let mut publisher: Option<Proc> = None;
    let mut moql = None;
    let started = report.step(&format!("{tag}: our publish --clock"), || {
        let opts = TheirOptions {
            listen_version: Some(version),
            ..TheirOptions::default()
        };
        let their = TheirRelay::start(generation, "their relay", &opts)?;
        let client = Moql::new(&their.fingerprint, version);
        let url = format!("moql://127.0.0.1:{}/", their.port);
        publisher = Some(client.publish_clock(&url, broadcast)?);
        let negotiated = their.negotiated();
        ensure!(
            negotiated.iter().all(|v| v == version) && !negotiated.is_empty(),
            "their relay logged the versions {negotiated:?}"
        );
        relay = Some(their);
        moql = Some(client);
        Ok(format!("negotiated {version} (both sides)"))
    });
    let (Some(relay), Some(moql), true) = (relay, moql, started) else {
        report.skip(&format!("{tag}: the rest"), "the publisher did not start");
        return;
    };
    let url = format!("moql://127.0.0.1:{}/", relay.port);

    report.step(&format!("{tag}: our announced"), || {
        moql.wait_announced(&url, broadcast)?;
        Ok(format!("lists {broadcast}"))
    });

    // Before anything subscribes, so their relay holds no copy of the track and must FETCH
    // the group from our publisher.
    std::thread::sleep(Duration::from_millis(2300));
    if has_fetch(version) {
        // The previous generation's HTTP `/fetch` hangs on a group it must first FETCH
        // upstream (their bug, docs/interop.md): there our `moql fetch` goes first and the
        // HTTP request reads the copy it left.
        let http_first = generation.dialect == Dialect::Current;
        report.step(&format!("{tag}: our fetch = their HTTP /fetch"), || {
            fetch_matches_http(&moql, &url, relay.port, broadcast, 1, http_first)
        });
    } else {
        report.step(
            &format!("{tag}: fetch refused (no FETCH before lite-05)"),
            || no_fetch(&moql, &url, relay.port, broadcast),
        );
    }

    let transports = [
        ("raw QUIC", url.clone()),
        ("WebTransport", format!("https://127.0.0.1:{}/", relay.port)),
        ("WebSocket", format!("ws://127.0.0.1:{}/", relay.port)),
    ];
    for (transport, sub_url) in transports {
        report.step(&format!("{tag}: our subscribe over {transport}"), || {
            moql.subscribe_ticks(&sub_url, broadcast)
        });
    }
    // Last: the previous generation's relay stops delivering a track to subscribers once a
    // FETCH of it failed upstream, and its HTTP `/fetch` of a missing group answers 200 and
    // never ends (their bugs, docs/interop.md); there only our client's side is checked.
    let http = generation.dialect == Dialect::Current;
    if has_fetch(version) {
        report.step(&format!("{tag}: a group that never existed"), || {
            let detail = missing_group_refused(&moql, &url, relay.port, broadcast, http)?;
            Ok(if http {
                detail
            } else {
                format!("{detail}; their HTTP /fetch not checked (200, then hangs)")
            })
        });
    }
    report.step(&format!("{tag}: every session on {version}"), || {
        let negotiated = relay.negotiated();
        ensure!(
            negotiated.iter().all(|v| v == version),
            "their relay logged the versions {negotiated:?}"
        );
        Ok(format!("{} sessions", negotiated.len()))
    });
    drop(publisher);
}

/// On versions without FETCH a past group cannot be fetched from a track nobody subscribed:
/// `moql fetch` must fail cleanly (exit 4, NotFound) and HTTP `/fetch` must not be an empty
/// 200.
fn no_fetch(moql: &Moql, url: &str, http_port: u16, broadcast: &str) -> anyhow::Result<String> {
    let (code, frames) = moql.fetch(url, broadcast, 1)?;
    ensure!(
        code == Some(4) && frames.is_empty(),
        "moql fetch exited {code:?} with {} frames (want 4, none)",
        frames.len()
    );
    let (status, body) = http_get(
        local(http_port),
        &format!("/fetch/{broadcast}/{}?group=1", super::clients::TRACK),
    )
    .context("HTTP /fetch")?;
    ensure!(
        status != 200 || !body.is_empty(),
        "HTTP /fetch answered an empty 200"
    );
    Ok(format!("moql exit 4; HTTP {status}, {} bytes", body.len()))
}
