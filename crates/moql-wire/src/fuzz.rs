//! Entry points for the cargo-fuzz targets (feature `fuzzing`): one plain function per
//! top-level decoder. Each takes arbitrary bytes, tries every [`Version`], and must never
//! panic; anything decoded successfully is re-encoded and decoded again to check the round
//! trip. They run on stable too, so the corpus can be replayed in ordinary tests.

use bytes::Bytes;

use crate::{
    Announce, AnnounceMessage, AnnounceOk, AnnounceRequest, BidiStream, Datagram, Decode, Encode,
    Fetch, FrameDecoder, FrameEncoder, Goaway, Group, Probe, Setup, Subscribe, SubscribeResponse,
    SubscribeUpdate, Track, TrackInfo, UniStream, Version,
};

/// Decodes a value; if that works, re-encodes it and checks that decoding the result gives the
/// same value back and that `encoded_len` was exact.
fn round_trip<T: Decode + Encode + PartialEq + std::fmt::Debug>(
    data: &[u8],
    version: Version,
) -> Option<T> {
    let (value, _) = T::decode_from(data, version).ok()?;
    if let Ok(bytes) = value.encode_to_vec(version) {
        assert_eq!(
            bytes.len(),
            value.encoded_len(version),
            "encoded_len mismatch"
        );
        let again = T::decode_exact(&bytes, version).expect("re-encoded value must decode");
        assert_eq!(again, value, "round trip changed the value");
    }
    Some(value)
}

/// Decodes a sequence of `T` until the input ends or fails.
fn sequence<T: Decode + Encode + PartialEq + std::fmt::Debug>(mut data: &[u8], version: Version) {
    while !data.is_empty() {
        let Ok((_, used)) = T::decode_from(data, version) else {
            return;
        };
        round_trip::<T>(&data[..used], version);
        data = &data[used..];
    }
}

/// SETUP.
pub fn setup(data: &[u8]) {
    for version in Version::ALL {
        round_trip::<Setup>(data, version);
    }
}

/// The Announce stream: ANNOUNCE_REQUEST as the opener, and ANNOUNCE_OK + ANNOUNCE* (lite-06:
/// typed announcements) as the responder.
pub fn announce_stream(data: &[u8]) {
    for version in Version::ALL {
        round_trip::<AnnounceRequest>(data, version);
        let mut rest = data;
        if version.has_announce_ok() {
            match AnnounceOk::decode_from(rest, version) {
                Ok((_, used)) => {
                    round_trip::<AnnounceOk>(&rest[..used], version);
                    rest = &rest[used..];
                }
                Err(_) => continue,
            }
        }
        if version.has_announce_ids() {
            sequence::<AnnounceMessage>(rest, version);
        } else {
            sequence::<Announce>(rest, version);
        }
    }
}

/// The Subscribe stream: SUBSCRIBE + SUBSCRIBE_UPDATE* from the subscriber, typed responses
/// from the publisher.
pub fn subscribe_stream(data: &[u8]) {
    for version in Version::ALL {
        if let Ok((_, used)) = Subscribe::decode_from(data, version) {
            round_trip::<Subscribe>(&data[..used], version);
            sequence::<SubscribeUpdate>(&data[used..], version);
        }
        sequence::<SubscribeResponse>(data, version);
    }
}

/// TRACK and TRACK_INFO.
pub fn track(data: &[u8]) {
    for version in Version::ALL {
        round_trip::<Track>(data, version);
        round_trip::<TrackInfo>(data, version);
    }
}

/// FETCH, and the frame reply.
pub fn fetch(data: &[u8]) {
    for version in Version::ALL {
        round_trip::<Fetch>(data, version);
        frames(data, version);
    }
}

/// PROBE reports.
pub fn probe(data: &[u8]) {
    for version in Version::ALL {
        sequence::<Probe>(data, version);
    }
}

/// GOAWAY.
pub fn goaway(data: &[u8]) {
    for version in Version::ALL {
        round_trip::<Goaway>(data, version);
    }
}

/// A Group stream after the stream type: GROUP then FRAMEs until the end.
pub fn group_stream(data: &[u8]) {
    for version in Version::ALL {
        if let Ok((_, used)) = Group::decode_from(data, version) {
            round_trip::<Group>(&data[..used], version);
            frames(&data[used..], version);
        }
    }
}

/// Decodes frames until the input ends, applies the end-of-stream rules, and checks that
/// every decoded frame re-encodes to something that decodes to the same frame.
fn frames(data: &[u8], version: Version) {
    let mut decoder = FrameDecoder::new();
    let mut input = Bytes::copy_from_slice(data);
    loop {
        let prev = decoder.prev;
        match decoder.decode(&mut input, version) {
            Ok(frame) => {
                let mut encoder = FrameEncoder { prev };
                let mut out = Vec::new();
                let len = encoder.encoded_len(&frame, version);
                encoder
                    .encode(&frame, &mut out, version)
                    .expect("a decoded frame must encode");
                assert_eq!(out.len(), len, "encoded_len mismatch");
                let mut check = FrameDecoder {
                    prev,
                    ..FrameDecoder::new()
                };
                let again = check
                    .decode(&mut &out[..], version)
                    .expect("must decode again");
                assert_eq!(again, frame, "frame round trip changed the value");
            }
            Err(e) if e.is_short() => {
                let _ = decoder.end_of_stream(&input, version);
                return;
            }
            Err(_) => return,
        }
    }
}

/// A datagram body.
pub fn datagram(data: &[u8]) {
    for version in Version::ALL {
        round_trip::<Datagram>(data, version);
    }
}

/// The stream type header, both directions.
pub fn stream_type(data: &[u8]) {
    for version in Version::ALL {
        round_trip::<BidiStream>(data, version);
        round_trip::<UniStream>(data, version);
    }
}
