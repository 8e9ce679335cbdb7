//! loom models of FETCH demand registration: a fetch registered while the producer is
//! looking for demand is never lost, and concurrent fetches of one group share one request.
//!
//! The track's shared state is a `moql-sync` channel, whose locks and wake-ups come from
//! `loom` under `--cfg loom`. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p moql-model --release --lib` (what `cargo xtask test`
//! does, bounded by `LOOM_MAX_PREEMPTIONS`).

use loom::future::block_on;
use loom::thread;

use crate::{TrackInfo, TrackProducer};

fn track() -> TrackProducer {
    let track = TrackProducer::new("t", TrackInfo::DEFAULT).unwrap();
    track.accept_fetches();
    track
}

/// A fetch racing the producer's wait for demand is always seen and served.
#[test]
fn fetch_demand_is_never_lost() {
    loom::model(|| {
        let track = track();
        let consumer = track.consume();
        let server = thread::spawn(move || {
            let request = block_on(track.requested_fetch()).expect("a request");
            assert_eq!(request.sequence(), 5);
            let group = request.serve().unwrap();
            group.write(0, "five").unwrap();
            group.finish().unwrap();
            track
        });
        let pending = consumer.fetch(5, None).unwrap();
        let mut group = block_on(pending).expect("the fetch resolves");
        let frame = block_on(group.next_frame()).unwrap().expect("a frame");
        assert_eq!(&frame.payload[..], b"five");
        drop(server.join().unwrap());
    });
}

/// Two consumers fetching the same group at once register one request, and both get it.
#[test]
fn concurrent_fetches_of_one_group_share_a_request() {
    loom::model(|| {
        let track = track();
        let first = track.consume();
        let second = track.consume();
        let other = thread::spawn(move || {
            let pending = second.fetch(3, None).unwrap();
            block_on(pending)
                .expect("the second fetch resolves")
                .sequence()
        });
        let pending = first.fetch(3, None).unwrap();
        let request = block_on(track.requested_fetch()).expect("a request");
        assert_eq!(request.sequence(), 3);
        let group = request.serve().unwrap();
        group.finish().unwrap();
        assert_eq!(
            block_on(pending)
                .expect("the first fetch resolves")
                .sequence(),
            3
        );
        assert_eq!(other.join().unwrap(), 3);
        // One request served both: no second request is pending.
        let waiter = moql_sync::Waiter::new();
        assert!(track.poll_requested_fetch(&waiter).is_pending());
    });
}
