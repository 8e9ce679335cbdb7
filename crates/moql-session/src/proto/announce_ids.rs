//! Announce IDs of lite-06 (moq-lite-06.md 5.1, 6.4–6.8): the typed announcements name a
//! live advertisement by an ID both sides derive from message order (the first
//! ANNOUNCE_START on a stream is 0, each later one the next integer), never sent in the
//! START itself. These two tables turn route changes into typed messages (publisher) and
//! typed messages back into route changes (subscriber), as pure state machines.

use std::collections::HashMap;

use moql_wire::{AnnounceEnd, AnnounceMessage, AnnounceStart, AnnounceUpdate, Path, RouteCost};

/// The publisher's side: which advertisement each path holds on this stream.
#[derive(Debug, Default)]
pub(crate) struct Advertised {
    next: u64,
    live: HashMap<Path, Advertisement>,
}

#[derive(Debug)]
struct Advertisement {
    id: u64,
    hops: Vec<u64>,
    cost: RouteCost,
}

impl Advertised {
    /// The message that makes the peer see `suffix` as active with `hops` and `cost`: a
    /// START (new ID) for a path not live on this stream, an UPDATE if its chain or cost
    /// changed, nothing if neither did (moq-lite-06.md 6.8).
    pub(crate) fn active(
        &mut self,
        suffix: Path,
        hops: Vec<u64>,
        cost: RouteCost,
    ) -> Option<AnnounceMessage> {
        if let Some(live) = self.live.get_mut(&suffix) {
            if live.hops == hops && live.cost == cost {
                return None;
            }
            live.hops.clone_from(&hops);
            live.cost = cost;
            return Some(AnnounceMessage::Update(AnnounceUpdate {
                id: live.id,
                hops,
                cost,
            }));
        }
        let id = self.next;
        self.next += 1;
        self.live.insert(
            suffix.clone(),
            Advertisement {
                id,
                hops: hops.clone(),
                cost,
            },
        );
        Some(AnnounceMessage::Start(AnnounceStart { suffix, hops, cost }))
    }

    /// The END that retires `suffix`'s advertisement, if it is live on this stream.
    pub(crate) fn ended(&mut self, suffix: &Path) -> Option<AnnounceMessage> {
        let live = self.live.remove(suffix)?;
        Some(AnnounceMessage::End(AnnounceEnd { id: live.id }))
    }
}

/// What a typed announcement means for the subscriber.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// A new advertisement for this path (suffix) with this hop list.
    Start(Path, Vec<u64>),
    /// The live advertisement for this path changed its hop list (re-route in place).
    Update(Path, Vec<u64>),
    /// The advertisement for this path is retracted.
    End(Path),
    /// An unknown message type: skipped, no ID assigned.
    Ignored,
}

/// A typed announcement the protocol forbids: the reference closes the session with
/// PROTOCOL_VIOLATION (moq-lite-06.md 6.5–6.7, 9).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A second ANNOUNCE_START for a path this stream already holds (even a declined one).
    DuplicateStart,
    /// An END or UPDATE naming an ID never assigned on this stream, or already retired.
    UnknownId,
}

impl Violation {
    /// What went wrong, for the close reason.
    pub(crate) const fn describe(&self) -> &'static str {
        match self {
            Self::DuplicateStart => "a second ANNOUNCE_START for a live path",
            Self::UnknownId => "an announce ID that is not live",
        }
    }
}

/// The subscriber's side: which path each live ID names.
#[derive(Debug, Default)]
pub(crate) struct Received {
    next: u64,
    paths: HashMap<u64, Path>,
}

impl Received {
    /// Applies one message: the ID table changes and the meaning comes back.
    pub(crate) fn apply(&mut self, message: AnnounceMessage) -> Result<Change, Violation> {
        match message {
            AnnounceMessage::Start(start) => {
                // Every START takes the next ID, even one that is then refused or declined.
                let id = self.next;
                self.next += 1;
                if self.paths.values().any(|p| *p == start.suffix) {
                    return Err(Violation::DuplicateStart);
                }
                self.paths.insert(id, start.suffix.clone());
                Ok(Change::Start(start.suffix, start.hops))
            }
            AnnounceMessage::End(end) => self
                .paths
                .remove(&end.id)
                .map(Change::End)
                .ok_or(Violation::UnknownId),
            AnnounceMessage::Update(update) => self
                .paths
                .get(&update.id)
                .map(|path| Change::Update(path.clone(), update.hops))
                .ok_or(Violation::UnknownId),
            AnnounceMessage::Unknown { .. } => Ok(Change::Ignored),
        }
    }
}

/// The cost we advertise for a route whose stored chain is `chain`: one per link it crossed
/// to reach us, warm and cold alike. That is what the reference stores under its defaults
/// (each receiver charges 1 per link, moq-lite-06.md 10.2), without a cost model of our own:
/// received costs are read and ignored, and routes are chosen by chain length.
pub(crate) fn route_cost(chain: &[u64]) -> RouteCost {
    let links = chain.len() as u64;
    RouteCost {
        warm: links,
        cold: links,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Path {
        Path::new(s).unwrap()
    }

    #[test]
    fn ids_count_starts_from_zero_and_are_never_reused() {
        let mut sent = Advertised::default();
        let mut got = Received::default();
        for (name, id) in [("a", 0), ("b", 1)] {
            let msg = sent
                .active(path(name), vec![], RouteCost::default())
                .unwrap();
            assert!(matches!(msg, AnnounceMessage::Start(_)));
            assert_eq!(got.apply(msg), Ok(Change::Start(path(name), vec![])));
            assert_eq!(got.paths.get(&id), Some(&path(name)));
        }
        let end = sent.ended(&path("a")).unwrap();
        assert_eq!(end, AnnounceMessage::End(AnnounceEnd { id: 0 }));
        assert_eq!(got.apply(end), Ok(Change::End(path("a"))));
        // Announced again after its END: a fresh ID.
        let again = sent
            .active(path("a"), vec![], RouteCost::default())
            .unwrap();
        assert_eq!(got.apply(again), Ok(Change::Start(path("a"), vec![])));
        assert_eq!(
            sent.ended(&path("a")),
            Some(AnnounceMessage::End(AnnounceEnd { id: 2 }))
        );
    }

    #[test]
    fn a_changed_chain_or_cost_is_an_update_and_no_change_sends_nothing() {
        let mut sent = Advertised::default();
        sent.active(path("a"), vec![7], route_cost(&[7])).unwrap();
        assert_eq!(sent.active(path("a"), vec![7], route_cost(&[7])), None);
        assert_eq!(
            sent.active(path("a"), vec![7, 8], route_cost(&[7, 8])),
            Some(AnnounceMessage::Update(AnnounceUpdate {
                id: 0,
                hops: vec![7, 8],
                cost: RouteCost { warm: 2, cold: 2 },
            }))
        );
        assert!(sent.live.contains_key(&path("a")));
        assert_eq!(sent.ended(&path("b")), None);
    }

    #[test]
    fn a_second_start_for_a_live_path_is_a_violation_but_still_takes_an_id() {
        let mut got = Received::default();
        let start = || {
            AnnounceMessage::Start(AnnounceStart {
                suffix: path("a"),
                hops: vec![],
                cost: RouteCost::default(),
            })
        };
        assert!(got.apply(start()).is_ok());
        assert_eq!(got.apply(start()), Err(Violation::DuplicateStart));
        assert_eq!(got.next, 2);
    }

    #[test]
    fn end_or_update_of_an_unknown_or_retired_id_is_a_violation() {
        let mut got = Received::default();
        assert_eq!(
            got.apply(AnnounceMessage::End(AnnounceEnd { id: 0 })),
            Err(Violation::UnknownId)
        );
        got.apply(AnnounceMessage::Start(AnnounceStart {
            suffix: path("a"),
            hops: vec![],
            cost: RouteCost::default(),
        }))
        .unwrap();
        got.apply(AnnounceMessage::End(AnnounceEnd { id: 0 }))
            .unwrap();
        let update = AnnounceMessage::Update(AnnounceUpdate {
            id: 0,
            hops: vec![],
            cost: RouteCost::default(),
        });
        assert_eq!(got.apply(update), Err(Violation::UnknownId));
    }

    #[test]
    fn cost_counts_the_links_crossed() {
        assert_eq!(route_cost(&[]), RouteCost { warm: 0, cold: 0 });
        assert_eq!(route_cost(&[4, 5]), RouteCost { warm: 2, cold: 2 });
    }
}
