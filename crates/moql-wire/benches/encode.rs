//! Encode throughput of a FRAME-heavy Group stream (GROUP + 1,000 frames of 1,200 bytes) into
//! a reused `BytesMut`, and of a SUBSCRIBE control message.
//!
//! Encoding is a header per frame plus a payload copy, so this measures the per-frame
//! overhead (delta computation, varints, bounds checks) on top of `memcpy`; reported as bytes
//! per second to compare with the decode side.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moql_wire::{Encode, Frame, FrameEncoder, Group, Path, Subscribe, Version};

const FRAMES: usize = 1_000;
const FRAME_SIZE: usize = 1_200;

fn encode_group_stream(c: &mut Criterion) {
    let payload = Bytes::from(vec![0xab; FRAME_SIZE]);
    let frames: Vec<Frame> = (0..FRAMES as u64)
        .map(|i| Frame {
            timestamp: 1_000 + i * 33,
            payload: payload.clone(),
        })
        .collect();
    let header = Group {
        subscribe_id: 7,
        sequence: 42,
        frame_start: 0,
    };
    let mut group = c.benchmark_group("encode");
    for version in [Version::Lite05, Version::Lite04] {
        let mut sizer = FrameEncoder::new();
        let mut total = header.encoded_len(version);
        for frame in &frames {
            total += sizer.encoded_len(frame, version);
            sizer.prev = frame.timestamp;
        }
        group.throughput(Throughput::Bytes(total as u64));
        let mut out = BytesMut::with_capacity(total * 2);
        group.bench_function(format!("group_stream/{version}/1000x1200"), |b| {
            b.iter(|| {
                out.clear();
                header.encode(&mut out, version).expect("group");
                let mut encoder = FrameEncoder::new();
                for frame in &frames {
                    encoder.encode(frame, &mut out, version).expect("frame");
                }
                black_box(out.len())
            });
        });
    }
    group.finish();
}

fn encode_subscribe(c: &mut Criterion) {
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
    let mut out = Vec::with_capacity(64);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("subscribe", |b| {
        b.iter(|| {
            out.clear();
            black_box(&subscribe)
                .encode(&mut out, Version::Lite05)
                .expect("encode");
            black_box(out.len())
        });
    });
    group.finish();
}

criterion_group!(benches, encode_group_stream, encode_subscribe);
criterion_main!(benches);
