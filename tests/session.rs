//! End-to-end sessions over real QUIC and WebTransport on loopback: what depends on the
//! transport (every transport, version and address family; the SETUP and request path;
//! datagrams on the wire; PROBE's RTT; the close racing stream resets). The engine's own
//! behaviour runs without sockets in `crates/moql-session/tests/engine`.

mod support;

use std::time::Duration;

use moql_model::{
    BroadcastProducer, Frame, Path, Subscription, TrackConsumer, TrackInfo, TrackProducer,
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

/// moq-lite-06.md 6.9: on lite-06 the Group Start is only a floor and the max latency picks
/// the first group: the oldest cached group it still accepts, then every later one.
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

            pair.server.close(moql_wire::ErrorCode(42), "maintenance");
            let err = within("the client to see the close", pair.client.closed()).await;
            assert!(
                matches!(
                    &err,
                    moql_session::SessionError::Closed { code: moql_wire::ErrorCode(42), reason } if reason == "maintenance"
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
