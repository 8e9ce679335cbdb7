//! Serving an Announce stream (spec 4.2): ANNOUNCE_OK with the active count, the initial
//! set, then live changes, for as long as the subscriber keeps the stream open. lite-06 sends
//! typed announcements naming each advertisement by its Announce ID (moq-lite-06.md 5.1,
//! 6.8); older versions send the untyped ANNOUNCE by path.

use moql_model::{Announced, Announcement};
use moql_wire::{Announce, AnnounceOk, AnnounceRequest, AnnounceStatus, ErrorCode, Path, Version};
use web_transport_trait::SendStream;

use super::subscribe::Serving;
use crate::context::Context;
use crate::error::StreamError;
use crate::io::{Reader, Writer};
use crate::proto::announce::{contains, encode_hops};
use crate::proto::announce_ids::{Advertised, route_cost};

pub(crate) async fn serve<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    writer: &mut Writer<T::SendStream>,
    reader: &mut Reader<T::RecvStream>,
) -> Result<(), StreamError> {
    let version = ctx.version;
    let Some(_announcing) = Serving::new(&ctx.announcing, ctx.config.max_announce_streams) else {
        tracing::debug!(
            max = ctx.config.max_announce_streams,
            "too many announce streams"
        );
        return Err(StreamError::Limit(
            ErrorCode::TOO_MANY_REQUESTS,
            "announce stream",
        ));
    };
    let request: AnnounceRequest = reader.decode(version).await?;
    // Spec 5.2: Exclude Hop 0 = none. lite-06 has no Exclude Hop: the identity to filter is
    // the peer's SETUP Hop, so the answer waits for the peer's SETUP (moq-lite-06.md 5.1).
    let exclude = if version.announce_waits_for_setup() {
        let peer = ctx.peer_setup().await.map_err(StreamError::transport)?;
        peer.hop().unwrap_or(0)
    } else {
        request.exclude_hop
    };
    let own = ctx.config.origin_id;

    // Spec 4.2: a prefix outside what we offer still gets ANNOUNCE_OK with count 0, and the
    // stream stays open with nothing further.
    let mut watcher = match ctx
        .config
        .publish
        .as_ref()
        .map(|o| o.scope(&request.prefix))
    {
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
        .config
        .publish
        .as_ref()
        .map(|o| o.prefix().clone())
        .unwrap_or_default();
    let allow = ctx.config.allow_subscribe.clone();
    let eligible = |a: &Announced| {
        let wire = a.path.strip_prefix(&root).unwrap_or_default();
        !contains(&a.hops, exclude)
            && !contains(&a.hops, own)
            // Never back to the peer it came from, even one that names no hop ID.
            && !contains(&a.hops, ctx.stamp)
            && crate::config::allowed(allow.as_deref(), &wire)
    };
    let suffix = |path: &Path| path.strip_prefix(&prefix).unwrap_or_default();

    // Every broadcast we have told this subscriber is active, so a route that becomes
    // ineligible is ended and an `ended` is only sent for what was announced.
    let mut sent = Sent::new(version);
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
                            sent.active(writer, suffix(&a.path), &a.hops, own).await?;
                        }
                    }
                    Announcement::Active(a) | Announcement::Replaced(a) => {
                        if eligible(&a) {
                            sent.active(writer, suffix(&a.path), &a.hops, own).await?;
                        } else {
                            sent.ended(writer, &suffix(&a.path)).await?;
                        }
                    }
                    Announcement::Ended(path) => sent.ended(writer, &suffix(&path)).await?,
                }
            }
        }
    }
}

/// What this stream has told the subscriber is active, and how each version says a change.
enum Sent {
    /// lite-03/04/05: untyped ANNOUNCEs by path.
    ByPath {
        version: Version,
        active: std::collections::HashSet<Path>,
    },
    /// lite-06: typed announcements by Announce ID.
    ById {
        version: Version,
        advertised: Advertised,
    },
}

impl Sent {
    fn new(version: Version) -> Self {
        if version.has_announce_ids() {
            Self::ById {
                version,
                advertised: Advertised::default(),
            }
        } else {
            Self::ByPath {
                version,
                active: std::collections::HashSet::new(),
            }
        }
    }

    /// Tells the subscriber `suffix` is active through the stored chain `chain`.
    async fn active<S: SendStream>(
        &mut self,
        writer: &mut Writer<S>,
        suffix: Path,
        chain: &[u64],
        own: u64,
    ) -> Result<(), StreamError> {
        match self {
            Self::ByPath { version, active } => {
                let version = *version;
                // lite-03/04 cannot replace an advertisement: ended, then active.
                if !active.insert(suffix.clone()) && !version.has_announce_restart() {
                    writer.encode(&ended(suffix.clone()), version).await?;
                }
                let hops = encode_hops(chain, own, version);
                let msg = Announce {
                    status: AnnounceStatus::Active,
                    suffix,
                    hops,
                };
                writer.encode(&msg, version).await
            }
            Self::ById {
                version,
                advertised,
            } => {
                let hops = encode_hops(chain, own, *version);
                match advertised.active(suffix, hops, route_cost(chain)) {
                    Some(msg) => writer.encode(&msg, *version).await,
                    None => Ok(()),
                }
            }
        }
    }

    /// Tells the subscriber `suffix` ended, if it was told it is active.
    async fn ended<S: SendStream>(
        &mut self,
        writer: &mut Writer<S>,
        suffix: &Path,
    ) -> Result<(), StreamError> {
        match self {
            Self::ByPath { version, active } => {
                if active.remove(suffix) {
                    writer.encode(&ended(suffix.clone()), *version).await?;
                }
                Ok(())
            }
            Self::ById {
                version,
                advertised,
            } => match advertised.ended(suffix) {
                Some(msg) => writer.encode(&msg, *version).await,
                None => Ok(()),
            },
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
