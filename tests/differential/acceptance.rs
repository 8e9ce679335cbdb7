//! Accept / reject agreement on bytes neither encoder wrote: our valid encodings with one
//! mutation, and the reference's own fuzz seeds (`moq_net::fuzz::seeds`, uniform fills in
//! every dispatch arm). For each input both decoders decode the same message kind at the
//! same version (trailing bytes ignored by both) and must agree, except for these documented
//! differences, each recognised by [`known_difference`]:
//!
//! * **Message Length cap.** We refuse a declared length above 64 KiB
//!   (`moql_wire::limits::MAX_MESSAGE_LEN`, our choice); the release accepts up to 64 MiB for
//!   control messages (moq-lite-06.md section 2 row 9). Only reachable with the bytes present.
//! * **Repeated hop IDs on lite-05.** The release refuses a non-zero Hop ID twice in one list on
//!   every version (section 2 row 10); we do on lite-06 only (`Version::rejects_repeated_hops`).
//!
//! Anything else fails the test with the input in hex.

use moql_wire::testing;
use moql_wire::{
    Announce, AnnounceMessage, AnnounceOk, AnnounceRequest, Datagram, Decode, DecodeError, Encode,
    Fetch, Goaway, Group, Probe, Setup, Subscribe, SubscribeResponse, SubscribeUpdate, Track,
    TrackInfo, Version, encode_varint,
};
use proptest::prelude::*;

use crate::{Kind, RELEASED, hex, selector, theirs_accepts};

/// Our verdict on `bytes` as a `kind` at `version`, or `None` where we have no decoder for
/// that kind there (the lite-03/04 SUBSCRIBE_OK on lite-05+, a bare parameter map).
fn ours(version: Version, kind: Kind, bytes: &[u8]) -> Option<Result<(), DecodeError>> {
    fn run<T: Decode>(bytes: &[u8], version: Version) -> Result<(), DecodeError> {
        T::decode_from(bytes, version).map(|_| ())
    }
    // The reference's per-type subscribe-response decoders take the body after the type.
    let typed = |typ: u64| {
        let mut framed = Vec::new();
        encode_varint(&mut framed, typ).expect("a small type");
        framed.extend_from_slice(bytes);
        run::<SubscribeResponse>(&framed, version)
    };
    Some(match kind {
        Kind::Setup => run::<Setup>(bytes, version),
        Kind::AnnounceRequest => run::<AnnounceRequest>(bytes, version),
        Kind::AnnounceOk => run::<AnnounceOk>(bytes, version),
        Kind::Announce if version.has_announce_ids() => run::<AnnounceMessage>(bytes, version),
        Kind::Announce => run::<Announce>(bytes, version),
        Kind::Subscribe => run::<Subscribe>(bytes, version),
        Kind::SubscribeUpdate => run::<SubscribeUpdate>(bytes, version),
        Kind::SubscribeResponse => run::<SubscribeResponse>(bytes, version),
        Kind::SubscribeStart if version.has_subscribe_start() => typed(0),
        Kind::SubscribeEnd if version.has_subscribe_end() => typed(1),
        Kind::SubscribeDrop => typed(version.subscribe_drop_type()),
        Kind::Fetch => run::<Fetch>(bytes, version),
        Kind::Group => run::<Group>(bytes, version),
        Kind::Goaway => run::<Goaway>(bytes, version),
        Kind::Track => run::<Track>(bytes, version),
        Kind::TrackInfo => run::<TrackInfo>(bytes, version),
        Kind::Probe => run::<Probe>(bytes, version),
        Kind::Datagram => run::<Datagram>(bytes, version),
        Kind::SubscribeOkLegacy | Kind::SubscribeStart | Kind::SubscribeEnd | Kind::Parameters => {
            return None;
        }
    })
}

/// The documented difference (module docs) that explains a disagreement, if any.
fn known_difference(
    version: Version,
    kind: Kind,
    bytes: &[u8],
    ours: &Result<(), DecodeError>,
) -> Option<&'static str> {
    match ours {
        Err(DecodeError::TooLarge) => Some("Message Length above our 64 KiB cap"),
        Ok(()) if !version.rejects_repeated_hops() && kind == Kind::Announce => {
            let announce = Announce::decode_from(bytes, version).ok()?.0;
            let mut nonzero: Vec<u64> = announce.hops.into_iter().filter(|&h| h != 0).collect();
            let len = nonzero.len();
            nonzero.sort_unstable();
            nonzero.dedup();
            (nonzero.len() != len).then_some("a repeated hop ID, refused by the release")
        }
        _ => None,
    }
}

/// Both verdicts on one input; `Err` describes an unexplained disagreement.
fn compare(version: Version, kind: Kind, bytes: &[u8]) -> Result<(), String> {
    let Some(ours) = ours(version, kind, bytes) else {
        return Ok(());
    };
    let theirs = theirs_accepts(version, kind, bytes)?;
    if ours.is_ok() == theirs || known_difference(version, kind, bytes, &ours).is_some() {
        return Ok(());
    }
    Err(format!(
        "{kind:?} at {version}: we say {ours:?}, the reference says {}: {}",
        if theirs { "accepted" } else { "refused" },
        hex(bytes)
    ))
}

/// One valid encoding of any kind at `version`, from our strategies.
fn encoded(version: Version) -> BoxedStrategy<(Kind, Vec<u8>)> {
    fn enc<T: Encode>(kind: Kind, version: Version) -> impl Fn(T) -> (Kind, Vec<u8>) {
        move |value| (kind, value.encode_to_vec(version).expect("strategies are valid"))
    }
    let v = version;
    let announce = if v.has_announce_ids() {
        testing::announce_message().prop_map(enc(Kind::Announce, v)).boxed()
    } else {
        testing::announce(v).prop_map(enc(Kind::Announce, v)).boxed()
    };
    prop_oneof![
        testing::setup().prop_map(enc(Kind::Setup, v)),
        testing::announce_request(v).prop_map(enc(Kind::AnnounceRequest, v)),
        testing::announce_ok().prop_map(enc(Kind::AnnounceOk, v)),
        announce,
        testing::subscribe(v).prop_map(enc(Kind::Subscribe, v)),
        testing::subscribe_update(v).prop_map(enc(Kind::SubscribeUpdate, v)),
        testing::subscribe_response(v).prop_map(enc(Kind::SubscribeResponse, v)),
        testing::fetch(v).prop_map(enc(Kind::Fetch, v)),
        testing::group(v).prop_map(enc(Kind::Group, v)),
        testing::goaway().prop_map(enc(Kind::Goaway, v)),
        testing::track().prop_map(enc(Kind::Track, v)),
        testing::track_info(v).prop_map(enc(Kind::TrackInfo, v)),
        testing::probe(v).prop_map(enc(Kind::Probe, v)),
        testing::datagram().prop_map(enc(Kind::Datagram, v)),
    ]
    .boxed()
}

/// One mutation of an encoding.
#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match *self {
            Self::Set(i, b) if !bytes.is_empty() => {
                let i = at(i, bytes.len());
                bytes[i] = b;
            }
            Self::Insert(i, b) => bytes.insert(at(i, bytes.len() + 1), b),
            Self::Remove(i) if !bytes.is_empty() => {
                bytes.remove(at(i, bytes.len()));
            }
            Self::Truncate(i) => bytes.truncate(at(i, bytes.len() + 1)),
            Self::Set(..) | Self::Remove(_) => {}
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![Just(0u8), Just(1), Just(2), Just(0x3f), Just(0x40), Just(0xff), any::<u8>()];
    prop_oneof![
        4 => (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: ProptestConfig::default().cases * 4,
        ..ProptestConfig::default()
    })]

    /// Our valid encodings, unmutated (both accept) and with one or two mutations.
    #[test]
    fn mutated_encodings((version, (kind, bytes)) in prop::sample::select(RELEASED.to_vec())
            .prop_flat_map(|v| (Just(v), encoded(v))),
        mutations in prop::collection::vec(mutation(), 0..=2))
    {
        let mut input = bytes;
        for m in &mutations {
            m.apply(&mut input);
        }
        compare(version, kind, &input).map_err(TestCaseError::fail)?;
    }
}

/// The reference's fuzz seeds for its `lite` target at lite-05 and lite-06.
#[test]
fn reference_seeds() {
    let mut compared = 0;
    let mut failures = Vec::new();
    for seed in moq_net::fuzz::seeds() {
        let Some((&version, rest)) = seed.data.split_first() else {
            continue;
        };
        let Some(version) = RELEASED.into_iter().find(|&v| selector(v) == version) else {
            continue;
        };
        let Some((&kind, body)) = rest.split_first() else {
            continue;
        };
        if seed.target != "lite" {
            continue;
        }
        let Some(kind) = KINDS.iter().copied().find(|&k| k as u8 == kind) else {
            continue;
        };
        compared += 1;
        if let Err(e) = compare(version, kind, body) {
            failures.push(e);
        }
    }
    assert!(compared > 500, "only {compared} seeds compared");
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}

const KINDS: [Kind; 19] = [
    Kind::Setup,
    Kind::AnnounceRequest,
    Kind::AnnounceOk,
    Kind::Announce,
    Kind::Subscribe,
    Kind::SubscribeOkLegacy,
    Kind::SubscribeStart,
    Kind::SubscribeEnd,
    Kind::SubscribeUpdate,
    Kind::SubscribeDrop,
    Kind::SubscribeResponse,
    Kind::Fetch,
    Kind::Group,
    Kind::Goaway,
    Kind::Track,
    Kind::TrackInfo,
    Kind::Probe,
    Kind::Datagram,
    Kind::Parameters,
];
