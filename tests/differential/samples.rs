//! Theirs → ours with fixed values: `moq_net::fuzz::LiteSample` messages, written by the
//! reference's encoder, decode with ours to the field values its documentation gives.
//!
//! Frame samples carry FRAME headers only (payloads left out), so they are read with
//! `FrameDecoder::decode_header`, which tracks the timestamp baseline like a group stream.

use moq_net::fuzz::LiteSample;
use moql_wire::{
    Datagram, Decode, FrameDecoder, Group, Path, ProbeLevel, Role, Setup, Subscribe, Version,
};

use crate::{RELEASED, hex, reference_version};

fn sample(sample: LiteSample, version: Version) -> Vec<u8> {
    sample.encode(reference_version(version))
}

fn decode<T: Decode + std::fmt::Debug>(bytes: &[u8], version: Version) -> T {
    T::decode_exact(bytes, version).unwrap_or_else(|e| {
        panic!(
            "we could not decode the reference's {} at {version}: {e} ({})",
            std::any::type_name::<T>(),
            hex(bytes)
        )
    })
}

#[test]
fn group_header() {
    for v in Version::ALL {
        let group: Group = decode(&sample(LiteSample::Group, v), v);
        let expected = Group {
            subscribe_id: 3,
            sequence: 1_234,
            frame_start: 0,
        };
        assert_eq!(group, expected, "{v}");
    }
}

#[test]
fn subscribe() {
    for v in Version::ALL {
        let subscribe: Subscribe = decode(&sample(LiteSample::Subscribe, v), v);
        let expected = Subscribe {
            id: 3,
            broadcast: Path::new("room/alice").expect("a valid path"),
            track: "video".into(),
            priority: 2,
            ordered: false,
            max_latency: 10_000,
            start: None,
            end: None,
            frame_start: 0,
            frame_end: None,
        };
        assert_eq!(subscribe, expected, "{v}");
    }
}

#[test]
fn datagram() {
    for v in RELEASED {
        let datagram: Datagram = decode(&sample(LiteSample::Datagram, v), v);
        let expected = Datagram {
            subscribe_id: 3,
            sequence: 1_234,
            timestamp: 1_234_567_890,
            payload: Default::default(),
        };
        assert_eq!(datagram, expected, "{v}");
    }
}

#[test]
fn setup() {
    for v in RELEASED {
        let setup: Setup = decode(&sample(LiteSample::Setup, v), v);
        let expected = Setup {
            probe: ProbeLevel::Report,
            path: None,
            role: Role::Both,
            cost: Some(1),
            origin: Some(0x1d_2c3b_4a59_6877),
            unknown: Vec::new(),
        };
        assert_eq!(setup, expected, "{v}");
    }
}

/// Reads FRAME headers until the input ends; returns `(timestamp, size)` per frame.
fn frame_headers(bytes: &[u8], version: Version) -> Vec<(u64, u64)> {
    let mut decoder = FrameDecoder::new();
    let mut input = bytes;
    let mut frames = Vec::new();
    while !input.is_empty() {
        let info = decoder
            .decode_header(&mut input, version)
            .unwrap_or_else(|e| panic!("frame {} at {version}: {e}", frames.len()));
        frames.push((info.timestamp, info.size));
    }
    frames
}

/// 30 fps video in microseconds: a 60 KB keyframe, then 8 KB frames with a 17 KB one every
/// tenth, 60 frames.
#[test]
fn video_frame_headers() {
    let expected: Vec<(u64, u64)> = (0..60u64)
        .map(|n| {
            let size = match n {
                0 => 60_000,
                n if n % 10 == 0 => 17_000,
                _ => 8_000,
            };
            (n * 33_333, size)
        })
        .collect();
    for v in RELEASED {
        assert_eq!(
            frame_headers(&sample(LiteSample::Video, v), v),
            expected,
            "{v}"
        );
    }
}

/// 50 Hz Opus: 50 frames of 160 bytes, 20 ms apart.
#[test]
fn audio_frame_headers() {
    let expected: Vec<(u64, u64)> = (0..50u64).map(|n| (n * 20_000, 160)).collect();
    for v in RELEASED {
        assert_eq!(
            frame_headers(&sample(LiteSample::Audio, v), v),
            expected,
            "{v}"
        );
    }
}
