//! Property test: random interleavings of producing, subscribing, fetching, serving and
//! evicting never lose, duplicate or corrupt a frame, and never leave a reader hanging once
//! every producer has finished.

use std::collections::{BTreeMap, HashSet};
use std::task::Poll;
use std::time::Duration;

use moql_sync::{Future as _, Waiter};
use proptest::prelude::*;

use crate::{
    Error, Frame, GroupConsumer, GroupProducer, Subscription, TrackConsumer, TrackFetchPending,
    TrackInfo, TrackProducer,
};

const SEQUENCES: u64 = 6;
const FRAMES: u64 = 4;

/// The frame every copy of group `seq` must have at index `i`.
fn truth(seq: u64, i: u64) -> Frame {
    Frame::new(seq * 1000 + i * 10, format!("{seq}:{i}"))
}

#[derive(Clone, Debug)]
enum Op {
    Create(u64),
    Write(u64),
    Finish(u64),
    Abort(u64),
    Subscribe(Option<u64>),
    Poll(usize),
    Fetch(u64),
    DropFetch(usize),
    Serve,
    Evict,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..SEQUENCES).prop_map(Op::Create),
        4 => (0..SEQUENCES).prop_map(Op::Write),
        2 => (0..SEQUENCES).prop_map(Op::Finish),
        1 => (0..SEQUENCES).prop_map(Op::Abort),
        1 => prop::option::of(0..SEQUENCES).prop_map(Op::Subscribe),
        3 => (0..4usize).prop_map(Op::Poll),
        2 => (0..SEQUENCES).prop_map(Op::Fetch),
        1 => (0..8usize).prop_map(Op::DropFetch),
        2 => Just(Op::Serve),
        1 => Just(Op::Evict),
    ]
}

/// Checks that `frames` is a prefix of group `seq`'s truth (the whole of it if `complete`).
fn check_frames(seq: u64, frames: &[Frame], complete: bool) -> Result<(), TestCaseError> {
    for (i, frame) in frames.iter().enumerate() {
        prop_assert_eq!(frame, &truth(seq, i as u64), "group {} frame {}", seq, i);
    }
    if complete {
        prop_assert_eq!(frames.len() as u64, FRAMES, "group {} complete", seq);
    }
    Ok(())
}

/// Reads what is available now; returns the frames and whether the group ended cleanly.
fn drain(group: &mut GroupConsumer) -> (Vec<Frame>, Option<Result<(), Error>>) {
    let mut frames = Vec::new();
    loop {
        match group.poll_next_frame(&Waiter::noop()) {
            Poll::Ready(Ok(Some(frame))) => frames.push(frame),
            Poll::Ready(Ok(None)) => return (frames, Some(Ok(()))),
            Poll::Ready(Err(err)) => return (frames, Some(Err(err))),
            Poll::Pending => return (frames, None),
        }
    }
}

struct Writer {
    group: GroupProducer,
    written: u64,
}

impl Writer {
    fn write_next(&mut self) {
        if self.written < FRAMES
            && self
                .group
                .write_frame(truth(self.group.sequence(), self.written))
                .is_ok()
        {
            self.written += 1;
        }
    }

    fn complete(&mut self) {
        while self.written < FRAMES && self.group.status() == crate::GroupStatus::Open {
            self.write_next();
        }
        let _ = self.group.finish();
    }
}

struct Subscriber {
    consumer: TrackConsumer,
    seen: HashSet<u64>,
    groups: Vec<GroupConsumer>,
}

fn poll_subscriber(sub: &mut Subscriber) -> Result<Option<bool>, TestCaseError> {
    loop {
        match sub.consumer.poll_next_group(&Waiter::noop()) {
            Poll::Ready(Ok(Some(group))) => {
                prop_assert!(
                    sub.seen.insert(group.sequence()),
                    "group {} delivered twice",
                    group.sequence()
                );
                sub.groups.push(group);
            }
            Poll::Ready(Ok(None)) => return Ok(Some(true)),
            Poll::Ready(Err(err)) => prop_assert!(false, "subscription failed: {err}"),
            Poll::Pending => return Ok(None),
        }
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let track = TrackProducer::new(
        "p",
        TrackInfo {
            max_latency: Duration::from_millis(1500),
            ..TrackInfo::DEFAULT
        },
    )
    .unwrap();
    track.accept_fetches();
    let mut writers: BTreeMap<u64, Writer> = BTreeMap::new();
    let mut subscribers: Vec<Subscriber> = Vec::new();
    let mut fetches: Vec<(u64, TrackFetchPending)> = Vec::new();
    let mut served: Vec<Writer> = Vec::new();

    for op in ops {
        match op {
            Op::Create(seq) => {
                if let Ok(group) = track.create_group(seq) {
                    writers.insert(seq, Writer { group, written: 0 });
                }
            }
            Op::Write(seq) => {
                if let Some(w) = writers.get_mut(&seq) {
                    w.write_next();
                }
            }
            Op::Finish(seq) => {
                if let Some(mut w) = writers.remove(&seq) {
                    w.complete();
                }
            }
            Op::Abort(seq) => {
                if let Some(w) = writers.remove(&seq) {
                    let _ = w.group.abort(Error::Cancel);
                }
            }
            Op::Subscribe(start) => subscribers.push(Subscriber {
                consumer: track.subscribe(Subscription {
                    start,
                    ..Subscription::default()
                }),
                seen: HashSet::new(),
                groups: Vec::new(),
            }),
            Op::Poll(i) => {
                if let Some(sub) = subscribers.get_mut(i) {
                    poll_subscriber(sub)?;
                }
            }
            Op::Fetch(seq) => fetches.push((seq, track.consume().fetch(seq, None).unwrap())),
            Op::DropFetch(i) => {
                if i < fetches.len() {
                    fetches.remove(i);
                }
            }
            Op::Serve => {
                if let Poll::Ready(Some(request)) = track.poll_requested_fetch(&Waiter::noop()) {
                    let start = request.frame_start() as u64;
                    if let Ok(group) = request.serve() {
                        served.push(Writer {
                            group,
                            written: start,
                        });
                    }
                }
            }
            Op::Evict => {
                track.evict();
            }
        }
    }

    // Wind down: every writer completes, every request is served, the track finishes.
    for (_, mut w) in std::mem::take(&mut writers) {
        w.complete();
    }
    while let Poll::Ready(Some(request)) = track.poll_requested_fetch(&Waiter::noop()) {
        let start = request.frame_start() as u64;
        if let Ok(group) = request.serve() {
            served.push(Writer {
                group,
                written: start,
            });
        }
    }
    for w in &mut served {
        w.complete();
    }
    track.finish().unwrap();

    for (seq, pending) in &fetches {
        match pending.poll(&Waiter::noop()) {
            Poll::Ready(Ok(mut group)) => {
                prop_assert_eq!(group.sequence(), *seq);
                let (frames, end) = drain(&mut group);
                check_frames(*seq, &frames, end == Some(Ok(())))?;
                prop_assert!(end.is_some(), "fetched group {} never ends", seq);
            }
            Poll::Ready(Err(err)) => prop_assert!(false, "fetch of {} failed: {}", seq, err),
            Poll::Pending => prop_assert!(false, "fetch of {} hangs", seq),
        }
    }
    for sub in &mut subscribers {
        prop_assert_eq!(poll_subscriber(sub)?, Some(true), "subscription never ends");
        for group in &mut sub.groups {
            let seq = group.sequence();
            let (frames, end) = drain(group);
            prop_assert!(end.is_some(), "delivered group {} never ends", seq);
            check_frames(seq, &frames, end == Some(Ok(())))?;
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn interleavings_never_lose_duplicate_or_hang(ops in prop::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
