//! A session's life around its tracks: announcements, GOAWAY, and the close that ends every
//! consumer (moved from `tests/session.rs`, where they ran over QUIC and WebTransport).

use moql_model::{Announcement, Path, Subscription, TrackInfo};
use moql_wire::Version;

use crate::support::{
    Options, announced, next_group_frames, pair, pair_with, produce, publish, subscribed, until,
    within,
};

#[tokio::test(start_paused = true)]
async fn announcements_follow_the_prefix_live() {
    for version in Version::ALL {
        let mut options = Options::new(version);
        options.announce_prefix = Some("room".into());
        let pair = pair_with(options).await;
        let mut watcher = pair.client_received.consume();
        let first = within("the initial set", watcher.announced())
            .await
            .unwrap();
        assert!(matches!(first, Announcement::Initial(set) if set.is_empty()));

        let (outside, _t1) = publish(&pair.server_publish, "lobby", TrackInfo::DEFAULT);
        let (inside, _t2) = publish(&pair.server_publish, "room/cam", TrackInfo::DEFAULT);
        match within("room/cam announced", watcher.announced())
            .await
            .unwrap()
        {
            Announcement::Active(a) => assert_eq!(a.path.as_str(), "room/cam", "{version}"),
            other => panic!("{version}: expected room/cam active, got {other:?}"),
        }
        drop(inside);
        match within("room/cam ended", watcher.announced()).await.unwrap() {
            Announcement::Ended(p) => assert_eq!(p.as_str(), "room/cam"),
            other => panic!("{version}: expected room/cam ended, got {other:?}"),
        }
        assert!(
            pair.client_received
                .broadcast(&Path::new("lobby").unwrap())
                .is_none(),
            "outside the prefix"
        );
        drop(outside);
    }
}

#[tokio::test(start_paused = true)]
async fn goaway_reaches_the_peer() {
    for version in [Version::Lite05, Version::Lite04] {
        let pair = pair(version).await;
        within(
            "sending GOAWAY",
            pair.server.goaway("moqt://b.example/anon"),
        )
        .await
        .unwrap();
        let uri = within("receiving GOAWAY", pair.client.goaway_received()).await;
        assert_eq!(uri.as_deref(), Some("moqt://b.example/anon"), "{version}");
    }
    let pair = pair(Version::Lite03).await;
    assert!(
        pair.server.goaway("").await.is_err(),
        "lite-03 has no GOAWAY"
    );
}

#[tokio::test(start_paused = true)]
async fn closing_a_session_ends_every_consumer_and_leaks_no_task() {
    for version in Version::ALL {
        let pair = pair(version).await;
        let (_broadcast, track) = publish(&pair.server_publish, "live", TrackInfo::DEFAULT);
        let remote = announced(&pair.client_received, "live").await;
        let mut sub = remote
            .subscribe_track("clock", Subscription::default())
            .unwrap();
        subscribed(&track).await;
        produce(&track, 0, 1);
        next_group_frames(&mut sub).await;
        assert!(pair.client.stats().tasks > 0);

        pair.server.close(moql_wire::ErrorCode::CANCEL, "bye");
        let err = within("the subscription to fail", async {
            loop {
                match sub.next_group().await {
                    Ok(Some(_)) => continue,
                    other => return other,
                }
            }
        })
        .await;
        assert!(
            err.is_err(),
            "{version}: consumers fed by a closed session see an error"
        );
        within("the client to see the close", pair.client.closed()).await;
        until("every task to end", || {
            pair.client.stats().tasks == 0 && pair.server.stats().tasks == 0
        })
        .await;
        assert_eq!(pair.client.stats().subscriptions, 0);
        assert!(
            pair.client_received
                .broadcast(&Path::new("live").unwrap())
                .is_none(),
            "the broadcast is withdrawn"
        );
    }
}
