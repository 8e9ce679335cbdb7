//! Subscriptions: where a subscription starts, how updates travel, and how a stale group ends
//! (moved from `tests/session.rs`, where they ran over QUIC and WebTransport).

use std::time::Duration;

use moql_model::{Subscription, TrackInfo};
use moql_wire::Version;

use crate::support::{
    announced, next_group_frames, pair, payloads, produce, publish, subscribed, within,
};

#[tokio::test(start_paused = true)]
async fn a_late_subscriber_starts_at_the_latest_group() {
    for version in Version::ALL {
        let pair = pair(version).await;
        let (_broadcast, track) = publish(&pair.server_publish, "live", TrackInfo::DEFAULT);
        for seq in 0..3 {
            produce(&track, seq, 1);
        }
        let remote = announced(&pair.client_received, "live").await;
        // lite-06 has no "latest" on the wire: a subscription without a start gets what its
        // max latency accepts (moq-lite-06.md 6.9), so the live edge is max latency 0.
        let subscription = if version.resolves_start() {
            Subscription {
                max_latency: Duration::ZERO,
                ..Subscription::default()
            }
        } else {
            Subscription::default()
        };
        let mut sub = remote.subscribe_track("clock", subscription).unwrap();
        let (seq, frames) = next_group_frames(&mut sub).await;
        assert_eq!(seq, 2, "{version}");
        assert_eq!(payloads(&frames), vec!["2:0"]);
    }
}

/// moq-lite-06.md 6.9: on lite-06 the Group Start is only a floor and the max latency picks
/// the first group: the oldest cached group it still accepts, then every later one.
#[tokio::test(start_paused = true)]
async fn a_lite06_subscription_without_a_start_replays_what_its_max_latency_accepts() {
    let pair = pair(Version::Lite06).await;
    let (_broadcast, track) = publish(&pair.server_publish, "live", TrackInfo::DEFAULT);
    // Group `seq` starts at media time seq * 1000 ms.
    for seq in 0..5 {
        produce(&track, seq, 1);
    }
    let remote = announced(&pair.client_received, "live").await;
    let mut sub = remote
        .subscribe_track(
            "clock",
            Subscription {
                max_latency: Duration::from_millis(2500),
                ..Subscription::default()
            },
        )
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(next_group_frames(&mut sub).await.0);
    }
    seen.sort_unstable();
    assert_eq!(seen, vec![2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_start_group_delivers_cached_groups_from_there() {
    for version in Version::ALL {
        let pair = pair(version).await;
        let (_broadcast, track) = publish(&pair.server_publish, "live", TrackInfo::DEFAULT);
        for seq in 0..4 {
            produce(&track, seq, 2);
        }
        let remote = announced(&pair.client_received, "live").await;
        let mut sub = remote
            .subscribe_track(
                "clock",
                Subscription {
                    start: Some(1),
                    ordered: true,
                    ..Subscription::default()
                },
            )
            .unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (seq, frames) = next_group_frames(&mut sub).await;
            assert_eq!(frames.len(), 2);
            seen.push(seq);
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2, 3], "{version}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_subscribe_update_of_priority_reaches_the_publisher() {
    for version in Version::ALL {
        let pair = pair(version).await;
        let (_broadcast, track) = publish(&pair.server_publish, "live", TrackInfo::DEFAULT);
        let remote = announced(&pair.client_received, "live").await;
        let mut sub = remote
            .subscribe_track(
                "clock",
                Subscription {
                    priority: 1,
                    ..Subscription::default()
                },
            )
            .unwrap();
        let seen = within("the subscription", track.subscription_changed(None))
            .await
            .unwrap();
        assert_eq!(seen.map(|s| s.priority), Some(1), "{version}");
        sub.update(Subscription {
            priority: 9,
            ..Subscription::default()
        });
        let updated = within("the update", async {
            loop {
                let current = track.subscription();
                if current.map(|s| s.priority) == Some(9) {
                    return current;
                }
                track.subscription_changed(current).await.unwrap();
            }
        })
        .await;
        assert_eq!(updated.unwrap().priority, 9);
        drop(sub);
        within("the unsubscribe", async {
            while track.subscription().is_some() {
                track
                    .subscription_changed(track.subscription())
                    .await
                    .unwrap();
            }
        })
        .await;
    }
}

/// moq-lite-06.md 10.5: a group that went stale while its stream had written everything it
/// holds (waiting for the producer) is ended with a FIN, not reset: the receiver keeps what
/// it got and its subscription.
#[tokio::test(start_paused = true)]
async fn a_stale_group_that_is_caught_up_is_finished_not_reset() {
    let pair = pair(Version::Lite05).await;
    let (_broadcast, track) = publish(&pair.server_publish, "live", TrackInfo::DEFAULT);
    let remote = announced(&pair.client_received, "live").await;
    let mut sub = remote
        .subscribe_track(
            "clock",
            Subscription {
                max_latency: Duration::from_millis(50),
                ..Subscription::default()
            },
        )
        .unwrap();
    subscribed(&track).await;
    // Group 0 stays open; group 1 starts a second later in media time.
    let stale = track.create_group(0).unwrap();
    stale.write(0, "old").unwrap();
    let mut first = within("group 0", sub.next_group()).await.unwrap().unwrap();
    assert_eq!(
        within("its frame", first.next_frame())
            .await
            .unwrap()
            .unwrap()
            .payload,
        "old"
    );
    let fresh = track.create_group(1).unwrap();
    fresh.write(1000, "new").unwrap();
    fresh.finish().unwrap();
    assert_eq!(
        within("the end of group 0", first.next_frame()).await,
        Ok(None),
        "a caught-up stale group ends cleanly"
    );
    let mut second = within("group 1", sub.next_group()).await.unwrap().unwrap();
    assert_eq!(second.sequence(), 1);
    assert_eq!(within("group 1", second.read_all()).await.unwrap().len(), 1);
    drop(stale);
}

/// A publisher's FIN after its last group stream ends the track cleanly once every group
/// landed (`settle`): the groups written just before the end all arrive, then the end.
#[tokio::test(start_paused = true)]
async fn a_track_finished_right_after_its_last_groups_ends_after_they_land() {
    for version in Version::ALL {
        let pair = pair(version).await;
        let (_broadcast, track) = publish(&pair.server_publish, "live", TrackInfo::DEFAULT);
        let remote = announced(&pair.client_received, "live").await;
        let mut sub = remote
            .subscribe_track(
                "clock",
                Subscription {
                    ordered: true,
                    // Group 0 is 7 s of media time behind group 7: never stale here.
                    max_latency: Duration::from_secs(60),
                    ..Subscription::default()
                },
            )
            .unwrap();
        subscribed(&track).await;
        // Group 0 first, so the subscription has started (lite-06 starts after the groups
        // it finds in the cache).
        produce(&track, 0, 3);
        assert_eq!(next_group_frames(&mut sub).await.0, 0, "{version}");
        for seq in 1..8 {
            produce(&track, seq, 3);
        }
        track.finish().unwrap();
        let mut seen = Vec::new();
        while let Some(mut group) = within("a group or the end", sub.next_group())
            .await
            .unwrap()
        {
            let frames = within("its frames", group.read_all()).await.unwrap();
            assert_eq!(
                frames.len(),
                3,
                "{version}: group {} whole",
                group.sequence()
            );
            seen.push(group.sequence());
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..8).collect::<Vec<_>>(), "{version}");
    }
}
