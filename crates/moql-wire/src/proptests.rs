//! Property tests over every message in every version it exists in: round trip, exact
//! `encoded_len`, truncation gives `Short`, arbitrary input never panics, and path
//! normalization is idempotent. Case counts come from `PROPTEST_CASES` (default 256).

use bytes::Bytes;
use proptest::prelude::*;

use crate::testing::{self, assert_round_trip};
use crate::{
    Announce, AnnounceMessage, AnnounceOk, AnnounceRequest, BidiStream, Datagram, Decode,
    DecodeError, Encode, EncodeError, Fetch, FrameDecoder, FrameEncoder, Goaway, Group, Path,
    Probe, Setup, Subscribe, SubscribeResponse, SubscribeUpdate, Track, TrackInfo, UniStream,
    Version,
};

/// Every strict prefix of a length-prefixed (or stream-type) encoding is `Short`.
fn assert_truncations_short<T: Decode + std::fmt::Debug>(
    bytes: &[u8],
    version: Version,
) -> Result<(), TestCaseError> {
    for cut in 0..bytes.len() {
        let result = T::decode_from(&bytes[..cut], version);
        prop_assert_eq!(result.err(), Some(DecodeError::Short), "cut at {}", cut);
    }
    Ok(())
}

macro_rules! message_props {
    ($($test:ident: $ty:ty = |$v:ident| $strategy:expr, versions = $versions:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $test((value, $v) in prop::sample::select($versions.to_vec())
                    .prop_flat_map(|$v| ($strategy, Just($v))))
                {
                    let bytes = assert_round_trip::<$ty>(&value, $v)?;
                    assert_truncations_short::<$ty>(&bytes, $v)?;
                }
            )*
        }
    };
}

const ALL: [Version; 4] = Version::ALL;
const LITE05_UP: [Version; 2] = [Version::Lite06, Version::Lite05];
const LITE04_UP: [Version; 3] = [Version::Lite06, Version::Lite05, Version::Lite04];
const UP_TO_LITE05: [Version; 3] = [Version::Lite05, Version::Lite04, Version::Lite03];
const LITE06: [Version; 1] = [Version::Lite06];

message_props! {
    setup_round_trips: Setup = |_v| testing::setup(), versions = LITE05_UP;
    announce_request_round_trips: AnnounceRequest = |v| testing::announce_request(v), versions = ALL;
    announce_ok_round_trips: AnnounceOk = |_v| testing::announce_ok(), versions = LITE05_UP;
    announce_round_trips: Announce = |v| testing::announce(v), versions = UP_TO_LITE05;
    announce_message_round_trips: AnnounceMessage = |_v| testing::announce_message(), versions = LITE06;
    subscribe_round_trips: Subscribe = |v| testing::subscribe(v), versions = ALL;
    subscribe_update_round_trips: SubscribeUpdate = |v| testing::subscribe_update(v), versions = ALL;
    subscribe_response_round_trips: SubscribeResponse = |v| testing::subscribe_response(v), versions = ALL;
    track_round_trips: Track = |_v| testing::track(), versions = LITE05_UP;
    track_info_round_trips: TrackInfo = |v| testing::track_info(v), versions = LITE05_UP;
    fetch_round_trips: Fetch = |v| testing::fetch(v), versions = ALL;
    probe_round_trips: Probe = |v| testing::probe(v), versions = ALL;
    goaway_round_trips: Goaway = |_v| testing::goaway(), versions = LITE04_UP;
    group_round_trips: Group = |v| testing::group(v), versions = ALL;
    bidi_stream_round_trips: BidiStream = |_v| testing::bidi_stream(), versions = ALL;
    uni_stream_round_trips: UniStream = |_v| testing::uni_stream(), versions = ALL;
}

proptest! {
    #[test]
    fn datagram_round_trips_and_truncation_never_says_short(
        value in testing::datagram(),
        v in prop::sample::select(LITE05_UP.to_vec()),
    ) {
        let bytes = assert_round_trip(&value, v)?;
        for cut in 0..bytes.len() {
            let result = Datagram::decode_exact(&bytes[..cut], v);
            prop_assert!(!matches!(result, Err(DecodeError::Short)));
        }
    }

    #[test]
    fn frames_round_trip_and_truncate_cleanly(
        (frames, v) in testing::version().prop_flat_map(|v| (testing::frames(v), Just(v)))
    ) {
        let mut encoder = FrameEncoder::new();
        let mut bytes = Vec::new();
        for frame in &frames {
            let before = bytes.len();
            let len = encoder.encoded_len(frame, v);
            encoder.encode(frame, &mut bytes, v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(bytes.len() - before, len);
        }
        let mut decoder = FrameDecoder::new();
        let mut input = Bytes::from(bytes.clone());
        for frame in &frames {
            prop_assert_eq!(&decoder.decode(&mut input, v).map_err(|e| TestCaseError::fail(e.to_string()))?, frame);
        }
        prop_assert!(input.is_empty());
        prop_assert_eq!(decoder.end_of_stream(&input, v), Ok(()));

        // Every cut either ends between frames, or gives Short then a classified FIN.
        for cut in 0..bytes.len() {
            let mut decoder = FrameDecoder::new();
            let mut input = &bytes[..cut];
            loop {
                match decoder.decode(&mut input, v) {
                    Ok(_) => continue,
                    Err(DecodeError::Short) => {
                        let end = decoder.end_of_stream(input, v);
                        prop_assert!(matches!(end, Ok(()) | Err(DecodeError::Short | DecodeError::WrongSize)), "{:?}", end);
                        break;
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("cut {cut}: {e}"))),
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..64), v in testing::version()) {
        let _ = Setup::decode_from(&data, v);
        let _ = AnnounceRequest::decode_from(&data, v);
        let _ = AnnounceOk::decode_from(&data, v);
        let _ = Announce::decode_from(&data, v);
        let _ = AnnounceMessage::decode_from(&data, v);
        let _ = Subscribe::decode_from(&data, v);
        let _ = SubscribeUpdate::decode_from(&data, v);
        let _ = SubscribeResponse::decode_from(&data, v);
        let _ = Track::decode_from(&data, v);
        let _ = TrackInfo::decode_from(&data, v);
        let _ = Fetch::decode_from(&data, v);
        let _ = Probe::decode_from(&data, v);
        let _ = Goaway::decode_from(&data, v);
        let _ = Group::decode_from(&data, v);
        let _ = Datagram::decode_from(&data, v);
        let _ = BidiStream::decode_from(&data, v);
        let _ = UniStream::decode_from(&data, v);
        let mut decoder = FrameDecoder::new();
        let mut input = &data[..];
        while decoder.decode(&mut input, v).is_ok() {}
        let _ = decoder.end_of_stream(input, v);
    }

    #[test]
    fn path_normalization_is_idempotent(raw in testing::raw_path()) {
        if let Ok(path) = Path::new(&raw) {
            prop_assert_eq!(Path::new(path.as_str()), Ok(path.clone()));
            prop_assert!(!path.as_str().starts_with('/'));
            prop_assert!(!path.as_str().ends_with('/'));
            prop_assert!(!path.as_str().contains("//"));
            let joined = Path::root().join(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&joined, &path);
        }
    }

    #[test]
    fn strip_prefix_then_join_restores(path in testing::path(), split in 0..=32usize) {
        let segments: Vec<&str> = path.segments().collect();
        let split = split.min(segments.len());
        let prefix = Path::new(&segments[..split].join("/")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let suffix = path.strip_prefix(&prefix);
        prop_assert!(suffix.is_some());
        let suffix = suffix.unwrap_or_default();
        prop_assert_eq!(prefix.join(&suffix).ok(), Some(path));
    }

    #[test]
    fn out_of_range_values_write_nothing(big in (1u64 << 62)..=u64::MAX, v in testing::version()) {
        let mut out = Vec::new();
        let sub = Subscribe { max_latency: big, ..Subscribe::default() };
        prop_assert_eq!(sub.encode(&mut out, v), Err(EncodeError::BoundsExceeded));
        let group = Group { subscribe_id: 0, sequence: big, frame_start: 0 };
        prop_assert_eq!(group.encode(&mut out, v), Err(EncodeError::BoundsExceeded));
        let announce = Announce { hops: vec![1, big], ..Announce::default() };
        let expected = if v.has_announce_ids() {
            Err(EncodeError::Version)
        } else if v.has_hop_ids() {
            Err(EncodeError::BoundsExceeded)
        } else {
            Ok(())
        };
        let mut scratch = Vec::new();
        prop_assert_eq!(announce.encode(&mut scratch, v), expected);
        prop_assert!(out.is_empty());
    }

    #[test]
    fn lite06_route_bounds_write_nothing(big in (1u64 << 62)..=u64::MAX) {
        let v = Version::Lite06;
        let mut out = Vec::new();
        let start = AnnounceMessage::Start(crate::AnnounceStart {
            cost: crate::RouteCost { warm: 0, cold: big },
            ..crate::AnnounceStart::default()
        });
        prop_assert_eq!(start.encode(&mut out, v), Err(EncodeError::BoundsExceeded));
        let update = AnnounceMessage::Update(crate::AnnounceUpdate { hops: vec![big], ..crate::AnnounceUpdate::default() });
        prop_assert_eq!(update.encode(&mut out, v), Err(EncodeError::BoundsExceeded));
        let group = Group { frame_start: big, ..Group::default() };
        prop_assert_eq!(group.encode(&mut out, v), Err(EncodeError::BoundsExceeded));
        let fetch = Fetch { frame_start: big, ..Fetch::default() };
        prop_assert_eq!(fetch.encode(&mut out, v), Err(EncodeError::BoundsExceeded));
        let sub = Subscribe { start: Some(big), ..Subscribe::default() };
        prop_assert_eq!(sub.encode(&mut out, v), Err(EncodeError::BoundsExceeded));
        prop_assert!(out.is_empty());
    }

    /// On lite-06 every decodable SUBSCRIBE / SUBSCRIBE_UPDATE is normalized: no `ordered`,
    /// no `Some(0)` start, no Frame End without Group End; so decode∘encode is the identity
    /// on decoded values.
    #[test]
    fn lite06_decoded_subscribes_are_normalized(data in prop::collection::vec(any::<u8>(), 0..48)) {
        let v = Version::Lite06;
        if let Ok((sub, _)) = Subscribe::decode_from(&data, v) {
            prop_assert!(!sub.ordered && sub.start != Some(0));
            prop_assert!(sub.frame_end.is_none() || sub.end.is_some());
            let bytes = sub.encode_to_vec(v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Subscribe::decode_exact(&bytes, v), Ok(sub));
        }
        if let Ok((up, _)) = SubscribeUpdate::decode_from(&data, v) {
            prop_assert!(!up.ordered && up.start != Some(0));
            let bytes = up.encode_to_vec(v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(SubscribeUpdate::decode_exact(&bytes, v), Ok(up));
        }
    }
}
