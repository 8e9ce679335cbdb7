//! FETCH over the session: a miss goes over the wire, the publisher's application serves what
//! its cache lost, and a fetch past the end is a typed error (moved from `tests/session.rs`).

use std::time::Duration;

use moql_model::{Error, Fetch, TrackInfo};
use moql_wire::Version;

use crate::support::{announced, pair, payloads, produce, publish, within};

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
