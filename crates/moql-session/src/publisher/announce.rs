//! Serving an Announce stream (spec 4.2): ANNOUNCE_OK with the active count, the initial
//! set, then live changes, for as long as the subscriber keeps the stream open.

use moql_model::{Announced, Announcement};
use moql_wire::{Announce, AnnounceOk, AnnounceRequest, AnnounceStatus, Path};

use crate::context::Context;
use crate::error::StreamError;
use crate::io::{Reader, Writer};
use crate::proto::announce::{contains, encode_hops};

pub(crate) async fn serve<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    writer: &mut Writer<T::SendStream>,
    reader: &mut Reader<T::RecvStream>,
) -> Result<(), StreamError> {
    let version = ctx.version;
    let request: AnnounceRequest = reader.decode(version).await?;
    // Spec 5.2: Exclude Hop 0 = none.
    let exclude = request.exclude_hop;
    let own = ctx.settings.origin_id;

    // Spec 4.2: a prefix outside what we offer still gets ANNOUNCE_OK with count 0, and the
    // stream stays open with nothing further.
    let mut watcher = match ctx.publish.as_ref().map(|o| o.scope(&request.prefix)) {
        Some(Ok(watcher)) => Some(watcher),
        _ => None,
    };
    let Some(watcher) = watcher.as_mut() else {
        if version.has_announce_ok() {
            writer
                .encode(
                    &AnnounceOk {
                        hop_id: own,
                        active_count: 0,
                    },
                    version,
                )
                .await?;
        }
        return reader.expect_end().await;
    };
    let prefix = watcher.prefix().clone();
    let root = ctx
        .publish
        .as_ref()
        .map(|o| o.prefix().clone())
        .unwrap_or_default();
    let allow = ctx.settings.allow_subscribe.clone();
    let eligible = |a: &Announced| {
        let wire = a.path.strip_prefix(&root).unwrap_or_default();
        !contains(&a.hops, exclude)
            && !contains(&a.hops, own)
            && crate::config::allowed(allow.as_deref(), &wire)
    };
    let suffix = |path: &Path| path.strip_prefix(&prefix).unwrap_or_default();

    // Every broadcast we have told this subscriber is active, so a route that becomes
    // ineligible is ended and an `ended` is only sent for what was announced.
    let mut active = std::collections::HashSet::new();
    loop {
        tokio::select! {
            // Spec 4.2: "The subscriber must not write anything after ANNOUNCE_REQUEST" — any
            // byte is an error (RESET 5); a FIN ends the stream.
            end = reader.expect_end() => return end,
            next = watcher.announced() => {
                let Some(announcement) = next else {
                    // The origin is gone: FIN.
                    writer.finish()?;
                    return Ok(());
                };
                match announcement {
                    Announcement::Initial(set) => {
                        let set: Vec<_> = set.into_iter().filter(|a| eligible(a)).collect();
                        if version.has_announce_ok() {
                            writer.encode(&AnnounceOk { hop_id: own, active_count: set.len() as u64 }, version).await?;
                        }
                        for a in set {
                            active.insert(a.path.clone());
                            let msg = Announce { status: AnnounceStatus::Active, suffix: suffix(&a.path), hops: encode_hops(&a.hops, own, version) };
                            writer.encode(&msg, version).await?;
                        }
                    }
                    Announcement::Active(a) | Announcement::Replaced(a) => {
                        let was_active = active.contains(&a.path);
                        if !eligible(&a) {
                            if was_active {
                                active.remove(&a.path);
                                writer.encode(&ended(suffix(&a.path)), version).await?;
                            }
                            continue;
                        }
                        // lite-03/04 cannot replace an advertisement: ended, then active.
                        if was_active && !version.has_announce_restart() {
                            writer.encode(&ended(suffix(&a.path)), version).await?;
                        }
                        active.insert(a.path.clone());
                        let msg = Announce { status: AnnounceStatus::Active, suffix: suffix(&a.path), hops: encode_hops(&a.hops, own, version) };
                        writer.encode(&msg, version).await?;
                    }
                    Announcement::Ended(path) => {
                        if active.remove(&path) {
                            writer.encode(&ended(suffix(&path)), version).await?;
                        }
                    }
                }
            }
        }
    }
}

/// Spec 5.4: "A broadcast disappears → `ended` with Hop Count 0."
fn ended(suffix: Path) -> Announce {
    Announce {
        status: AnnounceStatus::Ended,
        suffix,
        hops: Vec::new(),
    }
}
