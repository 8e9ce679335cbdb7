//! Replacing the served certificate under a running server ([`CertStore`]): new handshakes
//! see the new one, established sessions are untouched, a bad pair is refused.

use std::time::{Duration, SystemTime};

use moql_wire::Version;

use super::*;

const V: &[Version] = &[Version::Lite03];

#[tokio::test]
async fn a_replaced_certificate_serves_new_handshakes_and_keeps_old_sessions() {
    init_tracing();
    let mut server = server("127.0.0.1:0", V);
    let old = server.fingerprint();
    let old_client = pinned_client(&server, V);
    let (connected, session, _) =
        establish(&mut server, &old_client, "moql", "127.0.0.1", "/").await;

    let next = certificate();
    let new = server.certificates().replace(&next).expect("replace");
    assert_eq!(new, next.fingerprint());
    assert_ne!(new, old);
    assert_eq!(
        server.fingerprint(),
        new,
        "the server reports what it serves"
    );

    // The session made under the old certificate still carries traffic.
    exchange(&connected.session, &session).await;

    // A client pinning the new fingerprint gets in; one pinning the old one is refused.
    let new_client = client(ClientTls::Fingerprints(vec![new]), V);
    let (connected2, session2, _) =
        establish(&mut server, &new_client, "moql", "127.0.0.1", "/").await;
    exchange(&connected2.session, &session2).await;
    // A fresh client: `old_client` holds a TLS session ticket, and a resumed handshake
    // presents no certificate at all (the ticket already proves the server).
    let old_pin = client(ClientTls::Fingerprints(vec![old]), V);
    let refused = timeout(
        WAIT,
        old_pin.connect(&url("moql", "127.0.0.1", &server, "/")),
    )
    .await
    .expect("refusal within the wait");
    assert!(refused.is_err(), "old pin must no longer match");
}

#[tokio::test]
async fn a_key_that_does_not_match_is_refused_and_the_old_pair_stays() {
    init_tracing();
    let mut server = server("127.0.0.1:0", V);
    let old = server.fingerprint();
    let mut mismatched = certificate();
    mismatched.key = certificate().key;
    let err = server
        .certificates()
        .replace(&mismatched)
        .expect_err("a key of another certificate");
    assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
    let empty = Certificate {
        chain: Vec::new(),
        key: certificate().key,
    };
    assert!(server.certificates().replace(&empty).is_err());
    assert_eq!(server.fingerprint(), old);
    // And it is still what handshakes get.
    let client = pinned_client(&server, V);
    let (connected, session, _) = establish(&mut server, &client, "moql", "127.0.0.1", "/").await;
    exchange(&connected.session, &session).await;
}

#[test]
fn renewal_is_due_in_the_last_third_of_the_validity() {
    let made = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let not_after = generated_not_after(made);
    assert_eq!(
        not_after.duration_since(made).unwrap(),
        GENERATED_VALIDITY - GENERATED_BACKDATE
    );
    let day = Duration::from_secs(86_400);
    assert!(!needs_renewal(not_after, made));
    assert!(!needs_renewal(not_after, made + 8 * day));
    assert!(needs_renewal(not_after, made + 9 * day));
    assert!(
        needs_renewal(not_after, not_after + day),
        "expired: overdue"
    );
    assert!(renewal_time(not_after) > made && renewal_time(not_after) < not_after);
}
