//! Grants that must expire: tokens, during and after the handshake.
//!
//! A session's credential expires at the token's `exp` whatever the session is doing: still
//! starting (the relay's SETUP held up by a client that gives no stream credit) or running.
//! Expiry closes the session with 6 (Unauthorized, spec 1.4) and ends what it published and
//! subscribed to; sessions with other tokens carry on.

use std::time::{Duration, SystemTime};

use moql_model::{OriginProducer, Path, TrackInfo};
use moql_native::{Client, ClientConfig, ClientTls, Connection};
use moql_session::{Session, SessionConfig};
use moql_wire::ErrorCode;

use crate::support::relay::{TestRelay, produce, read_group, token, wait_subscribed};
use crate::support::{client, within};

/// Seconds until the short tokens here expire. `exp` has whole-second resolution, so the
/// credential ends between `SHORT - 1` and `SHORT` seconds after signing.
const SHORT: i64 = 2;

/// Dials `url` giving the relay no unidirectional stream credit beyond what `uni_credit`
/// allows (WebTransport's HTTP/3 control stream takes one), so the relay cannot open the
/// stream its SETUP travels on; sends our SETUP and returns the session and its transport.
async fn stingy_client(url: &str, fingerprint: &str, uni_credit: u32) -> (Session, Connection) {
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![fingerprint.to_string()]),
        max_streams: uni_credit,
        websocket_delay: None,
        ..ClientConfig::default()
    })
    .unwrap();
    let connected = within("the connection", client.connect(url))
        .await
        .expect("connects");
    let transport = connected.session.clone();
    let mut config = SessionConfig::new().with_subscribe(OriginProducer::new());
    config.setup_path = connected.setup_path.clone();
    let session = Session::connect(connected.session, connected.version, config)
        .await
        .expect("our SETUP is sent");
    (session, transport)
}

/// The attack: the relay authorizes the SETUP, then cannot send its own SETUP until
/// the client grants stream credit, which it does only once the token has expired. The
/// session must still end at `exp` with 6, never live on with the grant.
#[tokio::test]
async fn a_token_that_expires_while_the_relay_cannot_send_setup_still_expires() {
    let secret = moql_relay::auth::generate_hs256_secret();
    let relay = TestRelay::with_hs256_key(&secret).await;
    // Raw QUIC and QMux need no stream of the relay's before SETUP; WebTransport's HTTP/3
    // control stream needs one.
    for (scheme, uni_credit) in [("moql", 0), ("https", 1), ("ws", 0)] {
        let jwt = token(&secret, "room", &[""], &[""], SHORT);
        let expires = SystemTime::now() + Duration::from_secs(SHORT as u64);
        let url = relay.url(scheme, &format!("/room?jwt={jwt}"));
        let (session, transport) = stingy_client(&url, &relay.fingerprint, uni_credit).await;
        // Past `exp`, give the relay all the credit it wants (QUIC and WebTransport can).
        let wait = expires
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            + Duration::from_millis(500);
        tokio::time::sleep(wait).await;
        if let Some(quic) = transport.connection() {
            quic.set_max_concurrent_uni_streams(quinn::VarInt::from_u32(64));
        }
        let err = within(&format!("{scheme}: the close at expiry"), session.closed()).await;
        assert_eq!(err.code(), ErrorCode::UNAUTHORIZED, "{scheme}: {err}");
    }
    relay.shutdown().await;
}

/// Without a token to expire, the same stall is bounded by the SETUP timeout: the relay
/// closes the session with 3 (Timeout) instead of holding a session slot forever.
#[tokio::test]
async fn a_session_whose_setup_the_relay_cannot_send_is_closed_with_timeout() {
    let relay = TestRelay::start(|c| c.limits.setup_timeout_seconds = 0.5).await;
    let (session, _transport) = stingy_client(&relay.url("moql", "/"), &relay.fingerprint, 0).await;
    let err = within("the close at the SETUP timeout", session.closed()).await;
    assert_eq!(err.code(), ErrorCode::TIMEOUT, "{err}");
    relay.shutdown().await;
}

/// A running session whose token expires is closed with 6 on every transport; its
/// announcement leaves the relay and what it subscribed to ends, while a session with a
/// longer token keeps working.
#[tokio::test]
async fn a_live_session_is_closed_at_expiry_and_its_routes_end() {
    let secret = moql_relay::auth::generate_hs256_secret();
    let relay = TestRelay::with_hs256_key(&secret).await;
    let long = token(&secret, "room", &["bob"], &[""], 600);
    let bob = relay.client("moql", &format!("/room?jwt={long}")).await;
    let bob_broadcast = moql_model::BroadcastProducer::new();
    let bob_track = bob_broadcast
        .create_track("clock", TrackInfo::DEFAULT)
        .unwrap();
    bob.publish
        .publish(&Path::new("bob").unwrap(), bob_broadcast.consume())
        .unwrap();

    for (seq, scheme) in [(1, "moql"), (2, "https"), (3, "ws")] {
        let short = token(&secret, "room", &["alice"], &[""], SHORT);
        let alice = client(
            &relay.url(scheme, &format!("/room?jwt={short}")),
            &relay.fingerprint,
        )
        .await
        .expect("alice connects");
        // Alice publishes…
        let alice_broadcast = moql_model::BroadcastProducer::new();
        let _alice_track = alice_broadcast
            .create_track("clock", TrackInfo::DEFAULT)
            .unwrap();
        alice
            .publish
            .publish(&Path::new("alice").unwrap(), alice_broadcast.consume())
            .unwrap();
        let seen_by_bob = crate::support::announced(&bob.received, "alice").await;
        // …and subscribes to Bob.
        let from_bob = crate::support::announced(&alice.received, "bob").await;
        let mut sub = from_bob.track("clock").unwrap();
        sub.subscribe(moql_model::Subscription::default());
        wait_subscribed(&bob_track).await;
        produce(&bob_track, seq, 1);
        // The relay's latest cached group (the previous round's) may come first.
        while read_group(&mut sub).await.0 != seq {}

        let err = within(
            &format!("{scheme}: the close at expiry"),
            alice.session.closed(),
        )
        .await;
        assert_eq!(err.code(), ErrorCode::UNAUTHORIZED, "{scheme}: {err}");
        within(
            &format!("{scheme}: alice's announcement to end"),
            seen_by_bob.wait_closed(),
        )
        .await
        .ok();
        assert!(
            bob.received
                .broadcast(&Path::new("alice").unwrap())
                .is_none(),
            "{scheme}: alice's broadcast left the relay"
        );
        let ended = within(&format!("{scheme}: alice's subscription to end"), async {
            loop {
                match sub.next_group().await {
                    Ok(Some(_)) => continue,
                    other => return other,
                }
            }
        })
        .await;
        assert!(!matches!(ended, Ok(Some(_))), "{scheme}: {ended:?}");
    }
    // Bob, with a longer token, is still served.
    assert!(bob.session.close_reason().is_none());
    relay.shutdown().await;
}

/// Measurement (run by hand): 100 raw-QUIC clients whose tokens expire while they withhold
/// stream credit. Prints how many the relay closed with 6 two seconds after `exp`, and the
/// RSS and CPU deltas of this process (relay and clients).
///
/// `cargo test -p moql-tests --test hostile -- --ignored --nocapture measure_sessions_outliving`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand"]
async fn measure_sessions_outliving_their_tokens() {
    use crate::http::{cpu_ms, vm_rss_kib};
    const CLIENTS: usize = 100;
    let secret = moql_relay::auth::generate_hs256_secret();
    let relay = TestRelay::with_hs256_key(&secret).await;
    let (rss, cpu) = (vm_rss_kib(), cpu_ms());
    let jwt = token(&secret, "room", &[""], &[""], SHORT);
    let expires = SystemTime::now() + Duration::from_secs(SHORT as u64);
    let url = relay.url("moql", &format!("/room?jwt={jwt}"));
    let mut sessions = Vec::new();
    for _ in 0..CLIENTS {
        sessions.push(stingy_client(&url, &relay.fingerprint, 0).await);
    }
    let wait = expires
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        + Duration::from_secs(2);
    tokio::time::sleep(wait).await;
    let closed = sessions
        .iter()
        .filter(|(session, _)| {
            session
                .close_reason()
                .is_some_and(|err| err.code() == ErrorCode::UNAUTHORIZED)
        })
        .count();
    println!(
        "{CLIENTS} stalled sessions, exp + 2 s: closed with 6: {closed}, still open: {}, \
         VmRSS +{} KiB, CPU +{} ms",
        CLIENTS - closed,
        vm_rss_kib().saturating_sub(rss),
        cpu_ms() - cpu
    );
}
