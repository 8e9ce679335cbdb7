//! End-to-end sessions over real QUIC and WebTransport on loopback, for lite-05, -04 and -03.

mod support;

use std::time::Duration;

use moql_model::{
    BroadcastProducer, Error, Fetch, Frame, Path, Subscription, TrackConsumer, TrackInfo,
    TrackProducer,
};
use moql_native::TransportKind;
use moql_wire::Version;
use support::{PairOptions, announced, matrix, pair, within};

/// Publishes broadcast `name` with one track `clock` on `origin`.
fn publish(
    origin: &moql_model::OriginProducer,
    name: &str,
    info: TrackInfo,
) -> (BroadcastProducer, TrackProducer) {
    let broadcast = BroadcastProducer::new();
    let track = broadcast.create_track("clock", info).unwrap();
    origin
        .publish(&Path::new(name).unwrap(), broadcast.consume())
        .unwrap();
    (broadcast, track)
}

/// Writes group `seq` with `frames` frames ("seq:i", timestamp seq*1000+i) and finishes it.
fn produce(track: &TrackProducer, seq: u64, frames: u64) {
    let group = track.create_group(seq).unwrap();
    for i in 0..frames {
        group.write(seq * 1000 + i, format!("{seq}:{i}")).unwrap();
    }
    group.finish().unwrap();
}

fn payloads(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| String::from_utf8(f.payload.to_vec()).unwrap())
        .collect()
}

async fn next_group_frames(track: &mut TrackConsumer) -> (u64, Vec<Frame>) {
    let mut group = within("a group", track.next_group())
        .await
        .expect("group")
        .expect("not finished");
    let frames = within("the group's frames", group.read_all())
        .await
        .expect("frames");
    (group.sequence(), frames)
}

#[tokio::test]
async fn a_live_track_flows_on_every_transport_version_and_address_family() {
    for (kind, version) in matrix() {
        for v6 in [false, true] {
            let mut options = PairOptions::new(kind, version);
            options.v6 = v6;
            let pair = pair(options).await;
            let (_broadcast, track) = publish(&pair.client_publish, "demo", TrackInfo::DEFAULT);
            let remote = announced(&pair.server_received, "demo").await;
            let mut sub = remote
                .subscribe_track("clock", Subscription::default())
                .unwrap();
            let info = within("track info", sub.wait_info()).await.unwrap();
            assert_eq!(info.timescale, 1000, "{kind:?} {version}");
            // Wait until the subscription reached the publisher, then produce.
            within("the subscription upstream", async {
                while track.subscription().is_none() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
            produce(&track, 0, 3);
            let (seq, frames) = next_group_frames(&mut sub).await;
            assert_eq!(seq, 0, "{kind:?} {version} v6={v6}");
            assert_eq!(
                payloads(&frames),
                vec!["0:0", "0:1", "0:2"],
                "{kind:?} {version} v6={v6}"
            );
            if version.has_timestamps() {
                assert_eq!(
                    frames.iter().map(|f| f.timestamp).collect::<Vec<_>>(),
                    vec![0, 1, 2]
                );
            }
            produce(&track, 1, 1);
            assert_eq!(next_group_frames(&mut sub).await.0, 1);
            track.finish().unwrap();
            assert!(
                within("the end of the track", sub.next_group())
                    .await
                    .unwrap()
                    .is_none(),
                "{kind:?} {version}"
            );
        }
    }
}

#[tokio::test]
async fn the_setup_path_and_request_path_reach_the_server() {
    let mut options = PairOptions::new(TransportKind::Quic, Version::Lite05);
    options.path = "/anon?jwt=abc".into();
    assert_eq!(
        pair(options).await.seen_path.as_deref(),
        Some("/anon?jwt=abc")
    );
    let mut options = PairOptions::new(TransportKind::WebTransport, Version::Lite05);
    options.path = "/room/1?x=y".into();
    assert_eq!(
        pair(options).await.seen_path.as_deref(),
        Some("/room/1?x=y")
    );
}

#[tokio::test]
async fn a_late_subscriber_starts_at_the_latest_group() {
    for (kind, version) in matrix() {
        let pair = pair(PairOptions::new(kind, version)).await;
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
        assert_eq!(seq, 2, "{kind:?} {version}");
        assert_eq!(payloads(&frames), vec!["2:0"]);
    }
}

/// moq-lite-06.md 6.9: on lite-06 the Group Start is only a floor and the max latency picks
/// the first group: the oldest cached group it still accepts, then every later one.
#[tokio::test]
async fn a_lite06_subscription_without_a_start_replays_what_its_max_latency_accepts() {
    for kind in [TransportKind::Quic, TransportKind::WebTransport] {
        let pair = pair(PairOptions::new(kind, Version::Lite06)).await;
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
        assert_eq!(seen, vec![2, 3, 4], "{kind:?}");
    }
}

#[tokio::test]
async fn a_start_group_delivers_cached_groups_from_there() {
    for (kind, version) in matrix() {
        let pair = pair(PairOptions::new(kind, version)).await;
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
        assert_eq!(seen, vec![1, 2, 3], "{kind:?} {version}");
    }
}

#[tokio::test]
async fn fetch_of_a_cached_past_group_goes_over_the_wire_byte_exact() {
    for kind in [TransportKind::Quic, TransportKind::WebTransport] {
        let pair = pair(PairOptions::new(kind, Version::Lite05)).await;
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
        assert_eq!(
            payloads(&frames),
            vec!["1:0", "1:1", "1:2", "1:3"],
            "{kind:?}"
        );
        assert_eq!(
            frames.iter().map(|f| f.timestamp).collect::<Vec<_>>(),
            vec![1000, 1001, 1002, 1003]
        );
        // Now cached on the client: the next fetch is answered without the wire.
        assert!(consumer.fetch(1, None).unwrap().is_cache_hit());
    }
}

#[tokio::test]
async fn fetch_of_an_evicted_group_is_served_by_the_publisher() {
    let pair = pair(PairOptions::new(TransportKind::Quic, Version::Lite05)).await;
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

#[tokio::test]
async fn fetch_past_the_end_is_a_typed_not_found() {
    let pair = pair(PairOptions::new(
        TransportKind::WebTransport,
        Version::Lite05,
    ))
    .await;
    let (_broadcast, track) = publish(&pair.server_publish, "vod", TrackInfo::DEFAULT);
    produce(&track, 0, 1);
    track.finish().unwrap();
    let remote = announced(&pair.client_received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    let result = within("the fetch", consumer.fetch(7, None).unwrap()).await;
    assert_eq!(result.err(), Some(Error::NotFound));
}

#[tokio::test]
async fn announcements_follow_the_prefix_live() {
    for (kind, version) in matrix() {
        let mut options = PairOptions::new(kind, version);
        options.announce_prefix = Some("room".into());
        let pair = pair(options).await;
        let mut watcher = pair.client_received.consume();
        let first = within("the initial set", watcher.announced())
            .await
            .unwrap();
        assert!(matches!(first, moql_model::Announcement::Initial(set) if set.is_empty()));

        let (outside, _t1) = publish(&pair.server_publish, "lobby", TrackInfo::DEFAULT);
        let (inside, _t2) = publish(&pair.server_publish, "room/cam", TrackInfo::DEFAULT);
        match within("room/cam announced", watcher.announced())
            .await
            .unwrap()
        {
            moql_model::Announcement::Active(a) => {
                assert_eq!(a.path.as_str(), "room/cam", "{kind:?} {version}")
            }
            other => panic!("{kind:?} {version}: expected room/cam active, got {other:?}"),
        }
        drop(inside);
        match within("room/cam ended", watcher.announced()).await.unwrap() {
            moql_model::Announcement::Ended(p) => assert_eq!(p.as_str(), "room/cam"),
            other => panic!("{kind:?} {version}: expected room/cam ended, got {other:?}"),
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

#[tokio::test]
async fn a_subscribe_update_of_priority_reaches_the_publisher() {
    for (kind, version) in matrix() {
        let pair = pair(PairOptions::new(kind, version)).await;
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
        assert_eq!(seen.map(|s| s.priority), Some(1), "{kind:?} {version}");
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

#[tokio::test]
async fn goaway_reaches_the_peer() {
    for kind in [TransportKind::Quic, TransportKind::WebTransport] {
        for version in [Version::Lite05, Version::Lite04] {
            let pair = pair(PairOptions::new(kind, version)).await;
            within(
                "sending GOAWAY",
                pair.server.goaway("moqt://b.example/anon"),
            )
            .await
            .unwrap();
            let uri = within("receiving GOAWAY", pair.client.goaway_received()).await;
            assert_eq!(
                uri.as_deref(),
                Some("moqt://b.example/anon"),
                "{kind:?} {version}"
            );
        }
        let pair = pair(PairOptions::new(kind, Version::Lite03)).await;
        assert!(
            pair.server.goaway("").await.is_err(),
            "lite-03 has no GOAWAY"
        );
    }
}

#[tokio::test]
async fn a_tiny_group_travels_as_a_datagram() {
    for kind in [TransportKind::Quic, TransportKind::WebTransport] {
        let mut options = PairOptions::new(kind, Version::Lite05);
        options.datagrams = Some(1200);
        let pair = pair(options).await;
        let (_broadcast, track) = publish(&pair.server_publish, "tiny", TrackInfo::DEFAULT);
        let remote = announced(&pair.client_received, "tiny").await;
        let mut sub = remote
            .subscribe_track("clock", Subscription::default())
            .unwrap();
        within("the subscription", track.subscription_changed(None))
            .await
            .unwrap();
        // Several tries: datagrams are unreliable even on loopback.
        let mut received = None;
        for seq in 0..20 {
            produce(&track, seq, 1);
            if let Ok(Ok(Some(mut group))) =
                tokio::time::timeout(Duration::from_millis(200), sub.next_group()).await
            {
                received = Some(within("frames", group.read_all()).await.unwrap());
                break;
            }
        }
        let frames = received.expect("a datagram group arrived");
        assert_eq!(frames.len(), 1);
        let stats = (pair.client.stats(), pair.server.stats());
        assert!(
            stats.0.datagrams_received > 0,
            "{kind:?}: it came as a datagram: {stats:?}"
        );
    }
}

#[tokio::test]
async fn closing_a_session_ends_every_consumer_and_leaks_no_task() {
    for (kind, version) in matrix() {
        let pair = pair(PairOptions::new(kind, version)).await;
        let (_broadcast, track) = publish(&pair.server_publish, "live", TrackInfo::DEFAULT);
        let remote = announced(&pair.client_received, "live").await;
        let mut sub = remote
            .subscribe_track("clock", Subscription::default())
            .unwrap();
        within("the subscription", track.subscription_changed(None))
            .await
            .unwrap();
        produce(&track, 0, 1);
        next_group_frames(&mut sub).await;
        assert!(pair.client.stats().tasks > 0);

        pair.server.close(0, "bye");
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
            "{kind:?} {version}: consumers fed by a closed session see an error"
        );
        within("the client to see the close", pair.client.closed()).await;
        within("every task to end", async {
            while pair.client.stats().tasks > 0 || pair.server.stats().tasks > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
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

#[tokio::test]
async fn probe_reports_the_rtt_and_send_rate() {
    for kind in [TransportKind::Quic, TransportKind::WebTransport] {
        for version in [Version::Lite05, Version::Lite04] {
            let mut options = PairOptions::new(kind, version);
            options.probe = true;
            let pair = pair(options).await;
            let report = within("a PROBE report", async {
                loop {
                    if let Some(report) = pair.client.probe() {
                        return report;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            assert!(
                report.rtt > 0 || report.bitrate > 0,
                "{kind:?} {version}: {report:?}"
            );
        }
    }
}

/// moq-lite-06.md 10.5: a group that went stale while its stream had written everything it
/// holds (waiting for the producer) is ended with a FIN, not reset: the receiver keeps what
/// it got and its subscription.
#[tokio::test]
async fn a_stale_group_that_is_caught_up_is_finished_not_reset() {
    let pair = pair(PairOptions::new(TransportKind::Quic, Version::Lite05)).await;
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
    within("the subscription", track.subscription_changed(None))
        .await
        .unwrap();
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

/// A session close is the first thing the peer learns: a client with live subscriptions both
/// ways (an announce stream, subscribe streams, open group streams) ends with exactly the
/// server's code and reason, never with a stream reset that the close caused. Many rounds,
/// because the wrong order only shows when a reset wins the race.
#[tokio::test]
async fn the_peer_learns_the_close_code_and_reason_before_any_stream_reset() {
    const ROUNDS: usize = 20;
    for kind in [TransportKind::Quic, TransportKind::WebTransport] {
        for round in 0..ROUNDS {
            let pair = pair(PairOptions::new(kind, Version::Lite05)).await;
            // Server -> client: a live subscription with a group still open.
            let (_server_broadcast, server_track) =
                publish(&pair.server_publish, "down", TrackInfo::DEFAULT);
            // Client -> server: the same the other way.
            let (_client_broadcast, client_track) =
                publish(&pair.client_publish, "up", TrackInfo::DEFAULT);
            let down = announced(&pair.client_received, "down").await;
            let up = announced(&pair.server_received, "up").await;
            let mut down_sub = down
                .subscribe_track("clock", Subscription::default())
                .unwrap();
            let mut up_sub = up
                .subscribe_track("clock", Subscription::default())
                .unwrap();
            within("the subscriptions", async {
                server_track.subscription_changed(None).await.unwrap();
                client_track.subscription_changed(None).await.unwrap();
            })
            .await;
            let open_down = server_track.create_group(0).unwrap();
            open_down.write(0, "open").unwrap();
            let open_up = client_track.create_group(0).unwrap();
            open_up.write(0, "open").unwrap();
            within("the open groups", async {
                down_sub.next_group().await.unwrap().unwrap();
                up_sub.next_group().await.unwrap().unwrap();
            })
            .await;

            pair.server.close(42, "maintenance");
            let err = within("the client to see the close", pair.client.closed()).await;
            assert!(
                matches!(
                    &err,
                    moql_session::SessionError::Closed { code: 42, reason } if reason == "maintenance"
                ),
                "{kind:?} round {round}: the client ended with {err:?}, not the server's close"
            );
            within("every task to end", async {
                while pair.client.stats().tasks > 0 || pair.server.stats().tasks > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            drop((open_down, open_up));
        }
    }
}
