//! Proptest strategies for every wire type, per version, plus round-trip helpers (feature
//! `testing`, always on in this crate's tests).
//!
//! Strategies only produce values that are valid in the version they are built for, so
//! `encode` must succeed and `decode(encode(x)) == x` must hold: for example lite-03 ANNOUNCE
//! hops are all 0 (only the count is on the wire) and lite-03 PROBE has `rtt == 0`.

use std::fmt::Debug;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::limits::{MAX_HOPS, MAX_PATH_SEGMENTS, MAX_TIMESTAMP};
use crate::{
    Announce, AnnounceOk, AnnounceRequest, AnnounceStatus, BidiStream, Datagram, Decode, Encode,
    Fetch, Frame, Goaway, Group, Path, Probe, ProbeLevel, Role, Setup, Subscribe, SubscribeDrop,
    SubscribeEnd, SubscribeOk, SubscribeOkLegacy, SubscribeResponse, SubscribeUpdate, Track,
    TrackInfo, UniStream, VarInt, Version,
};

/// Any supported version.
pub fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(Version::ALL.to_vec())
}

/// A varint value, weighted towards the encoding-size boundaries.
pub fn varint() -> impl Strategy<Value = u64> {
    let max = VarInt::MAX.into_inner();
    prop_oneof![
        0..64u64,
        64..16_384u64,
        16_384..(1u64 << 30),
        (1u64 << 30)..=max,
        prop::sample::select(vec![0, 63, 64, 16_383, 16_384, (1 << 30) - 1, 1 << 30, max]),
    ]
}

/// An optional ("plus one") group: `None` or `0 ..= 2^62 − 2`.
pub fn optional_group() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(varint().prop_map(|g| g.min(VarInt::MAX.into_inner() - 1)))
}

/// A short track name or string: any Unicode, including `/`.
pub fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9._/-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect())
    ]
}

/// A valid, normalized path of 0 ..= 32 segments.
pub fn path() -> impl Strategy<Value = Path> {
    prop_oneof![
        4 => vec("[a-zA-Z0-9._-]{1,6}", 0..=4),
        1 => vec("[a-z]{1,2}", MAX_PATH_SEGMENTS..=MAX_PATH_SEGMENTS),
    ]
    .prop_map(|segments| Path::new(&segments.join("/")).expect("at most 32 segments"))
}

/// A string made of path-ish characters, with leading, trailing and doubled `/`.
pub fn raw_path() -> impl Strategy<Value = String> {
    "[/a-c]{0,40}"
}

/// Bytes of up to `max` length.
pub fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// A SETUP (lite-05).
pub fn setup() -> impl Strategy<Value = Setup> {
    let probe = prop::sample::select(vec![
        ProbeLevel::None,
        ProbeLevel::Report,
        ProbeLevel::Increase,
    ]);
    let role = prop::sample::select(vec![Role::Both, Role::Publisher, Role::Subscriber]);
    let unknown = prop::collection::btree_map(6..=VarInt::MAX.into_inner(), bytes(8), 0..4);
    (
        probe,
        prop::option::of("[ -~]{0,24}"),
        role,
        prop::option::of(varint()),
        prop::option::of(varint().prop_map(|o| o.max(1))),
        unknown,
    )
        .prop_map(|(probe, path, role, cost, origin, unknown)| Setup {
            probe,
            path,
            role,
            cost,
            origin,
            unknown: unknown.into_iter().collect(),
        })
}

/// An ANNOUNCE_REQUEST valid in `version`.
pub fn announce_request(version: Version) -> impl Strategy<Value = AnnounceRequest> {
    (path(), varint()).prop_map(move |(prefix, hop)| AnnounceRequest {
        prefix,
        exclude_hop: if version.has_exclude_hop() { hop } else { 0 },
    })
}

/// An ANNOUNCE_OK (lite-05).
pub fn announce_ok() -> impl Strategy<Value = AnnounceOk> {
    (varint(), varint()).prop_map(|(hop_id, active_count)| AnnounceOk {
        hop_id,
        active_count,
    })
}

/// An ANNOUNCE valid in `version` (lite-03 hops are all 0).
pub fn announce(version: Version) -> impl Strategy<Value = Announce> {
    let status = prop::sample::select(vec![AnnounceStatus::Ended, AnnounceStatus::Active]);
    (status, path(), vec(varint(), 0..=MAX_HOPS)).prop_map(move |(status, suffix, mut hops)| {
        if !version.has_hop_ids() {
            hops.iter_mut().for_each(|h| *h = 0);
        }
        Announce {
            status,
            suffix,
            hops,
        }
    })
}

/// A SUBSCRIBE.
pub fn subscribe() -> impl Strategy<Value = Subscribe> {
    (
        varint(),
        path(),
        name(),
        any::<u8>(),
        any::<bool>(),
        varint(),
        optional_group(),
        optional_group(),
    )
        .prop_map(
            |(id, broadcast, track, priority, ordered, max_latency, start, end)| Subscribe {
                id,
                broadcast,
                track,
                priority,
                ordered,
                max_latency,
                start,
                end,
            },
        )
}

/// A SUBSCRIBE_UPDATE.
pub fn subscribe_update() -> impl Strategy<Value = SubscribeUpdate> {
    (
        any::<u8>(),
        any::<bool>(),
        varint(),
        optional_group(),
        optional_group(),
    )
        .prop_map(
            |(priority, ordered, max_latency, start, end)| SubscribeUpdate {
                priority,
                ordered,
                max_latency,
                start,
                end,
            },
        )
}

/// A subscribe-stream response that exists in `version`.
pub fn subscribe_response(version: Version) -> BoxedStrategy<SubscribeResponse> {
    let drop = (varint(), varint(), varint()).prop_map(|(start, end, error_code)| {
        SubscribeResponse::Drop(SubscribeDrop {
            start,
            end,
            error_code,
        })
    });
    if version.has_subscribe_start() {
        prop_oneof![
            varint().prop_map(|group| SubscribeResponse::Ok(SubscribeOk { group })),
            varint().prop_map(|group| SubscribeResponse::End(SubscribeEnd { group })),
            drop,
        ]
        .boxed()
    } else {
        let legacy = (
            any::<u8>(),
            any::<bool>(),
            varint(),
            optional_group(),
            optional_group(),
        )
            .prop_map(|(priority, ordered, max_latency, start, end)| {
                SubscribeResponse::OkLegacy(SubscribeOkLegacy {
                    priority,
                    ordered,
                    max_latency,
                    start,
                    end,
                })
            });
        prop_oneof![legacy, drop].boxed()
    }
}

/// A TRACK (lite-05).
pub fn track() -> impl Strategy<Value = Track> {
    (path(), name()).prop_map(|(broadcast, track)| Track { broadcast, track })
}

/// A TRACK_INFO (lite-05), timescale ≥ 1.
pub fn track_info() -> impl Strategy<Value = TrackInfo> {
    (
        any::<u8>(),
        any::<bool>(),
        varint(),
        varint().prop_map(|t| t.max(1)),
    )
        .prop_map(|(priority, ordered, max_latency, timescale)| TrackInfo {
            priority,
            ordered,
            max_latency,
            timescale,
        })
}

/// A FETCH.
pub fn fetch() -> impl Strategy<Value = Fetch> {
    (path(), name(), any::<u8>(), varint()).prop_map(|(broadcast, track, priority, group)| Fetch {
        broadcast,
        track,
        priority,
        group,
    })
}

/// A PROBE valid in `version` (lite-03 has `rtt == 0`).
pub fn probe(version: Version) -> impl Strategy<Value = Probe> {
    (varint(), varint()).prop_map(move |(bitrate, rtt)| Probe {
        bitrate,
        rtt: if version.probe_has_rtt() { rtt } else { 0 },
    })
}

/// A GOAWAY (lite-04+).
pub fn goaway() -> impl Strategy<Value = Goaway> {
    name().prop_map(|uri| Goaway { uri })
}

/// A GROUP header.
pub fn group() -> impl Strategy<Value = Group> {
    (varint(), varint()).prop_map(|(subscribe_id, sequence)| Group {
        subscribe_id,
        sequence,
    })
}

/// A DATAGRAM (lite-05).
pub fn datagram() -> impl Strategy<Value = Datagram> {
    (varint(), varint(), varint(), bytes(64)).prop_map(
        |(subscribe_id, sequence, timestamp, payload)| Datagram {
            subscribe_id,
            sequence,
            timestamp,
            payload,
        },
    )
}

/// A bidirectional stream type.
pub fn bidi_stream() -> impl Strategy<Value = BidiStream> {
    (0..=6u64).prop_map(|v| BidiStream::from_u64(v).expect("defined"))
}

/// A unidirectional stream type.
pub fn uni_stream() -> impl Strategy<Value = UniStream> {
    (0..=1u64).prop_map(|v| UniStream::from_u64(v).expect("defined"))
}

/// The frames of one stream, encodable in order from a fresh encoder in `version`: lite-05
/// timestamps stay within 2^61 of each other; older versions have timestamp 0.
pub fn frames(version: Version) -> impl Strategy<Value = Vec<Frame>> {
    let timestamp = prop_oneof![0..100_000u64, 0..(1u64 << 61), Just((1u64 << 61) - 1)];
    vec((timestamp, bytes(300)), 0..8).prop_map(move |frames| {
        frames
            .into_iter()
            .map(|(timestamp, payload)| Frame {
                timestamp: if version.has_timestamps() {
                    timestamp.min(MAX_TIMESTAMP)
                } else {
                    0
                },
                payload,
            })
            .collect()
    })
}

/// Encodes `value`, checks `encoded_len` is exact, decodes it back and checks equality and
/// that every byte was used. Returns the encoding.
///
/// # Errors
///
/// A proptest failure describing the first mismatch.
pub fn assert_round_trip<T>(value: &T, version: Version) -> Result<Vec<u8>, TestCaseError>
where
    T: Encode + Decode + PartialEq + Debug,
{
    let bytes = value
        .encode_to_vec(version)
        .map_err(|e| TestCaseError::fail(format!("encode {value:?} on {version}: {e}")))?;
    prop_assert_eq!(
        bytes.len(),
        value.encoded_len(version),
        "encoded_len of {:?}",
        value
    );
    let (decoded, used) = T::decode_from(&bytes, version)
        .map_err(|e| TestCaseError::fail(format!("decode {value:?} on {version}: {e}")))?;
    prop_assert_eq!(used, bytes.len());
    prop_assert_eq!(&decoded, value);
    Ok(bytes)
}
