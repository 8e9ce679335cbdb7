//! The relay's `/metrics`, read over real sessions on loopback: counters stay monotonic when
//! sessions end, FETCHes are counted, and the output parses with a real OpenMetrics parser.

mod support;

use std::time::Duration;

use moql_model::{Path, Subscription};
use moql_wire::ErrorCode;
use support::relay::{TestRelay, produce, publish, read_group, wait_subscribed};
use support::within;

#[tokio::test]
async fn payload_byte_counters_keep_their_value_after_the_sessions_end() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let subscriber = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "bytes");
    let remote = support::announced(&subscriber.received, "bytes").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    for seq in 0..3 {
        produce(&track, seq, 2);
        read_group(&mut sub).await;
    }
    // Six frames of three payload bytes ("s:i") each way.
    let sent = relay
        .metric_until("moql_relay_bytes_out_total", |v| v >= 18)
        .await;
    let received = relay
        .metric_until("moql_relay_bytes_in_total", |v| v >= 18)
        .await;

    drop(sub);
    subscriber.session.close(ErrorCode::CANCEL, "done");
    publisher.session.close(ErrorCode::CANCEL, "done");
    relay.metric_until("moql_relay_sessions", |v| v == 0).await;
    // Past the relay's once-a-second refresh.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(relay.metric("moql_relay_bytes_out_total").await >= sent);
    assert!(relay.metric("moql_relay_bytes_in_total").await >= received);
    relay.shutdown().await;
}

#[tokio::test]
async fn fetches_over_the_wire_are_counted() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "vod");
    for seq in 0..3 {
        produce(&track, seq, 1);
    }
    let fetcher = relay.client("moql", "/").await;
    let remote = support::announced(&fetcher.received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    for seq in [0, 1] {
        let mut group = within("the fetch", consumer.fetch(seq, None).unwrap())
            .await
            .unwrap();
        within("its frames", group.read_all()).await.unwrap();
    }
    relay
        .metric_until("moql_relay_fetches_total", |v| v >= 2)
        .await;
    let _ = Path::root();
    relay.shutdown().await;
}
