//! QUIC-level pressure: silent streams, buffered bytes, connection flow control.

use moql_native::{Client, ClientConfig, ClientTls};
use moql_session::testing::raw::send_setup;
use moql_wire::{ErrorCode, Version};
use web_transport_trait::{Error as _, SendStream as _, Session as _};

use crate::support::relay::TestRelay;
use crate::support::within;

/// A hand-driven lite-05 client of `relay` that has sent its SETUP.
async fn raw_client(relay: &TestRelay) -> impl web_transport_trait::Session {
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![relay.fingerprint.clone()]),
        versions: vec![Version::Lite05],
        ..ClientConfig::default()
    })
    .unwrap();
    let url = relay.url("moql", "/");
    let session = within("connect", client.connect(&url))
        .await
        .unwrap()
        .session;
    send_setup(&session, Version::Lite05).await;
    session
}

/// A uni stream whose type never completes (one byte of a two-byte varint) must not hold up
/// the streams behind it: a second SETUP stream opened after it is still read, and closes
/// the session with 15 (spec 8).
#[tokio::test]
async fn a_silent_uni_stream_does_not_stall_the_streams_behind_it() {
    let relay = TestRelay::start(|_| {}).await;
    let client = raw_client(&relay).await;
    let mut silent = client.open_uni().await.unwrap();
    silent.write_all(&[0x40]).await.unwrap();
    let mut again = client.open_uni().await.unwrap();
    again.write_all(&[0x01, 0x01, 0x00]).await.unwrap();
    again.finish().unwrap();
    let err = within("the relay to read the stream behind", client.closed()).await;
    assert_eq!(
        err.session_error().map(|(code, _)| code),
        Some(ErrorCode::PROTOCOL_VIOLATION.0)
    );
    drop(silent);
    relay.shutdown().await;
}
