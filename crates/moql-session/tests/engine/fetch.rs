//! FETCH over the session: a miss goes over the wire (with no TRACK round trip first), the
//! publisher's application serves what its cache lost, a cut-short group is resumed, and a
//! fetch past the end is a typed error.

use std::time::Duration;

use moql_model::{Error, Fetch, Frame, GroupStatus, Subscription, TrackInfo};
use moql_wire::{BidiStream, Decode, Version};

use crate::support::{Pair, announced, pair, payloads, produce, publish, quiescent, within};

#[tokio::test(start_paused = true)]
async fn fetch_of_a_cached_past_group_goes_over_the_wire_byte_exact() {
    let pair = pair(Version::Lite05).await;
    let (_broadcast, track) = publish(&pair.server_publish, "vod", TrackInfo::DEFAULT);
    for seq in 0..3 {
        produce(&track, seq, 4);
    }
    let remote = announced(&pair.client_received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    within("track info", consumer.wait_info()).await.unwrap();
    let pending = consumer.fetch(1, Fetch { priority: 5 }).unwrap();
    assert!(
        !pending.is_cache_hit(),
        "nothing is cached on the client yet"
    );
    let mut group = within("the fetch", pending).await.unwrap();
    let frames = within("fetched frames", group.read_all()).await.unwrap();
    assert_eq!(payloads(&frames), vec!["1:0", "1:1", "1:2", "1:3"]);
    assert_eq!(
        frames.iter().map(|f| f.timestamp).collect::<Vec<_>>(),
        vec![1000, 1001, 1002, 1003]
    );
    // Now cached on the client: the next fetch is answered without the wire.
    assert!(consumer.fetch(1, None).unwrap().is_cache_hit());
}

#[tokio::test(start_paused = true)]
async fn fetch_of_an_evicted_group_is_served_by_the_publisher() {
    let pair = pair(Version::Lite05).await;
    let info = TrackInfo {
        max_latency: Duration::from_millis(500),
        ..TrackInfo::DEFAULT
    };
    let (_broadcast, track) = publish(&pair.server_publish, "vod", info);
    for seq in 0..5 {
        produce(&track, seq, 2);
    }
    assert!(
        !track.cached().contains(&0),
        "group 0 is 4 s behind the newest: evicted"
    );
    // The publishing application serves fetches its cache cannot answer.
    let server_track = track.clone();
    tokio::spawn(async move {
        while let Some(request) = server_track.requested_fetch().await {
            let seq = request.sequence();
            let group = request.serve().unwrap();
            group.write(seq * 1000, format!("archive {seq}")).unwrap();
            group.finish().unwrap();
        }
    });
    let remote = announced(&pair.client_received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    let mut group = within("the fetch", consumer.fetch(0, None).unwrap())
        .await
        .unwrap();
    let frames = within("fetched frames", group.read_all()).await.unwrap();
    assert_eq!(payloads(&frames), vec!["archive 0"]);
}

#[tokio::test(start_paused = true)]
async fn fetch_past_the_end_is_a_typed_not_found() {
    let pair = pair(Version::Lite05).await;
    let (_broadcast, track) = publish(&pair.server_publish, "vod", TrackInfo::DEFAULT);
    produce(&track, 0, 1);
    track.finish().unwrap();
    let remote = announced(&pair.client_received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    let result = within("the fetch", consumer.fetch(7, None).unwrap()).await;
    assert_eq!(result.err(), Some(Error::NotFound));
}

/// The requests the client opened, as (stream type, FETCH if it is one), in order.
fn requests(pair: &Pair, version: Version) -> Vec<(BidiStream, Option<moql_wire::Fetch>)> {
    pair.client_transport
        .opened_bi_heads()
        .iter()
        .filter_map(|head| {
            let (kind, used) = BidiStream::decode_from(head, version).ok()?;
            let fetch = (kind == BidiStream::Fetch)
                .then(|| moql_wire::Fetch::decode_from(&head[used..], version).ok())
                .flatten()
                .map(|(fetch, _)| fetch);
            Some((kind, fetch))
        })
        .collect()
}

fn count(requests: &[(BidiStream, Option<moql_wire::Fetch>)], kind: BidiStream) -> usize {
    requests.iter().filter(|(k, _)| *k == kind).count()
}

#[tokio::test(start_paused = true)]
async fn a_fetch_needs_no_track_round_trip() {
    let pair = pair(Version::Lite05).await;
    let (_broadcast, track) = publish(&pair.server_publish, "vod", TrackInfo::DEFAULT);
    for seq in 0..3 {
        produce(&track, seq, 2);
    }
    let remote = announced(&pair.client_received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    let mut group = within("the fetch", consumer.fetch(1, None).unwrap())
        .await
        .unwrap();
    let frames = within("fetched frames", group.read_all()).await.unwrap();
    assert_eq!(payloads(&frames), vec!["1:0", "1:1"]);
    let sent = requests(&pair, Version::Lite05);
    assert_eq!(count(&sent, BidiStream::Fetch), 1);
    assert_eq!(
        count(&sent, BidiStream::Track),
        0,
        "no TRACK before a FETCH"
    );

    // A second fetch soon after reuses the same remote track (and its cache).
    quiescent().await;
    let mut group = within("the second fetch", consumer.fetch(2, None).unwrap())
        .await
        .unwrap();
    within("frames", group.read_all()).await.unwrap();
    assert!(consumer.fetch(1, None).unwrap().is_cache_hit());

    // Asking for the info is what sends TRACK.
    let info = within("track info", consumer.wait_info()).await.unwrap();
    assert_eq!(info, TrackInfo::DEFAULT);
    let sent = requests(&pair, Version::Lite05);
    assert_eq!(count(&sent, BidiStream::Track), 1);
    assert_eq!(count(&sent, BidiStream::Fetch), 2);
}

/// Group 1 reaches the client live, cut short after two frames (the subscription ends
/// mid-group); the publisher then completes it with two more, and the client fetches it.
/// Returns the fetched frames and the FETCH the client sent.
async fn resume_cut_short_group(version: Version) -> (Vec<Frame>, moql_wire::Fetch) {
    let pair = pair(version).await;
    let (_broadcast, track) = publish(&pair.server_publish, "vod", TrackInfo::DEFAULT);
    let live = track.create_group(1).unwrap();
    live.write(1000, "1:0").unwrap();
    live.write(1001, "1:1").unwrap();
    let remote = announced(&pair.client_received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    let mut sub = consumer.clone_unsubscribed();
    sub.subscribe(Subscription::DEFAULT);
    let mut group = within("the live group", sub.next_group())
        .await
        .unwrap()
        .unwrap();
    for _ in 0..2 {
        within("a live frame", group.next_frame()).await.unwrap();
    }
    drop(sub);
    let cut = within("the cut", group.ended()).await;
    assert!(
        matches!(cut, GroupStatus::Aborted(_)),
        "the unsubscribe cut group 1 short: {cut:?}"
    );
    assert_eq!(consumer.cached_group(1).map(|g| g.sequence()), None);
    live.write(1002, "1:2").unwrap();
    live.write(1003, "1:3").unwrap();
    live.finish().unwrap();

    let mut fetched = within("the fetch", consumer.fetch(1, None).unwrap())
        .await
        .unwrap();
    let frames = within("fetched frames", fetched.read_all()).await.unwrap();
    let fetch = requests(&pair, version)
        .into_iter()
        .find_map(|(_, fetch)| fetch)
        .expect("a FETCH went out");
    (frames, fetch)
}

fn whole_group_1() -> Vec<Frame> {
    (0..4)
        .map(|i| Frame::new(1000 + i, format!("1:{i}")))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_cut_short_group_is_resumed_from_its_missing_tail_on_lite06() {
    let (frames, fetch) = resume_cut_short_group(Version::Lite06).await;
    assert_eq!(
        fetch.frame_start, 2,
        "only the two missing frames are asked for"
    );
    assert_eq!(fetch.frame_end, None);
    assert_eq!(frames, whole_group_1(), "byte-identical to the original");
}

#[tokio::test(start_paused = true)]
async fn a_cut_short_group_is_fetched_whole_before_lite06_and_resumed_by_count() {
    let (frames, fetch) = resume_cut_short_group(Version::Lite05).await;
    assert_eq!(fetch.frame_start, 0, "lite-05 FETCH cannot start mid-group");
    assert_eq!(frames, whole_group_1(), "byte-identical to the original");
}
