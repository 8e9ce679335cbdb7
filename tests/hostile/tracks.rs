//! Track tables: names that are requested once and never again.

use moql_model::{BroadcastProducer, Error, Path, TrackInfo};
use moql_native::{Client, ClientConfig, ClientTls};
use moql_session::testing::raw;
use moql_wire::{CodeScope, ErrorCode, Version};
use web_transport_trait::{RecvStream as _, SendStream as _};

use crate::support::relay::TestRelay;
use crate::support::{TestClient, announced, within};

/// Publishes `name` with one track, `clock`, refusing every other track name with NOT_FOUND
/// as `moql publish` does. The task stops with the broadcast.
fn publish_refusing(client: &TestClient, name: &str) -> BroadcastProducer {
    let broadcast = BroadcastProducer::new();
    let clock = broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
    client
        .publish
        .publish(&Path::new(name).unwrap(), broadcast.consume())
        .unwrap();
    let requests = broadcast.clone();
    tokio::spawn(async move {
        let _clock = clock;
        while let Some(request) = requests.requested_track().await {
            request.reject(Error::NotFound);
        }
    });
    broadcast
}

#[tokio::test]
async fn unique_unknown_track_names_do_not_pile_up_in_the_publishers_table() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let broadcast = publish_refusing(&publisher, "room");
    let hostile = relay.client("moql", "/").await;
    let remote = announced(&hostile.received, "room").await;
    for i in 0..300 {
        let track = remote.track(&format!("unknown-{i}")).unwrap();
        let answer = within("the refusal", track.wait_info()).await;
        assert!(answer.is_err(), "unknown-{i} was answered {answer:?}");
    }
    let names = broadcast.track_names();
    assert!(
        names.len() <= 64,
        "the publisher keeps {} names after 300 refused requests",
        names.len()
    );
    // The known track is still there and served.
    let honest = relay.client("https", "/").await;
    let room = announced(&honest.received, "room").await;
    let clock = room.track("clock").unwrap();
    assert_eq!(
        within("the honest track", clock.wait_info()).await,
        Ok(TrackInfo::DEFAULT)
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn a_track_name_over_the_cap_is_refused_with_bounds_exceeded() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let broadcast = publish_refusing(&publisher, "room");
    // A hand-written SUBSCRIBE: our own client refuses to build such a name.
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![relay.fingerprint.clone()]),
        versions: vec![Version::Lite05],
        ..ClientConfig::default()
    })
    .unwrap();
    let hostile = within("the connection", client.connect(&relay.url("moql", "/")))
        .await
        .expect("handshake")
        .session;
    raw::send_setup(&hostile, Version::Lite05).await;
    let long = "x".repeat(2000);
    let (_send, mut recv) = raw::subscribe(&hostile, Version::Lite05, 0, "room", &long, 0).await;
    let answer = within("the refusal", raw::read_to_end(&mut recv)).await;
    assert_eq!(
        answer,
        Err(Some(
            ErrorCode::BOUNDS_EXCEEDED.to_wire(Version::Lite05, CodeScope::Stream)
        ))
    );
    assert!(
        !broadcast.track_names().contains(&long),
        "the long name reached the publisher"
    );
    // Over HTTP: refused before any table is touched.
    let status = relay
        .http_status(&format!("/fetch/room/{long}?group=0"))
        .await;
    assert_eq!(status, 414);
    relay.shutdown().await;
}

#[tokio::test]
async fn requests_abandoned_before_an_answer_are_withdrawn_all_the_way_upstream() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    // A publisher that takes requests and never answers them (slow, or simply not looking).
    let broadcast = BroadcastProducer::new();
    let _clock = broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
    publisher
        .publish
        .publish(&Path::new("room").unwrap(), broadcast.consume())
        .unwrap();
    let hostile = relay.client("moql", "/").await;
    let remote = announced(&hostile.received, "room").await;
    const NAMES: usize = 50;
    // Each asker waits for the track's info, which is what sends TRACK upstream (a consumer
    // that only fetches needs none).
    let asked: Vec<_> = (0..NAMES)
        .map(|i| {
            let track = remote.track(&format!("never-{i}")).unwrap();
            tokio::spawn(async move { track.wait_info().await })
        })
        .collect();
    let mut requests = Vec::new();
    for _ in 0..NAMES {
        requests.push(
            within("the request upstream", broadcast.requested_track())
                .await
                .unwrap(),
        );
    }
    // The asker gives up: every hop must let go, down to the publisher's request.
    for asker in asked {
        asker.abort();
    }
    for request in &requests {
        within(
            "the request to be abandoned at the publisher",
            request.unused(),
        )
        .await;
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn a_subscribe_reset_before_the_track_is_known_is_withdrawn_upstream() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let broadcast = BroadcastProducer::new();
    let _clock = broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
    publisher
        .publish
        .publish(&Path::new("room").unwrap(), broadcast.consume())
        .unwrap();
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![relay.fingerprint.clone()]),
        versions: vec![Version::Lite05],
        ..ClientConfig::default()
    })
    .unwrap();
    let hostile = within("the connection", client.connect(&relay.url("moql", "/")))
        .await
        .expect("handshake")
        .session;
    raw::send_setup(&hostile, Version::Lite05).await;
    // A SUBSCRIBE straight away (no TRACK first) for a name the publisher never answers.
    let (mut send, mut recv) =
        raw::subscribe(&hostile, Version::Lite05, 0, "room", "never", 0).await;
    let request = within("the request upstream", broadcast.requested_track())
        .await
        .unwrap();
    send.reset(0);
    recv.stop(0);
    within(
        "the request to be abandoned at the publisher",
        request.unused(),
    )
    .await;
    relay.shutdown().await;
}

/// `cargo test -p moql-tests --test hostile -- --ignored --nocapture measure`: publisher,
/// relay and the requesting client share this process, so VmRSS counts all three.
#[tokio::test]
#[ignore = "a measurement: prints memory and CPU under the attack"]
async fn measure_unique_unknown_track_names() {
    use crate::support::usage;
    const NAMES: usize = 2000;
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let broadcast = publish_refusing(&publisher, "room");
    let hostile = relay.client("moql", "/").await;
    let remote = announced(&hostile.received, "room").await;
    let before = usage::now();
    // Names of 1000 bytes, each asked once.
    for i in 0..NAMES {
        let name = format!("{i:0>1000}");
        let track = remote.track(&name).unwrap();
        let _ = within("the refusal", track.wait_info()).await;
    }
    usage::report(
        "unique unknown track names",
        before,
        &format!(
            "{NAMES} names of 1000 bytes, publisher table {} entries",
            broadcast.track_names().len()
        ),
    );
    relay.shutdown().await;
}

/// Requests for names a publisher never answers, each given up by its asker: what every hop
/// keeps afterwards.
#[tokio::test]
#[ignore = "a measurement: prints memory and CPU under the attack"]
async fn measure_abandoned_track_requests() {
    use crate::support::usage;
    const NAMES: usize = 500;
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let broadcast = BroadcastProducer::new();
    let _clock = broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
    publisher
        .publish
        .publish(&Path::new("room").unwrap(), broadcast.consume())
        .unwrap();
    let hostile = relay.client("moql", "/").await;
    let remote = announced(&hostile.received, "room").await;
    let before = usage::now();
    let mut requests = Vec::new();
    for i in 0..NAMES {
        let track = remote.track(&format!("{i:0>1000}")).unwrap();
        let asked = tokio::spawn(async move { track.wait_info().await });
        requests.push(
            within("the request upstream", broadcast.requested_track())
                .await
                .unwrap(),
        );
        asked.abort();
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut still_wanted = 0;
    for request in &requests {
        let wait = std::time::Duration::from_millis(1);
        if tokio::time::timeout(wait, request.unused()).await.is_err() {
            still_wanted += 1;
        }
    }
    usage::report(
        "abandoned track requests",
        before,
        &format!(
            "{NAMES} names of 1000 bytes asked and given up, {still_wanted} still held open at the publisher 0.5 s later"
        ),
    );
    relay.shutdown().await;
}
