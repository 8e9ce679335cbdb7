//! Accept / reject agreement on bytes neither encoder wrote: our valid encodings with up to
//! two mutations, short arbitrary bodies, and the reference's own fuzz seeds
//! (`moq_net::fuzz::seeds`, uniform fills in every dispatch arm). For each input both decoders
//! decode the same message kind at the same version (lite-06 to lite-03; trailing bytes are
//! ignored by both) and must agree, except for these documented differences, each recognised
//! by [`known_difference`]:
//!
//! * **Message Length cap.** We refuse a declared length above 64 KiB
//!   (`moql_wire::limits::MAX_MESSAGE_LEN`, our choice); the release accepts up to 64 MiB for
//!   control messages (moq-lite-06.md section 2 row 9). Only reachable with the bytes present.
//! * **Repeated hop IDs before lite-06.** The release refuses a non-zero Hop ID twice in one
//!   ANNOUNCE hop list on every version (moq-lite-06.md 2, row 10); we do on lite-06 only
//!   (`Version::rejects_repeated_hops`), keeping lite-03/04/05 as moq-lite-05.md describes.
//!
//! Anything else fails the test with the input in hex.

use moql_wire::limits::MAX_MESSAGE_LEN;
use moql_wire::testing;
use moql_wire::{
    Announce, AnnounceMessage, AnnounceOk, AnnounceRequest, Datagram, Decode, DecodeError, Encode,
    Fetch, Goaway, Group, Probe, Setup, Subscribe, SubscribeResponse, SubscribeUpdate, Track,
    TrackInfo, Version, decode_varint, encode_varint,
};
use proptest::prelude::*;

use crate::{Kind, hex, selector, theirs_accepts};

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
        Kind::SubscribeOkLegacy if !version.has_subscribe_start() => typed(0),
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
        Err(DecodeError::TooLarge) if message_len(kind, bytes)? > MAX_MESSAGE_LEN as u64 => {
            Some("Message Length above our 64 KiB cap")
        }
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

/// The declared Message Length of `bytes`, after the type for the typed kinds.
fn message_len(kind: Kind, mut bytes: &[u8]) -> Option<u64> {
    if matches!(kind, Kind::SubscribeResponse | Kind::Announce) {
        // A lite-03/04/05 ANNOUNCE has no type; reading one too many only shrinks the result.
        decode_varint(&mut bytes).ok()?;
    }
    decode_varint(&mut bytes).ok()
}

/// How the two decoders judged one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Both accept, or both refuse.
    Agree(bool),
    /// They differ in a documented way.
    Known(&'static str),
    /// No decoder of ours for this kind at this version.
    NotCompared,
}

/// Both verdicts on one input; `Err` describes an unexplained disagreement.
fn compare(version: Version, kind: Kind, bytes: &[u8]) -> Result<Verdict, String> {
    let Some(ours) = ours(version, kind, bytes) else {
        return Ok(Verdict::NotCompared);
    };
    let theirs = theirs_accepts(version, kind, bytes)?;
    if ours.is_ok() == theirs {
        return Ok(Verdict::Agree(theirs));
    }
    if let Some(known) = known_difference(version, kind, bytes, &ours) {
        return Ok(Verdict::Known(known));
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
        move |value| {
            (
                kind,
                value.encode_to_vec(version).expect("strategies are valid"),
            )
        }
    }
    let v = version;
    let announce = if v.has_announce_ids() {
        testing::announce_message()
            .prop_map(enc(Kind::Announce, v))
            .boxed()
    } else {
        testing::announce(v)
            .prop_map(enc(Kind::Announce, v))
            .boxed()
    };
    let mut kinds = vec![
        announce,
        testing::announce_request(v)
            .prop_map(enc(Kind::AnnounceRequest, v))
            .boxed(),
        testing::subscribe(v)
            .prop_map(enc(Kind::Subscribe, v))
            .boxed(),
        testing::subscribe_update(v)
            .prop_map(enc(Kind::SubscribeUpdate, v))
            .boxed(),
        testing::subscribe_response(v)
            .prop_map(enc(Kind::SubscribeResponse, v))
            .boxed(),
        testing::fetch(v).prop_map(enc(Kind::Fetch, v)).boxed(),
        testing::group(v).prop_map(enc(Kind::Group, v)).boxed(),
        testing::probe(v).prop_map(enc(Kind::Probe, v)).boxed(),
    ];
    if v.has_goaway() {
        kinds.push(testing::goaway().prop_map(enc(Kind::Goaway, v)).boxed());
    }
    if v.has_setup() {
        kinds.extend([
            testing::setup().prop_map(enc(Kind::Setup, v)).boxed(),
            testing::announce_ok()
                .prop_map(enc(Kind::AnnounceOk, v))
                .boxed(),
            testing::track().prop_map(enc(Kind::Track, v)).boxed(),
            testing::track_info(v)
                .prop_map(enc(Kind::TrackInfo, v))
                .boxed(),
            testing::datagram().prop_map(enc(Kind::Datagram, v)).boxed(),
        ]);
    }
    prop::strategy::Union::new(kinds).boxed()
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
    let byte = prop_oneof![
        Just(0u8),
        Just(1),
        Just(2),
        Just(0x3f),
        Just(0x40),
        Just(0xff),
        any::<u8>()
    ];
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
    fn mutated_encodings((version, (kind, bytes)) in prop::sample::select(Version::ALL.to_vec())
            .prop_flat_map(|v| (Just(v), encoded(v))),
        mutations in prop::collection::vec(mutation(), 0..=2))
    {
        let mut input = bytes;
        for m in &mutations {
            m.apply(&mut input);
        }
        compare(version, kind, &input).map_err(TestCaseError::fail)?;
    }

    /// Short arbitrary bodies, with a small first byte half the time so that the Message
    /// Length (or type) usually fits what follows.
    #[test]
    fn arbitrary_bodies(
        version in prop::sample::select(Version::ALL.to_vec()),
        kind in prop::sample::select(KINDS.to_vec()),
        head in prop_oneof![0..16u8, any::<u8>()],
        tail in prop::collection::vec(prop_oneof![0..4u8, any::<u8>()], 0..20),
    ) {
        let mut input = vec![head];
        input.extend(tail);
        compare(version, kind, &input).map_err(TestCaseError::fail)?;
    }
}

/// The reference's fuzz seeds for its `lite` target at the versions we speak.
#[test]
fn reference_seeds() {
    let mut verdicts = std::collections::BTreeMap::<String, usize>::new();
    let mut failures = Vec::new();
    for seed in moq_net::fuzz::seeds() {
        let Some((&version, rest)) = seed.data.split_first() else {
            continue;
        };
        let Some(version) = Version::ALL.into_iter().find(|&v| selector(v) == version) else {
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
        match compare(version, kind, body) {
            Ok(verdict) => *verdicts.entry(format!("{verdict:?}")).or_default() += 1,
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Not vacuous: plenty of seeds decode and plenty do not, with both codecs.
    let count = |v: Verdict| verdicts.get(&format!("{v:?}")).copied().unwrap_or(0);
    assert!(count(Verdict::Agree(true)) > 100, "{verdicts:?}");
    assert!(count(Verdict::Agree(false)) > 100, "{verdicts:?}");
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
