//! Ours → theirs: values from `moql_wire::testing`'s strategies, encoded by us, must be
//! accepted by the reference's decoder at the same version.
//!
//! Generators are restricted only where our encoder legitimately produces something the
//! reference refuses; each restriction says why:
//!
//! * lite-04/05 ANNOUNCE hop lists: no non-zero Hop ID twice. moq-lite-06.md section 2 row 10:
//!   the release refuses a repeated non-zero ID on every version; we enforce that on lite-06
//!   only and keep lite-03/04/05 exactly as moq-lite-05.md describes (`Version::
//!   rejects_repeated_hops`). Reported, not changed.
//!
//! Everything else is generated unrestricted over what is valid in our codec.

use moql_wire::testing;
use moql_wire::{
    Announce, AnnounceMessage, AnnounceOk, AnnounceRequest, Datagram, Encode, Fetch, Goaway, Group,
    Probe, Setup, Subscribe, SubscribeResponse, SubscribeUpdate, Track, TrackInfo, Version,
    decode_varint,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::{Kind, hex, theirs_accepts};

const ALL: [Version; 4] = Version::ALL;
const LITE05_UP: [Version; 2] = crate::RELEASED;
const LITE04_UP: [Version; 3] = [Version::Lite06, Version::Lite05, Version::Lite04];
const UP_TO_LITE05: [Version; 3] = [Version::Lite05, Version::Lite04, Version::Lite03];
const LITE06: [Version; 1] = [Version::Lite06];

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Encodes `value` with our codec at `version`.
fn encode<T: Encode + std::fmt::Debug>(
    value: &T,
    version: Version,
) -> Result<Vec<u8>, TestCaseError> {
    value
        .encode_to_vec(version)
        .map_err(|e| fail(format!("we could not encode {value:?} at {version}: {e}")))
}

/// Fails unless the reference decodes `bytes` as a `kind` at `version`.
fn accepted(
    version: Version,
    kind: Kind,
    bytes: &[u8],
    what: &dyn std::fmt::Debug,
) -> Result<(), TestCaseError> {
    match theirs_accepts(version, kind, bytes) {
        Ok(true) => Ok(()),
        Ok(false) => Err(fail(format!(
            "the reference refuses our {kind:?} at {version}: {} ({what:?})",
            hex(bytes)
        ))),
        Err(panic) => Err(fail(format!("{panic}: {} ({what:?})", hex(bytes)))),
    }
}

/// Splits the leading varint (a type or a Message Length) off `bytes`.
fn split_varint(bytes: &[u8]) -> Result<(u64, &[u8]), TestCaseError> {
    let mut rest = bytes;
    let value = decode_varint(&mut rest).map_err(fail)?;
    Ok((value, rest))
}

/// lite-04/05 hop lists the release accepts: no repeated non-zero ID (module docs).
fn announce(version: Version) -> impl Strategy<Value = Announce> {
    testing::announce(version).prop_map(|mut announce| {
        let mut seen = std::collections::HashSet::new();
        announce.hops.retain(|&h| h == 0 || seen.insert(h));
        announce
    })
}

/// One proptest per message: generate at one of `versions`, encode, feed to `kind`.
macro_rules! accepted_by_reference {
    ($($test:ident: $ty:ty = |$v:ident| $strategy:expr, versions = $versions:expr, kind = $kind:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $test((value, $v) in prop::sample::select($versions.to_vec())
                    .prop_flat_map(|$v| ($strategy, Just($v))))
                {
                    let value: $ty = value;
                    let bytes = encode(&value, $v)?;
                    accepted($v, $kind, &bytes, &value)?;
                }
            )*
        }
    };
}

accepted_by_reference! {
    announce_request: AnnounceRequest = |v| testing::announce_request(v), versions = ALL, kind = Kind::AnnounceRequest;
    announce_ok: AnnounceOk = |_v| testing::announce_ok(), versions = LITE05_UP, kind = Kind::AnnounceOk;
    announce_untyped: Announce = |v| announce(v), versions = UP_TO_LITE05, kind = Kind::Announce;
    announce_typed: AnnounceMessage = |_v| testing::announce_message(), versions = LITE06, kind = Kind::Announce;
    subscribe: Subscribe = |v| testing::subscribe(v), versions = ALL, kind = Kind::Subscribe;
    subscribe_update: SubscribeUpdate = |v| testing::subscribe_update(v), versions = ALL, kind = Kind::SubscribeUpdate;
    track: Track = |_v| testing::track(), versions = LITE05_UP, kind = Kind::Track;
    track_info: TrackInfo = |v| testing::track_info(v), versions = LITE05_UP, kind = Kind::TrackInfo;
    fetch: Fetch = |v| testing::fetch(v), versions = ALL, kind = Kind::Fetch;
    probe: Probe = |v| testing::probe(v), versions = ALL, kind = Kind::Probe;
    goaway: Goaway = |_v| testing::goaway(), versions = LITE04_UP, kind = Kind::Goaway;
    group: Group = |v| testing::group(v), versions = ALL, kind = Kind::Group;
    datagram: Datagram = |_v| testing::datagram(), versions = LITE05_UP, kind = Kind::Datagram;
}

proptest! {
    /// SETUP whole, and its body (the parameter map) on its own.
    #[test]
    fn setup(value in testing::setup(), v in prop::sample::select(LITE05_UP.to_vec())) {
        let value: Setup = value;
        let bytes = encode(&value, v)?;
        accepted(v, Kind::Setup, &bytes, &value)?;
        let (_, body) = split_varint(&bytes)?;
        accepted(v, Kind::Parameters, body, &value)?;
    }

    /// A subscribe-stream response whole, and its body under the reference's per-type decoder
    /// for the type number we wrote: so our type numbers are checked, not just our framing.
    #[test]
    fn subscribe_response((value, v) in prop::sample::select(ALL.to_vec())
        .prop_flat_map(|v| (testing::subscribe_response(v), Just(v))))
    {
        let bytes = encode(&value, v)?;
        accepted(v, Kind::SubscribeResponse, &bytes, &value)?;
        let kind = match &value {
            SubscribeResponse::Ok(_) => Kind::SubscribeStart,
            SubscribeResponse::End(_) => Kind::SubscribeEnd,
            SubscribeResponse::Drop(_) => Kind::SubscribeDrop,
            SubscribeResponse::OkLegacy(_) => Kind::SubscribeOkLegacy,
        };
        let (_, body) = split_varint(&bytes)?;
        accepted(v, kind, body, &value)?;
    }
}

/// GOAWAY's New Session URI at the release's cap (moq-lite-06.md section 2 row 12): 8192 bytes
/// are accepted by both codecs; one more is refused by both, and we do not encode it.
#[test]
fn goaway_uri_cap() {
    for v in LITE04_UP {
        let at_cap = Goaway {
            uri: "a".repeat(8192),
        };
        let bytes = at_cap.encode_to_vec(v).expect("8192 bytes encode");
        assert_eq!(theirs_accepts(v, Kind::Goaway, &bytes), Ok(true), "{v}");

        let over = Goaway {
            uri: "a".repeat(8193),
        };
        assert!(
            over.encode_to_vec(v).is_err(),
            "{v}: we encode a URI the release refuses"
        );
        // Hand-framed: Message Length 8195 (2-byte varint), URI length 8193 (2-byte varint).
        let mut wire = vec![0x60, 0x03, 0x60, 0x01];
        wire.extend(std::iter::repeat_n(b'a', 8193));
        assert_eq!(theirs_accepts(v, Kind::Goaway, &wire), Ok(false), "{v}");
        assert!(
            <Goaway as moql_wire::Decode>::decode_exact(&wire, v).is_err(),
            "{v}: we accept a URI the release refuses"
        );
    }
}
