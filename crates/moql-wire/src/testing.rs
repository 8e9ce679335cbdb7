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
    Announce, AnnounceEnd, AnnounceMessage, AnnounceOk, AnnounceRequest, AnnounceStart,
    AnnounceStatus, AnnounceUpdate, BidiStream, Datagram, Decode, Encode, Fetch, Frame, Goaway,
    Group, Path, Probe, ProbeLevel, Role, RouteCost, Setup, Subscribe, SubscribeDrop, SubscribeEnd,
    SubscribeOk, SubscribeOkLegacy, SubscribeResponse, SubscribeUpdate, Track, TrackInfo,
    UniStream, VarInt, Version,
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

/// A SUBSCRIBE / SUBSCRIBE_UPDATE Group Start valid in `version`: plus-one before lite-06;
/// on lite-06 raw, so `None` or `1 ..= 2^62 − 1` (`Some(0)` decodes back as `None`).
pub fn group_start(version: Version) -> BoxedStrategy<Option<u64>> {
    if version.group_start_is_plus_one() {
        optional_group().boxed()
    } else {
        prop::option::of(varint().prop_map(|g| g.max(1))).boxed()
    }
}

/// The delivery fields shared by SUBSCRIBE and SUBSCRIBE_UPDATE, valid in `version`:
/// `(priority, ordered, max_latency, start, end, frame_start, frame_end)`. lite-06 has
/// `ordered == false` and Frame End only with Group End; older versions have no frame bounds.
#[allow(clippy::type_complexity)]
pub fn delivery(
    version: Version,
) -> impl Strategy<Value = (u8, bool, u64, Option<u64>, Option<u64>, u64, Option<u64>)> {
    (
        any::<u8>(),
        any::<bool>(),
        varint(),
        group_start(version),
        optional_group(),
        varint(),
        optional_group(),
    )
        .prop_map(
            move |(priority, ordered, max_latency, start, end, frame_start, frame_end)| {
                if version.has_frame_bounds() {
                    let frame_end = if end.is_some() { frame_end } else { None };
                    (
                        priority,
                        false,
                        max_latency,
                        start,
                        end,
                        frame_start,
                        frame_end,
                    )
                } else {
                    (priority, ordered, max_latency, start, end, 0, None)
                }
            },
        )
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

/// A SETUP (lite-05 and later).
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

/// An ANNOUNCE_OK (lite-05 and later).
pub fn announce_ok() -> impl Strategy<Value = AnnounceOk> {
    (varint(), varint()).prop_map(|(hop_id, active_count)| AnnounceOk {
        hop_id,
        active_count,
    })
}

/// A hop list valid on lite-06: at most 32 entries, no non-zero ID twice.
pub fn hops() -> impl Strategy<Value = Vec<u64>> {
    vec(varint(), 0..=MAX_HOPS).prop_map(|mut hops| {
        let mut seen = std::collections::HashSet::new();
        hops.retain(|&h| h == 0 || seen.insert(h));
        hops
    })
}

/// A route cost, including the reference's 2^62 − 1 "unknown" / "draining" values.
pub fn route_cost() -> impl Strategy<Value = RouteCost> {
    (varint(), varint()).prop_map(|(warm, cold)| RouteCost { warm, cold })
}

/// A typed lite-06 announcement, including unknown types with short skipped bodies.
pub fn announce_message() -> impl Strategy<Value = AnnounceMessage> {
    prop_oneof![
        (path(), hops(), route_cost()).prop_map(|(suffix, hops, cost)| {
            AnnounceMessage::Start(AnnounceStart { suffix, hops, cost })
        }),
        varint().prop_map(|id| AnnounceMessage::End(AnnounceEnd { id })),
        (varint(), hops(), route_cost()).prop_map(|(id, hops, cost)| {
            AnnounceMessage::Update(AnnounceUpdate { id, hops, cost })
        }),
        (3..=VarInt::MAX.into_inner(), 0..64u64)
            .prop_map(|(kind, len)| AnnounceMessage::Unknown { kind, len }),
    ]
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

/// A SUBSCRIBE valid in `version`.
pub fn subscribe(version: Version) -> impl Strategy<Value = Subscribe> {
    (varint(), path(), name(), delivery(version)).prop_map(|(id, broadcast, track, d)| {
        let (priority, ordered, max_latency, start, end, frame_start, frame_end) = d;
        Subscribe {
            id,
            broadcast,
            track,
            priority,
            ordered,
            max_latency,
            start,
            end,
            frame_start,
            frame_end,
        }
    })
}

/// A SUBSCRIBE_UPDATE valid in `version`.
pub fn subscribe_update(version: Version) -> impl Strategy<Value = SubscribeUpdate> {
    delivery(version).prop_map(|d| {
        let (priority, ordered, max_latency, start, end, frame_start, frame_end) = d;
        SubscribeUpdate {
            priority,
            ordered,
            max_latency,
            start,
            end,
            frame_start,
            frame_end,
        }
    })
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

/// A TRACK_INFO valid in `version` (lite-05+; lite-06 has `ordered == false`), timescale
/// ≥ 1.
pub fn track_info(version: Version) -> impl Strategy<Value = TrackInfo> {
    (
        any::<u8>(),
        any::<bool>(),
        varint(),
        varint().prop_map(|t| t.max(1)),
    )
        .prop_map(
            move |(priority, ordered, max_latency, timescale)| TrackInfo {
                priority,
                ordered: ordered && version.has_ordered(),
                max_latency,
                timescale,
            },
        )
}

/// A FETCH valid in `version` (frame range only on lite-06, with end ≥ start).
pub fn fetch(version: Version) -> impl Strategy<Value = Fetch> {
    (
        path(),
        name(),
        any::<u8>(),
        varint(),
        varint(),
        prop::option::of(varint().prop_map(|n| n.min(VarInt::MAX.into_inner() - 1))),
    )
        .prop_map(
            move |(broadcast, track, priority, group, frame_start, frame_end)| {
                let (frame_start, frame_end) = if version.has_frame_bounds() {
                    let frame_end =
                        frame_end.map(|e| e.max(frame_start).min(VarInt::MAX.into_inner() - 1));
                    let frame_start = frame_end.map_or(frame_start, |e| frame_start.min(e));
                    (frame_start, frame_end)
                } else {
                    (0, None)
                };
                Fetch {
                    broadcast,
                    track,
                    priority,
                    group,
                    frame_start,
                    frame_end,
                }
            },
        )
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

/// A GROUP header valid in `version` (Frame Start only on lite-06).
pub fn group(version: Version) -> impl Strategy<Value = Group> {
    (varint(), varint(), varint()).prop_map(move |(subscribe_id, sequence, frame_start)| Group {
        subscribe_id,
        sequence,
        frame_start: if version.has_frame_bounds() {
            frame_start
        } else {
            0
        },
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
