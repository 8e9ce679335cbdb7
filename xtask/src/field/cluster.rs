//! Our relay and theirs as cluster peers, each direction of dialing on one moq-lite version:
//! a clock published on one relay is announced on the other, a past group is FETCHed through
//! the other (its first copy, so the FETCH crosses the link), and a subscriber there sees it
//! live.

use anyhow::ensure;

use super::Report;
use super::clients::{Moql, check_clock_group, has_fetch};
use super::install::Generation;
use super::relays::{OurRelay, TheirOptions, TheirRelay};

/// Which relay opens the cluster link.
#[derive(Clone, Copy)]
enum Dialer {
    Ours,
    Theirs,
}

pub(crate) fn steps(report: &mut Report, generation: &Generation, version: &str) {
    for dialer in [Dialer::Ours, Dialer::Theirs] {
        let link = match dialer {
            Dialer::Ours => "ours dials theirs",
            Dialer::Theirs => "theirs dials ours",
        };
        let tag = format!("[{version}] cluster, {link}");
        let mut relays = None;
        report.step(&format!("{tag}: link up"), || {
            let pair = start(generation, version, dialer)?;
            relays = Some(pair);
            Ok(String::new())
        });
        let Some((ours, theirs)) = relays else {
            report.skip(&format!("{tag}: the rest"), "the relays did not start");
            continue;
        };
        let our_url = format!("moql://127.0.0.1:{}/", ours.port);
        let their_url = format!("moql://127.0.0.1:{}/", theirs.port);
        let at_ours = Moql::new(&ours.fingerprint, version);
        let at_theirs = Moql::new(&theirs.fingerprint, version);
        report.step(&format!("{tag}: publish on theirs, read on ours"), || {
            across(
                version,
                (&at_theirs, &their_url),
                (&at_ours, &our_url),
                "field/a",
            )
        });
        report.step(&format!("{tag}: publish on ours, read on theirs"), || {
            across(
                version,
                (&at_ours, &our_url),
                (&at_theirs, &their_url),
                "field/b",
            )
        });
        report.step(&format!("{tag}: every session on {version}"), || {
            let (at_theirs, at_ours) = (theirs.negotiated(), ours.negotiated());
            ensure!(
                !at_theirs.is_empty() && at_theirs.iter().all(|v| v == version),
                "their relay logged the versions {at_theirs:?}"
            );
            ensure!(
                !at_ours.is_empty() && at_ours.iter().all(|v| v == version),
                "our relay logged the versions {at_ours:?}"
            );
            Ok(format!(
                "{} sessions at their relay, {} at ours",
                at_theirs.len(),
                at_ours.len()
            ))
        });
    }
}

/// Starts both relays, the dialer second, and the link on `version` only (the dialed side
/// accepts only it, or their dialer offers only it).
fn start(
    generation: &Generation,
    version: &str,
    dialer: Dialer,
) -> anyhow::Result<(OurRelay, TheirRelay)> {
    Ok(match dialer {
        Dialer::Ours => {
            let opts = TheirOptions {
                listen_version: Some(version),
                ..TheirOptions::default()
            };
            let theirs = TheirRelay::start(generation, "their relay (dialed)", &opts)?;
            let url = format!("moql://127.0.0.1:{}/", theirs.port);
            let ours = OurRelay::start("our relay (dialing)", Some((&url, &theirs.fingerprint)))?;
            (ours, theirs)
        }
        Dialer::Theirs => {
            let ours = OurRelay::start("our relay (dialed)", None)?;
            let url = format!("moql://127.0.0.1:{}/", ours.port);
            let opts = TheirOptions {
                listen_version: Some(version),
                peer: Some((&url, &ours.fingerprint)),
                connect_version: Some(version),
                ..TheirOptions::default()
            };
            let theirs = TheirRelay::start(generation, "their relay (dialing)", &opts)?;
            (ours, theirs)
        }
    })
}

/// A clock published at `from` is announced at `to`; a past group FETCHed at `to` (before
/// anything subscribes there) is a complete group of the clock; a subscriber at `to` sees
/// ticks; a group that never existed is refused at `to` (exit 4).
fn across(
    version: &str,
    (publisher, from): (&Moql, &str),
    (reader, to): (&Moql, &str),
    broadcast: &str,
) -> anyhow::Result<String> {
    let _publisher = publisher.publish_clock(from, broadcast)?;
    reader.wait_announced(to, broadcast)?;
    let mut detail = format!("announced {broadcast}");
    if has_fetch(version) {
        // Group 1 is complete once group 2 has started.
        std::thread::sleep(std::time::Duration::from_millis(2300));
        let (code, frames) = reader.fetch(to, broadcast, 1)?;
        ensure!(
            code == Some(0),
            "fetch of group 1 across the link exited {code:?}"
        );
        check_clock_group(&frames)?;
        detail.push_str(&format!("; FETCH group 1 across: {} frames", frames.len()));
    } else {
        detail.push_str("; no FETCH before lite-05");
    }
    let ticks = reader.subscribe_ticks(to, broadcast)?;
    detail.push_str(&format!("; live {ticks}"));
    if has_fetch(version) {
        // After the subscriber: the previous generation's relay stops delivering a track
        // once a FETCH of it failed upstream (docs/interop.md).
        let (code, _) = reader.fetch(to, broadcast, 999_999)?;
        ensure!(
            code == Some(4),
            "fetch across the link of a group that never existed exited {code:?} (want 4)"
        );
        detail.push_str("; missing group: exit 4");
    }
    Ok(detail)
}
