//! Decode throughput of the two hot paths.
//!
//! * A FRAME-heavy Group stream (GROUP + 1,000 frames of 1,200 bytes, about one MTU each, the
//!   shape of a video group) decoded from a `Bytes` buffer the way a session reads it: this is
//!   what every subscriber and relay runs for every byte of media, so it must stay zero-copy
//!   (target ≥ 2 GB/s). Reported as bytes per second.
//! * A SUBSCRIBE control message, the most common request a relay parses; reported per
//!   message.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moql_wire::{
    Decode, Encode, Frame, FrameDecoder, FrameEncoder, Group, Path, Subscribe, Version,
};

const FRAMES: usize = 1_000;
const FRAME_SIZE: usize = 1_200;

/// GROUP + `FRAMES` frames of `FRAME_SIZE` bytes, 33 ms apart.
fn group_stream(version: Version) -> Bytes {
    let mut out = BytesMut::new();
    Group {
        subscribe_id: 7,
        sequence: 42,
        frame_start: 0,
    }
    .encode(&mut out, version)
    .expect("group");
    let payload = Bytes::from(vec![0xab; FRAME_SIZE]);
    let mut encoder = FrameEncoder::new();
    for i in 0..FRAMES as u64 {
        let frame = Frame {
            timestamp: 1_000 + i * 33,
            payload: payload.clone(),
        };
        encoder.encode(&frame, &mut out, version).expect("frame");
    }
    out.freeze()
}

fn decode_group_stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for version in [Version::Lite05, Version::Lite04] {
        let stream = group_stream(version);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_function(format!("group_stream/{version}/1000x1200"), |b| {
            b.iter(|| {
                let mut buf = stream.clone();
                let header = Group::decode(&mut buf, version).expect("group");
                let mut decoder = FrameDecoder::new();
                let mut bytes = 0;
                while !buf.is_empty() {
                    let frame = decoder.decode(&mut buf, version).expect("frame");
                    bytes += frame.payload.len();
                }
                decoder.end_of_stream(&buf, version).expect("clean end");
                black_box((header, bytes))
            });
        });
    }
    group.finish();
}

fn decode_subscribe(c: &mut Criterion) {
    let subscribe = Subscribe {
        id: 12,
        broadcast: Path::new("room/alice/camera").expect("path"),
        track: "video/hd".into(),
        priority: 2,
        ordered: false,
        max_latency: 500,
        start: None,
        end: Some(1_000),
        frame_start: 0,
        frame_end: None,
    };
    let bytes = subscribe.encode_to_vec(Version::Lite05).expect("subscribe");
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("subscribe", |b| {
        b.iter(|| Subscribe::decode_from(black_box(&bytes), Version::Lite05).expect("decode"));
    });
    group.finish();
}

criterion_group!(benches, decode_group_stream, decode_subscribe);
criterion_main!(benches);
