//! Subscriber Max Latency as released peers expect it (moq-lite-06.md 10.5): a stale group is
//! skipped before its stream opens, a stream is reset (Old) only while it is behind, and a
//! group whose stream is flowing completes. The previous generation of released clients
//! subscribes with max latency 0 and ends its whole subscription on any group reset, so a
//! relay that resets flowing groups loses its viewers (issue: "Subscriptions die on our
//! relay"); it also ends one when a group's stream arrives after a newer group's, so group
//! streams must open in group order. (A stale group stream blocked on flow control is reset
//! with Old: moql-session's `tests/engine/delivery.rs`, over the in-memory pair.)

mod support;

use std::time::Duration;

use bytes::Bytes;
use moql_model::{Error, Subscription, TrackConsumer, TrackProducer};
use moql_wire::{Decode, Group};
use support::raw::{self, V, harness};
use support::relay::{TestRelay, publish, wait_subscribed};
use support::{TestClient, client, within};
use web_transport_trait::{RecvStream as _, Session as _};

const GROUPS: u64 = 100;
const FRAMES: u64 = 3;
const FRAME_INTERVAL: Duration = Duration::from_millis(5);
/// How long after its successor's first frame a group is finished: an encoder closes a group
/// when the next keyframe arrives, and over the network that FIN can reach the relay after
/// the next group's first frame.
const FIN_LAG: Duration = Duration::from_millis(15);

/// Publishes `GROUPS` groups of `FRAMES` frames as a live encoder does: group N+1 starts
/// (its first frame written) before group N is finished.
async fn publish_live(track: TrackProducer) {
    let mut previous = None;
    for seq in 0..GROUPS {
        let group = track.create_group(seq).unwrap();
        for i in 0..FRAMES {
            group
                .write((seq * FRAMES + i) * 5, format!("{seq}:{i}"))
                .unwrap();
            if i == 0
                && let Some(done) = previous.take()
            {
                tokio::time::sleep(FIN_LAG).await;
                let done: moql_model::GroupProducer = done;
                done.finish().unwrap();
            }
            tokio::time::sleep(FRAME_INTERVAL).await;
        }
        previous = Some(group);
    }
    if let Some(last) = previous {
        last.finish().unwrap();
    }
}

/// Reads groups as a reset-intolerant client does: any group error ends the subscription.
/// Returns how many groups it read whole, or the first error.
async fn read_until_last(mut sub: TrackConsumer) -> Result<u64, (u64, Error)> {
    let mut read = 0;
    loop {
        let mut group = match sub.next_group().await {
            Ok(Some(group)) => group,
            Ok(None) => return Ok(read),
            Err(err) => return Err((u64::MAX, err)),
        };
        let sequence = group.sequence();
        group.read_all().await.map_err(|err| (sequence, err))?;
        read += 1;
        if sequence == GROUPS - 1 {
            return Ok(read);
        }
    }
}

#[tokio::test]
async fn a_max_latency_0_subscriber_sees_no_group_reset_on_any_transport() {
    let relay = TestRelay::start(|c| c.tcp = Some("127.0.0.1:0".parse().unwrap())).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "live");

    let tcp = format!("tcp://127.0.0.1:{}/", relay.tcp_addr.unwrap().port());
    let urls = [
        relay.url("moql", "/"),
        relay.url("https", "/"),
        relay.url("ws", "/"),
        tcp,
    ];
    let mut viewers: Vec<(String, TestClient, TrackConsumer)> = Vec::new();
    for url in urls {
        let viewer = client(&url, &relay.fingerprint).await.unwrap();
        let remote = support::announced(&viewer.received, "live").await;
        let sub = remote
            .subscribe_track(
                "clock",
                Subscription {
                    max_latency: Duration::ZERO,
                    ..Subscription::default()
                },
            )
            .unwrap();
        viewers.push((format!("{:?}", viewer.kind), viewer, sub));
    }
    wait_subscribed(&track).await;
    // Every viewer's subscription reached the relay before the first group.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let readers: Vec<_> = viewers
        .into_iter()
        .map(|(kind, viewer, sub)| {
            tokio::spawn(async move {
                let result = read_until_last(sub).await;
                drop(viewer);
                (kind, result)
            })
        })
        .collect();
    publish_live(track).await;
    for reader in readers {
        let (kind, result) = within("a viewer to read the last group", reader)
            .await
            .unwrap();
        match result {
            Ok(read) => {
                // Uncongested: skipping a stale group before it opens is allowed, but a
                // viewer that keeps up reads nearly all of them.
                assert!(read >= GROUPS / 2, "{kind}: only {read} of {GROUPS} groups");
            }
            Err((sequence, err)) => {
                panic!("{kind}: group {sequence} failed with {err:?}: the subscription would end")
            }
        }
    }
}

/// Group streams open in the order their groups were dispatched (stream IDs ascending), even
/// when many start at once on a multi-threaded runtime: the previous generation of released
/// clients ends a subscription when a group's stream arrives after a newer group's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_streams_open_in_group_order() {
    let h = harness().await;
    let (_send, _recv) = raw::subscribe(&h, 3, 60_000).await;
    const GROUPS: u64 = 200;
    // Each group is open (unfinished) when the next starts, as a live track's are.
    let groups: Vec<_> = (0..GROUPS)
        .map(|seq| {
            let group = h.track.create_group(seq).unwrap();
            group.write(seq, format!("{seq}")).unwrap();
            group
        })
        .collect();
    let order = within("every group's stream", async {
        let mut order = Vec::new();
        while order.len() < GROUPS as usize {
            let mut uni = h.client.accept_uni().await.unwrap();
            let mut head = [0u8; 1];
            uni.read(&mut head).await.unwrap();
            if head[0] != 0x00 {
                continue;
            }
            // GROUP: length, subscribe id, sequence.
            let mut rest = Vec::new();
            let mut buf = [0u8; 64];
            while rest.len() < 3 {
                let n = uni.read(&mut buf).await.unwrap().unwrap();
                rest.extend_from_slice(&buf[..n]);
            }
            let mut bytes = Bytes::from(rest);
            order.push(Group::decode(&mut bytes, V).unwrap().sequence);
        }
        order
    })
    .await;
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted, "streams opened out of group order");
    drop(groups);
}
