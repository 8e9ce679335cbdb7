//! lite-06 typed announcement streams, both directions (moq-lite-06.md sections 5.1, 6.4–6.6).
//!
//! A stream is generated as a valid sequence of steps: ANNOUNCE_START of a suffix not live on
//! the stream, ANNOUNCE_UPDATE / ANNOUNCE_END of a live Announce ID. Announce IDs are never on
//! the wire in a START; both sides count STARTs from 0, so the expected IDs come from START
//! order. The reference writes streams with `fuzz::encode_announces(_, false)` (its lite-06
//! literal framing, cost 0/0) and resolves them with `fuzz::decode_announces(_, false)`.

use moq_net::fuzz::{Announced, decode_announces, encode_announces};
use moq_net::{Hop, Hops, PathOwned};
use moql_wire::testing;
use moql_wire::{
    AnnounceEnd, AnnounceMessage, AnnounceStart, AnnounceUpdate, Decode, Encode, Path, RouteCost,
    Version,
};
use proptest::prelude::*;

use crate::hex;

/// One resolved announcement, in our terms.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Start { suffix: Path, hops: Vec<u64> },
    Update { id: u64, hops: Vec<u64> },
    End { id: u64 },
}

/// A raw generated operation, turned into a valid [`Step`] by [`steps`].
#[derive(Clone, Debug)]
enum Op {
    Start(Path, Vec<u64>),
    Update(usize, Vec<u64>),
    End(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (testing::path(), testing::hops()).prop_map(|(p, h)| Op::Start(p, h)),
        2 => (any::<usize>(), testing::hops()).prop_map(|(i, h)| Op::Update(i, h)),
        1 => any::<usize>().prop_map(Op::End),
    ]
}

/// Keeps the valid operations: a START whose suffix is live, or an UPDATE / END with nothing
/// live, is dropped; UPDATE / END pick a live ID by index.
fn steps(ops: Vec<Op>) -> Vec<Step> {
    let mut live: Vec<(u64, Path)> = Vec::new();
    let mut next = 0;
    let mut steps = Vec::new();
    for op in ops {
        match op {
            Op::Start(suffix, hops) => {
                if live.iter().any(|(_, s)| *s == suffix) {
                    continue;
                }
                live.push((next, suffix.clone()));
                next += 1;
                steps.push(Step::Start { suffix, hops });
            }
            Op::Update(pick, hops) if !live.is_empty() => {
                let id = live[pick % live.len()].0;
                steps.push(Step::Update { id, hops });
            }
            Op::End(pick) if !live.is_empty() => {
                let (id, _) = live.remove(pick % live.len());
                steps.push(Step::End { id });
            }
            Op::Update(..) | Op::End(_) => {}
        }
    }
    steps
}

fn their_hops(hops: &[u64]) -> Hops {
    let hops: Vec<Hop> = hops
        .iter()
        .map(|&id| match id {
            0 => Hop::UNKNOWN,
            id => Hop::new(id).expect("a varint hop id"),
        })
        .collect();
    Hops::try_from(hops).expect("at most 32 hops, none repeated")
}

fn theirs(step: &Step) -> Announced {
    match step {
        Step::Start { suffix, hops } => Announced::Start(
            PathOwned::from(suffix.as_str().to_string()),
            their_hops(hops),
        ),
        Step::Update { id, hops } => Announced::Update(*id, their_hops(hops)),
        Step::End { id } => Announced::End(*id),
    }
}

fn ours(step: &Step) -> AnnounceMessage {
    let cost = RouteCost::default();
    match step {
        Step::Start { suffix, hops } => AnnounceMessage::Start(AnnounceStart {
            suffix: suffix.clone(),
            hops: hops.clone(),
            cost,
        }),
        Step::Update { id, hops } => AnnounceMessage::Update(AnnounceUpdate {
            id: *id,
            hops: hops.clone(),
            cost,
        }),
        Step::End { id } => AnnounceMessage::End(AnnounceEnd { id: *id }),
    }
}

/// Decodes a whole lite-06 announce stream with ours, resolving START IDs by order.
fn decode_ours(mut bytes: &[u8]) -> Result<Vec<Step>, String> {
    let mut next = 0;
    let mut steps = Vec::new();
    while !bytes.is_empty() {
        let message = AnnounceMessage::decode(&mut bytes, Version::Lite06)
            .map_err(|e| format!("message {}: {e}", steps.len()))?;
        let step = match message {
            AnnounceMessage::Start(AnnounceStart { suffix, hops, cost }) => {
                assert_eq!(cost, RouteCost::default(), "the reference writes cost 0/0");
                next += 1;
                Step::Start { suffix, hops }
            }
            AnnounceMessage::Update(AnnounceUpdate { id, hops, cost }) => {
                assert_eq!(cost, RouteCost::default(), "the reference writes cost 0/0");
                Step::Update { id, hops }
            }
            AnnounceMessage::End(AnnounceEnd { id }) => Step::End { id },
            other => return Err(format!("unexpected {other:?}")),
        };
        steps.push(step);
    }
    let starts = steps
        .iter()
        .filter(|s| matches!(s, Step::Start { .. }))
        .count();
    assert_eq!(next, starts);
    Ok(steps)
}

proptest! {
    /// Their encoder → our decoder gives the same steps; our encoder writes the same bytes;
    /// their decoder resolves our bytes to the same sequence.
    #[test]
    fn typed_announce_streams_agree(steps in prop::collection::vec(op(), 0..24).prop_map(steps)) {
        let expected: Vec<Announced> = steps.iter().map(theirs).collect();
        let their_bytes = encode_announces(&expected, false);

        let decoded = decode_ours(&their_bytes).map_err(|e| TestCaseError::fail(format!(
            "we could not decode the reference's stream {}: {e}", hex(&their_bytes))))?;
        prop_assert_eq!(&decoded, &steps);

        let mut our_bytes = Vec::new();
        for step in &steps {
            ours(step).encode(&mut our_bytes, Version::Lite06)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        prop_assert_eq!(hex(&our_bytes), hex(&their_bytes));
        prop_assert_eq!(decode_announces(&our_bytes, false), expected);
    }

    /// Route costs we write (any varint pair) do not disturb what the reference resolves.
    #[test]
    fn typed_announce_costs_are_read_past(
        steps in prop::collection::vec(op(), 0..12).prop_map(steps),
        costs in prop::collection::vec(testing::route_cost(), 12),
    ) {
        let mut our_bytes = Vec::new();
        for (step, cost) in steps.iter().zip(costs.iter().cycle()) {
            let message = match ours(step) {
                AnnounceMessage::Start(start) => AnnounceMessage::Start(AnnounceStart { cost: *cost, ..start }),
                AnnounceMessage::Update(update) => AnnounceMessage::Update(AnnounceUpdate { cost: *cost, ..update }),
                other => other,
            };
            message.encode(&mut our_bytes, Version::Lite06).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let expected: Vec<Announced> = steps.iter().map(theirs).collect();
        prop_assert_eq!(decode_announces(&our_bytes, false), expected);
    }
}
